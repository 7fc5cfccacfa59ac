input "cfgtest_source" "audit" {
  path = local.audit
}

input "cfgtest_source" "syslog" {
  path = "${var.dir}/syslog"
}
