variable "dir" {
  default = "/var/log"
}

locals {
  audit = "${var.dir}/audit.log"
}
