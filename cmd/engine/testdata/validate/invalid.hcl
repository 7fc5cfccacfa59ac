input "clitest_source" "a" {
  path  = "/var/log/a.log"
  level = "loud"
}

processor "clitest_filter" "f" {
  inputs  = [input.clitest_source.a]
  pattern = "(unclosed"
}

output "clitest_snk" "s" {
  inputs = [processor.clitest_filter.f]
}
