input "cfgtest_source" "used" {
  path = "/var/log/a.log"
}

input "cfgtest_source" "unused" {
  path = "/var/log/b.log"
}

processor "cfgtest_noop" "dangling" {
  inputs = [input.cfgtest_source.used]
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.used]
}
