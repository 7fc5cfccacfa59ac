# Replay an audit log and put user and group names beside the numeric ids.

variable "audit_log" {
  type    = string
  default = "/var/log/audit/audit.log"
}

input "logfile" "audit" {
  paths    = [var.audit_log]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.audit]
}

processor "resolve_ids" "names" {
  inputs           = [processor.coalesce.events]
  passwd_file      = "/etc/passwd"
  group_file       = "/etc/group"
  refresh_interval = "5s"
}

output "file" "events" {
  inputs = [processor.resolve_ids.names]
  path   = "./data/events.ndjson"
}
