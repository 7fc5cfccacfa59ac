# File integrity monitoring that says who changed the file: the fim input
# watches the paths below (hashes, owner, mode, changes while engine was
# stopped), the kernel's audit subsystem reports which process and user
# wrote, renamed, chmod-ed or deleted files there, and file_actor puts the
# two together.
#
#   engine run pipelines/fim-audit.hcl
#   engine run pipelines/fim-audit.hcl --var 'paths=["/etc","/usr/local/bin"]'
#
# The audit rules watch the same paths for writes and attribute changes
# (-p wa): keep the two lists in step when you change them.

variable "paths" {
  type        = list(string)
  description = "Directories watched, recursively, by both fim and the audit rules."
  default     = ["/etc", "/usr/local/bin", "/usr/local/sbin"]
}

variable "output" {
  type        = string
  description = "The NDJSON file the events are written to."
  default     = "/var/lib/engine/events/fim.ndjson"
}

input "audit" "kernel" {
  socket_type = "unicast"
  rules       = [for p in var.paths : "-w ${p} -p wa -k fim"]
}

processor "coalesce" "audit" {
  inputs = [input.audit.kernel]
}

input "fim" "files" {
  paths         = var.paths
  recursive     = true
  scan_at_start = true
  hash_types    = ["sha256"]
}

processor "file_actor" "who" {
  inputs = [processor.coalesce.audit, input.fim.files]
}

output "file" "events" {
  inputs    = [processor.file_actor.who]
  path      = var.output
  max_size  = "100MiB"
  max_files = 5
}
