processor "clitest_filter" "f" {
  inputs = [input.clitest_source.a]
}

output "clitest_sink" "s" {
  inputs = [processor.clitest_filter.f]
}
