package docker

import (
	"context"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// BenchmarkCacheHit measures one event whose pid and container are both
// cached: an exec event of a coalesced shape, with two labels to add.
// Each op is one event; batches of 1024 copies are prepared outside the
// timer.
func BenchmarkCacheHit(b *testing.B) {
	dir := b.TempDir()
	writeProc(b, dir, "100", "0::/system.slice/docker-"+idA+".scope\n", "5000")
	p := New(Options{Socket: dir + "/no.sock", ProcDir: dir}, sdktest.Env("processor.docker.bench", nil))
	defer p.Close(context.Background())
	p.containers[idA] = fromInspect(idA, &inspectResult{Name: "/web", Config: inspectConfig{Image: "nginx:1.27", Labels: map[string]string{"com.example.team": "audit", "maintainer": "ops"}}})

	template := sdk.Event{Time: time.Unix(1_800_000_000, 0), Fields: sdk.MakeFields(40)}
	for _, k := range []string{"auditd.data.syscall", "auditd.result", "auditd.sequence", "event.action", "event.category",
		"event.kind", "event.module", "event.outcome", "event.type", "host.name", "process.args", "process.executable",
		"process.name", "process.parent.pid", "process.title", "process.working_directory", "user.audit.id",
		"user.effective.id", "user.group.id", "user.id", "user.saved.id"} {
		template.Fields.Set(k, sdk.String("value"))
	}
	template.Fields.Set("process.pid", sdk.Int(100))
	const batch = 1024
	// The batch is refilled from the template without allocating, so that
	// no garbage collection from the preparation runs into the timed part.
	events := make([]sdk.Event, batch)
	for i := range events {
		events[i].Fields = sdk.MakeFields(template.Fields.Len() + 8)
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
