plugin "falco" {
  path   = "/usr/lib/engine/plugins/falco"
  sha256 = "not-a-digest"
}

plugin "other" {
  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}

input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
