# Host audit to Elasticsearch: the kernel's audit records, coalesced into one
# ECS document per event, indexed into daily indices under an index template
# that maps every field engine writes. Without ES_API_KEY it connects
# without authentication.
#
#   ES_API_KEY=id:key engine run pipelines/audit-elasticsearch.hcl --var es_url=https://es.example:9200
#   engine validate --check-connections pipelines/audit-elasticsearch.hcl
#
# Each document's _id is the event's deterministic id, and documents are
# created, never overwritten: a retry, or a replay after a crash, finds the
# document already there instead of adding a copy — exactly once. While
# Elasticsearch is unreachable the events wait in a disk buffer, which also
# survives a crash or restart of engine. Documents Elasticsearch refuses for
# good (a mapping conflict) are kept, with the reason, in the dead letter.

variable "es_url" {
  type        = string
  description = "Elasticsearch URL."
  default     = "http://127.0.0.1:9200"
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

output "elasticsearch" "store" {
  inputs  = [processor.coalesce.events]
  urls    = [var.es_url]
  api_key = env("ES_API_KEY", "")
  index   = "engine-audit-%Y.%m.%d"

  buffer {
    type     = "disk"
    max_size = "2GiB"
  }
  dead_letter {
    path = "/var/lib/engine/dead-letter/elasticsearch.ndjson"
  }
}
