input "cfgtest_plan9" "p" {}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_plan9.p]
}
