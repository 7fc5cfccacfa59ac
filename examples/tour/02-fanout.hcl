# Step 2: one stream, two destinations (fan-out), and the raw records kept too.
# Every event goes to a rotated NDJSON file; the raw records also go to a
# second file, untouched. An input's batch is acknowledged (and its checkpoint
# advanced) only once every output that received it has written it.
#   bin/engine run --once --state-dir /tmp/tour-state examples/tour/02-fanout.hcl

input "logfile" "audit" {
  paths    = ["pipelines/testdata/sample-audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs           = [input.logfile.audit]
  include_original = true # keep the raw records in event.original
}

output "file" "events" {
  inputs   = [processor.coalesce.events]
  path     = "/tmp/tour/events.ndjson"
  max_size = "10MiB"
  fsync    = "batch"
}

output "file" "records" {
  inputs = [input.logfile.audit]
  path   = "/tmp/tour/records.ndjson"
}
