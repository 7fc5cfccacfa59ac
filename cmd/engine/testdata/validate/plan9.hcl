input "clitest_plan9" "p" {}

output "clitest_sink" "s" {
  inputs = [input.clitest_plan9.p]
}
