package audittest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

func apply(t *testing.T, c rules.Client, texts ...string) {
	t.Helper()
	var lines []rules.Line
	for _, text := range texts {
		l, err := rules.Parse(text, rules.Source{})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, *l)
	}
	if _, err := rules.Apply(c, lines, rules.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// After a test that changed rules and settings and left the audit PID set,
// the next one finds what the first one found.
func TestLockPutsBackWhatItFound(t *testing.T) {
	var found *rules.State
	var holder *libaudit.AuditClient
	t.Run("change", func(t *testing.T) {
		s := audittest.Lock(t)
		found = s.Found
		apply(t, s.Client, "-D", "-w /etc/hosts -p wa -k audittest", "-a never,filesystem -F fstype=tracefs",
			"-b 4321", "-r 17", "-f 0")
		if found.Status.PID != 0 {
			return // an audit daemon runs here; leave it alone
		}
		var err error
		if holder, err = libaudit.NewAuditClient(nil); err != nil {
			t.Fatal(err)
		}
		if err := holder.SetPID(libaudit.WaitForReply); err != nil {
			t.Fatal(err)
		}
		pid, comm, err := audittest.PIDHolder(s.Client)
		if err != nil || pid != os.Getpid() || comm == "" {
			t.Errorf("PIDHolder = %d %q %v, want this process (%d)", pid, comm, err, os.Getpid())
		}
	})
	if holder != nil {
		defer holder.Close()
	}
	if found == nil {
		return // skipped
	}
	t.Run("check", func(t *testing.T) {
		s := audittest.Lock(t)
		if !s.Found.Equal(found) {
			t.Errorf("the next test found %+v %q\nwant %+v %q", s.Found.Status, s.Found.Rules, found.Status, found.Rules)
		}
		if s.Found.Status.PID != found.Status.PID {
			t.Errorf("the audit PID was left at %d", s.Found.Status.PID)
		}
	})
}

// A test process that dies holding the lock leaves the state it found in
// the journal; the next Lock puts it back.
func TestLockRecoversFromACrashedTest(t *testing.T) {
	if os.Getenv("AUDITTEST_CRASH") == "1" {
		s := audittest.Lock(t)
		apply(t, s.Client, "-D", "-w /etc/hosts -p wa -k crashed", "-b 4242")
		os.Stdout.WriteString("crashing now\n")
		os.Exit(3) // no cleanup runs
	}
	var before *rules.State
	t.Run("before", func(t *testing.T) { before = audittest.Lock(t).Found })
	if before == nil {
		return // skipped
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockRecoversFromACrashedTest$", "-test.v")
	cmd.Env = append(os.Environ(), "AUDITTEST_CRASH=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), "crashing now") {
		t.Fatalf("the crashing test: %v\n%s", err, out)
	}
	t.Run("after", func(t *testing.T) {
		s := audittest.Lock(t)
		if !s.Found.Equal(before) {
			t.Errorf("after a crashed test the kernel holds %+v %q\nwant %+v %q", s.Found.Status, s.Found.Rules, before.Status, before.Rules)
		}
	})
}
