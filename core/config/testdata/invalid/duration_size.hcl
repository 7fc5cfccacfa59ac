input "cfgtest_source" "a" {
  path     = "/var/log/a.log"
  poll     = "5 minutes"
  max_size = "12XB"
}

input "cfgtest_source" "b" {
  path          = "/var/log/b.log"
  poll          = 30
  max_size      = -1
  batch_max_age = "-2s"
}

input "cfgtest_source" "c" {
  path             = "/var/log/c.log"
  max_size         = "1.5B"
  batch_max_events = 0
}

output "cfgtest_sink" "s" {
  inputs     = [input.cfgtest_source.a, input.cfgtest_source.b, input.cfgtest_source.c]
  queue_size = 2.5
}
