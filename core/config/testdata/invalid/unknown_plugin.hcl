input "cfgtest_sorce" "a" {
  path = "/var/log/a.log"
}

input "cfgtest_sink" "b" {}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_sorce.a, input.cfgtest_sink.b]
}
