//go:build linux

// Command auditstate saves and restores the kernel's audit rules and
// settings, and frees an audit PID left by a dead process. scripts/bench-audit
// uses it to take part in the protocol of the kernel audit tests'
// machine-wide lock (internal/audittest): whoever holds the lock keeps the
// state it found in a journal next to the lock file, so that if it dies
// without putting that state back, the next holder does. The journal is a
// rules.State in JSON, the tests' own format.
//
//	auditstate save FILE      write the current rules and status to FILE
//	auditstate restore FILE   free a dead holder's audit PID, then put back FILE's rules and status
//	auditstate release        free the audit PID if the process holding it is gone
//
// release refuses to touch a PID held by a live process. auditctl cannot
// free the PID at all: the kernel lets only the registered process
// unregister, and forgets a dead one only when it next fails to send it a
// record. So release registers itself (the kernel first probes the old
// holder, finds it gone and drops it) and unregisters at once.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "save":
		err = save(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "restore":
		err = restore(os.Args[2])
	case len(os.Args) == 2 && os.Args[1] == "release":
		err = release()
	default:
		fmt.Fprintln(os.Stderr, "usage: auditstate save FILE | restore FILE | release")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "auditstate: %v\n", err)
		os.Exit(1)
	}
}

func save(path string) error {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := rules.Snapshot(c)
	if err != nil {
		return err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func restore(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var st rules.State
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	if st.Status.PID == 0 {
		if err := release(); err != nil {
			errs = append(errs, err)
		}
	}
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer c.Close()
	if err := st.Restore(c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func release() error {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.GetStatus()
	if err != nil {
		return fmt.Errorf("read the audit status: %w", err)
	}
	if st.PID == 0 {
		return nil
	}
	if err := syscall.Kill(int(st.PID), 0); err == nil || err == syscall.EPERM {
		return fmt.Errorf("the audit PID is held by live process %d; not touching it", st.PID)
	}
	if err := c.SetPID(libaudit.WaitForReply); err != nil {
		return fmt.Errorf("take the audit PID from dead process %d: %w", st.PID, err)
	}
	// Close unregisters (SetPID marked the client to do so).
	if err := c.Close(); err != nil {
		return fmt.Errorf("release the audit PID: %w", err)
	}
	c2, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return err
	}
	defer c2.Close()
	if st, err = c2.GetStatus(); err != nil {
		return fmt.Errorf("read the audit status: %w", err)
	}
	if st.PID != 0 {
		return fmt.Errorf("the audit PID is still %d", st.PID)
	}
	return nil
}
