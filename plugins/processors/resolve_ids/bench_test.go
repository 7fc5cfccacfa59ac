package resolveids

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"testing"

	"github.com/engine-audit/engine/sdk"
)

// execEvent is a coalesced exec event as the replay pipeline writes it:
// eight id fields, all named by the test passwd and group files.
func execEvent(b *testing.B) sdk.Event {
	f, err := os.Open("testdata/exec-event.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		b.Fatal("no event")
	}
	var doc map[string]any
	if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
		b.Fatal(err)
	}
	var ev sdk.Event
	flatten(&ev.Fields, "", doc)
	return ev
}

// flatten writes a decoded JSON object as dotted fields.
func flatten(f *sdk.Fields, prefix string, doc map[string]any) {
	for k, v := range doc {
		switch v := v.(type) {
		case map[string]any:
			flatten(f, prefix+k+".", v)
		case string:
			f.Append(prefix+k, sdk.String(v))
		case float64:
			f.Append(prefix+k, sdk.Int(int64(v)))
		case []any:
			var ss []string
			for _, x := range v {
				if s, ok := x.(string); ok {
					ss = append(ss, s)
				}
			}
			f.Append(prefix+k, sdk.Strings(ss))
		}
	}
}

// coalesceRoom is how many fields more than it writes coalesce makes room
// for in an event (plugins/processors/coalesce/output.go, MakeFields).
const coalesceRoom = 12

// BenchmarkResolve measures naming the ids of one coalesced exec event on a
// cache hit, with the room coalesce leaves, in which the eight names fit.
func BenchmarkResolve(b *testing.B) { benchResolve(b, coalesceRoom, coldPool) }

// BenchmarkResolveHot is the same over a pool of 200 events, which fits in
// a core's cache: an event that resolve_ids gets soon after coalesce wrote
// it.
func BenchmarkResolveHot(b *testing.B) { benchResolve(b, coalesceRoom, hotPool) }

// BenchmarkResolveGrow is the same with room for only 4 more fields (as
// coalesce left before): the names do not fit, so the event's field list
// grows once (the one allocation).
func BenchmarkResolveGrow(b *testing.B) { benchResolve(b, 4, coldPool) }

// The pool sizes: 4000 events (about 22 MB) come from the shared cache or
// memory, 200 (about 1 MB) from the core's own.
const coldPool, hotPool = 4000, 200

// namesAdded is how many names the exec event gets.
const namesAdded = 8

// benchResolve runs the processor over a pool of fresh events (an event
// that already has its names is cheaper), 100 to a batch. The pool is
// refilled with the timer stopped only once it is used up, so that the
// timed part is the processor and not the harness.
func benchResolve(b *testing.B, room, poolSize int) {
	p := newProc(b, nil)
	tmpl := execEvent(b)
	const n = 100
	pool := make([]sdk.Event, poolSize)
	for i := range pool {
		pool[i].Fields = sdk.MakeFields(tmpl.Fields.Len() + room)
	}
	fill := func() {
		for i := range pool {
			f := &pool[i].Fields
			if room < namesAdded {
				// A new list each time: the one a grown event got is larger.
				*f = sdk.MakeFields(tmpl.Fields.Len() + room)
			} else {
				f.Reset() // keeps the room, which the names did not exceed
			}
			for _, fd := range tmpl.Fields.All() {
				f.Append(fd.Key, fd.Value)
			}
		}
		if room < namesAdded {
			// Collect the old lists now, so that no collection runs (and
			// turns on write barriers) in the timed part unless the
			// processor allocates itself.
			runtime.GC()
		}
	}
	fill()
	bt := sdk.NewBatch(n)
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	next := 0
	for i := 0; i < b.N; i += n {
		if next+n > len(pool) {
			b.StopTimer()
			fill()
			next = 0
			b.StartTimer()
		}
		bt.Events = pool[next : next+n]
		next += n
		if err := p.Process(ctx, bt, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ev := &bt.Events[0]
	if ev.Fields.GetString("user.name") != "alice" || ev.Fields.GetString("file.owner") != "root" ||
		ev.Fields.Len() != tmpl.Fields.Len()+namesAdded {
		b.Fatal("not resolved")
	}
}

// BenchmarkResolveNamed measures events whose names are all set already
// (the lookup alone), over a pool of 4000 events.
func BenchmarkResolveNamed(b *testing.B) { benchNamed(b, coldPool) }

// BenchmarkResolveNamedHot is the same over 200 events, in a core's cache.
func BenchmarkResolveNamedHot(b *testing.B) { benchNamed(b, hotPool) }

func benchNamed(b *testing.B, poolSize int) {
	p := newProc(b, nil)
	tmpl := execEvent(b)
	const n = 100
	pool := make([]sdk.Event, poolSize)
	for i := range pool {
		pool[i] = tmpl.Clone()
	}
	bt := sdk.NewBatch(n)
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	bt.Events = pool
	_ = p.Process(ctx, bt, discard)
	want := pool[0].Fields.Len()
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	next := 0
	for i := 0; i < b.N; i += n {
		if next+n > len(pool) {
			next = 0
		}
		bt.Events = pool[next : next+n]
		next += n
		if err := p.Process(ctx, bt, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if pool[0].Fields.Len() != want || want != tmpl.Fields.Len()+namesAdded {
		b.Fatal("names not added once")
	}
}
