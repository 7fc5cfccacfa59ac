// Package audittest guards tests that change the kernel's audit rules or
// status. Lock takes a lock that every such test on the machine shares (go
// test runs packages in parallel, as separate processes), snapshots what
// the kernel holds, and puts it back when the test ends, failing the test
// if it cannot. Tests skip, saying why, when they are not root or the
// kernel has no audit support.
//
// Tests must never make the configuration immutable (-e 2,
// --loginuid-immutable): nothing undoes that before a reboot.
package audittest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

// LockPath is the file every kernel audit test locks (flock, exclusive).
// While a test holds it, the file holds the test's PID and, in a file next
// to it with the suffix ".state", the audit state the test found: if the
// test process dies without restoring it, the next Lock restores it first.
var LockPath = defaultLockPath()

func defaultLockPath() string {
	if st, err := os.Stat("/run/lock"); err == nil && st.IsDir() {
		return "/run/lock/engine-audit-test.lock"
	}
	return filepath.Join(os.TempDir(), "engine-audit-test.lock")
}

// Session is a test's hold on kernel audit.
type Session struct {
	// Client is a control connection to the kernel, closed when the test
	// ends (which releases the audit PID if the test set it with this
	// client). It throws away answers left on its socket by requests that
	// gave up waiting (see rules.SteadyClient).
	Client *rules.SteadyClient
	// Found is the state the test started from, which is put back.
	Found *rules.State
}

// Lock skips the test unless it runs as root on a kernel with audit
// support; otherwise it waits for the machine-wide audit test lock,
// snapshots the audit rules and status, and registers a cleanup that puts
// them back, releases the audit PID if the test left it set, and fails the
// test if either goes wrong.
func Lock(t testing.TB) *Session {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("kernel audit test skipped: it needs root (running as uid %d)", os.Geteuid())
	}
	client, err := rules.NewSteadyClient()
	if err != nil {
		t.Skipf("kernel audit test skipped: kernel audit is not available: %v", err)
	}
	st, err := client.GetStatus()
	if err != nil {
		client.Close()
		t.Skipf("kernel audit test skipped: cannot read the audit status (no CAP_AUDIT_CONTROL in this namespace?): %v", err)
	}
	if st.Enabled == 2 {
		client.Close()
		t.Skip("kernel audit test skipped: the audit configuration is immutable (enabled=2) until reboot")
	}

	lock, err := acquire(t)
	if err != nil {
		client.Close()
		t.Fatalf("audittest: %v", err)
	}
	keepJournal := false
	t.Cleanup(func() {
		if !keepJournal {
			os.Remove(journalPath())
		}
		lock.Close() // releases the flock
	})

	if data, err := os.ReadFile(journalPath()); err == nil {
		var left rules.State
		if err := json.Unmarshal(data, &left); err != nil {
			t.Fatalf("audittest: reading the state a crashed test left in %s: %v", journalPath(), err)
		}
		if err := left.Restore(client); err != nil {
			t.Fatalf("audittest: a test process died holding the audit lock, or could not put back what it found; restoring that state (saved in %s, now removed) failed: %v", journalPath(), err)
		}
		t.Logf("audittest: a test process died holding the audit lock; restored the audit state it had found (%d rules)", len(left.Rules))
	}

	found, err := rules.Snapshot(client)
	if err != nil {
		client.Close()
		t.Fatalf("audittest: %v", err)
	}
	data, err := json.Marshal(found)
	if err == nil {
		err = os.WriteFile(journalPath(), data, 0o600)
	}
	if err != nil {
		client.Close()
		t.Fatalf("audittest: saving the audit state: %v", err)
	}
	t.Cleanup(func() {
		defer client.Close()
		if err := restore(client, found); err != nil {
			t.Errorf("audittest: putting back the audit state the test found: %v", err)
			keepJournal = true // the next Lock tries once more

		}
	})
	return &Session{Client: client, Found: found}
}

func restore(c *rules.SteadyClient, found *rules.State) error {
	var errs []error
	if found.Status.PID == 0 {
		st, err := c.GetStatus()
		if err != nil {
			return err
		}
		if st.PID != 0 {
			if err := ReleasePID(c.AuditClient); err != nil {
				errs = append(errs, fmt.Errorf("the test left the audit PID set to %s and it cannot be released: %w", describePID(int(st.PID)), err))
			}
		}
	}
	if err := found.Restore(c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func journalPath() string { return LockPath + ".state" }

// acquire takes the flock, saying who holds it while it waits. It gives up
// half a minute before the test binary's deadline (go test -timeout), so
// that the failure names the holder instead of a goroutine dump.
func acquire(t testing.TB) (*os.File, error) {
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the audit test lock: %w", err)
	}
	var deadline time.Time
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			deadline = dl.Add(-30 * time.Second)
		}
	}
	start, lastLog := time.Now(), time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", LockPath, err)
		}
		holder, _ := os.ReadFile(LockPath)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(holder)))
		if !deadline.IsZero() && time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("gave up after %v waiting for the audit test lock %s, held by %s",
				time.Since(start).Round(time.Second), LockPath, describePID(pid))
		}
		if time.Since(lastLog) > time.Minute {
			t.Logf("audittest: waiting for the audit test lock %s, held by %s", LockPath, describePID(pid))
			lastLog = time.Now()
		}
		time.Sleep(lockPollDelay)
	}
	if waited := time.Since(start); waited > lockPollDelay {
		t.Logf("audittest: got the audit test lock after %v", waited.Round(time.Millisecond))
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// PIDHolder returns the process the kernel sends audit records to (the
// audit PID), 0 if none, and its command name when it can be read.
func PIDHolder(c interface {
	GetStatus() (*libaudit.AuditStatus, error)
}) (pid int, comm string, err error) {
	st, err := c.GetStatus()
	if err != nil {
		return 0, "", err
	}
	pid = int(st.PID)
	if pid != 0 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		comm = strings.TrimSpace(string(b))
	}
	return pid, comm, nil
}

func describePID(pid int) string {
	if pid <= 0 {
		return "an unknown process"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("pid %d (gone)", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(b)))
}

// Netlink message types and status mask bits (linux/audit.h).
const (
	auditSet      = 1001
	statusMaskPID = 4
	statusSize    = 40 // struct audit_status up to backlog_wait_time_actual
	lockPollDelay = 100 * time.Millisecond
)

// ReleasePID asks the kernel to forget the audit PID. The kernel allows it
// when the holder is this process (any of its sockets) or gone; another
// live holder keeps it (EACCES). go-libaudit releases the PID only on
// Close of the client that set it; this releases it whichever client did.
func ReleasePID(c *libaudit.AuditClient) error {
	status := make([]byte, statusSize)
	binary.NativeEndian.PutUint32(status[0:], statusMaskPID) // mask; pid (offset 12) stays 0
	return rules.Request(c, auditSet, status)
}
