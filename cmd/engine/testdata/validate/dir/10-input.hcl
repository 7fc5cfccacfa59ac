input "clitest_source" "a" {
  path = "/var/log/a.log"
}
