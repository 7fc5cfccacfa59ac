input "cfgtest_source" "a" {
  path   = "/var/log/a.log"
  fromat = "json"
  tls {
    ca_file = "/etc/ca.pem"
    verfy   = false
  }
  proxy {}
}

processor "cfgtest_noop" "n" {
  inputs  = [input.cfgtest_source.a]
  pattern = "x"
}

output "cfgtest_sink" "s" {
  input = [processor.cfgtest_noop.n]
}
