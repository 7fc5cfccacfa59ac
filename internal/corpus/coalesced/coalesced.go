// Package coalesced gives tests and benchmarks the repository's audit
// corpus as the documents engine makes of it: the records run through the
// coalesce processor the way the logfile input feeds it, one event per line.
package coalesced

import (
	"context"
	"testing"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/plugins/processors/coalesce"
	"github.com/engine-audit/engine/sdk"
)

// Events coalesces lines (audit.log records) and returns the events, in the
// order coalesce emits them.
func Events(tb testing.TB, lines []string) []sdk.Event {
	tb.Helper()
	var out []sdk.Event
	sink := sdk.EmitterFunc(func(_ context.Context, b *sdk.Batch) error {
		out = append(out, b.Events...)
		b.Done()
		return nil
	})
	p := coalesce.New(coalesce.Options{})
	ctx := context.Background()
	for start := 0; start < len(lines); start += 1024 {
		b := sdk.NewBatch(1024)
		for _, l := range lines[start:min(start+1024, len(lines))] {
			ev := sdk.Event{Fields: sdk.MakeFields(1)}
			ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
			b.Events = append(b.Events, ev)
		}
		if err := p.Process(ctx, b, sink); err != nil {
			tb.Fatal(err)
		}
	}
	if err := p.Drain(ctx, sink, true); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Corpus returns the first n events of the repository's corpus (all of them
// when n <= 0), failing tb if it holds fewer.
func Corpus(tb testing.TB, n int) []sdk.Event {
	tb.Helper()
	evs := Events(tb, corpus.Lines(tb))
	if n <= 0 {
		return evs
	}
	if len(evs) < n {
		tb.Fatalf("the corpus gave %d events, want %d", len(evs), n)
	}
	return evs[:n]
}

// FirstExec returns the corpus's first exec event (event.action
// "executed"), a realistic event for a processor's benchmark.
func FirstExec(tb testing.TB) sdk.Event {
	tb.Helper()
	for _, ev := range Corpus(tb, 0) {
		if ev.Fields.GetString("event.action") == "executed" {
			return ev
		}
	}
	tb.Fatal("the corpus has no exec event")
	return sdk.Event{}
}
