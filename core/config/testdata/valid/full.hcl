# Every feature of the language in one valid pipeline.

variable "log_dir" {
  type        = string
  default     = "/var/log/"
  description = "Where the logs live."
}

variable "retries" {
  type    = number
  default = 5
}

variable "levels" {
  type    = list(string)
  default = ["low", "high"]
}

locals {
  # Locals may refer to locals declared after them.
  audit_path = "${local.dir}/audit/audit.log"
  dir        = trimsuffix(var.log_dir, "/")
}

engine {
  state_dir        = "/var/lib/engine"
  http_address     = "127.0.0.1:9464"
  shutdown_timeout = "45s"
  log_level        = lower("WARN")
}

input "cfgtest_source" "audit" {
  path             = local.audit_path
  format           = "audit"
  paths            = ["${local.dir}/*.log", "/tmp/x[0-9].log"]
  poll             = "1m30s"
  max_size         = "10MB"
  tags             = { host = upper("web1"), env = env("ENGINE_TEST_ENV", "dev") }
  retries          = var.retries
  ratio            = 0.25
  follow           = false
  levels           = var.levels
  batch_max_events = 256
  batch_max_age    = "250ms"

  tls {
    ca_file = trimspace(file("ca.pem"))
  }

  rule {
    action = "allow"
    match  = "^ok"
  }
  rule {
    action = "deny"
    match  = "fail(ed)?"
  }
}

input "cfgtest_source" "second" {
  path = join("/", [local.dir, "second.log"])
}

# Fan-in: keep consumes both inputs.
processor "cfgtest_filter" "keep" {
  inputs     = [input.cfgtest_source.audit, input.cfgtest_source.second]
  pattern    = "^type="
  queue_size = 16
}

processor "cfgtest_noop" "copy" {
  inputs = [processor.cfgtest_filter.keep]
}

# Fan-out: keep feeds both copy and primary; second feeds keep and archive.
output "cfgtest_sink" "primary" {
  inputs = [processor.cfgtest_filter.keep]
}

output "cfgtest_sink" "archive" {
  inputs = [processor.cfgtest_noop.copy, input.cfgtest_source.second]
  target = "disk"
}
