package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// AllowImmutable lets -e 2 and --loginuid-immutable through. They
	// cannot be undone until the machine reboots; without this Apply
	// refuses the whole set before changing anything.
	AllowImmutable bool
}

// Report says what Apply did.
type Report struct {
	Added    []Line     // rule lines the kernel took, in order
	Deleted  int        // rules removed by -D, -d and -W
	Settings []Setting  // status settings applied, in order
	Warnings []*Warning // lines not carried out, and why
}

// Setting is one audit status value a control line set.
type Setting struct {
	Src   Source
	Name  string // enabled, failure, rate_limit, backlog_limit, backlog_wait_time, loginuid_immutable
	Value uint32
}

// Warning is a line Apply did not carry out; the lines after it were.
type Warning struct {
	Src  Source
	Text string // the line
	Err  error
}

func (w *Warning) Error() string {
	return fmt.Sprintf("%s: %s: %v", w.Src, w.Text, w.Err)
}

func (w *Warning) Unwrap() error { return w.Err }

// Apply carries out lines in order, as auditctl -R does with a rule file:
// rules are added (-a, -A, -w) or deleted (-d, -W), -D deletes every rule
// (or those with a key), and -b, -f, -r, --backlog_wait_time and -e set
// the audit status.
//
// A line the running kernel cannot take — a watch under a directory that
// does not exist here, a system call this architecture lacks, a user that
// does not exist, a field this kernel does not know, a rule already loaded
// — becomes a Warning naming the line and the kernel's answer, and the
// other lines still load. That is what auditctl does after -c, and what
// the standard rule library needs: its files name paths and programs that
// not every machine has. -c and -i are accepted and change nothing.
// --reset-lost and --reset_backlog_wait_time_actual are not carried out
// (warnings): the audit input reads the lost counter to report losses.
//
// Before changing anything Apply checks the whole set: -e 2 and
// --loginuid-immutable are refused unless opts.AllowImmutable, and a
// kernel whose configuration is already immutable is an error. It stops
// with an error when the kernel refuses all changes (EPERM, EACCES), the
// connection fails, or -D leaves rules behind; the report then says what
// was done so far.
func Apply(c Client, lines []Line, opts ApplyOptions) (Report, error) {
	var rep Report
	var errs []error
	for i := range lines {
		l := &lines[i]
		if l.Immutable() && !opts.AllowImmutable {
			errs = append(errs, fmt.Errorf("%s: %q would make the audit configuration immutable until reboot; allow it with the immutable option", l.Src, l.Text))
		}
		if (l.Kind == KindRule || l.Kind == KindDelete) && l.Wire == nil && l.Unloadable == nil {
			errs = append(errs, fmt.Errorf("%s: %q has no wire format: was it parsed with Parse?", l.Src, l.Text))
		}
	}
	if len(errs) > 0 {
		return rep, errors.Join(errs...)
	}
	st, err := c.GetStatus()
	if err != nil {
		return rep, fmt.Errorf("reading the audit status: %w", err)
	}
	if st.Enabled == 2 {
		return rep, errLocked
	}
	for i := range lines {
		l := &lines[i]
		if err := apply(c, l, &rep); err != nil {
			return rep, fmt.Errorf("%s: %s: %w", l.Src, l.Text, err)
		}
	}
	return rep, nil
}

func apply(c Client, l *Line, rep *Report) error {
	warn := func(err error) { rep.Warnings = append(rep.Warnings, &Warning{Src: l.Src, Text: l.Text, Err: err}) }
	switch l.Kind {
	case KindRule:
		if l.Unloadable != nil {
			warn(l.Unloadable)
			return nil
		}
		if err := c.AddRule(l.Wire); err != nil {
			if kerr := refusal(err); kerr != nil {
				warn(kerr)
				return nil
			}
			return err
		}
		rep.Added = append(rep.Added, *l)
	case KindDelete:
		if l.Unloadable != nil {
			warn(l.Unloadable)
			return nil
		}
		return deleteOne(c, l, rep, warn)
	case KindControl:
		return control(c, l, rep, warn)
	}
	return nil
}

// deleteOne deletes the loaded rule equal to the line's, sending the
// kernel's own copy: go-libaudit's DeleteRule does not report the
// kernel's answer, so a missing rule is found by looking first.
func deleteOne(c Client, l *Line, rep *Report, warn func(error)) error {
	want, err := Canonical(l.Wire)
	if err != nil {
		return err
	}
	rs, err := c.GetRules()
	if err != nil {
		return fmt.Errorf("listing the audit rules: %w", err)
	}
	for _, r := range rs {
		if describe(r) != want {
			continue
		}
		if err := c.DeleteRule(r); err != nil {
			return err
		}
		rep.Deleted++
		return nil
	}
	warn(errors.New("no such rule is loaded"))
	return nil
}

func control(c Client, l *Line, rep *Report, warn func(error)) error {
	ctl := l.Control
	if ctl.DeleteAll {
		n, err := deleteRules(c, ctl.DeleteKey)
		if err != nil {
			return err
		}
		rep.Deleted += n
	}
	set := func(name string, v uint32, f func() error) error {
		if err := f(); err != nil {
			if kerr := refusal(err); kerr != nil {
				warn(fmt.Errorf("setting %s to %d: %w", name, v, kerr))
				return nil
			}
			return err
		}
		rep.Settings = append(rep.Settings, Setting{Src: l.Src, Name: name, Value: v})
		return nil
	}
	if v := ctl.BacklogLimit; v != nil {
		if err := set("backlog_limit", *v, func() error { return c.SetBacklogLimit(*v, libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	if v := ctl.Failure; v != nil {
		if err := set("failure", *v, func() error { return c.SetFailure(libaudit.FailureMode(*v), libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	if v := ctl.RateLimit; v != nil {
		if err := set("rate_limit", *v, func() error { return c.SetRateLimit(*v, libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	if v := ctl.BacklogWaitTime; v != nil {
		if err := set("backlog_wait_time", *v, func() error { return c.SetBacklogWaitTime(int32(*v), libaudit.WaitForReply) }); err != nil {
			return err
		}
	}
	if ctl.ResetLost {
		warn(errors.New("not carried out: engine reports records the kernel lost from its lost counter, so it does not reset it"))
	}
	if ctl.ResetWaitActual {
		warn(errors.New("not carried out: engine does not reset the kernel's backlog_wait_time_actual counter"))
	}
	if v := ctl.Enabled; v != nil {
		err := set("enabled", *v, func() error {
			if *v == 2 {
				return c.SetImmutable(libaudit.WaitForReply)
			}
			return c.SetEnabled(*v == 1, libaudit.WaitForReply)
		})
		if err != nil {
			return err
		}
	}
	if ctl.LoginuidImmutable {
		if err := set("loginuid_immutable", 1, func() error { return lockLoginuid(c) }); err != nil {
			return err
		}
	}
	return nil
}

// refusal returns the kernel's answer when err is the kernel declining
// this one request, or nil when err means nothing more can be done: no
// permission (EPERM, EACCES: no CAP_AUDIT_CONTROL, or the configuration
// became immutable), audit disabled at boot (ECONNREFUSED), or a broken
// connection.
func refusal(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EPERM, syscall.EACCES, syscall.ECONNREFUSED:
			return nil
		case syscall.ENOENT:
			return errors.New("the kernel refused it: no such file or directory (a path in it does not exist on this machine)")
		case syscall.EEXIST:
			return errors.New("the kernel refused it: the rule is already loaded")
		}
		return fmt.Errorf("the kernel refused it: %w", errno)
	}
	if strings.Contains(err.Error(), "rule exists") { // go-libaudit's AddRule drops EEXIST's errno
		return errors.New("the kernel refused it: the rule is already loaded")
	}
	return nil
}

// LoginuidLocker is implemented by clients that can make login uids
// immutable (AUDIT_SET_FEATURE). Apply uses it for --loginuid-immutable;
// for an *libaudit.AuditClient, which lacks the call, Apply sends the
// request over its netlink connection itself.
type LoginuidLocker interface {
	LockLoginuidImmutable() error
}

// struct audit_features (linux/audit.h): vers, mask, features, lock.
const (
	auditSetFeature          = 1019
	featureVersion           = 1
	featureLoginuidImmutable = 1 << 1 // AUDIT_FEATURE_TO_MASK(AUDIT_FEATURE_LOGINUID_IMMUTABLE)
)

// loginuidFeatureRequest is the AUDIT_SET_FEATURE payload auditctl
// --loginuid-immutable sends: turn the feature on and lock it.
func loginuidFeatureRequest() []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint32(b[0:], featureVersion)
	binary.NativeEndian.PutUint32(b[4:], featureLoginuidImmutable)
	binary.NativeEndian.PutUint32(b[8:], featureLoginuidImmutable)
	binary.NativeEndian.PutUint32(b[12:], featureLoginuidImmutable)
	return b
}

func lockLoginuid(c Client) error {
	if l, ok := c.(LoginuidLocker); ok {
		return l.LockLoginuidImmutable()
	}
	ac, ok := c.(*libaudit.AuditClient)
	if !ok || ac.Netlink == nil {
		return errors.New("this audit client cannot set --loginuid-immutable")
	}
	return Request(ac, auditSetFeature, loginuidFeatureRequest())
}

// Request sends one audit request that the kernel acknowledges (AUDIT_SET,
// AUDIT_SET_FEATURE, ...) on c's socket and waits up to two seconds for the
// answer: nil, or the kernel's error. go-libaudit has no call for some
// requests (features, releasing another client's audit PID); this is the
// one place that speaks netlink for them.
func Request(c *libaudit.AuditClient, typ uint16, data []byte) error {
	seq, err := c.Netlink.Send(syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: typ, Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK},
		Data:   data,
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := c.Netlink.Receive(true, parseNetlinkReply)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
			time.Sleep(20 * time.Millisecond)
			continue
		case err != nil:
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq == seq && m.Header.Type == syscall.NLMSG_ERROR {
				return libaudit.ParseNetlinkError(m.Data)
			}
		}
	}
	return fmt.Errorf("no answer from the kernel to audit request %d", typ)
}

func parseNetlinkReply(buf []byte) ([]syscall.NetlinkMessage, error) {
	if len(buf) < syscall.NLMSG_HDRLEN {
		return nil, syscall.EINVAL
	}
	h := syscall.NlMsghdr{
		Len:   binary.NativeEndian.Uint32(buf[0:]),
		Type:  binary.NativeEndian.Uint16(buf[4:]),
		Flags: binary.NativeEndian.Uint16(buf[6:]),
		Seq:   binary.NativeEndian.Uint32(buf[8:]),
		Pid:   binary.NativeEndian.Uint32(buf[12:]),
	}
	return []syscall.NetlinkMessage{{Header: h, Data: buf[syscall.NLMSG_HDRLEN:]}}, nil
}
