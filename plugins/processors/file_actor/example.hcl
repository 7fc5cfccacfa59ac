# Who changed the files under /etc: file integrity events annotated with the
# process and user from the audit events on the same paths.

input "audit" "kernel" {
  rules = ["-w /etc -p wa -k fim"]
}

processor "coalesce" "audit" {
  inputs = [input.audit.kernel]
}

input "fim" "etc" {
  paths     = ["/etc"]
  recursive = true
}

processor "file_actor" "who" {
  inputs = [processor.coalesce.audit, input.fim.etc]
}

output "file" "events" {
  inputs = [processor.file_actor.who]
  path   = "/var/lib/engine/events/fim.ndjson"
}
