//go:build linux

package coalesce

import (
	"context"
	"testing"

	"github.com/engine-audit/engine/sdk"
)

// BenchmarkParseRecords measures header parsing and key=value parsing with
// enrichment alone, record by record.
func BenchmarkParseRecords(b *testing.B) {
	lines := benchCorpus(b)
	bl := newBuilder()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			h, err := parseHeader(l)
			if err != nil {
				continue
			}
			bl.kvs = bl.kvs[:0]
			bl.parseRecord(&h)
		}
	}
	b.ReportMetric(float64(len(lines))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

type discardSink struct{ events int }

func (s *discardSink) Emit(_ context.Context, b *sdk.Batch) error {
	s.events += len(b.Events)
	b.Done()
	return nil
}

// BenchmarkReplayNoJSON is BenchmarkReplay without the encoding.
func BenchmarkReplayNoJSON(b *testing.B) {
	lines := benchCorpus(b)
	ctx := context.Background()
	sink := &discardSink{}
	pr := startPerRecord(b, len(lines))
	for i := 0; i < b.N; i++ {
		p := New(Options{})
		for start := 0; start < len(lines); start += 1024 {
			end := min(start+1024, len(lines))
			batch := sdk.NewBatch(end - start)
			for _, l := range lines[start:end] {
				ev := sdk.Event{Fields: sdk.MakeFields(1)}
				ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
				batch.Events = append(batch.Events, ev)
			}
			p.Process(ctx, batch, sink)
		}
		p.Drain(ctx, sink, true)
	}
	pr.stop(b)
}
