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
	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
	"github.com/engine-audit/engine/sdk/sdktest"
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

// TestSecondSignalStillRestoresTheKernel signals engine twice in a row
// while its drain cannot finish (the output's destination refuses
// connections and the shutdown timeout is long): the second signal must
// end the drain and still let the audit input put back the kernel's rules
// and settings, instead of exiting in the middle of it.
func TestSecondSignalStillRestoresTheKernel(t *testing.T) {
	s := audittest.Lock(t)
	bin := engineBinary(t)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "stuck.hcl")
	hcl := fmt.Sprintf(`engine {
  shutdown_timeout = "10m"
}

input "audit" "kernel" {
  socket_type   = "unicast"
  backlog_limit = 4096
  rules         = ["-a always,exit -F arch=b64 -S execve -k second-signal-test"]
}

output "elasticsearch" "down" {
  inputs = [input.audit.kernel]
  urls   = ["http://%s"]
}
`, testservers.ClosedAddr(t))
	if err := os.WriteFile(pipeline, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--state-dir", filepath.Join(dir, "state"), pipeline)
	var stderr sdktest.LogBuffer // read while engine writes it
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill() // a no-op once it exited; Wait reaps it

	// Wait until engine holds the audit PID with its rules loaded, then make
	// events that the output cannot deliver.
	deadline := time.Now().Add(time.Minute)
	for {
		snap, err := rules.Snapshot(s.Client)
		if err != nil {
			t.Fatal(err)
		}
		if int(snap.Status.PID) == cmd.Process.Pid && len(snap.Rules) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine did not take the audit PID and load its rules within a minute\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 20 {
		exec.Command("/bin/true").Run()
	}
	time.Sleep(2 * time.Second) // the events reach the output and its first attempt fails

	// A second signal right after engine took the first, as from an
	// impatient operator: it comes while the input is putting the kernel's
	// state back. (Sent at once, the two could merge into one pending
	// signal.)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stderr.String(), "signal received") {
		if time.Now().After(deadline.Add(time.Minute)) {
			t.Fatalf("engine did not log the first signal\n%s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("engine did not stop within a minute of the second signal (the drain would wait 10m)\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("stderr does not mention the second signal:\n%s", stderr.String())
	}
	after, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(s.Found) {
		t.Fatalf("after the second signal the kernel holds %d rules and %+v; engine found %d rules and %+v\n%s",
			len(after.Rules), after.Status, len(s.Found.Rules), s.Found.Status, stderr.String())
	}
}
