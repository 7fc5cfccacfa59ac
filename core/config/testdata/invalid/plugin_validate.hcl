input "cfgtest_source" "a" {
  path = "/var/log/a.log"
  tls {
    ca_file = "bad"
  }
}

input "cfgtest_source" "b" {
  path = "/var/log/b.log"
  rule {
    action = "allow"
  }
  rule {
    action = "deny"
  }
}

input "cfgtest_source" "c" {
  path = "validate-fails"
}

input "cfgtest_source" "d" {
  path    = "/var/log/d.log"
  retries = 1000
}

output "cfgtest_panics" "p" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.b, input.cfgtest_source.c, input.cfgtest_source.d]
}

output "cfgtest_badschema" "b" {
  inputs = [input.cfgtest_source.a]
}
