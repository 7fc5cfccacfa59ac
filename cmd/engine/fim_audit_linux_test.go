package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/audittest"
)

// TestFimAuditPipelineSaysWhoChanged runs the shipped pipelines/fim-audit.hcl
// on a directory of its own: a shell appends to a watched file, and the file
// integrity event for it must name the shell's process and user, taken from
// the kernel's audit event.
func TestFimAuditPipelineSaysWhoChanged(t *testing.T) {
	audittest.Lock(t)
	bin := engineBinary(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	if err := os.Mkdir(watched, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "events.ndjson")
	engineLog := filepath.Join(dir, "engine.log")
	cmd := startEngine(t, bin, engineLog, "--state-dir", filepath.Join(dir, "state"),
		"--var", fmt.Sprintf("paths=[%q]", watched), "--var", "output="+out, "../../pipelines/fim-audit.hcl")

	target := filepath.Join(watched, "motd")
	deadline := time.Now().Add(time.Minute)
	var found map[string]any
	for i := 0; found == nil && time.Now().Before(deadline); i++ {
		// A shell, not this test process, changes the file.
		if err := exec.Command("/bin/sh", "-c", fmt.Sprintf("echo line %d >> %s", i, target)).Run(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		found = findEvent(t, out, func(doc map[string]any) bool {
			ev, _ := doc["event"].(map[string]any)
			file, _ := doc["file"].(map[string]any)
			fi, _ := doc["file_integrity"].(map[string]any)
			return ev["module"] == "file_integrity" && file["path"] == target && fi != nil
		})
	}
	if found == nil {
		t.Fatalf("no annotated file integrity event for %s within a minute", target)
	}
	proc, _ := found["process"].(map[string]any)
	exe, _ := proc["executable"].(string)
	if !strings.HasSuffix(exe, "sh") {
		t.Fatalf("process.executable = %q, want the shell that wrote the file; event: %v", exe, found)
	}
	if user, _ := found["user"].(map[string]any); user["id"] != fmt.Sprint(os.Getuid()) {
		t.Fatalf("user = %v, want id %d", found["user"], os.Getuid())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, 30*time.Second)
}
