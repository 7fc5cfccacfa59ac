# Replay an audit log; every event says which host it comes from.

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
  inputs = [processor.coalesce.events]
}

processor "host" "this" {
  inputs           = [processor.resolve_ids.names]
  refresh_interval = "5m"
  replace_fields   = false
}

output "file" "events" {
  inputs = [processor.host.this]
  path   = "./data/events.ndjson"
}
