package rules

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"

	libaudit "github.com/elastic/go-libaudit/v2"
)

// fakeKernel keeps rules and status as the kernel does, for tests that
// inject faults: each list in order, -A rules at the head of their list
// (stored without the prepend flag), duplicates refused.
type fakeKernel struct {
	lists  [8][][]byte
	status libaudit.AuditStatus
	calls  []string

	addErr    func(canonical string) error // fails AddRule for some rules
	setErr    map[string]error             // fails a Set* call by setting name
	deleteNop bool                         // DeleteRule silently keeps the rule, as a broken kernel would
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{status: libaudit.AuditStatus{Enabled: 1, Failure: 1, BacklogLimit: 64, BacklogWaitTime: 15000}}
}

func (k *fakeKernel) GetStatus() (*libaudit.AuditStatus, error) {
	k.calls = append(k.calls, "GetStatus")
	s := k.status
	return &s, nil
}

func (k *fakeKernel) GetRules() ([][]byte, error) {
	k.calls = append(k.calls, "GetRules")
	var out [][]byte
	for _, l := range k.lists {
		for _, r := range l {
			out = append(out, bytes.Clone(r))
		}
	}
	return out, nil
}

func (k *fakeKernel) AddRule(wire []byte) error {
	c := describe(wire)
	k.calls = append(k.calls, "AddRule "+c)
	if k.status.Enabled == 2 {
		return fmt.Errorf("error adding audit rule: %w", syscall.EPERM)
	}
	if k.addErr != nil {
		if err := k.addErr(c); err != nil {
			return err
		}
	}
	r, err := decodeRule(wire)
	if err != nil || r.list > 7 {
		return fmt.Errorf("error adding audit rule: %w", syscall.EINVAL)
	}
	stored := bytes.Clone(wire)
	setPrepend(stored, false)
	for _, l := range k.lists {
		for _, have := range l {
			if bytes.Equal(have, stored) {
				return errors.New("rule exists") // as go-libaudit reports EEXIST
			}
		}
	}
	if r.prepend {
		k.lists[r.list] = append([][]byte{stored}, k.lists[r.list]...)
	} else {
		k.lists[r.list] = append(k.lists[r.list], stored)
	}
	return nil
}

func (k *fakeKernel) DeleteRule(wire []byte) error {
	k.calls = append(k.calls, "DeleteRule "+describe(wire))
	if k.deleteNop {
		return nil
	}
	for i, l := range k.lists {
		for j, have := range l {
			if bytes.Equal(have, wire) {
				k.lists[i] = slices.Delete(l, j, j+1)
				return nil
			}
		}
	}
	return nil // go-libaudit does not report the kernel's ENOENT
}

func (k *fakeKernel) set(name string, apply func()) error {
	k.calls = append(k.calls, "Set "+name)
	if k.status.Enabled == 2 {
		return syscall.EPERM
	}
	if err := k.setErr[name]; err != nil {
		return err
	}
	apply()
	return nil
}

func (k *fakeKernel) SetEnabled(on bool, _ libaudit.WaitMode) error {
	return k.set("enabled", func() {
		k.status.Enabled = 0
		if on {
			k.status.Enabled = 1
		}
	})
}

func (k *fakeKernel) SetFailure(fm libaudit.FailureMode, _ libaudit.WaitMode) error {
	return k.set("failure", func() { k.status.Failure = uint32(fm) })
}

func (k *fakeKernel) SetRateLimit(v uint32, _ libaudit.WaitMode) error {
	return k.set("rate_limit", func() { k.status.RateLimit = v })
}

func (k *fakeKernel) SetBacklogLimit(v uint32, _ libaudit.WaitMode) error {
	return k.set("backlog_limit", func() { k.status.BacklogLimit = v })
}

func (k *fakeKernel) SetBacklogWaitTime(v int32, _ libaudit.WaitMode) error {
	return k.set("backlog_wait_time", func() { k.status.BacklogWaitTime = uint32(v) })
}

func (k *fakeKernel) SetImmutable(libaudit.WaitMode) error {
	return k.set("immutable", func() { k.status.Enabled = 2 })
}

// loaded returns the canonical forms of the rules, in listing order.
func (k *fakeKernel) loaded() []string {
	rs, _ := k.GetRules()
	return describeAll(rs)
}

// lockingKernel also implements LoginuidLocker.
type lockingKernel struct {
	*fakeKernel
	locked bool
}

func (k *lockingKernel) LockLoginuidImmutable() error {
	k.locked = true
	return nil
}

func mustParse(t *testing.T, lines ...string) []Line {
	t.Helper()
	var out []Line
	for i, text := range lines {
		l, err := Parse(text, Source{File: "test.rules", Line: i + 1})
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if l != nil {
			out = append(out, *l)
		}
	}
	return out
}
