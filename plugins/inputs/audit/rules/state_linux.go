package rules

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	libaudit "github.com/elastic/go-libaudit/v2"
)

// Client is the part of *libaudit.AuditClient that Apply, Snapshot and
// Restore use; an *libaudit.AuditClient is one. Tests pass fakes that fail
// on purpose.
type Client interface {
	GetStatus() (*libaudit.AuditStatus, error)
	GetRules() ([][]byte, error)
	AddRule(rule []byte) error
	DeleteRule(rule []byte) error
	SetEnabled(enabled bool, wm libaudit.WaitMode) error
	SetFailure(fm libaudit.FailureMode, wm libaudit.WaitMode) error
	SetRateLimit(perSecondLimit uint32, wm libaudit.WaitMode) error
	SetBacklogLimit(limit uint32, wm libaudit.WaitMode) error
	SetBacklogWaitTime(waitTime int32, wm libaudit.WaitMode) error
	SetImmutable(wm libaudit.WaitMode) error
}

// Status is the part of the kernel's audit status that rules and control
// lines change.
type Status struct {
	Enabled         uint32 // 0 off, 1 on, 2 locked until reboot
	Failure         uint32 // 0 silent, 1 printk, 2 panic
	RateLimit       uint32 // records per second, 0 unlimited
	BacklogLimit    uint32 // records queued for the audit daemon
	BacklogWaitTime uint32 // kernel ticks a process waits when the backlog is full
	PID             uint32 // the audit daemon's PID, 0 for none; Restore leaves it alone
}

func statusOf(s *libaudit.AuditStatus) Status {
	return Status{
		Enabled: s.Enabled, Failure: s.Failure, RateLimit: s.RateLimit,
		BacklogLimit: s.BacklogLimit, BacklogWaitTime: s.BacklogWaitTime, PID: s.PID,
	}
}

// State is the kernel's audit rules and settings at one moment.
type State struct {
	Rules  [][]byte // wire format, in the order the kernel lists them
	Status Status
}

// errLocked is returned when the kernel refuses every change until reboot.
var errLocked = errors.New("the kernel's audit configuration is immutable (enabled=2, set by -e 2) until reboot")

// Snapshot reads the kernel's rules and status.
func Snapshot(c Client) (*State, error) {
	st, err := c.GetStatus()
	if err != nil {
		return nil, fmt.Errorf("reading the audit status: %w", err)
	}
	rs, err := c.GetRules()
	if err != nil {
		return nil, fmt.Errorf("listing the audit rules: %w", err)
	}
	s := &State{Status: statusOf(st)}
	for _, r := range rs {
		s.Rules = append(s.Rules, bytes.Clone(r))
	}
	return s, nil
}

// Restore puts the snapshot back: it deletes every rule, adds the
// snapshot's rules in the order the kernel listed them, which gives the
// same list with the same bytes (the kernel lists rules added with -A
// without the prepend flag, in their place), and sets the status values
// that differ, enabled last. It then lists the rules again and reports any
// difference. It goes on past failures and returns them all.
func (s *State) Restore(c Client) error {
	st, err := c.GetStatus()
	if err != nil {
		return fmt.Errorf("reading the audit status: %w", err)
	}
	if st.Enabled == 2 {
		return errLocked
	}
	if _, err := deleteRules(c, ""); err != nil {
		return err
	}
	var errs []error
	for _, r := range s.Rules {
		if d, err := decodeRule(r); err == nil && d.prepend {
			r = bytes.Clone(r) // a state not read from a kernel: keep its order
			setPrepend(r, false)
		}
		if err := c.AddRule(r); err != nil {
			errs = append(errs, fmt.Errorf("re-adding %s: %w", describe(r), err))
		}
	}
	want, have := s.Status, statusOf(st)
	set := func(name string, differs bool, f func() error) {
		if differs {
			if err := f(); err != nil {
				errs = append(errs, fmt.Errorf("setting %s: %w", name, err))
			}
		}
	}
	set("failure", want.Failure != have.Failure, func() error {
		return c.SetFailure(libaudit.FailureMode(want.Failure), libaudit.WaitForReply)
	})
	set("rate_limit", want.RateLimit != have.RateLimit, func() error {
		return c.SetRateLimit(want.RateLimit, libaudit.WaitForReply)
	})
	set("backlog_limit", want.BacklogLimit != have.BacklogLimit, func() error {
		return c.SetBacklogLimit(want.BacklogLimit, libaudit.WaitForReply)
	})
	set("backlog_wait_time", want.BacklogWaitTime != have.BacklogWaitTime, func() error {
		return c.SetBacklogWaitTime(int32(want.BacklogWaitTime), libaudit.WaitForReply)
	})
	set("enabled", want.Enabled != have.Enabled && want.Enabled < 2, func() error {
		return c.SetEnabled(want.Enabled == 1, libaudit.WaitForReply)
	})
	if err := s.verify(c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// verify compares the kernel's rules and status with the snapshot.
func (s *State) verify(c Client) error {
	now, err := Snapshot(c)
	if err != nil {
		return err
	}
	var errs []error
	want, have := describeAll(s.Rules), describeAll(now.Rules)
	if !slices.Equal(want, have) {
		errs = append(errs, fmt.Errorf("after the restore the kernel lists %d rules:\n\t%s\nwant %d:\n\t%s",
			len(have), strings.Join(have, "\n\t"), len(want), strings.Join(want, "\n\t")))
	}
	ws, hs := s.Status, now.Status
	ws.PID, hs.PID = 0, 0
	if ws.Enabled == 2 {
		ws.Enabled = hs.Enabled
	}
	if ws != hs {
		errs = append(errs, fmt.Errorf("after the restore the audit status is %+v, want %+v", hs, ws))
	}
	return errors.Join(errs...)
}

// Equal reports whether two states hold the same rules, in the same order,
// and the same settings (the PID aside).
func (s *State) Equal(o *State) bool {
	a, b := s.Status, o.Status
	a.PID, b.PID = 0, 0
	return a == b && slices.EqualFunc(s.Rules, o.Rules, func(x, y []byte) bool {
		return describe(x) == describe(y)
	})
}

// deleteRules deletes every rule, or with a key only the rules carrying it,
// and checks that the kernel let them go (go-libaudit's DeleteRule does not
// report the kernel's answer).
func deleteRules(c Client, key string) (int, error) {
	rs, err := c.GetRules()
	if err != nil {
		return 0, fmt.Errorf("listing the audit rules: %w", err)
	}
	var gone [][]byte
	for _, r := range rs {
		if key != "" && !hasKey(r, key) {
			continue
		}
		if err := c.DeleteRule(r); err != nil {
			return 0, fmt.Errorf("deleting %s: %w", describe(r), err)
		}
		gone = append(gone, r)
	}
	left, err := c.GetRules()
	if err != nil {
		return 0, fmt.Errorf("listing the audit rules: %w", err)
	}
	for _, r := range left {
		for _, g := range gone {
			if bytes.Equal(r, g) {
				return 0, fmt.Errorf("the kernel kept %s after it was deleted", describe(r))
			}
		}
	}
	return len(gone), nil
}

// hasKey reports whether a rule carries key among its keys.
func hasKey(wire []byte, key string) bool {
	r, err := decodeRule(wire)
	if err != nil {
		return false
	}
	for _, f := range r.fields {
		if f.id == fieldFilterKey && slices.Contains(strings.Split(f.str, keySeparator), key) {
			return true
		}
	}
	return false
}

// describe is a rule's canonical text, or its bytes in hex when it has none.
func describe(wire []byte) string {
	if s, err := Canonical(wire); err == nil {
		return s
	}
	return fmt.Sprintf("rule %x", wire)
}

func describeAll(rs [][]byte) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = describe(r)
	}
	return out
}
