package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	libaudit "github.com/elastic/go-libaudit/v2"
)

func TestApplyLoadsInOrderAndWarnsAboutRefusedRules(t *testing.T) {
	k := newFakeKernel()
	k.lists[listExit] = [][]byte{mustParse(t, "-w /old -p w")[0].Wire}
	k.addErr = func(c string) error {
		if strings.Contains(c, "/refused") {
			return fmt.Errorf("error adding audit rule: %w", syscall.EINVAL)
		}
		return nil
	}
	k.setErr = map[string]error{"backlog_wait_time": syscall.EINVAL}
	lines := mustParse(t,
		"-D",
		"-b 8192",
		"--backlog_wait_time 9999999",
		"-f 1",
		"-w /etc/passwd -p wa -k identity",
		"-a always,exit -F uid=engine-no-such-user",
		"-w /refused -p w",
		"-A never,exit -F arch=b64 -S all -F pid=1",
		"-w /etc/passwd -p wa -k identity",
		"--reset-lost",
		"-r 50",
		"-e 1",
	)
	rep, err := Apply(k, lines, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-a never,exit -F arch=b64 -S all -F pid=1", "-w /etc/passwd -p wa -k identity"}; !slices.Equal(k.loaded(), want) {
		t.Errorf("kernel holds %q, want %q", k.loaded(), want)
	}
	var added []string
	for _, l := range rep.Added {
		added = append(added, l.Text)
	}
	if want := []string{"-w /etc/passwd -p wa -k identity", "-A never,exit -F arch=b64 -S all -F pid=1"}; !slices.Equal(added, want) {
		t.Errorf("Added = %q, want %q", added, want)
	}
	if rep.Deleted != 1 {
		t.Errorf("Deleted = %d, want 1", rep.Deleted)
	}
	var settings []string
	for _, s := range rep.Settings {
		settings = append(settings, fmt.Sprintf("%s=%d@%d", s.Name, s.Value, s.Src.Line))
	}
	if want := []string{"backlog_limit=8192@2", "failure=1@4", "rate_limit=50@11", "enabled=1@12"}; !slices.Equal(settings, want) {
		t.Errorf("Settings = %q, want %q", settings, want)
	}
	wantWarnings := []struct {
		line int
		msg  string
	}{
		{3, "setting backlog_wait_time to 9999999: the kernel refused it: invalid argument"},
		{6, `no user "engine-no-such-user"`},
		{7, "the kernel refused it: invalid argument"},
		{9, "the rule is already loaded"},
		{10, "not carried out"},
	}
	if len(rep.Warnings) != len(wantWarnings) {
		t.Fatalf("warnings %v, want %d", rep.Warnings, len(wantWarnings))
	}
	for i, w := range wantWarnings {
		got := rep.Warnings[i]
		if got.Src.Line != w.line || got.Src.File != "test.rules" || !strings.Contains(got.Error(), w.msg) {
			t.Errorf("warning %d = %v, want line %d: …%s…", i, got, w.line, w.msg)
		}
		if !strings.HasPrefix(got.Error(), fmt.Sprintf("test.rules:%d: %s: ", w.line, lines[w.line-1].Text)) {
			t.Errorf("warning %q does not name its place and line", got.Error())
		}
	}
	if k.status.BacklogLimit != 8192 || k.status.RateLimit != 50 || k.status.BacklogWaitTime != 15000 {
		t.Errorf("status %+v", k.status)
	}
}

func TestApplyStopsWhenTheKernelRefusesEverything(t *testing.T) {
	k := newFakeKernel()
	k.addErr = func(c string) error {
		if strings.Contains(c, "/second") {
			return fmt.Errorf("error adding audit rule: %w", syscall.EPERM)
		}
		return nil
	}
	rep, err := Apply(k, mustParse(t, "-w /first -p w", "-w /second -p w", "-w /third -p w"), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "test.rules:2: -w /second -p w") || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("err = %v, want EPERM naming line 2", err)
	}
	if len(rep.Added) != 1 || len(k.loaded()) != 1 {
		t.Errorf("added %d rules, kernel holds %q; want only the first", len(rep.Added), k.loaded())
	}
}

func TestApplyRefusesImmutableBeforeChangingAnything(t *testing.T) {
	for _, last := range []string{"-e 2", "--loginuid-immutable"} {
		k := newFakeKernel()
		_, err := Apply(k, mustParse(t, "-D", "-w /etc/passwd -p wa", last), ApplyOptions{})
		if err == nil || !strings.Contains(err.Error(), "test.rules:3") || !strings.Contains(err.Error(), last) ||
			!strings.Contains(err.Error(), "immutable") {
			t.Errorf("%s: err = %v, want a refusal naming line 3", last, err)
		}
		if len(k.calls) != 0 {
			t.Errorf("%s: the kernel was called: %q", last, k.calls)
		}
	}
}

func TestApplyImmutableWhenAllowed(t *testing.T) {
	k := &lockingKernel{fakeKernel: newFakeKernel()}
	rep, err := Apply(k, mustParse(t, "-w /etc/passwd -p wa", "--loginuid-immutable", "-e 2"), ApplyOptions{AllowImmutable: true})
	if err != nil {
		t.Fatal(err)
	}
	if !k.locked || k.status.Enabled != 2 {
		t.Errorf("loginuid locked %v, enabled %d", k.locked, k.status.Enabled)
	}
	if n := len(rep.Settings); n != 2 || rep.Settings[0].Name != "loginuid_immutable" || rep.Settings[1].Name != "enabled" || rep.Settings[1].Value != 2 {
		t.Errorf("settings %+v", rep.Settings)
	}
	// Now everything is refused, and Apply says so up front.
	_, err = Apply(k, mustParse(t, "-w /etc/shadow -p wa"), ApplyOptions{})
	if !errors.Is(err, errLocked) {
		t.Errorf("Apply on a locked kernel: %v", err)
	}
	// A client that cannot set features cannot lock login uids.
	_, err = Apply(newFakeKernel(), mustParse(t, "--loginuid-immutable"), ApplyOptions{AllowImmutable: true})
	if err == nil || !strings.Contains(err.Error(), "cannot set --loginuid-immutable") {
		t.Errorf("err = %v", err)
	}
}

// fakeNetlink answers every request with an ACK and records it.
type fakeNetlink struct {
	sent    []syscall.NetlinkMessage
	pending [][]byte
	errno   int32
}

func (n *fakeNetlink) Send(m syscall.NetlinkMessage) (uint32, error) {
	seq := uint32(len(n.sent) + 100)
	m.Header.Seq = seq
	n.sent = append(n.sent, m)
	ack := make([]byte, syscall.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint16(ack[4:], syscall.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(ack[8:], seq)
	binary.NativeEndian.PutUint32(ack[syscall.NLMSG_HDRLEN:], uint32(-n.errno))
	// An audit record (sequence 0) arrives before the answer.
	n.pending = append(n.pending, make([]byte, syscall.NLMSG_HDRLEN+8), ack)
	return seq, nil
}

func (n *fakeNetlink) SendNoWait(m syscall.NetlinkMessage) (uint32, error) { return n.Send(m) }

func (n *fakeNetlink) Receive(_ bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	if len(n.pending) == 0 {
		return nil, syscall.EAGAIN
	}
	b := n.pending[0]
	n.pending = n.pending[1:]
	return p(b)
}

func (n *fakeNetlink) Close() error { return nil }

// --loginuid-immutable goes to the kernel as auditctl sends it:
// AUDIT_SET_FEATURE with the feature on and locked. This is checked
// against a fake connection: sending it to the real kernel cannot be
// undone.
func TestLoginuidImmutableRequest(t *testing.T) {
	nl := &fakeNetlink{}
	c := &libaudit.AuditClient{Netlink: nl}
	if err := lockLoginuid(c); err != nil {
		t.Fatal(err)
	}
	if len(nl.sent) != 1 {
		t.Fatalf("sent %d messages", len(nl.sent))
	}
	m := nl.sent[0]
	if m.Header.Type != 1019 || m.Header.Flags != syscall.NLM_F_REQUEST|syscall.NLM_F_ACK {
		t.Errorf("header %+v, want AUDIT_SET_FEATURE (1019) with an ACK", m.Header)
	}
	var words [4]uint32
	for i := range words {
		words[i] = binary.NativeEndian.Uint32(m.Data[4*i:])
	}
	if words != [4]uint32{1, 2, 2, 2} || len(m.Data) != 16 {
		t.Errorf("struct audit_features = %v (%d bytes), want version 1, mask/features/lock = 1<<AUDIT_FEATURE_LOGINUID_IMMUTABLE", words, len(m.Data))
	}
	nl = &fakeNetlink{errno: int32(syscall.EPERM)}
	if err := lockLoginuid(&libaudit.AuditClient{Netlink: nl}); !errors.Is(err, syscall.EPERM) {
		t.Errorf("kernel refusal came back as %v", err)
	}
}

func TestApplyDeletes(t *testing.T) {
	k := newFakeKernel()
	lines := mustParse(t,
		"-w /etc/passwd -p wa -k identity",
		"-w /etc/group -p wa -k identity",
		"-a always,exit -F arch=b64 -S open -k files",
		"-a never,filesystem -F fstype=tracefs -k files",
		"-W /etc/group -p wa -k identity",
		"-W /etc/group -p wa -k identity",
		"-D -k files",
	)
	rep, err := Apply(k, lines, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-w /etc/passwd -p wa -k identity"}; !slices.Equal(k.loaded(), want) {
		t.Errorf("kernel holds %q, want %q", k.loaded(), want)
	}
	if rep.Deleted != 3 || len(rep.Warnings) != 1 || rep.Warnings[0].Src.Line != 6 ||
		!strings.Contains(rep.Warnings[0].Error(), "no such rule is loaded") {
		t.Errorf("deleted %d, warnings %v", rep.Deleted, rep.Warnings)
	}
	// A kernel that keeps what it was told to delete stops Apply.
	k.deleteNop = true
	_, err = Apply(k, mustParse(t, "-D"), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "kept") {
		t.Errorf("err = %v, want one saying the kernel kept a rule", err)
	}
}

func TestApplyRejectsLinesNotFromParse(t *testing.T) {
	_, err := Apply(newFakeKernel(), []Line{{Kind: KindRule, Text: "-w /x"}}, ApplyOptions{})
	if err == nil {
		t.Error("a rule line without a wire format was applied")
	}
}

func TestSnapshotRestore(t *testing.T) {
	k := newFakeKernel()
	if _, err := Apply(k, mustParse(t,
		"-a always,exit -F arch=b64 -S open",
		"-A never,exit -F arch=b64 -S all -F pid=1",
		"-w /etc/passwd -p wa",
		"-A never,exit -F arch=b64 -S all -F pid=2",
		"-a never,filesystem -F fstype=debugfs",
		"-A never,filesystem -F fstype=tracefs",
		"-a never,task",
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := Snapshot(k)
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{
		"-a never,task",
		"-a never,exit -F arch=b64 -S all -F pid=2",
		"-a never,exit -F arch=b64 -S all -F pid=1",
		"-a always,exit -F arch=b64 -S open",
		"-w /etc/passwd -p wa",
		"-a never,filesystem -F fstype=tracefs",
		"-a never,filesystem -F fstype=debugfs",
	}
	if got := describeAll(before.Rules); !slices.Equal(got, wantOrder) {
		t.Fatalf("listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantOrder, "\n"))
	}
	if _, err := Apply(k, mustParse(t, "-D", "-w /etc/shadow -p r", "-b 100", "-r 7", "-f 2", "-e 0", "--backlog_wait_time 1"), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := before.Restore(k); err != nil {
		t.Fatal(err)
	}
	after, err := Snapshot(k)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) || !slices.EqualFunc(after.Rules, before.Rules, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("after Restore:\n%+v\n%s\nwant\n%+v\n%s", after.Status, strings.Join(describeAll(after.Rules), "\n"),
			before.Status, strings.Join(describeAll(before.Rules), "\n"))
	}
	// Restoring what is already there sets nothing.
	k.calls = nil
	if err := before.Restore(k); err != nil {
		t.Fatal(err)
	}
	for _, c := range k.calls {
		if strings.HasPrefix(c, "Set ") {
			t.Errorf("restoring an unchanged state called %s", c)
		}
	}
}

func TestRestoreGoesOnPastFailures(t *testing.T) {
	k := newFakeKernel()
	if _, err := Apply(k, mustParse(t, "-w /a -p w", "-w /b -p w", "-w /c -p w"), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	s, _ := Snapshot(k)
	k.lists = [8][][]byte{}
	k.addErr = func(c string) error {
		if strings.Contains(c, "/b") {
			return fmt.Errorf("error adding audit rule: %w", syscall.ENOENT)
		}
		return nil
	}
	k.status.BacklogLimit = 9
	err := s.Restore(k)
	if err == nil || !strings.Contains(err.Error(), "re-adding -w /b -p w") || !strings.Contains(err.Error(), "after the restore the kernel lists 2 rules") {
		t.Errorf("err = %v", err)
	}
	if got := k.loaded(); !slices.Equal(got, []string{"-w /a -p w", "-w /c -p w"}) || k.status.BacklogLimit != 64 {
		t.Errorf("kernel holds %q, backlog %d", got, k.status.BacklogLimit)
	}
	k.status.Enabled = 2
	if err := s.Restore(k); !errors.Is(err, errLocked) {
		t.Errorf("Restore on a locked kernel: %v", err)
	}
}
