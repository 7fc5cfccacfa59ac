package coalesce

import (
	"context"
	"strings"
	"testing"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// An event whose records straddle a stop (SIGTERM, reload) is saved at the
// drain and completed after the restart by its remaining records: one whole
// event, not two halves, and the input's receipts are released at the stop so
// its checkpoint can move past the saved records.
func TestStopSavesIncompleteEventsAndRestartCompletesThem(t *testing.T) {
	ctx := context.Background()
	st := sdktest.NewMemState()
	p1 := New(Options{State: st})
	col := sdktest.NewCollector()
	in := batchOf(rec(recSyscall, 1), rec(recPath, 1), rec(recEOE, 1), rec(recSyscall, 2))
	acked := 0
	in.OnDone(func() { acked++ })
	if err := p1.Process(ctx, in, col); err != nil {
		t.Fatal(err)
	}
	if acked != 0 {
		t.Fatal("input batch acked while event 2 is incomplete")
	}
	if err := p1.Drain(ctx, col, false); err != nil {
		t.Fatal(err)
	}
	if got := seqs(col.Events()); !equalInts(got, 1) {
		t.Fatalf("emitted %v before the stop, want only [1]", got)
	}
	if acked != 1 {
		t.Fatal("the input batch was not released once its pending records were saved")
	}
	keys, _ := st.Keys()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], pendingKeyPrefix) {
		t.Fatalf("state keys %v, want one saved set", keys)
	}

	// The restarted processor gets the rest of event 2.
	p2 := New(Options{State: st})
	if err := p2.restore(); err != nil {
		t.Fatal(err)
	}
	col2 := sdktest.NewCollector()
	col2.AutoAck = false
	if err := p2.Process(ctx, batchOf(rec(recPath, 2), rec(recEOE, 2)), col2); err != nil {
		t.Fatal(err)
	}
	evs := col2.Events()
	if len(evs) != 1 {
		t.Fatalf("emitted %d events after the restart, want 1", len(evs))
	}
	if got := evs[0].Fields.GetString("process.executable"); got != "/usr/bin/cat" {
		t.Errorf("process.executable = %q: the saved SYSCALL record was not joined", got)
	}
	if got := evs[0].Fields.GetString("file.path"); got != "/etc/hosts" {
		t.Errorf("file.path = %q: the PATH record read after the restart was not joined", got)
	}
	if keys, _ := st.Keys(); len(keys) != 1 {
		t.Fatal("the saved set was deleted before its event was delivered")
	}
	col2.AckAll()
	if keys, _ := st.Keys(); len(keys) != 0 {
		t.Fatalf("state keys %v left after the restored event was delivered", keys)
	}
}

// A restored event that stays incomplete is saved again at the next stop,
// and the older saved set is dropped only then.
func TestRestoredEventsSurviveASecondStop(t *testing.T) {
	ctx := context.Background()
	st := sdktest.NewMemState()
	p1 := New(Options{State: st})
	col := sdktest.NewCollector()
	p1.Process(ctx, batchOf(rec(recSyscall, 7)), col)
	p1.Drain(ctx, col, false)

	p2 := New(Options{State: st})
	p2.restore()
	p2.Process(ctx, batchOf(rec(recSyscall, 8)), col)
	p2.Drain(ctx, col, false)
	if col.Len() != 0 {
		t.Fatalf("emitted %d events; incomplete events should be saved, not emitted", col.Len())
	}
	keys, _ := st.Keys()
	if len(keys) != 1 {
		t.Fatalf("state keys %v, want one set holding both events", keys)
	}

	p3 := New(Options{State: st})
	p3.restore()
	p3.Drain(ctx, col, true) // the inputs finished: emit what is held
	if got := seqs(col.Events()); !equalInts(got, 7, 8) {
		t.Fatalf("final drain emitted %v, want [7 8]", got)
	}
	if keys, _ := st.Keys(); len(keys) != 0 {
		t.Fatalf("state keys %v left after delivery", keys)
	}
}

func TestStopWithoutStateEmitsIncompleteEvents(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	p.Process(ctx, batchOf(rec(recSyscall, 3)), col)
	p.Drain(ctx, col, false)
	if got := seqs(col.Events()); !equalInts(got, 3) {
		t.Fatalf("emitted %v, want [3]", got)
	}
}

// Sequence numbers restart at boot: the same sequence with another
// timestamp is another event.
func TestSameSequenceOtherTimestampIsAnotherEvent(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	later := strings.Replace(rec(recPath, 4), "1700002000.001", "1700009999.500", 1)
	laterEOE := strings.Replace(rec(recEOE, 4), "1700002000.001", "1700009999.500", 1)
	p.Process(ctx, batchOf(rec(recSyscall, 4), later, laterEOE), col)
	p.Drain(ctx, col, true)
	evs := col.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2 (one per timestamp)", len(evs))
	}
	if evs[0].Fields.Has("file.path") {
		t.Error("the PATH record of the later event was joined to the earlier one")
	}
}

// A compound event whose SYSCALL record is missing is still an event, as
// auditd's ausearch reads it.
func TestCompoundEventWithoutSyscall(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	p.Process(ctx, batchOf(
		`type=CWD msg=audit(1700002000.001:9): cwd="/root"`,
		`type=EXECVE msg=audit(1700002000.001:9): argc=2 a0="ls" a1="-l"`,
		rec(recPath, 9), rec(recEOE, 9)), col)
	evs := col.Events()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	e := &evs[0]
	if e.Fields.Has(sdk.FieldErrorMessage) {
		t.Fatalf("event carries an error: %s", e.Fields.GetString(sdk.FieldErrorMessage))
	}
	for key, want := range map[string]string{
		"auditd.message_type":       "cwd",
		"process.working_directory": "/root",
	} {
		if got := e.Fields.GetString(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if args, _ := e.Fields.Get("process.args"); len(args.StringList()) != 2 {
		t.Errorf("process.args = %v, want [ls -l]", args.StringList())
	}
	paths, _ := e.Fields.Get("auditd.paths")
	if len(paths.ObjectList()) != 1 {
		t.Errorf("auditd.paths has %d entries, want 1", len(paths.ObjectList()))
	}
}

// Record types that newer kernels write, which go-libaudit does not name,
// are read by name and joined to their event.
func TestNewerRecordTypes(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	p.Process(ctx, batchOf(
		rec(recSyscall, 11),
		`type=LANDLOCK_ACCESS msg=audit(1700002000.001:11): domain=195ba459b blockers=fs.refer path="/usr/bin" dev="vda2" ino=351`,
		rec(recEOE, 11),
		`type=LANDLOCK_DOMAIN msg=audit(1700002000.002:12): domain=195ba459b status=allocated mode=enforcing`,
		`type=EOE msg=audit(1700002000.002:12): `), col)
	p.Drain(ctx, col, true)
	evs := col.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	for i := range evs {
		if msg := evs[i].Fields.GetString(sdk.FieldErrorMessage); msg != "" {
			t.Fatalf("event %d: %s", i, msg)
		}
	}
	if got := evs[0].Fields.GetString("auditd.data.blockers"); got != "fs.refer" {
		t.Errorf("the LANDLOCK_ACCESS record was not joined to its syscall: blockers = %q", got)
	}
	if got := evs[1].Fields.GetString("auditd.message_type"); got != "landlock_domain" {
		t.Errorf("message_type = %q, want landlock_domain", got)
	}
}

// Events that are not records — an input's loss reports and alerts carry
// event.kind — pass through untouched, in order with the events around them.
func TestFinishedEventsPassThrough(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	var loss sdk.Event
	loss.Fields.Set(sdk.FieldEventKind, sdk.String("pipeline_error"))
	loss.Fields.Set(sdk.FieldEventAction, sdk.String("events_lost"))
	loss.Fields.Set("engine.loss.count", sdk.Int(3))
	in := batchOf(rec(recSyscall, 20), rec(recEOE, 20))
	in.Events = append(in.Events, loss)
	p.Process(ctx, in, col)
	evs := col.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want the coalesced one and the loss report", len(evs))
	}
	if !evs[1].Fields.Equal(&loss.Fields) {
		t.Fatalf("the loss report changed: %s", evs[1].AppendJSON(nil))
	}
}
