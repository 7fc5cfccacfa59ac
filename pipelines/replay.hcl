# Replay audit logs into clean ECS events, one JSON document per audit event.
#
#   engine run pipelines/replay.hcl                                  # the host's audit.log
#   engine run --var audit_log=pipelines/testdata/sample-audit.log pipelines/replay.hcl
#
# Raw and ENRICHED audit.log lines are both understood, as are node= prefixes
# from aggregated logs. The input checkpoints what was delivered, so running
# it again continues where it stopped; it keeps following the file for new
# records until stopped (SIGTERM drains what is in flight).

variable "audit_log" {
  type        = string
  description = "audit.log files to replay (a glob)."
  default     = "/var/log/audit/audit.log"
}

variable "out" {
  type        = string
  description = "Where to write the NDJSON events."
  default     = "./data/events.ndjson"
}

input "logfile" "audit" {
  paths    = [var.audit_log]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.audit]
}

output "file" "events" {
  inputs = [processor.coalesce.events]
  path   = var.out
}
