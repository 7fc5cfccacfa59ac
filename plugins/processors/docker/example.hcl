# Exec events of the kernel's audit stream, each with the container its
# process runs in: id from the process's cgroup, name, image and labels from
# the Docker Engine on its unix socket.

input "audit" "kernel" {
  rules = [
    "-a always,exit -F arch=b64 -S execve,execveat -k exec",
  ]
}

processor "coalesce" "events" {
  inputs = [input.audit.kernel]
}

processor "docker" "containers" {
  inputs = [processor.coalesce.events]
  socket = "/var/run/docker.sock"
  grace  = "1m"
}

output "file" "events" {
  inputs = [processor.docker.containers]
  path   = "/var/lib/engine/events/containers.ndjson"
}
