input "cfgtest_source" "a" {
  path       = "/var/log/a.log"
  inputs     = [input.cfgtest_source.b]
  queue_size = 8
}

input "cfgtest_source" "b" {
  path = "/var/log/b.log"
}

processor "cfgtest_noop" "n" {
}

output "cfgtest_sink" "s" {
  inputs        = []
  batch_max_age = "1s"
}

output "cfgtest_sink" "t" {
  inputs = input.cfgtest_source.a
}

output "cfgtest_sink" "u" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.b, processor.cfgtest_noop.n]
}
