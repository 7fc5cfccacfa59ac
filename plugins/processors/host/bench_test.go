package host

import (
	"context"
	"testing"

	"github.com/engine-audit/engine/internal/corpus/coalesced"
	"github.com/engine-audit/engine/sdk"
)

// BenchmarkHost measures adding the host fields to a real coalesced exec
// event of the corpus, in the room coalesce leaves (12 fields).
func BenchmarkHost(b *testing.B) {
	p := New(Options{Gather: func(string) Facts { return facts }})
	defer p.Close(context.Background())
	template := coalesced.FirstExec(b)
	template.Fields.Delete("host.name")
	fields := template.Fields.All()
	// Each op is one event. The batch is refilled without allocating, so
	// that no garbage collection from the preparation runs into the timed
	// part; 1024 events amortise stopping the timer.
	const n = 1024
	bt := sdk.NewBatch(n)
	for range n {
		bt.Events = append(bt.Events, sdk.Event{Fields: sdk.MakeFields(len(fields) + 12)})
	}
	events := bt.Events
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += n {
		b.StopTimer()
		bt.Events = events[:min(n, b.N-done)]
		for i := range bt.Events {
			bt.Events[i].Fields.Reset()
			for _, fd := range fields {
				bt.Events[i].Fields.Append(fd.Key, fd.Value)
			}
		}
		b.StartTimer()
		if err := p.Process(ctx, bt, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if bt.Events[0].Fields.GetString("host.name") != "box" {
		b.Fatal("no host.name")
	}
}
