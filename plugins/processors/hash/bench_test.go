package hash

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engine-audit/engine/sdk"
)

// benchmark runs batches of 100 events naming the same file through the
// processor and reports per event.
func benchmark(b *testing.B, values map[string]any, size int) {
	dir := b.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte(strings.Repeat("x", size)), 0o644); err != nil {
		b.Fatal(err)
	}
	p := newProc(b, values)
	const n = 100
	batch := sdk.NewBatch(n)
	for range n {
		batch.Events = append(batch.Events, event("file.path", f))
	}
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		if err := p.Process(ctx, batch, discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !batch.Events[0].Fields.Has("file.hash.sha256") {
		b.Fatal("no hash")
	}
}

// BenchmarkHit: every event names a file whose hash is cached (one stat
// per distinct path per batch).
func BenchmarkHit(b *testing.B) { benchmark(b, nil, 4096) }

// BenchmarkMiss: every event names its own file version: 4 KiB hashed with
// sha256 each time (cache off, one event per batch).
func BenchmarkMiss4KiB(b *testing.B) {
	dir := b.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte(strings.Repeat("x", 4096)), 0o644); err != nil {
		b.Fatal(err)
	}
	p := newProc(b, map[string]any{"cache_size": int64(0)})
	batch := sdk.NewBatch(1)
	batch.Events = append(batch.Events, event("file.path", f))
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := p.Process(ctx, batch, discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHitDistinct: 100 distinct cached files per batch, so every event
// pays a stat and a cache lookup.
func BenchmarkHitDistinct(b *testing.B) {
	dir := b.TempDir()
	p := newProc(b, nil)
	const n = 100
	batch := sdk.NewBatch(n)
	for i := range n {
		f := filepath.Join(dir, "f"+strings.Repeat("x", i%10)+string(rune('a'+i/10)))
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			b.Fatal(err)
		}
		batch.Events = append(batch.Events, event("file.path", f))
	}
	discard := sdk.EmitterFunc(func(context.Context, *sdk.Batch) error { return nil })
	ctx := context.Background()
	if err := p.Process(ctx, batch, discard); err != nil { // fill the cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		if err := p.Process(ctx, batch, discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat is the floor of a cache hit: one stat of the file.
func BenchmarkStat(b *testing.B) {
	f := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, _, err := statFile(f); err != nil {
			b.Fatal(err)
		}
	}
}
