input "cfgtest_source" "a" {
  path = env("ENGINE_TEST_UNSET")
}

input "cfgtest_source" "b" {
  path = file("missing.txt")
}

input "cfgtest_source" "c" {
  path = uppercase("x")
}

input "cfgtest_source" "d" {
  path = input.cfgtest_source.a
}

input "cfgtest_source" "e" {
  path = vars.dir
}

output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a, input.cfgtest_source.b, input.cfgtest_source.c, input.cfgtest_source.d, input.cfgtest_source.e]
}
