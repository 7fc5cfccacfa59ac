package host

import (
	"context"
	"testing"

	"github.com/engine-audit/engine/sdk"
)

// BenchmarkHost measures adding the host fields to one event of 40 fields
// that has room for them (batches of 100; fresh events outside the timer).
func BenchmarkHost(b *testing.B) {
	p := New(Options{Gather: func(string) Facts { return facts }})
	defer p.Close(context.Background())
	keys := []string{}
	for _, prefix := range []string{"auditd.data.a", "event.x", "file.y", "process.z", "user.w"} {
		for i := range 8 {
			keys = append(keys, prefix+string(rune('a'+i)))
		}
	}
	// Each op is one event. The batch is refilled without allocating, so
	// that no garbage collection from the preparation runs into the timed
	// part; 1024 events amortise stopping the timer.
	const n = 1024
	bt := sdk.NewBatch(n)
	for range n {
		bt.Events = append(bt.Events, sdk.Event{Fields: sdk.MakeFields(len(keys) + 16)})
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
			for _, k := range keys {
				bt.Events[i].Fields.Append(k, sdk.String("v"))
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
