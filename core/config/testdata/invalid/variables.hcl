variable "required" {
  type = string
}

variable "count" {
  type    = number
  default = "many"
}

variable "derived" {
  default = var.count
}

variable "bad type" {
  default = 1
}

variable "kind" {
  type = strnig
}

input "cfgtest_source" "a" {
  path    = var.requried
  retries = var.count
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
