# A pipeline with mistakes, to see what `engine validate` reports:
#   bin/engine validate examples/tour/broken.hcl
#   bin/engine validate -json examples/tour/broken.hcl
# (This file is meant to fail; tests check that it keeps failing the same way.)

input "logfile" "audit" {
  paths  = ["/var/log/audit/audit.log"]
  format = "auditd"
}

processor "coalesce" "events" {
  inputs  = [input.logfile.adit]
  timeout = "two seconds"
}

output "file" "events" {
  inputs = [processor.coalesce.events]
}
