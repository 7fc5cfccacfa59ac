package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFimThroughTheBinary is the check: a fim → file pipeline run
// with `engine run --state-dir`, while files are created, appended,
// chmod-ed, renamed, created in a new subdirectory and deleted; then files
// change while engine is stopped, and the next run reports them. Actions,
// paths and hashes are compared with what was done.
func TestFimThroughTheBinary(t *testing.T) {
	bin := engineBinary(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	state := filepath.Join(dir, "state")
	out := filepath.Join(dir, "events.ndjson")
	must(t, os.MkdirAll(tree, 0o755))
	write(t, filepath.Join(tree, "existing"), "before\n")
	pipe := filepath.Join(dir, "fim.hcl")
	must(t, os.WriteFile(pipe, []byte(fmt.Sprintf(`input "fim" "x" {
  paths         = [%q]
  recursive     = true
  scan_at_start = true
  hash_types    = ["sha256", "md5"]
}
output "file" "out" {
  inputs = [input.fim.x]
  path   = %q
}
`, tree, out)), 0o600))

	run := func(steps func()) {
		t.Helper()
		cmd := exec.Command(bin, "run", "--state-dir", state, pipe)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("engine: %v\n%s", err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Errorf("engine did not stop\n%s", stderr.String())
			}
		}()
		steps()
	}
	// expect waits until an event with this action and path is in the
	// output, and checks its sha256 against content (when not "").
	expect := func(action, path, content string) map[string]any {
		t.Helper()
		var ev map[string]any
		deadline := time.Now().Add(time.Minute)
		for ev == nil && time.Now().Before(deadline) {
			ev = findEvent(t, out, func(doc map[string]any) bool {
				e, _ := doc["event"].(map[string]any)
				f, _ := doc["file"].(map[string]any)
				return e["action"] == action && f["path"] == path
			})
			if ev == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if ev == nil {
			t.Fatalf("no %s event for %s", action, path)
		}
		if content != "" {
			f := ev["file"].(map[string]any)
			h, _ := f["hash"].(map[string]any)
			sum := sha256.Sum256([]byte(content))
			if h["sha256"] != hex.EncodeToString(sum[:]) {
				t.Fatalf("%s %s: sha256 %v, want that of %q", action, path, h["sha256"], content)
			}
		}
		return ev
	}

	a := filepath.Join(tree, "a")
	sub := filepath.Join(tree, "sub", "deeper")
	run(func() {
		expect("initial_scan", filepath.Join(tree, "existing"), "before\n")
		write(t, a, "one\n")
		expect("created", a, "one\n")
		appendTo(t, a, "two\n")
		expect("updated", a, "one\ntwo\n")
		must(t, os.Chmod(a, 0o600))
		ev := expect("attributes_modified", a, "")
		if mode := ev["file"].(map[string]any)["mode"]; mode != "0600" {
			t.Fatalf("mode after chmod = %v", mode)
		}
		b := filepath.Join(tree, "b")
		must(t, os.Rename(a, b))
		mv := expect("moved", b, "one\ntwo\n")
		if old := mv["file"].(map[string]any)["old_path"]; old != a {
			t.Fatalf("old_path = %v, want %s", old, a)
		}
		must(t, os.MkdirAll(sub, 0o755))
		write(t, filepath.Join(sub, "new"), "nested\n")
		expect("created", filepath.Join(sub, "new"), "nested\n")
		must(t, os.Remove(b))
		expect("deleted", b, "")
	})

	// While engine is stopped.
	appendTo(t, filepath.Join(tree, "existing"), "after\n")
	write(t, filepath.Join(tree, "offline"), "made offline\n")
	must(t, os.Remove(filepath.Join(sub, "new")))
	must(t, os.Chmod(filepath.Join(tree, "existing"), 0o640))
	run(func() {
		expect("updated", filepath.Join(tree, "existing"), "before\nafter\n")
		expect("created", filepath.Join(tree, "offline"), "made offline\n")
		expect("deleted", filepath.Join(sub, "new"), "")
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func appendTo(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(content)
	must(t, err)
	must(t, f.Close())
}
