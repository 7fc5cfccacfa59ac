input "cfgtest_source" "a" {
  path  = "/var/log/a.log"
  paths = ["/var/log/*.log", "/var/log/[.log"]
  rule {
    action = "allow"
    match  = "^ok$"
  }
  rule {
    action = "deny"
    match  = "(unclosed"
  }
}

processor "cfgtest_filter" "f" {
  inputs  = [input.cfgtest_source.a]
  pattern = "a**"
}

output "cfgtest_sink" "s" {
  inputs = [processor.cfgtest_filter.f]
}
