# Read auditd's log, join each audit event's records into one document, and
# add the SHA-256 of the executable that ran and of the file it touched
# (process.hash.sha256, file.hash.sha256) before writing NDJSON to disk.
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}

processor "hash" "binaries" {
  inputs        = [processor.coalesce.events]
  fields        = ["process.executable", "file.path"]
  hash_types    = ["sha256"]
  max_file_size = "100MiB"
  cache_size    = 10000
  timeout       = "5s"
}

output "file" "local" {
  inputs = [processor.hash.binaries]
  path   = "/var/lib/engine/events.ndjson"
}
