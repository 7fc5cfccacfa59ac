package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/engine-audit/engine/internal/audittype"
	"github.com/engine-audit/engine/internal/lossevent"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
	"github.com/engine-audit/engine/sdk"
)

const (
	auditSet          = 1001 // AUDIT_SET
	auditConfigChange = 1305 // AUDIT_CONFIG_CHANGE
	auditReplace      = 1329 // AUDIT_REPLACE: the kernel probing whether we are alive
	firstRecordType   = 1100 // below are replies to requests

	// readPause is how long the reading loop rests after draining the
	// socket before it waits for more.
	readPause = 5 * time.Millisecond
)

// Input reads kernel audit records. It implements sdk.Input and sdk.Closer.
type Input struct {
	cfg     settings
	env     sdk.Env
	log     *slog.Logger
	metrics inputMetrics

	// set up by Run
	ctl      *rules.SteadyClient // control requests (status, rules); never the audit PID
	sock     *socket             // records arrive here
	restore  func() error        // puts back what was found, when restore_on_exit
	expected []string            // the rules engine loaded, as the kernel lists them
	loaded   int                 // configured rules the kernel took
	tookPID  bool

	// owned by the reading loop
	batch      *sdk.Batch
	batchStart time.Time
	arena      []byte
	gaps       *gapTracker
	lostBase   uint32 // the kernel's lost counter when last read
	lostKnown  bool
	pending    []sdk.Event // loss reports and alerts waiting for the next batch
	driftAt    time.Time   // when to compare the kernel's rules with ours (zero: no check due)
	lastSeq    uint32
	haveSeq    bool
	boot       string // this boot's id, to tell whether a saved sequence number still counts
	prevSeq    uint32 // the last sequence number of the previous run, this boot
	havePrev   bool
	savedSeq   uint32

	emitq   chan *sdk.Batch
	dropped struct{ batches, records int } // dropped by when_full = "drop", not yet reported
}

func newInput(cfg *sdk.Config, env sdk.Env) (any, error) {
	if err := validate(cfg); err != nil && !sdk.IsWarning(err) {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Metrics == nil {
		env.Metrics = sdk.NopMetrics{}
	}
	in := &Input{cfg: parseSettings(cfg), env: env, log: env.Logger}
	in.metrics = newInputMetrics(env.Metrics)
	return in, nil
}

// Run receives records until ctx ends.
func (in *Input) Run(ctx context.Context, out sdk.Emitter) (err error) {
	if err := in.setUp(); err != nil {
		in.tearDown()
		return err
	}
	defer func() {
		if terr := in.tearDown(); terr != nil && err == nil {
			err = terr
		}
	}()
	in.emitq = make(chan *sdk.Batch, 16)
	emitDone := make(chan struct{})
	go func() {
		defer close(emitDone)
		for b := range in.emitq {
			if err := out.Emit(ctx, b); err != nil {
				return // shutting down: what is left is not acknowledged anyway
			}
		}
	}()
	err = in.read(ctx)
	close(in.emitq)
	<-emitDone
	return err
}

// setUp opens the sockets, takes the audit PID and loads the rules
// (unicast), or joins the multicast group.
func (in *Input) setUp() error {
	var err error
	in.ctl, err = rules.NewSteadyClient()
	if err != nil {
		return sdk.Permanent(fmt.Errorf("audit: %w (run engine as root, or with CAP_AUDIT_CONTROL and CAP_AUDIT_READ)", err))
	}
	st, err := in.ctl.GetStatus()
	if err != nil {
		return sdk.Permanent(fmt.Errorf("audit: read the kernel's audit status: %w (run engine as root, or with CAP_AUDIT_CONTROL)", err))
	}
	in.lostBase, in.lostKnown = st.Lost, true
	in.gaps = newGapTracker(in.cfg.gapGrace)
	in.loadLastSeq()

	if in.cfg.multicast {
		in.sock, err = openSocket(true, int(in.cfg.receiveBuffer))
		if err != nil {
			return sdk.Permanent(fmt.Errorf("audit: %w", err))
		}
		in.log.Info("reading kernel audit records beside the audit daemon (multicast)", "audit_pid", st.PID)
		return nil
	}

	if st.Enabled == 2 {
		return sdk.Permanent(errors.New(`audit: the kernel's audit configuration is immutable (enabled=2, set by "-e 2") until reboot: engine cannot take the audit PID or load rules. Read beside the current audit daemon with socket_type = "multicast"`))
	}
	if st.PID != 0 && int(st.PID) != os.Getpid() && processAlive(int(st.PID)) {
		return sdk.Permanent(fmt.Errorf(`audit: the audit PID is held by %s, which receives the kernel's audit records. Either stop it (for auditd: "systemctl stop auditd" or "service auditd stop") so that engine can take its place, or set socket_type = "multicast" to read a copy beside it`, describeProcess(int(st.PID))))
	}
	if in.cfg.restoreOnExit {
		if in.restore, err = in.snapshot(in.ctl); err != nil {
			return fmt.Errorf("audit: save the audit rules and status to restore on exit: %w", err)
		}
	}
	in.sock, err = openSocket(false, int(in.cfg.receiveBuffer))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// Take the PID first, so that the records of engine's own rule
	// changes are received too.
	if err := in.takePID(); err != nil {
		return err
	}
	if err := in.applyConfig(); err != nil {
		return err
	}
	in.log.Info("receiving kernel audit records (unicast)", "rules_loaded", in.loaded, "rules_in_kernel", len(in.expected))
	return nil
}

// tearDown releases the audit PID, restores what was found and closes the
// sockets.
func (in *Input) tearDown() error {
	in.saveLastSeq()
	var errs []error
	if in.tookPID && in.sock != nil {
		if err := in.setStatus(libaudit.AuditStatus{Mask: libaudit.AuditStatusPID, PID: 0}); err != nil {
			errs = append(errs, fmt.Errorf("release the audit PID: %w", err))
		}
		in.tookPID = false
	}
	if in.restore != nil && in.ctl != nil {
		if err := in.restore(); err != nil {
			errs = append(errs, fmt.Errorf("restore the audit rules and status found at start: %w", err))
		} else {
			in.log.Info("restored the audit rules and status found at start")
		}
		in.restore = nil
	}
	if in.sock != nil {
		in.sock.Close()
		in.sock = nil
	}
	if in.ctl != nil {
		in.ctl.Close()
		in.ctl = nil
	}
	if len(errs) > 0 {
		return fmt.Errorf("audit: %w", errors.Join(errs...))
	}
	return nil
}

// Close implements sdk.Closer. Run already cleaned up; this only covers a
// Run that was never called.
func (in *Input) Close(context.Context) error { return in.tearDown() }

// setStatus sends an AUDIT_SET on the record socket without waiting: its
// acknowledgement arrives among the records and is skipped there.
func (in *Input) setStatus(st libaudit.AuditStatus) error {
	_, err := in.sock.SendNoWait(setMessage(st))
	return err
}

func setMessage(st libaudit.AuditStatus) (msg syscall.NetlinkMessage) {
	msg.Header.Type = auditSet
	msg.Header.Flags = unix.NLM_F_REQUEST | unix.NLM_F_ACK
	msg.Data = (*[unsafe.Sizeof(libaudit.AuditStatus{})]byte)(unsafe.Pointer(&st))[:]
	return msg
}

// takePID makes the record socket the kernel's audit daemon. It waits for
// the kernel's answer, keeping (not dropping) any record that arrives
// before it.
func (in *Input) takePID() error {
	msg := setMessage(libaudit.AuditStatus{Mask: libaudit.AuditStatusPID, PID: uint32(os.Getpid())})
	seq, err := in.sock.Send(msg)
	if err != nil {
		return fmt.Errorf("audit: take the audit PID: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := in.sock.wait(100 * time.Millisecond); err != nil {
			return fmt.Errorf("audit: take the audit PID: %w", err)
		} else if !ok {
			continue
		}
		for {
			m, err := in.sock.recv()
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				return fmt.Errorf("audit: take the audit PID: %w", err)
			}
			if m.typ == unix.NLMSG_ERROR && m.seq == seq {
				if m.errno != 0 {
					return sdk.Permanent(fmt.Errorf("audit: the kernel refused engine the audit PID: %w", unix.Errno(-m.errno)))
				}
				in.tookPID = true
				return nil
			}
			in.handle(m, time.Now())
		}
	}
	return errors.New("audit: the kernel did not answer the request for the audit PID within 5s")
}

// read is the receiving loop.
func (in *Input) read(ctx context.Context) error {
	nextStatus := time.Now().Add(in.cfg.statusInterval)
	for {
		if ctx.Err() != nil {
			in.flush(ctx, time.Now(), true)
			return nil
		}
		now := time.Now()
		timeout := 200 * time.Millisecond
		if in.batch != nil {
			timeout = min(timeout, in.batchStart.Add(in.env.Batch.MaxAge).Sub(now))
		}
		timeout = min(timeout, nextStatus.Sub(now))
		if !in.driftAt.IsZero() {
			timeout = min(timeout, in.driftAt.Sub(now))
		}
		ready, err := in.sock.wait(max(timeout, time.Millisecond))
		if err != nil {
			return fmt.Errorf("audit: wait for records: %w", err)
		}
		if ready {
			if err := in.drain(ctx, time.Now()); err != nil {
				return err
			}
			// Let records gather before the next read: under load this
			// turns one wake-up per event into one per few milliseconds,
			// while the socket's buffer holds what arrives meanwhile.
			select {
			case <-time.After(readPause):
			case <-ctx.Done():
			}
		}
		now = time.Now()
		if !now.Before(nextStatus) {
			in.pollStatus(now)
			nextStatus = now.Add(in.cfg.statusInterval)
		}
		if !in.driftAt.IsZero() && !now.Before(in.driftAt) {
			in.driftAt = time.Time{}
			in.checkDrift(now)
		}
		in.flush(ctx, now, false)
	}
}

// drain reads every record waiting on the socket, emitting full batches.
func (in *Input) drain(ctx context.Context, now time.Time) error {
	for {
		m, err := in.sock.recv()
		switch {
		case err == nil:
			in.handle(m, now)
			if in.batch != nil && len(in.batch.Events) >= in.env.Batch.MaxEvents {
				in.flush(ctx, now, true)
			}
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.ENOBUFS):
			// The socket's buffer overflowed: the kernel dropped records
			// for us. The sequence gaps will say which.
			in.metrics.overflows.Add(1)
			in.log.Warn("audit socket buffer overflowed; records were dropped (raise receive_buffer)")
		default:
			return fmt.Errorf("audit: receive: %w", err)
		}
	}
}

// handle turns one netlink message into a record event.
func (in *Input) handle(m message, now time.Time) {
	if m.typ < firstRecordType || m.typ == auditReplace {
		return // replies to our requests, and liveness probes
	}
	data := m.data
	for len(data) > 0 && (data[len(data)-1] == 0 || data[len(data)-1] == '\n') {
		data = data[:len(data)-1]
	}
	name := audittype.Name(m.typ)
	line := in.line(name, data)
	sec, msec, seq, ok := parseStamp(data)
	ev := sdk.Event{Fields: sdk.MakeFields(1)}
	if ok {
		ev.Time = time.Unix(sec, msec*int64(time.Millisecond)).UTC()
		if !in.haveSeq {
			in.firstSeq(seq, now)
		}
		for _, g := range in.gaps.observe(seq, now) {
			in.reportGap(g, now)
		}
		if !in.haveSeq || after(seq, in.lastSeq) {
			in.lastSeq = seq
		}
		in.haveSeq = true
	} else {
		ev.Time = now.UTC()
	}
	ev.Fields.Append(sdk.FieldMessage, sdk.String(line))
	in.add(ev, now)
	in.metrics.records.Add(1)
	if m.typ == auditConfigChange && !in.cfg.multicast && isRuleChange(data) {
		// Rules changed: ours (expected) or someone else's. Compare once
		// the burst (auditctl -D removes rules one by one) is over.
		if in.driftAt.IsZero() {
			in.driftAt = now.Add(500 * time.Millisecond)
		}
	}
}

// line writes "type=NAME msg=PAYLOAD" into the arena and returns it as a
// string; arena chunks are never reused, so strings stay valid downstream.
func (in *Input) line(name string, payload []byte) string {
	n := len("type=") + len(name) + len(" msg=") + len(payload)
	if cap(in.arena)-len(in.arena) < n {
		in.arena = make([]byte, 0, max(64<<10, n))
	}
	start := len(in.arena)
	in.arena = append(in.arena, "type="...)
	in.arena = append(in.arena, name...)
	in.arena = append(in.arena, " msg="...)
	in.arena = append(in.arena, payload...)
	return unsafe.String(&in.arena[start], n)
}

// parseStamp reads "audit(SECONDS.MILLIS:SEQUENCE)" at the start of a
// record's payload.
func parseStamp(b []byte) (sec, msec int64, seq uint32, ok bool) {
	const prefix = "audit("
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return 0, 0, 0, false
	}
	i := len(prefix)
	num := func(term byte) (uint64, bool) {
		var v uint64
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			v = v*10 + uint64(b[i]-'0')
			i++
		}
		if i == start || i >= len(b) || b[i] != term || i-start > 19 {
			return 0, false
		}
		i++
		return v, true
	}
	s, ok1 := num('.')
	ms, ok2 := num(':')
	q, ok3 := num(')')
	if !ok1 || !ok2 || !ok3 || q > 1<<32-1 {
		return 0, 0, 0, false
	}
	return int64(s), int64(ms), uint32(q), true
}

// isRuleChange reports whether a CONFIG_CHANGE record is about audit rules.
func isRuleChange(data []byte) bool {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	return strings.Contains(s, "op=add_rule") || strings.Contains(s, "op=remove_rule") ||
		strings.Contains(s, `op="add_rule"`) || strings.Contains(s, `op="remove_rule"`)
}

// add puts an event into the current batch, after any reports waiting.
func (in *Input) add(ev sdk.Event, now time.Time) {
	if in.batch == nil {
		in.batch = sdk.NewBatch(min(in.env.Batch.MaxEvents, 1024))
		in.batchStart = now
		in.batch.Events = append(in.batch.Events, in.pending...)
		clear(in.pending)
		in.pending = in.pending[:0]
	}
	in.batch.Events = append(in.batch.Events, ev)
}

// report sends a loss report or alert with the current batch (starting one
// if needed), so it reaches the outputs within batch_max_age.
func (in *Input) report(ev sdk.Event, now time.Time) { in.add(ev, now) }

// flush hands the batch on when it is full, old enough, or force is set.
// With when_full = "drop", a batch the pipeline cannot take right now is
// dropped and reported; otherwise the loop waits (backpressure).
func (in *Input) flush(ctx context.Context, now time.Time, force bool) {
	in.reportDrops(now)
	if in.batch == nil {
		return
	}
	if !force && len(in.batch.Events) < in.env.Batch.MaxEvents && now.Sub(in.batchStart) < in.env.Batch.MaxAge {
		return
	}
	b := in.batch
	in.batch = nil
	if !in.cfg.dropWhenFull {
		select {
		case in.emitq <- b:
		case <-ctx.Done():
			// Stopping while the pipeline is full: the emitting goroutine
			// is gone, and this batch cannot be delivered.
		}
		return
	}
	select {
	case in.emitq <- b:
	default:
		in.dropped.batches++
		in.dropped.records += countRecords(b)
		// Loss reports in the dropped batch must not be lost with it.
		for _, ev := range b.Events {
			if ev.Fields.Has(sdk.FieldEventKind) {
				in.pending = append(in.pending, ev)
			}
		}
	}
}

func countRecords(b *sdk.Batch) int {
	n := 0
	for i := range b.Events {
		if !b.Events[i].Fields.Has(sdk.FieldEventKind) {
			n++
		}
	}
	return n
}

func (in *Input) reportDrops(now time.Time) {
	batches, records := in.dropped.batches, in.dropped.records
	in.dropped.batches, in.dropped.records = 0, 0
	if records == 0 {
		return
	}
	in.metrics.lost(causeQueueFull).Add(float64(records))
	in.pending = append(in.pending, lossEvent(in.env.ID, now, int64(records), "records", causeQueueFull,
		fmt.Sprintf("engine dropped %d audit records in %d batches because the pipeline was full (when_full = \"drop\")", records, batches), 0, 0))
}

// pollStatus reads the kernel's audit status: metrics, and a loss report
// when its lost counter rose.
func (in *Input) pollStatus(now time.Time) {
	for _, g := range in.gaps.expire(now) {
		in.reportGap(g, now)
	}
	in.saveLastSeq()
	st, err := in.ctl.GetStatus()
	if err != nil {
		in.log.Warn("cannot read the kernel's audit status", "error", err)
		return
	}
	in.metrics.status(st)
	if in.lostKnown && st.Lost != in.lostBase {
		n := st.Lost - in.lostBase // wraps correctly
		if int32(n) > 0 {
			in.metrics.lost(causeKernel).Add(float64(n))
			why := "the kernel's backlog was full or its rate limit was reached"
			switch {
			case st.BacklogLimit > 0 && st.Backlog >= st.BacklogLimit*9/10:
				why = fmt.Sprintf("the kernel's backlog is full (%d of backlog_limit %d)", st.Backlog, st.BacklogLimit)
			case st.RateLimit > 0:
				why = fmt.Sprintf("the kernel's backlog filled or rate_limit %d/s was exceeded", st.RateLimit)
			}
			in.report(lossEvent(in.env.ID, now, int64(n), "records", causeKernel,
				fmt.Sprintf("the kernel dropped %d audit records (its lost counter went from %d to %d): %s", n, in.lostBase, st.Lost, why), 0, 0), now)
		}
	}
	in.lostBase, in.lostKnown = st.Lost, true
	if !in.cfg.multicast && in.tookPID && st.PID != uint32(os.Getpid()) {
		in.log.Error("the audit PID is no longer engine's; records now go elsewhere", "audit_pid", st.PID)
	}
}

func (in *Input) reportGap(g gap, now time.Time) {
	n := int64(g.last-g.first) + 1
	in.metrics.lost(causeGap).Add(float64(n))
	msg := fmt.Sprintf("%d audit events never arrived: sequence numbers %d to %d are missing", n, g.first, g.last)
	if n == 1 {
		msg = fmt.Sprintf("an audit event never arrived: sequence number %d is missing", g.first)
	}
	in.report(lossEvent(in.env.ID, now, n, "events", causeGap, msg, g.first, g.last), now)
}

// Loss causes, in engine.loss.cause.
const (
	causeKernel    = "kernel_lost"    // the kernel's lost counter rose
	causeGap       = "sequence_gap"   // sequence numbers never arrived
	causeQueueFull = "pipeline_full"  // dropped by when_full = "drop"
	causeDown      = "engine_stopped" // events between two runs of engine
)

// lossEvent builds the event that reports a loss.
func lossEvent(component string, now time.Time, count int64, unit, cause, msg string, first, last uint32) sdk.Event {
	return lossevent.Loss{Component: component, Module: "auditd", Cause: cause, Unit: unit, Count: count,
		Message: msg, First: first, Last: last, Time: now}.Event()
}

// processAlive reports whether a process exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// describeProcess names a process for an error message: "auditd (pid 812,
// /usr/sbin/auditd)".
func describeProcess(pid int) string {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	name := strings.TrimSpace(string(comm))
	if name == "" {
		name = "process"
	}
	if exe != "" {
		return fmt.Sprintf("%s (pid %d, %s)", name, pid, exe)
	}
	return fmt.Sprintf("%s (pid %d)", name, pid)
}
