input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
