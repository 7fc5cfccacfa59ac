# Keep the kernel audit log's events as NDJSON on local disk: every batch is
# fsynced before it is acknowledged, files rotate at 100 MiB and the five
# newest rotated files are kept.
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}

output "file" "local" {
  inputs    = [processor.coalesce.events]
  path      = "/var/lib/engine/events.ndjson"
  max_size  = "100MiB"
  max_files = 5
  mode      = "0600"
  fsync     = "batch"
}
