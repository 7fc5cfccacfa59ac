variable "retries" {
  type = number
}

variable "paths" {
  type    = list(string)
  default = []
}

variable "follow" {
  type    = bool
  default = true
}

input "cfgtest_source" "a" {
  path    = "/var/log/a.log"
  retries = var.retries
  paths   = var.paths
  follow  = var.follow
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
