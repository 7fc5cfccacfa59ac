input "cfgtest_source" "a" {
  path   = "/var/log/a.log"
  format = "jsn"
  levels = ["low", "medium", "high"]
  rule {
    action = "permit"
  }
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
