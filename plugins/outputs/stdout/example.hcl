# Watch the kernel audit log's events on the terminal, one indented JSON
# document per event.
input "logfile" "auditd" {
  paths    = ["/var/log/audit/audit.log"]
  format   = "audit"
  start_at = "end"
}

processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}

output "stdout" "console" {
  inputs = [processor.coalesce.events]
  format = "pretty"
}
