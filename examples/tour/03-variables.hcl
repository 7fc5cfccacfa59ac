# Step 3: variables, locals and functions.
#   bin/engine validate examples/tour/03-variables.hcl
#   ENGINE_VAR_out_dir=/tmp/elsewhere bin/engine run --once --state-dir /tmp/tour-state3 examples/tour/03-variables.hcl
#   bin/engine run --once --state-dir /tmp/tour-state3 --var audit_log=/var/log/audit/audit.log examples/tour/03-variables.hcl

variable "audit_log" {
  type        = string
  description = "Which audit log to read."
  default     = "pipelines/testdata/sample-audit.log"
}

variable "out_dir" {
  type    = string
  default = "/tmp/tour"
}

locals {
  # env(NAME, DEFAULT) reads the environment; format and lower come from the
  # standard library of functions (see core/config/README.md).
  host_tag = lower(env("HOSTNAME", "localhost"))
  out_file = format("%s/%s-events.ndjson", var.out_dir, local.host_tag)
}

input "logfile" "audit" {
  paths  = [var.audit_log]
  format = "audit"
}

processor "coalesce" "events" {
  inputs  = [input.logfile.audit]
  timeout = "5s" # wait longer for the last record of an event
}

output "file" "events" {
  inputs = [processor.coalesce.events]
  path   = local.out_file
}
