package file

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWrite measures the output end to end on the real filesystem of
// the test's temporary directory: encoding, write(2), rotation at the default
// 100 MiB and the fsync policy. One op is one batch of ~1 KB audit events.
//
//	go test ./plugins/outputs/file -run '^$' -bench Write -benchmem
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		policy string
		batch  int
	}{
		{fsyncBatch, 1024},
		{fsyncBatch, 128},
		{fsyncBatch, 16},
		{fsyncInterval, 1024},
		{fsyncNever, 1024},
	} {
		b.Run(fmt.Sprintf("fsync=%s/batch=%d", bc.policy, bc.batch), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "events.ndjson")
			c := config{path: path, maxSize: 100 << 20, maxFiles: 2, mode: 0o600, fsync: bc.policy, fsyncEvery: time.Second, reopenCheck: 2 * time.Second}
			o, err := open(c, nil, openOSFile)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close(context.Background())
			batch := batchOf(0, bc.batch)
			size := 0
			for i := range batch.Events {
				size += len(batch.Events[i].AppendJSON(nil)) + 1
			}
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := o.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bc.batch)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(size)/float64(bc.batch), "B/event")
		})
	}
}

// BenchmarkEncode isolates the encoding the output does per batch, to tell
// how much of BenchmarkWrite is the filesystem.
func BenchmarkEncode(b *testing.B) {
	batch := batchOf(0, 1024)
	buf := make([]byte, 0, 2<<20)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range batch.Events {
			buf = batch.Events[i].AppendJSON(buf)
			buf = append(buf, '\n')
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N*len(batch.Events))/b.Elapsed().Seconds(), "events/s")
}
