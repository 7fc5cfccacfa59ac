input "clitest_source" "a" {
  path = "/var/log/a.log"
}

input "clitest_source" "unused" {
  path = "/var/log/b.log"
}

output "clitest_sink" "s" {
  inputs = [input.clitest_source.a]
}
