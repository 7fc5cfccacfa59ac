# Watch the system's configuration and binaries, report every change with
# its sha256 and sha1, and keep the events as NDJSON on local disk. On start
# the input reports what changed while engine was not running; its baseline
# advances only once the file output has written a batch.
input "fim" "system" {
  paths         = ["/etc", "/usr/bin", "/usr/sbin"]
  recursive     = true
  exclude_files = ["\\.swp$", "~$", "^/etc/mtab$"]
  hash_types    = ["sha256", "sha1"]
  max_file_size = "100MiB"
}

output "file" "local" {
  inputs = [input.fim.system]
  path   = "/var/lib/engine/fim.ndjson"
}
