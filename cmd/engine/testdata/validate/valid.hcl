variable "dir" {
  default = "/var/log"
}

input "clitest_source" "a" {
  path = "${var.dir}/a.log"
}

output "clitest_sink" "s" {
  inputs = [input.clitest_source.a]
}
