package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

// TestDefaultPipeline runs `engine run` with no pipeline, as the README's
// run command does: the built-in pipeline takes the audit PID, loads its
// rules, writes coalesced events, and on SIGTERM restores what it found.
func TestDefaultPipeline(t *testing.T) {
	s := audittest.Lock(t)
	bin := engineBinary(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "events.ndjson")
	cmd := exec.Command(bin, "run", "--state-dir", filepath.Join(dir, "state"), "--var", "output="+out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	}()

	marker := fmt.Sprintf("default-pipeline-%d", rand.Int64())
	deadline := time.Now().Add(time.Minute)
	var found map[string]any
	for found == nil && time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("engine exited early: %v\n%s", err, stderr.String())
		default:
		}
		exec.Command("/bin/echo", marker).Run()
		time.Sleep(200 * time.Millisecond)
		found = findEvent(t, out, func(doc map[string]any) bool { return strings.Contains(fmt.Sprint(doc["process"]), marker) })
	}
	if found == nil {
		t.Fatalf("no exec event for the marker in %s within a minute\n%s", out, stderr.String())
	}
	if tags := fmt.Sprint(found["tags"]); tags != "[exec]" {
		t.Errorf("tags = %s, want [exec]", tags)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("engine did not exit cleanly: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not stop on SIGTERM")
	}
	after, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(s.Found) {
		t.Fatalf("after engine stopped the kernel holds %d rules and %+v; it found %d rules and %+v",
			len(after.Rules), after.Status, len(s.Found.Rules), s.Found.Status)
	}
}

// TestDefaultPipelineNeedsRoot runs engine as an ordinary user (nobody,
// when the test runs as root) and expects a usage error saying why.
func TestDefaultPipelineNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		r := cliRun(t, "", "run")
		if r.code != exitUsage || !strings.Contains(r.stderr, "needs root") {
			t.Fatalf("engine run as a user: exit %d, %q", r.code, r.stderr)
		}
		return
	}
	bin := engineBinary(t)
	out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "run").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "needs root") {
		t.Fatalf("engine run as nobody: %v, %q", err, out)
	}
}

func TestPrintDefault(t *testing.T) {
	r := cliRun(t, "", "run", "--print-default")
	if r.code != 0 || !strings.Contains(r.stdout, `input "audit" "kernel"`) {
		t.Fatalf("exit %d, stdout %.200q", r.code, r.stdout)
	}
}
