# Only a variable: no components at all.
variable "unused" {
  default = 1
}
