output "cfgtest_sink" "all" {
  inputs = [input.cfgtest_source.audit, input.cfgtest_source.syslog]
}
