input "cfgtest_source" "a" {
  path = "/var/log/a.log"
}
processor "cfgtest_noop" "n" {
  inputs = [input.cfgtest_source.a]
  buffer { type = "disk" }
}
output "cfgtest_sink" "s" {
  inputs = [processor.cfgtest_noop.n]
  buffer {
    type      = "dsk"
    max_size  = "1GB"
    when_full = "drop_oldest"
  }
  dead_letter {
    paht = "/tmp/dead.ndjson"
  }
  buffer {}
  dead_letter = { path = "/tmp/d" }
}
