// Command auditrelease frees the kernel's audit PID when the process that
// held it is gone. auditctl has no way to do this: the kernel lets only the
// registered process unregister itself, and forgets a dead one only when it
// next fails to send it a record. scripts/bench-audit runs it when it
// cleans up, in case engine, auditd or golibauditref died without
// releasing the PID (kill -9).
//
// It refuses to touch a PID held by a live process. When the holder is dead
// it registers itself (the kernel first probes the old holder, finds it gone
// and drops it) and unregisters at once. Exit status 0 means the audit PID
// is now 0.
package main

import (
	"fmt"
	"os"
	"syscall"

	libaudit "github.com/elastic/go-libaudit/v2"
)

func main() {
	if err := release(); err != nil {
		fmt.Fprintf(os.Stderr, "auditrelease: %v\n", err)
		os.Exit(1)
	}
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
