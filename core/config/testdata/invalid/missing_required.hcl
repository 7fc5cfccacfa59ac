input "cfgtest_source" "a" {
  format = "json"
  tls {
    verify = false
  }
  rule {
    match = "x"
  }
}

input "cfgtest_source" "b" {
  path = null
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.b]
}
