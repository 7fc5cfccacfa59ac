package resolveids

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
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

// BenchmarkResolve measures naming the ids of one coalesced exec event on a
// cache hit. Each batch of 100 gets fresh events (outside the timer), since
// an event that already has its names is cheaper. Coalesce makes room for 4
// more fields than it writes; eight names do not fit, so the event's field
// list grows once (the one allocation).
func BenchmarkResolve(b *testing.B) { benchResolve(b, 4) }

// BenchmarkResolveRoomy is the same with room for the names.
func BenchmarkResolveRoomy(b *testing.B) { benchResolve(b, 16) }

func benchResolve(b *testing.B, room int) {
	p := newProc(b, nil)
	tmpl := execEvent(b)
	const n = 100
	bt := sdk.NewBatch(n)
	fresh := func() {
		bt.Events = bt.Events[:0]
		for range n {
			ev := sdk.Event{Fields: sdk.MakeFields(tmpl.Fields.Len() + room)}
			for _, fd := range tmpl.Fields.All() {
				ev.Fields.Append(fd.Key, fd.Value)
			}
			bt.Events = append(bt.Events, ev)
		}
	}
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		fresh()
		b.StartTimer()
		if err := p.Process(ctx, bt, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if bt.Events[0].Fields.GetString("user.name") != "alice" || bt.Events[0].Fields.GetString("file.owner") != "root" {
		b.Fatal("not resolved")
	}
}

// BenchmarkResolveNamed measures an event whose names are all set already.
func BenchmarkResolveNamed(b *testing.B) {
	p := newProc(b, nil)
	tmpl := execEvent(b)
	bt := sdk.NewBatch(100)
	for range 100 {
		bt.Events = append(bt.Events, tmpl.Clone())
	}
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	_ = p.Process(ctx, bt, discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if err := p.Process(ctx, bt, discard); err != nil {
			b.Fatal(err)
		}
	}
}
