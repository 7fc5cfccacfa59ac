locals {
  a = "${local.c}/a"
  d = local.nope
}

locals {
  b = "${local.a}/b"
  c = "${local.b}/c"
  e = local.a
}

input "cfgtest_source" "a" {
  path = local.e
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
