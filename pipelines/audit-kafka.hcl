# Host audit to Kafka: the kernel's audit records, coalesced into one ECS
# document per event, produced as JSON to a Kafka topic — the agent end of a
# fleet where Kafka is the spine and a tier of engines or consumers writes to
# the store.
#
#   engine run pipelines/audit-kafka.hcl --var brokers='["kafka-1:9092","kafka-2:9092"]'
#   engine validate --check-connections pipelines/audit-kafka.hcl
#
# Messages carry an event.id header: the event's deterministic id, for
# consumers that drop duplicates or write to Elasticsearch with it as _id.
# While Kafka is unreachable the events wait in a disk buffer, which also
# survives a crash or restart of engine. The kernel cannot replay: if the
# buffer fills, engine blocks and the kernel's backlog absorbs the rest; what
# the kernel then drops is reported as events_lost.

variable "brokers" {
  type        = list(string)
  description = "Bootstrap brokers, host:port."
  default     = ["127.0.0.1:9092"]
}

variable "topic" {
  type        = string
  description = "Topic the events are produced to."
  default     = "engine-audit"
}

variable "rule_files" {
  type        = list(string)
  description = "Audit rule files (globs) loaded besides the rules below, in augenrules order, such as [\"/etc/audit/rules.d/*.rules\"]."
  default     = []
}

input "audit" "kernel" {
  socket_type   = "unicast"
  backlog_limit = 16384
  rule_files    = var.rule_files
  rules = [
    "-a always,exit -F arch=b64 -S execve,execveat -k exec",
    "-a always,exit -F arch=b32 -S execve,execveat -k exec",
  ]
}

processor "coalesce" "events" {
  inputs = [input.audit.kernel]
}

output "kafka" "fleet" {
  inputs        = [processor.coalesce.events]
  brokers       = var.brokers
  topic         = var.topic
  required_acks = "all"
  idempotent    = true
  compression   = "lz4"

  buffer {
    type     = "disk"
    max_size = "2GiB"
  }
  dead_letter {
    path = "/var/lib/engine/dead-letter/kafka.ndjson"
  }
}
