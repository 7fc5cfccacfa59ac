input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}

processor "cfgtest_noop" "one" {
  inputs = [input.cfgtest_source.a, processor.cfgtest_noop.three]
}

processor "cfgtest_noop" "two" {
  inputs = [processor.cfgtest_noop.one]
}

processor "cfgtest_noop" "three" {
  inputs = [processor.cfgtest_noop.two]
}

processor "cfgtest_noop" "self" {
  inputs = [processor.cfgtest_noop.self]
}

output "cfgtest_sink" "s" {
  inputs = [processor.cfgtest_noop.three, processor.cfgtest_noop.self]
}
