package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
	"github.com/engine-audit/engine/plugins/processors/coalesce"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// These tests run the input against the real kernel: they load rules, run
// real processes and read what the kernel reports, through the coalesce
// processor as a pipeline would. audittest.Lock runs them one at a time on
// the machine and puts back the audit rules and status they found.

// live is a running audit input whose records are coalesced and collected.
type live struct {
	in     *Input
	events *sdktest.Collector
	cancel context.CancelFunc
	done   chan error
	gate   *gate // when set, the pipeline blocks while the gate is closed
	stats  *sdktest.Metrics
}

// gate blocks emits while closed, to simulate a pipeline that cannot keep up.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() { g.mu.Lock(); close(g.open); g.mu.Unlock() }

func startLive(t *testing.T, values map[string]any, g *gate) *live {
	t.Helper()
	p := sdk.Lookup(sdk.KindInput, "audit")
	env := sdktest.Env("input.audit.test", sdktest.NewMemState())
	env.Batch = sdk.BatchPolicy{MaxEvents: 256, MaxAge: 50 * time.Millisecond}
	stats := sdktest.NewMetrics()
	env.Metrics = stats
	if n, ok := values["batch_max_events"].(int); ok {
		env.Batch.MaxEvents = n
		delete(values, "batch_max_events")
	}
	comp, err := p.New(sdktest.Config(p, values), env)
	if err != nil {
		t.Fatal(err)
	}
	l := &live{in: comp.(*Input), events: sdktest.NewCollector(), done: make(chan error, 1), gate: g, stats: stats}
	co := coalesce.New(coalesce.Options{Timeout: 200 * time.Millisecond})
	var mu sync.Mutex
	out := sdk.EmitterFunc(func(ctx context.Context, b *sdk.Batch) error {
		if l.gate != nil {
			if err := l.gate.wait(ctx); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err := co.Process(ctx, b, l.events); err != nil {
			return err
		}
		return co.Tick(ctx, time.Now(), l.events)
	})
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- l.in.Run(ctx, out) }()
	t.Cleanup(func() { l.stop(t) })
	return l
}

// waitArmed waits until this process holds the audit PID and the kernel
// lists the input's rules, for tests whose pipeline is gated shut.
func waitArmed(t *testing.T, s *audittest.Session) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pid, _, perr := audittest.PIDHolder(s.Client)
		rules, rerr := s.Client.GetRules()
		if perr == nil && rerr == nil && pid == os.Getpid() && len(rules) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the input did not take the audit PID and load its rules within 30s (pid holder %d %v, %d rules %v)", pid, perr, len(rules), rerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *live) stop(t *testing.T) {
	t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the input did not stop")
	}
}

// waitUntilReceiving waits until the input holds the audit PID (unicast) or
// has joined the group, by running a marker command until it is seen.
func (l *live) waitFor(t *testing.T, what string, match func(*sdk.Event) bool) *sdk.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-l.done:
			t.Fatalf("the input stopped while waiting for %s: %v", what, err)
		default:
		}
		evs := l.events.Events()
		for i := range evs {
			if match(&evs[i]) {
				return &evs[i]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no event %s within 30s; got %d events", what, l.events.Len())
	return nil
}

func str(e *sdk.Event, key string) string { return e.Fields.GetString(key) }

func hasArg(e *sdk.Event, arg string) bool {
	v, _ := e.Fields.Get("process.args")
	for _, a := range v.StringList() {
		if a == arg {
			return true
		}
	}
	return false
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func marker() string { return fmt.Sprintf("engine-test-%d", rand.Int64()) }

const execRule = "-a always,exit -F arch=b64 -S execve,execveat -k exec"

// ready runs a marked /bin/echo until its exec event arrives, proving the
// input receives records.
func (l *live) ready(t *testing.T) {
	t.Helper()
	m := marker()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			exec.Command("/bin/echo", m).Run()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer close(done)
	l.waitFor(t, "for the readiness marker", func(e *sdk.Event) bool { return hasArg(e, m) })
}

func TestLiveEventsFromRealProcesses(t *testing.T) {
	audittest.Lock(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer ln.Close()

	l := startLive(t, map[string]any{"rules": []string{
		execRule,
		"-w " + dir + " -p wa -k watched",
		"-a always,exit -F arch=b64 -S connect -F a2!=110 -k net",
		"-a always,exit -F arch=b64 -S chmod,fchmod,fchmodat -F dir=" + dir + " -k perm",
	}}, nil)
	l.ready(t)

	// exec with arguments
	m := marker()
	run(t, "/bin/echo", "hello", m)
	e := l.waitFor(t, "for the echo exec", func(e *sdk.Event) bool { return hasArg(e, m) })
	if got := str(e, "process.executable"); got != "/usr/bin/echo" && got != "/bin/echo" {
		t.Errorf("process.executable = %q", got)
	}
	if got := str(e, "event.action"); got != "executed" {
		t.Errorf("event.action = %q, want executed", got)
	}
	if tags, _ := e.Fields.Get("tags"); len(tags.StringList()) != 1 || tags.StringList()[0] != "exec" {
		t.Errorf("tags = %v, want [exec]", tags.StringList())
	}

	// a write under a watched directory, by another process
	file := filepath.Join(dir, "written.txt")
	run(t, "/bin/sh", "-c", "echo data > "+file)
	e = l.waitFor(t, "for the watched write", func(e *sdk.Event) bool {
		return str(e, "file.path") == file && containsTag(e, "watched")
	})
	if got := str(e, "event.outcome"); got != "success" {
		t.Errorf("write event outcome = %q", got)
	}

	// chmod
	run(t, "/bin/chmod", "600", file)
	// (The watch and the perm rule both match; the kernel names the
	// first rule that matched, the watch.)
	e = l.waitFor(t, "for the chmod", func(e *sdk.Event) bool {
		return str(e, "event.action") == "changed-file-permissions-of" && str(e, "file.path") == file
	})
	if got := str(e, "process.name"); got != "chmod" {
		t.Errorf("chmod event process.name = %q", got)
	}

	// an outbound connection, by bash's /dev/tcp
	run(t, "/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port))
	e = l.waitFor(t, "for the connect", func(e *sdk.Event) bool {
		return containsTag(e, "net") && str(e, "destination.port") == strconv.Itoa(port)
	})
	if got := str(e, "destination.ip"); got != "127.0.0.1" {
		t.Errorf("destination.ip = %q", got)
	}
	if got := str(e, "network.direction"); got != "egress" {
		t.Errorf("network.direction = %q", got)
	}

	// a throwaway user runs a command
	name := fmt.Sprintf("engt%d", rand.IntN(1e6))
	run(t, "useradd", "-M", "-s", "/bin/sh", name)
	defer exec.Command("userdel", name).Run()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	m = marker()
	run(t, "setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--clear-groups", "/bin/echo", m)
	// setpriv's own exec carries the marker too; the echo it runs is the
	// one under the user's ids.
	e = l.waitFor(t, "for the user's exec", func(e *sdk.Event) bool {
		return hasArg(e, m) && strings.HasSuffix(str(e, "process.executable"), "/echo")
	})
	if got := str(e, "user.id"); got != u.Uid {
		t.Errorf("user.id = %q, want the throwaway user's %s", got, u.Uid)
	}
	// The user's creation itself reached the stream: useradd writes
	// /etc/passwd through a rename, and sends ADD_USER.
	l.waitFor(t, "for ADD_USER", func(e *sdk.Event) bool { return str(e, "auditd.message_type") == "add_user" })
}

func containsTag(e *sdk.Event, tag string) bool {
	v, _ := e.Fields.Get("tags")
	for _, t := range v.StringList() {
		if t == tag {
			return true
		}
	}
	return false
}

func TestLiveRestoresWhatItFound(t *testing.T) {
	s := audittest.Lock(t)
	// Something to restore: a rule of "someone else" and a backlog limit.
	before, err := rules.Parse("-w /etc/hosts -p wa -k preexisting", rules.Source{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Client.AddRule(before.Wire); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.SetBacklogLimit(321, libaudit.WaitForReply); err != nil {
		t.Fatal(err)
	}
	found, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, map[string]any{"rules": []string{execRule}, "backlog_limit": int64(4096)}, nil)
	l.ready(t)
	during, _ := rules.Snapshot(s.Client)
	if during.Status.BacklogLimit != 4096 {
		t.Errorf("backlog_limit while running = %d, want 4096", during.Status.BacklogLimit)
	}
	l.stop(t)
	after, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(found) {
		t.Fatalf("after the input stopped the kernel holds\n%+v\nwant what it found\n%+v", after, found)
	}
	st, _ := s.Client.GetStatus()
	if st.PID != 0 {
		t.Fatalf("the audit PID is still %d after the input stopped", st.PID)
	}
}

func TestLiveRuleDriftIsReportedAndUndone(t *testing.T) {
	s := audittest.Lock(t)
	l := startLive(t, map[string]any{"rules": []string{execRule, "-w /etc/shadow -p wa -k identity"}}, nil)
	l.ready(t)
	want, err := canonicalRules(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	// Someone runs auditctl -D.
	if _, err := s.Client.DeleteRules(); err != nil {
		t.Fatal(err)
	}
	e := l.waitFor(t, "for the drift alert", func(e *sdk.Event) bool { return str(e, "event.action") == "audit_rules_changed" })
	if got := str(e, "event.kind"); got != "alert" {
		t.Errorf("event.kind = %q, want alert", got)
	}
	t.Logf("alert: %s", e.AppendJSON(nil))
	missing, _ := e.Fields.Get("engine.rules.missing")
	if len(missing.StringList()) != len(want) {
		t.Errorf("engine.rules.missing = %v, want the %d rules loaded", missing.StringList(), len(want))
	}
	if v, _ := e.Fields.Get("engine.rules.reasserted"); !v.Bool() {
		t.Error("the rules were not reasserted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		have, _ := canonicalRules(s.Client)
		if strings.Join(have, "\n") == strings.Join(want, "\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules after reassertion:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And no alert for engine's own reassertion.
	time.Sleep(time.Second)
	n := 0
	for _, e := range l.events.Events() {
		if e.Fields.GetString("event.action") == "audit_rules_changed" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d drift alerts, want 1", n)
	}
}

func TestLiveMulticastReadsBesideUnicast(t *testing.T) {
	audittest.Lock(t)
	uni := startLive(t, map[string]any{"rules": []string{execRule}}, nil)
	uni.ready(t)
	multi := startLive(t, map[string]any{"socket_type": "multicast"}, nil)
	multi.ready(t)
	m := marker()
	run(t, "/bin/echo", m)
	a := uni.waitFor(t, "in the unicast stream", func(e *sdk.Event) bool { return hasArg(e, m) })
	b := multi.waitFor(t, "in the multicast stream", func(e *sdk.Event) bool { return hasArg(e, m) })
	if a.ID != b.ID {
		t.Errorf("the same kernel event has ids %q and %q in the two streams", a.ID, b.ID)
	}
}

func TestLiveKernelLossIsReported(t *testing.T) {
	s := audittest.Lock(t)
	g := newGate()
	l := startLive(t, map[string]any{
		"rules":             []string{execRule},
		"backlog_limit":     int64(2),
		"backlog_wait_time": int64(0),
		"receive_buffer":    int64(4096),
		"status_interval":   200 * time.Millisecond,
		"batch_max_events":  1,
	}, g)
	// The gate holds every batch, so no marker event can show that the
	// input is receiving: ask the kernel instead.
	waitArmed(t, s)
	// The pipeline is stuck: the input stops reading, the socket and the
	// kernel's tiny backlog fill, and the kernel drops records.
	for i := 0; i < 300; i++ {
		exec.Command("/bin/true").Run()
	}
	g.release()
	e := l.waitFor(t, "for a kernel loss report", func(e *sdk.Event) bool {
		return str(e, "event.action") == "events_lost" && str(e, "engine.loss.cause") == "kernel_lost"
	})
	if v, _ := e.Fields.Get("engine.loss.count"); v.Int() <= 0 {
		t.Errorf("engine.loss.count = %d", v.Int())
	}
	if got := str(e, "event.kind"); got != "pipeline_error" {
		t.Errorf("event.kind = %q", got)
	}
	t.Logf("loss report: %s", str(e, "message"))
}

func TestLiveDropPolicyReportsWhatItDrops(t *testing.T) {
	s := audittest.Lock(t)
	g := newGate()
	l := startLive(t, map[string]any{
		"rules":            []string{execRule},
		"when_full":        "drop",
		"batch_max_events": 1,
	}, g)
	// The gate holds every batch, so no marker event can show that the
	// input is receiving: ask the kernel instead.
	waitArmed(t, s)
	// Run commands until the input has dropped records: it reads the
	// kernel's records at its own pace, and under load it may not have
	// read a burst of them by any fixed time.
	deadline := time.Now().Add(30 * time.Second)
	for l.stats.Value("engine_audit_lost_total", "cause", causeQueueFull) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("within 30s of commands the input, its pipeline blocked, dropped no records (%v received)",
				l.stats.Value("engine_audit_records_received_total"))
		}
		for range 20 {
			exec.Command("/bin/true").Run()
		}
	}
	g.release()
	exec.Command("/bin/true").Run()
	e := l.waitFor(t, "for a drop report", func(e *sdk.Event) bool {
		return str(e, "event.action") == "events_lost" && str(e, "engine.loss.cause") == "pipeline_full"
	})
	t.Logf("drop report: %s", str(e, "message"))
}

func TestLiveMulticastOverflowIsReportedAsGap(t *testing.T) {
	audittest.Lock(t)
	uni := startLive(t, map[string]any{"rules": []string{execRule}}, nil)
	uni.ready(t)
	g := newGate()
	multi := startLive(t, map[string]any{
		"socket_type":      "multicast",
		"receive_buffer":   int64(4096),
		"gap_grace":        200 * time.Millisecond,
		"batch_max_events": 1,
	}, g)
	// Run commands until the kernel has dropped records for the multicast
	// socket: a fixed burst proves nothing if it comes before the input
	// has joined the group, or before kauditd has sent it, on a loaded
	// machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		joined, drops := multicastDrops(t)
		if drops > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 30s of commands the kernel dropped nothing for the blocked multicast reader (joined: %v)", joined)
		}
		for range 20 {
			exec.Command("/bin/true").Run()
		}
	}
	g.release()
	for i := 0; i < 20; i++ {
		exec.Command("/bin/true").Run()
	}
	e := multi.waitFor(t, "for a sequence gap report", func(e *sdk.Event) bool {
		return str(e, "engine.loss.cause") == "sequence_gap"
	})
	first, _ := e.Fields.Get("engine.loss.sequence.first")
	last, _ := e.Fields.Get("engine.loss.sequence.last")
	if first.Int() <= 0 || last.Int() < first.Int() {
		t.Errorf("gap %d..%d", first.Int(), last.Int())
	}
	t.Logf("gap report: %s", str(e, "message"))
}

// TestLiveRefusesWhenAnotherProcessHoldsThePID starts a helper process that
// takes the audit PID, as auditd would, and expects the input to refuse to
// start, naming it and the two ways out.
func TestLiveRefusesWhenAnotherProcessHoldsThePID(t *testing.T) {
	audittest.Lock(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldAuditPID$")
	cmd.Env = append(os.Environ(), "ENGINE_AUDIT_HOLD_PID=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "holding") {
		t.Fatalf("helper did not take the audit PID: %q", line)
	}
	p := sdk.Lookup(sdk.KindInput, "audit")
	comp, err := p.New(sdktest.Config(p, map[string]any{"rules": []string{execRule}}), sdktest.Env("input.audit.test", nil))
	if err != nil {
		t.Fatal(err)
	}
	err = comp.(*Input).Run(context.Background(), sdktest.NewCollector())
	if err == nil {
		t.Fatal("the input started although another process holds the audit PID")
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("pid %d", cmd.Process.Pid), "stop it", `socket_type = "multicast"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !sdk.IsPermanent(err) {
		t.Error("the error is not marked permanent: the engine would retry forever instead of failing")
	}
}

// TestHelperHoldAuditPID is not a test: it is the helper process of the test
// above. It takes the audit PID and keeps it until its stdin closes.
func TestHelperHoldAuditPID(t *testing.T) {
	if os.Getenv("ENGINE_AUDIT_HOLD_PID") == "" {
		t.Skip("helper process only")
	}
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetPID(libaudit.WaitForReply); err != nil {
		t.Fatal(err)
	}
	fmt.Println("holding")
	io.Copy(io.Discard, os.Stdin)
}

// After a crash (no restore), the next run restores the state found before
// the crashed run, not the one the crash left.
func TestLiveRestoresAcrossACrash(t *testing.T) {
	s := audittest.Lock(t)
	found, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	st := sdktest.NewMemState()
	p := sdk.Lookup(sdk.KindInput, "audit")
	newIn := func() *Input {
		env := sdktest.Env("input.audit.test", st)
		comp, err := p.New(sdktest.Config(p, map[string]any{"rules": []string{execRule}}), env)
		if err != nil {
			t.Fatal(err)
		}
		return comp.(*Input)
	}
	// The first run sets up, then dies without putting anything back.
	crashed := newIn()
	if err := crashed.setUp(); err != nil {
		t.Fatal(err)
	}
	crashed.sock.Close()
	crashed.ctl.Close()
	left, _ := rules.Snapshot(s.Client)
	if left.Equal(found) {
		t.Fatal("the crashed run changed nothing; the test proves nothing")
	}

	second := newIn()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx, sdktest.NewCollector()) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(found) {
		t.Fatalf("after the second run the kernel holds %d rules and %+v; before the crash it held %d rules and %+v",
			len(after.Rules), after.Status, len(found.Rules), found.Status)
	}
	if v, _ := st.Get(foundStateKey); v != nil {
		t.Error("the saved state was not cleared after a clean restore")
	}
}

// Stopping while the pipeline is stuck (backpressure, when_full = "block")
// must not hang: the stop wins over the blocked hand-off.
func TestLiveStopsWhileThePipelineIsStuck(t *testing.T) {
	s := audittest.Lock(t)
	g := newGate() // never opened
	l := startLive(t, map[string]any{"rules": []string{execRule}, "batch_max_events": 1}, g)
	waitArmed(t, s)
	for i := 0; i < 100; i++ {
		exec.Command("/bin/true").Run()
	}
	time.Sleep(300 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { l.stop(t); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the input did not stop while its pipeline was stuck")
	}
}

// multicastDrops reports whether this process has an audit netlink socket
// in a multicast group, and how many messages the kernel dropped for such
// sockets because their receive buffer was full (/proc/net/netlink).
func multicastDrops(t *testing.T) (joined bool, drops int) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			ours[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	data, err := os.ReadFile("/proc/net/netlink")
	if err != nil {
		t.Fatal(err)
	}
	// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[1] != "9" || strings.Trim(f[3], "0") == "" || !ours[f[9]] {
			continue
		}
		joined = true
		n, err := strconv.Atoi(f[8])
		if err != nil {
			t.Fatalf("/proc/net/netlink: %q", line)
		}
		drops += n
	}
	return joined, drops
}
