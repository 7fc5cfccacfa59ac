input "cfgtest_source" "a" {
  path = "/var/log/a.log"
  format = 
}
