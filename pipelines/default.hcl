# The pipeline `engine run` runs when it is given none (as root): the kernel's
# audit records under a rule set that covers what operators audit first,
# coalesced into one ECS document per audit event, with user and group names
# beside the ids, the container a process runs in and the host, in a rotated
# NDJSON file.
#
#   engine run                                  # run it
#   engine run --print-default > mine.hcl       # start your own from it
#   engine run --var output=/srv/audit.ndjson   # send the events elsewhere
#
# engine takes the kernel's audit PID (it replaces auditd; stop auditd first,
# or use socket_type = "multicast" to read beside it), loads these rules, and
# puts back the rules and settings it found when it stops. Lost records are
# reported in the stream as events with event.action "events_lost".

variable "output" {
  type        = string
  description = "The NDJSON file the events are written to."
  default     = "/var/lib/engine/events/audit.ndjson"
}

input "audit" "kernel" {
  socket_type   = "unicast"
  backlog_limit = 8192

  rules = [
    # Programs executed.
    "-a always,exit -F arch=b64 -S execve,execveat -k exec",
    "-a always,exit -F arch=b32 -S execve,execveat -k exec",

    # Privileged commands: programs that gain root through setuid.
    "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k privileged",
    "-a always,exit -F arch=b32 -S execve -C uid!=euid -F euid=0 -k privileged",

    # Identity, authentication and privilege configuration.
    "-w /etc/passwd -p wa -k identity",
    "-w /etc/group -p wa -k identity",
    "-w /etc/shadow -p wa -k identity",
    "-w /etc/gshadow -p wa -k identity",
    "-w /etc/sudoers -p wa -k identity",
    "-w /etc/sudoers.d -p wa -k identity",

    # Kernel modules loaded and removed.
    "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules",
    "-a always,exit -F arch=b32 -S init_module,finit_module,delete_module -k modules",

    # Outbound network connections (not local unix sockets, whose address
    # length is 110).
    "-a always,exit -F arch=b64 -S connect -F a2!=110 -k network",

    # Changes to the audit configuration itself.
    "-w /etc/audit -p wa -k audit_config",
  ]
}

processor "coalesce" "events" {
  inputs = [input.audit.kernel]
}

# user.name beside user.id, file.owner beside file.uid, and so on.
processor "resolve_ids" "names" {
  inputs = [processor.coalesce.events]
}

# container.id from the process's cgroup (docker, containerd, cri-o, podman,
# Kubernetes); name, image and labels from the Docker Engine when its socket
# exists. Without Docker, events pass with the id alone and one log line says
# so; the processor picks Docker up when it starts later.
processor "docker" "containers" {
  inputs = [processor.resolve_ids.names]
}

# host.name, host.id, host.os.*, host.ip, host.architecture.
processor "host" "this" {
  inputs = [processor.docker.containers]
}

output "file" "events" {
  inputs    = [processor.host.this]
  path      = var.output
  max_size  = "100MiB"
  max_files = 5
}
