package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pipeline with the Linux-only audit input validates for Linux and fails
// for macOS and Windows, naming the plugin and the platform it runs on.
func TestValidateTargetPlatforms(t *testing.T) {
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.hcl")
	write := func(path, src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(audit, `
input "audit" "kernel" {
  socket_type = "multicast"
}
output "file" "out" {
  inputs = [input.audit.kernel]
  path   = "./events.ndjson"
}
`)
	for _, tc := range []struct {
		goos, file string
		code       int
	}{
		{"linux", audit, 0},
		{"windows", audit, 1},
		{"darwin", audit, 1},
	} {
		r := cliRun(t, "", "validate", "--goos", tc.goos, tc.file)
		name := tc.goos + " " + filepath.Base(tc.file)
		if r.code != tc.code {
			t.Errorf("%s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", name, r.code, tc.code, r.stdout, r.stderr)
			continue
		}
		if tc.code != 0 {
			for _, s := range []string{"Plugin not available on " + tc.goos, "audit", "linux"} {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("%s: stderr lacks %q:\n%s", name, s, r.stderr)
				}
			}
		}
	}
}
