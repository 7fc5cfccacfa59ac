input "cfgtest_source" "my input" {
  path = "/var/log/a.log"
}

input "cfgtest_source" {
  path = "/var/log/b.log"
}

input "cfgtest_source" "c" {
  path = "/var/log/c.log"
  tls "x" {
    ca_file = "/etc/ca.pem"
  }
}

output "cfgtest_sink" "s" "extra" {
  inputs = [input.cfgtest_source.c]
}

output "cfgtest_sink" "t" {
  inputs = [input.cfgtest_source.c]
}
