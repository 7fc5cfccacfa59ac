package coalesce

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func batchOf(lines ...string) *sdk.Batch {
	b := sdk.NewBatch(len(lines))
	for _, l := range lines {
		ev := sdk.Event{Fields: sdk.MakeFields(1)}
		ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
		b.Events = append(b.Events, ev)
	}
	return b
}

// ndjson renders events as the golden files hold them: one JSON object per
// line, with the event id first.
func ndjson(t *testing.T, evs []sdk.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	for i := range evs {
		doc := evs[i].AppendJSON(nil)
		if !json.Valid(doc) {
			t.Fatalf("event %d is not valid JSON: %s", i, doc)
		}
		if evs[i].ID != "" {
			buf.WriteString(`{"_id":` + quoteJSON(evs[i].ID))
			if len(doc) > 2 {
				buf.WriteByte(',')
			}
			buf.Write(doc[1:])
		} else {
			buf.Write(doc)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestGolden runs every testdata/*.log through the processor, four records
// per batch, then lets the timeout pass (except for *_drain.log) and drains,
// and compares the output with testdata/*.golden.ndjson.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".log")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, bytes.NewReader(raw))
			p := New(Options{IncludeOriginal: name == "interleaved" || strings.HasPrefix(name, "missing_eoe")})
			p.b.checkOrder = true
			col := sdktest.NewCollector()
			ctx := context.Background()
			for i := 0; i < len(lines); i += 4 {
				if err := p.Process(ctx, batchOf(lines[i:min(i+4, len(lines))]...), col); err != nil {
					t.Fatal(err)
				}
			}
			if !strings.HasSuffix(name, "_drain") {
				if err := p.Tick(ctx, time.Now().Add(time.Hour), col); err != nil {
					t.Fatal(err)
				}
				if p.Pending() != 0 {
					t.Fatal("events held after the timeout")
				}
			} else if p.Pending() == 0 {
				t.Fatal("nothing left for the drain")
			}
			if err := p.Drain(ctx, col, true); err != nil {
				t.Fatal(err)
			}
			got := ndjson(t, col.Events())
			golden := filepath.Join("testdata", name+".golden.ndjson")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < max(len(gl), len(wl)); i++ {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", golden, i+1, g, w)
					}
				}
			}
		})
	}
}

func TestPluginSchema(t *testing.T) {
	p := sdk.Lookup(sdk.KindProcessor, "coalesce")
	if p == nil {
		t.Fatal("processor coalesce is not registered")
	}
	for _, o := range p.Options {
		if o.Doc == "" {
			t.Errorf("option %s has no doc", o.Name)
		}
	}
	tests := []struct {
		name   string
		values map[string]any
		bad    string
	}{
		{"defaults", nil, ""},
		{"zero timeout", map[string]any{"timeout": time.Duration(0)}, "timeout"},
		{"negative in flight", map[string]any{"max_in_flight": int64(-1)}, "max_in_flight"},
		{"custom", map[string]any{"timeout": 5 * time.Second, "max_in_flight": int64(10), "include_original": true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sdktest.Config(p, tc.values)
			err := sdktest.Validate(p, tc.values)
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				c, err := p.New(cfg, sdktest.Env("processor.coalesce.test", nil))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := c.(sdk.Processor); !ok {
					t.Fatal("not a processor")
				}
				if _, ok := c.(sdk.Drainer); !ok {
					t.Fatal("not a drainer")
				}
				if _, ok := c.(sdk.Ticker); !ok {
					t.Fatal("not a ticker")
				}
				return
			}
			var oe *sdk.OptionError
			if err == nil || !errorsAs(err, &oe) || oe.Option != tc.bad {
				t.Fatalf("want an error about %s, got %v", tc.bad, err)
			}
		})
	}
}

func errorsAs(err error, target **sdk.OptionError) bool {
	oe, ok := err.(*sdk.OptionError)
	if ok {
		*target = oe
	}
	return ok
}

const (
	recSyscall = `type=SYSCALL msg=audit(1700002000.001:%d): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=10 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="cat" exe="/usr/bin/cat" key="k"`
	recPath    = `type=PATH msg=audit(1700002000.001:%d): item=0 name="/etc/hosts" inode=1 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`
	recEOE     = `type=EOE msg=audit(1700002000.001:%d): `
)

func rec(format string, seq int) string {
	return strings.Replace(format, "%d", itoa(seq), 1)
}

func seqs(evs []sdk.Event) []int64 {
	var out []int64
	for i := range evs {
		v, _ := evs[i].Fields.Get("auditd.sequence")
		out = append(out, v.Int())
	}
	return out
}

func equalInts(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReassembly(t *testing.T) {
	ctx := context.Background()
	t.Run("completed events are emitted at once, behind an incomplete one", func(t *testing.T) {
		p := New(Options{})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf(rec(recSyscall, 1), rec(recSyscall, 2), rec(recPath, 2), rec(recEOE, 2)), col)
		if got := seqs(col.Events()); !equalInts(got, 2) {
			t.Fatalf("emitted %v, want [2]", got)
		}
		if p.Pending() != 1 {
			t.Fatalf("pending %d, want 1", p.Pending())
		}
	})
	t.Run("timeout emits incomplete events on tick", func(t *testing.T) {
		p := New(Options{Timeout: time.Minute})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf(rec(recSyscall, 1), rec(recPath, 1)), col)
		p.Tick(ctx, time.Now().Add(30*time.Second), col)
		if col.Len() != 0 {
			t.Fatalf("emitted %d events before the timeout", col.Len())
		}
		p.Tick(ctx, time.Now().Add(2*time.Minute), col)
		evs := col.Events()
		if !equalInts(seqs(evs), 1) {
			t.Fatalf("emitted %v, want [1]", seqs(evs))
		}
		if got := evs[0].Fields.GetString("file.path"); got != "/etc/hosts" {
			t.Errorf("file.path = %q", got)
		}
	})
	t.Run("drain emits everything held, oldest first", func(t *testing.T) {
		p := New(Options{})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf(rec(recSyscall, 5), rec(recSyscall, 3), rec(recPath, 5)), col)
		p.Drain(ctx, col, true)
		if got := seqs(col.Events()); !equalInts(got, 5, 3) {
			t.Fatalf("emitted %v, want [5 3]", got)
		}
		if p.Pending() != 0 {
			t.Fatal("records left after drain")
		}
	})
	t.Run("max_in_flight evicts the oldest", func(t *testing.T) {
		p := New(Options{MaxInFlight: 2})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf(rec(recSyscall, 1), rec(recSyscall, 2), rec(recSyscall, 3)), col)
		if got := seqs(col.Events()); !equalInts(got, 1) {
			t.Fatalf("emitted %v, want [1]", got)
		}
	})
	t.Run("a late EOE creates no event", func(t *testing.T) {
		p := New(Options{})
		col := sdktest.NewCollector()
		proctitle := `type=PROCTITLE msg=audit(1700002000.001:7): proctitle="cat"`
		p.Process(ctx, batchOf(rec(recSyscall, 7), proctitle), col)
		p.Process(ctx, batchOf(rec(recEOE, 7)), col)
		p.Drain(ctx, col, true)
		if got := seqs(col.Events()); !equalInts(got, 7) {
			t.Fatalf("emitted %v, want [7]", got)
		}
	})
	t.Run("same sequence on two nodes are two events", func(t *testing.T) {
		p := New(Options{})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf("node=a "+rec(recSyscall, 9), "node=b "+rec(recSyscall, 9), "node=b "+rec(recEOE, 9), "node=a "+rec(recEOE, 9)), col)
		evs := col.Events()
		if len(evs) != 2 || evs[0].Fields.GetString("host.name") != "b" || evs[1].Fields.GetString("host.name") != "a" {
			t.Fatalf("got %d events: %v", len(evs), evs)
		}
		if evs[0].ID == evs[1].ID {
			t.Fatal("events of two nodes share an id")
		}
	})
	t.Run("standalone records complete at once", func(t *testing.T) {
		p := New(Options{})
		col := sdktest.NewCollector()
		p.Process(ctx, batchOf(`type=USER_CMD msg=audit(1700002000.001:11): pid=1 uid=0 auid=0 ses=1 msg='cwd="/" cmd=6C73 exe="/usr/bin/sudo" terminal=pts/0 res=success'`), col)
		evs := col.Events()
		if len(evs) != 1 || p.Pending() != 0 {
			t.Fatalf("got %d events, %d pending", len(evs), p.Pending())
		}
		if got := evs[0].Fields.GetString("auditd.data.cmd"); got != "ls" {
			t.Errorf("cmd = %q, want decoded \"ls\"", got)
		}
	})
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	in := sdk.NewBatch(3)
	failed := sdk.Event{Fields: sdk.MakeFields(2)}
	failed.Fields.Append(sdk.FieldErrorMessage, sdk.String("upstream broke"))
	failed.Fields.Append(sdk.FieldMessage, sdk.String("whatever"))
	noMsg := sdk.Event{Fields: sdk.MakeFields(1)}
	noMsg.Fields.Append("log.offset", sdk.Int(42))
	garbage := sdk.Event{Fields: sdk.MakeFields(2)}
	garbage.Fields.Append("log.offset", sdk.Int(43))
	garbage.Fields.Append(sdk.FieldMessage, sdk.String("hello world"))
	in.Events = append(in.Events, failed, noMsg, garbage)
	if err := p.Process(ctx, in, col); err != nil {
		t.Fatal(err)
	}
	evs := col.Events()
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3 (nothing dropped)", len(evs))
	}
	if !evs[0].Fields.Equal(&failed.Fields) {
		t.Errorf("an event that failed upstream was changed: %v", evs[0].Fields.All())
	}
	for i, ev := range evs[1:] {
		if ev.Fields.GetString(sdk.FieldEventKind) != "pipeline_error" || ev.Fields.GetString(sdk.FieldErrorMessage) == "" {
			t.Errorf("event %d is not a pipeline error: %v", i+1, ev.Fields.All())
		}
		if v, _ := ev.Fields.Get("log.offset"); v.Int() != int64(42+i) {
			t.Errorf("event %d lost its log.offset", i+1)
		}
	}
	if got := evs[2].Fields.GetString("event.original"); got != "hello world" {
		t.Errorf("event.original = %q", got)
	}
}

func TestDeterministicID(t *testing.T) {
	lines := readLines(t, strings.NewReader(strings.Join([]string{rec(recSyscall, 1), rec(recPath, 1), rec(recEOE, 1), rec(recSyscall, 2), rec(recEOE, 2)}, "\n")))
	a := ourRun(t, lines, Options{})
	b := ourRun(t, lines, Options{})
	if len(a) != 2 || len(b) != 2 {
		t.Fatal("want two events")
	}
	for i := range a {
		if a[i].ID == "" || a[i].ID != b[i].ID {
			t.Fatalf("ids differ between runs: %q %q", a[i].ID, b[i].ID)
		}
	}
	if a[0].ID == a[1].ID {
		t.Fatal("two events share an id")
	}
}

// TestAcks checks that an input batch is acknowledged only once every event
// built from its records has been delivered, and that it is acknowledged.
func TestAcks(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	col.AutoAck = false

	var done1, done2, done3 atomic.Int32
	// Batch 1: event 1 complete, event 2 begun.
	b1 := batchOf(rec(recSyscall, 1), rec(recEOE, 1), rec(recSyscall, 2))
	b1.OnDone(func() { done1.Add(1) })
	// Batch 2: event 2 completes; event 3 begun.
	b2 := batchOf(rec(recPath, 2), rec(recEOE, 2), rec(recSyscall, 3))
	b2.OnDone(func() { done2.Add(1) })
	// Batch 3: a record of event 3, which is only drained.
	b3 := batchOf(rec(recPath, 3))
	b3.OnDone(func() { done3.Add(1) })

	if err := p.Process(ctx, b1, col); err != nil {
		t.Fatal(err)
	}
	if col.Len() != 1 {
		t.Fatalf("after batch 1: %d events, want 1", col.Len())
	}
	col.AckAll() // event 1 delivered; event 2 still holds batch 1
	if done1.Load() != 0 {
		t.Fatal("batch 1 acknowledged while event 2 (begun in it) is pending")
	}

	if err := p.Process(ctx, b2, col); err != nil {
		t.Fatal(err)
	}
	if col.Len() != 2 {
		t.Fatalf("after batch 2: %d events, want 2", col.Len())
	}
	if done1.Load() != 0 || done2.Load() != 0 {
		t.Fatal("acknowledged before event 2 was delivered")
	}
	col.AckAll()
	if done1.Load() != 1 {
		t.Fatal("batch 1 not acknowledged after all its events were delivered")
	}
	if done2.Load() != 0 {
		t.Fatal("batch 2 acknowledged while event 3 (begun in it) is pending")
	}

	if err := p.Process(ctx, b3, col); err != nil {
		t.Fatal(err)
	}
	if done3.Load() != 0 {
		t.Fatal("batch 3 acknowledged while its record is pending")
	}
	if err := p.Drain(ctx, col, true); err != nil {
		t.Fatal(err)
	}
	if done2.Load() != 0 || done3.Load() != 0 {
		t.Fatal("acknowledged before the drained event was delivered")
	}
	col.AckAll()
	if done1.Load() != 1 || done2.Load() != 1 || done3.Load() != 1 {
		t.Fatalf("acknowledgements: %d %d %d, want each once", done1.Load(), done2.Load(), done3.Load())
	}
}

// TestAcksWhenNothingPending checks that a batch whose events all complete
// within it is acknowledged with its output, and a batch that yields
// nothing (only a late EOE) is acknowledged at once.
func TestAcksWhenNothingPending(t *testing.T) {
	ctx := context.Background()
	p := New(Options{})
	col := sdktest.NewCollector()
	col.AutoAck = false
	var d1, d2 atomic.Int32
	b1 := batchOf(rec(recSyscall, 1), rec(recEOE, 1))
	b1.OnDone(func() { d1.Add(1) })
	p.Process(ctx, b1, col)
	if d1.Load() != 0 {
		t.Fatal("acknowledged before delivery")
	}
	col.AckAll()
	if d1.Load() != 1 {
		t.Fatal("not acknowledged after delivery")
	}
	b2 := batchOf(rec(recEOE, 1))
	b2.OnDone(func() { d2.Add(1) })
	p.Process(ctx, b2, col)
	if d2.Load() != 1 {
		t.Fatal("a batch that produced nothing was not acknowledged")
	}
}

// TestInterleavingInvariance shuffles the records of neighbouring corpus
// events together (keeping each event's own record order) and checks that
// every event comes out exactly as from the ordered stream.
func TestInterleavingInvariance(t *testing.T) {
	if testing.Short() {
		t.Skip("uses the corpus")
	}
	lines := corpusLines(t)
	if len(lines) > 60000 {
		lines = lines[:60000]
	}
	// Group the records by event, in order of first appearance.
	type group struct{ recs []string }
	var groups []*group
	bySeq := map[string]*group{}
	for _, l := range lines {
		h, err := parseHeader(l)
		if err != nil {
			t.Fatal(err)
		}
		k := h.node + "/" + itoa(int(h.seq))
		g := bySeq[k]
		if g == nil {
			g = &group{}
			bySeq[k] = g
			groups = append(groups, g)
		}
		g.recs = append(g.recs, l)
	}
	// Merge windows of 8 events: repeatedly take the next record of a
	// pseudo-randomly chosen event of the window.
	var mixed []string
	seed := uint32(1)
	next := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	for start := 0; start < len(groups); start += 8 {
		win := groups[start:min(start+8, len(groups))]
		pos := make([]int, len(win))
		left := 0
		for _, g := range win {
			left += len(g.recs)
		}
		for left > 0 {
			i := next(len(win))
			if pos[i] == len(win[i].recs) {
				continue
			}
			mixed = append(mixed, win[i].recs[pos[i]])
			pos[i]++
			left--
		}
	}
	if len(mixed) != len(lines) {
		t.Fatalf("lost records: %d of %d", len(mixed), len(lines))
	}
	want := map[string]string{}
	for _, ev := range ourRun(t, lines, Options{MaxInFlight: 64}) {
		want[ev.ID] = string(ev.AppendJSON(nil))
	}
	got := ourRun(t, mixed, Options{MaxInFlight: 64})
	if len(got) != len(want) {
		t.Fatalf("%d events from the mixed stream, %d from the ordered one", len(got), len(want))
	}
	for _, ev := range got {
		doc := string(ev.AppendJSON(nil))
		if want[ev.ID] != doc {
			t.Fatalf("event %s differs when interleaved:\n got: %s\nwant: %s", ev.ID, doc, want[ev.ID])
		}
	}
}
