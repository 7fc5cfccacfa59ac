package docker

import (
	"context"
	"testing"

	"github.com/engine-audit/engine/internal/corpus/coalesced"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// BenchmarkCacheHit measures one event whose pid and container are both
// cached: a coalesced exec event of the corpus, with two labels to add.
// Each op is one event; batches of 1024 copies are prepared outside the
// timer.
func BenchmarkCacheHit(b *testing.B) {
	dir := b.TempDir()
	writeProc(b, dir, "100", "0::/system.slice/docker-"+idA+".scope\n", "5000")
	p := New(Options{Socket: dir + "/no.sock", ProcDir: dir}, sdktest.Env("processor.docker.bench", nil))
	defer p.Close(context.Background())
	p.containers[idA] = fromInspect(idA, &inspectResult{Name: "/web", Config: inspectConfig{Image: "nginx:1.27", Labels: map[string]string{"com.example.team": "audit", "maintainer": "ops"}}})

	// A real exec event of the corpus as coalesce makes it (82 fields),
	// moved into the cached container's process.
	template := coalesced.FirstExec(b)
	template.Fields.Set("process.pid", sdk.Int(100))
	b.Logf("%d fields", template.Fields.Len())
	const batch = 1024
	// The batch is refilled from the template without allocating, so that
	// no garbage collection from the preparation runs into the timed part.
	events := make([]sdk.Event, batch)
	for i := range events {
		// The room coalesce leaves for enrichment.
		events[i].Fields = sdk.MakeFields(template.Fields.Len() + 12)
	}
	prepare := func() *sdk.Batch {
		for i := range events {
			events[i].Time = template.Time
			events[i].Fields.Reset()
			for _, f := range template.Fields.All() {
				events[i].Fields.Append(f.Key, f.Value)
			}
		}
		return &sdk.Batch{Events: events}
	}
	out := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	// Warm the pid cache.
	if err := p.Process(ctx, prepare(), out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		in := prepare()
		if n := b.N - done; n < batch {
			in.Events = in.Events[:n]
		}
		b.StartTimer()
		if err := p.Process(ctx, in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := events[0].Fields.GetString("container.name"); got != "web" {
		b.Fatalf("container.name = %q; the benchmark did not hit the cache", got)
	}
}
