input "cfgtest_source" "a" {
  path    = ["/var/log/a.log"]
  retries = "three"
  follow  = "maybe"
  tags    = ["a", "b"]
  paths   = "/var/log/*.log"
  ratio   = { value = 1 }
  levels  = ["low", ["high"]]
}

input "cfgtest_source" "b" {
  path = "/var/log/b.log"
  tls  = { ca_file = "/etc/ca.pem" }
  retries {
  }
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.b]
}
