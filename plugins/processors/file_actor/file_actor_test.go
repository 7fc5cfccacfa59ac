package fileactor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func auditEvent(seq int64, cwd string, names ...string) sdk.Event {
	var ev sdk.Event
	ev.Fields.Set("event.module", sdk.String("auditd"))
	ev.Fields.Set("event.action", sdk.String("opened-file"))
	ev.Fields.Set("auditd.sequence", sdk.Int(seq))
	ev.Fields.Set("process.executable", sdk.String("/usr/bin/vi"))
	ev.Fields.Set("process.pid", sdk.Int(4242))
	ev.Fields.Set("process.working_directory", sdk.String(cwd))
	ev.Fields.Set("user.id", sdk.String("1000"))
	var paths []sdk.Fields
	for _, n := range names {
		var o sdk.Fields
		o.Set("name", sdk.String(n))
		o.Set("nametype", sdk.String("NORMAL"))
		paths = append(paths, o)
	}
	var parent sdk.Fields
	parent.Set("name", sdk.String("/etc"))
	parent.Set("nametype", sdk.String("PARENT"))
	paths = append(paths, parent)
	ev.Fields.Set("auditd.paths", sdk.Objects(paths))
	return ev
}

func fimEvent(path string) sdk.Event {
	var ev sdk.Event
	ev.Fields.Set("event.module", sdk.String("file_integrity"))
	ev.Fields.Set("event.action", sdk.String("updated"))
	ev.Fields.Set("file.path", sdk.String(path))
	return ev
}

// batchOf returns a batch of evs and a counter of its receipt completing.
func batchOf(evs ...sdk.Event) (*sdk.Batch, *atomic.Int32) {
	b := sdk.NewBatch(len(evs))
	b.Events = append(b.Events, evs...)
	var done atomic.Int32
	b.OnDone(func() { done.Add(1) })
	return b, &done
}

func setup() (*Processor, *clock, *sdktest.Collector) {
	c := &clock{t: time.Unix(1700000000, 0)}
	return New(Options{Window: 2 * time.Second, Now: c.now}), c, sdktest.NewCollector()
}

func find(evs []sdk.Event, module, path string) *sdk.Event {
	for i := range evs {
		if evs[i].Fields.GetString("event.module") == module && evs[i].Fields.GetString("file.path") == path {
			return &evs[i]
		}
	}
	return nil
}

func TestAuditBeforeFIM(t *testing.T) {
	p, clk, out := setup()
	ctx := context.Background()
	b, _ := batchOf(auditEvent(7, "/home/u", "/etc/hosts"))
	p.Process(ctx, b, out)
	if out.Len() != 1 {
		t.Fatal("the audit event was not passed on at once")
	}
	clk.advance(500 * time.Millisecond)
	b, _ = batchOf(fimEvent("/etc/hosts"))
	p.Process(ctx, b, out)
	ev := find(out.Events(), "file_integrity", "/etc/hosts")
	if ev == nil {
		t.Fatal("the file integrity event was held although its audit event was known")
	}
	if ev.Fields.GetString("process.executable") != "/usr/bin/vi" || ev.Fields.GetString("user.id") != "1000" {
		t.Fatalf("not annotated: %v", ev.Fields.All())
	}
	if v, _ := ev.Fields.Get("file_integrity.actor.audit_sequence"); v.Int() != 7 {
		t.Fatalf("audit_sequence = %v", v)
	}
}

func TestFIMBeforeAuditIsHeldThenAnnotated(t *testing.T) {
	p, clk, out := setup()
	ctx := context.Background()
	fb, fimDone := batchOf(fimEvent("/etc/hosts"), fimEvent("/etc/other"))
	p.Process(ctx, fb, out)
	if out.Len() != 0 {
		t.Fatalf("file integrity events went on before their window: %d", out.Len())
	}
	if fimDone.Load() != 0 {
		t.Fatal("the receipt of held events completed")
	}
	clk.advance(time.Second)
	ab, _ := batchOf(auditEvent(9, "/etc", "hosts")) // relative to the cwd
	p.Process(ctx, ab, out)
	ev := find(out.Events(), "file_integrity", "/etc/hosts")
	if ev == nil || !ev.Fields.Has("process.pid") {
		t.Fatalf("held event not released annotated: %v", out.Events())
	}
	if fimDone.Load() != 0 {
		t.Fatal("receipt completed while /etc/other is still held")
	}
	// /etc/other never gets an audit event: it goes on, unchanged, after
	// the window.
	clk.advance(1500 * time.Millisecond)
	p.Tick(ctx, clk.t, out)
	other := find(out.Events(), "file_integrity", "/etc/other")
	if other == nil || other.Fields.Has("process.pid") || other.Fields.Has("file_integrity.actor.matched") {
		t.Fatalf("unmatched event: %v", other)
	}
	if fimDone.Load() != 1 {
		t.Fatal("the input's receipt did not complete once every held event went on")
	}
}

func TestAuditMemoryExpires(t *testing.T) {
	p, clk, out := setup()
	ctx := context.Background()
	b, _ := batchOf(auditEvent(1, "/", "/etc/hosts"))
	p.Process(ctx, b, out)
	clk.advance(3 * time.Second)
	b, _ = batchOf(fimEvent("/etc/hosts"))
	p.Process(ctx, b, out)
	if find(out.Events(), "file_integrity", "/etc/hosts") != nil {
		t.Fatal("matched an audit event older than the window")
	}
	p.Drain(ctx, out, false)
	ev := find(out.Events(), "file_integrity", "/etc/hosts")
	if ev == nil || ev.Fields.Has("process.pid") {
		t.Fatalf("Drain: %v", ev)
	}
}

func TestParentPathsAndOtherEventsPassUnchanged(t *testing.T) {
	p, _, out := setup()
	ctx := context.Background()
	var other sdk.Event
	other.Fields.Set("event.module", sdk.String("something"))
	b, _ := batchOf(auditEvent(1, "/", "/etc/hosts"), other)
	p.Process(ctx, b, out)
	if out.Len() != 2 {
		t.Fatalf("passed %d of 2", out.Len())
	}
	// The PARENT entry (/etc) is not a touched file.
	b, _ = batchOf(fimEvent("/etc"))
	p.Process(ctx, b, out)
	if find(out.Events(), "file_integrity", "/etc") != nil {
		t.Fatal("matched a parent directory entry")
	}
}

func TestMaxPending(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	p := New(Options{Window: time.Minute, MaxPending: 2, Now: c.now})
	out := sdktest.NewCollector()
	b, _ := batchOf(fimEvent("/a"), fimEvent("/b"), fimEvent("/c"))
	p.Process(context.Background(), b, out)
	if out.Len() != 1 || out.Events()[0].Fields.GetString("file.path") != "/a" {
		t.Fatalf("over max_pending: %v", out.Events())
	}
}

func TestMovedMatchesOldPath(t *testing.T) {
	p, _, out := setup()
	ctx := context.Background()
	b, _ := batchOf(auditEvent(3, "/", "/etc/hosts.tmp"))
	p.Process(ctx, b, out)
	mv := fimEvent("/etc/hosts")
	mv.Fields.Set("file.old_path", sdk.String("/etc/hosts.tmp"))
	b, _ = batchOf(mv)
	p.Process(ctx, b, out)
	if ev := find(out.Events(), "file_integrity", "/etc/hosts"); ev == nil || !ev.Fields.Has("process.pid") {
		t.Fatal("a move was not matched by its old path")
	}
}

func TestPluginConfig(t *testing.T) {
	p := sdk.Lookup(sdk.KindProcessor, "file_actor")
	if p == nil {
		t.Fatal("processor file_actor is not registered")
	}
	for _, tt := range []struct {
		values map[string]any
		option string
	}{
		{nil, ""},
		{map[string]any{"window": time.Duration(0)}, "window"},
		{map[string]any{"max_pending": int64(0)}, "max_pending"},
		{map[string]any{"max_paths": int64(0)}, "max_paths"},
		{map[string]any{"window": time.Millisecond, "max_pending": int64(1), "max_paths": int64(1)}, ""},
	} {
		sdktest.CheckOptionError(t, sdktest.Validate(p, tt.values), tt.option)
	}
}
