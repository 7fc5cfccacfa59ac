input "cfgtest_source" "a" {
  path    = "/var/log/a.log"
  poll    = "0s"
  retries = -1
  ratio   = 0
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
