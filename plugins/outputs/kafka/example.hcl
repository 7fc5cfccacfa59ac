# Kernel audit events to a Kafka cluster over TLS, one topic per event
# module, keyed by host so that each host's events go to one partition, and
# produced one batch at a time (writes_in_flight = 1) so that they also stay
# in order there. Every message is acknowledged by all in-sync replicas
# before the batch counts as delivered; while Kafka is unreachable, events
# wait in a disk buffer, and events Kafka refuses for good (too large) go to
# a dead letter file.
input "audit" "kernel" {
  rules = [
    "-a always,exit -F arch=b64 -S execve,execveat -k exec",
    "-w /etc/passwd -p wa -k identity",
  ]
}

processor "coalesce" "events" {
  inputs = [input.audit.kernel]
}

output "kafka" "fleet" {
  inputs  = [processor.coalesce.events]
  brokers = ["kafka-1.example.com:9093", "kafka-2.example.com:9093", "kafka-3.example.com:9093"]
  topic   = "audit-{{ event.module }}"
  key     = "{{ host.name }}"

  required_acks = "all"
  idempotent    = true
  compression   = "lz4"
  headers       = { source = "engine" }

  # The default, 4, sends the next batches while earlier ones wait for their
  # acknowledgements: about 1.6 times the throughput, without order across
  # batches.
  writes_in_flight = 1

  tls {
    ca_file = "/etc/engine/kafka-ca.pem"
  }

  buffer {
    type     = "disk"
    max_size = "2GiB"
  }

  dead_letter {
    path = "/var/lib/engine/dead-letter/kafka.ndjson"
  }
}
