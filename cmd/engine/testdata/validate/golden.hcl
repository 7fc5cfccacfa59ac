input "clitest_source" "a" {
  level = "loud"
  tls {
    verify = false
  }
}

input "clitest_source" "spare" {
  path = "/var/log/spare.log"
}

processor "clitest_filter" "f" {
  inputs  = [input.clitest_source.a, input.clitest_source.b]
  pattern = "(unclosed"
}

output "clitest_sink" "s" {
  inputs = [processor.clitest_filter.f]
}
