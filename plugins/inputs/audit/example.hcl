# Replace auditd: take the audit PID, load rules, coalesce the records and
# keep them in a rotated file. To load auditd's rule files as augenrules
# does, add: rule_files = ["/etc/audit/rules.d/*.rules"]
input "audit" "kernel" {
  socket_type = "unicast"
  rules = [
    "-a always,exit -F arch=b64 -S execve,execveat -k exec",
    "-w /etc/sudoers -p wa -k identity",
  ]
  backlog_limit = 8192
  when_full     = "block"
}

processor "coalesce" "events" {
  inputs = [input.audit.kernel]
}

output "file" "events" {
  inputs   = [processor.coalesce.events]
  path     = "/var/lib/engine/events/audit.ndjson"
  max_size = "100MiB"
}
