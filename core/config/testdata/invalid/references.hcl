input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}

processor "cfgtest_noop" "n" {
  inputs = [input.cfgtest_source.b, "input.cfgtest_source.a", input.cfgtest_source]
}

output "cfgtest_sink" "s" {
  inputs = [processor.cfgtest_noop.n, output.cfgtest_sink.t, var.source, foo.bar.baz]
}

output "cfgtest_sink" "t" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.a]
}
