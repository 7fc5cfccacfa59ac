# Step 1: replay an audit log into ECS events on standard output.
#   bin/engine run --once --state-dir /tmp/tour-state examples/tour/01-replay.hcl | head -n 3

input "logfile" "audit" {
  paths    = ["pipelines/testdata/sample-audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.audit]
}

output "stdout" "screen" {
  inputs = [processor.coalesce.events]
  format = "json"
}
