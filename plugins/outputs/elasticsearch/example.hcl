# Replay the host's audit log into Elasticsearch: one ECS document per audit
# event, in daily indices engine-YYYY.MM.DD under the engine's index
# template. Each document is created under the event's deterministic id, so
# a retry or a replay after a crash never adds a copy. Documents the cluster
# refuses for good (a mapping conflict) are kept in the dead-letter index.
#
#   ES_API_KEY=id:key engine run plugins/outputs/elasticsearch/example.hcl
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "beginning"
}

processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}

output "elasticsearch" "main" {
  inputs  = [processor.coalesce.events]
  urls    = ["https://es1.example.internal:9200", "https://es2.example.internal:9200"]
  api_key = env("ES_API_KEY", "")

  tls {
    ca_file = "/etc/engine/es-ca.pem"
  }

  index             = "engine-%Y.%m.%d"
  dead_letter_index = "engine-dead-letter"
}
