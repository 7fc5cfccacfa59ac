variable "dir" {
  default = "/var/log"
}

variable "dir" {
  default = "/tmp"
}

locals {
  file = "${var.dir}/a.log"
}

locals {
  file = "b.log"
}

engine {
  log_level = "debug"
}

engine {
  log_level = "info"
}

input "cfgtest_source" "a" {
  path = local.file
  tls {
    ca_file = "/etc/a.pem"
  }
  tls {
    ca_file = "/etc/b.pem"
  }
}

input "cfgtest_source" "a" {
  path = "/var/log/other.log"
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
