# Read auditd's log, join the records of each audit event into one
# Auditbeat-shaped document and keep the documents as NDJSON on local disk.
# The log's checkpoint advances only when every event built from a line has
# been written.
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs           = [input.logfile.auditd]
  timeout          = "2s"
  max_in_flight    = 50
  include_original = false
}

output "file" "local" {
  inputs = [processor.coalesce.events]
  path   = "/var/lib/engine/events.ndjson"
}
