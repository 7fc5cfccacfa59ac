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
	const n = 100
	bt := sdk.NewBatch(n)
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		bt.Events = bt.Events[:0]
		for range n {
			e := sdk.Event{Fields: sdk.MakeFields(len(keys) + 16)}
			for _, k := range keys {
				e.Fields.Append(k, sdk.String("v"))
			}
			bt.Events = append(bt.Events, e)
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
