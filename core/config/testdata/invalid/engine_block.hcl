engine {
  state_dir        = ""
  http_address     = "localhost"
  shutdown_timeout = "0s"
  log_level        = "verbose"
  log_format       = "json"
}

input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
