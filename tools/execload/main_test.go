//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCounts runs execload and checks the report scripts/bench-audit reads:
// exactly rate × duration programs run, none failed, and pid is execload's
// own (the parent of every program it ran).
func TestCounts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "execload")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []struct {
		name  string
		args  []string
		execs int64
	}{
		{"fixed count", []string{"-rate", "200", "-duration", "250ms"}, 50},
		{"one worker", []string{"-rate", "100", "-duration", "100ms", "-workers", "1"}, 10},
		{"fractional period", []string{"-rate", "30", "-duration", "200ms"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("execload %v: %v", tt.args, err)
			}
			var r report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("report %q: %v", out, err)
			}
			if r.Execs != tt.execs || r.Failed != 0 {
				t.Errorf("execs = %d, failed = %d; want %d, 0", r.Execs, r.Failed, tt.execs)
			}
			if r.PID != cmd.Process.Pid {
				t.Errorf("pid = %d, want execload's own %d", r.PID, cmd.Process.Pid)
			}
			if r.AchievedRate <= 0 || r.DurationS <= 0 {
				t.Errorf("achieved_rate = %v, duration_s = %v; want positive", r.AchievedRate, r.DurationS)
			}
		})
	}
}

// TestRejects checks that a missing program or a bad flag is refused
// before anything runs.
func TestRejects(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "execload")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"-path", "/nonexistent/program"},
		{"-rate", "0"},
		{"-duration", "-1s"},
		{"-workers", "0"},
	} {
		err := exec.Command(bin, args...).Run()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("execload %v: err = %v, want exit status 2", args, err)
		}
	}
}
