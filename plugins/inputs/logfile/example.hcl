# Read the kernel audit log from where the last run stopped (or from its
# start on the first run), group its records into events and keep them as
# NDJSON on local disk. The input's checkpoint advances only once the file
# output has written and synced a batch, so a restart neither loses nor
# repeats records.
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}

output "file" "local" {
  inputs = [processor.coalesce.events]
  path   = "/var/lib/engine/events.ndjson"
}
