variable "path" {
  type = string
}

variable "count" {
  type    = number
  default = 1
}

input "clitest_source" "a" {
  path  = var.path
  burst = var.count
}

output "clitest_sink" "s" {
  inputs = [input.clitest_source.a]
}
