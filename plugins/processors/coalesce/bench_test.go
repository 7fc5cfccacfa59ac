//go:build linux

package coalesce

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/engine-audit/engine/sdk"
)

// Run with (one core):
//
//	go test -run '^$' -bench . -benchmem -cpu 1 ./plugins/processors/coalesce/
//
// Both benchmarks replay the kernel corpus (decompressed once, outside the
// timer) and write every event as NDJSON into a buffer; they report
// records/s, and B/op and allocs/op per record.

var (
	benchOnce  sync.Once
	benchLines []string
)

func benchCorpus(b *testing.B) []string {
	benchOnce.Do(func() { benchLines = corpusLines(b) })
	if len(benchLines) == 0 {
		b.Skip("no corpus")
	}
	return benchLines
}

// perRecord reports throughput and memory per record; it replaces the
// per-op memory figures, which count a whole replay.
type perRecord struct {
	records int
	start   runtime.MemStats
	cpu     time.Duration
}

// cpuTime is the CPU time the process used (user and system). On a shared
// machine it measures the work better than the wall clock does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startPerRecord(b *testing.B, records int) *perRecord {
	pr := &perRecord{records: records}
	runtime.GC()
	runtime.ReadMemStats(&pr.start)
	b.ResetTimer()
	pr.cpu = cpuTime()
	return pr
}

func (pr *perRecord) stop(b *testing.B) {
	b.StopTimer()
	cpu := cpuTime() - pr.cpu
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	n := float64(pr.records) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "records/cpu-s")
	}
	b.ReportMetric(float64(end.TotalAlloc-pr.start.TotalAlloc)/n, "B/record")
	b.ReportMetric(float64(end.Mallocs-pr.start.Mallocs)/n, "allocs/record")
}

// ndjsonSink encodes every event it receives into one buffer and acks the
// batch, as a file output would.
type ndjsonSink struct {
	buf    []byte
	events int
}

func (s *ndjsonSink) Emit(_ context.Context, b *sdk.Batch) error {
	for i := range b.Events {
		s.buf = b.Events[i].AppendJSON(s.buf)
		s.buf = append(s.buf, '\n')
	}
	s.events += len(b.Events)
	b.Done()
	return nil
}

func BenchmarkReplay(b *testing.B) {
	lines := benchCorpus(b)
	ctx := context.Background()
	sink := &ndjsonSink{buf: make([]byte, 0, 256<<20)}
	pr := startPerRecord(b, len(lines))
	for i := 0; i < b.N; i++ {
		sink.buf, sink.events = sink.buf[:0], 0
		p := New(Options{})
		for start := 0; start < len(lines); start += 1024 {
			end := min(start+1024, len(lines))
			batch := sdk.NewBatch(end - start)
			// The events as the logfile input makes them: one per line.
			for _, l := range lines[start:end] {
				ev := sdk.Event{Fields: sdk.MakeFields(1)}
				ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
				batch.Events = append(batch.Events, ev)
			}
			if err := p.Process(ctx, batch, sink); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Drain(ctx, sink, true); err != nil {
			b.Fatal(err)
		}
	}
	pr.stop(b)
	b.ReportMetric(float64(sink.events), "events")
}

// BenchmarkGoLibaudit is the same replay through go-libaudit: ParseLogLine,
// the Reassembler, CoalesceMessages, Auditbeat's document mapping (as in
// reference_test.go) and encoding/json.
func BenchmarkGoLibaudit(b *testing.B) {
	buf := make([]byte, 0, 256<<20)
	var st *jsonStream
	replayGoLibaudit(b, func() libaudit.Stream {
		st = &jsonStream{buf: buf[:0]}
		return st
	})
	b.ReportMetric(float64(st.events), "events")
}

// replayGoLibaudit times the corpus through auparse.ParseLogLine and
// go-libaudit's Reassembler into a fresh stream per iteration.
func replayGoLibaudit(b *testing.B, newStream func() libaudit.Stream) {
	lines := benchCorpus(b)
	pr := startPerRecord(b, len(lines))
	for i := 0; i < b.N; i++ {
		r, err := libaudit.NewReassembler(defaultMaxInFlight, defaultTimeout, newStream())
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range lines {
			msg, err := auparse.ParseLogLine(l)
			if err != nil {
				continue
			}
			r.PushMessage(msg)
		}
		_ = r.Close()
	}
	pr.stop(b)
}

// jsonStream coalesces and encodes each event the reassembler completes.
type jsonStream struct {
	buf    []byte
	events int
}

func (s *jsonStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	doc := nest(refDoc(msgs))
	doc["event.kind"] = "event"
	out, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	s.buf = append(s.buf, out...)
	s.buf = append(s.buf, '\n')
	s.events++
}

func (s *jsonStream) EventsLost(int) {}

// nest turns dotted keys into nested objects, as Auditbeat's documents are.
func nest(flat map[string]any) map[string]any {
	out := make(map[string]any, 16)
	for k, v := range flat {
		if t, ok := v.(time.Time); ok {
			out[k] = t
			continue
		}
		m := out
		for {
			dot := strings.IndexByte(k, '.')
			if dot < 0 {
				m[k] = v
				break
			}
			child, ok := m[k[:dot]].(map[string]any)
			if !ok {
				child = make(map[string]any, 4)
				m[k[:dot]] = child
			}
			m, k = child, k[dot+1:]
		}
	}
	return out
}

// BenchmarkGoLibauditCoalesceOnly is go-libaudit's own part alone: parse,
// reassemble and coalesce, without a document mapping or encoding.
func BenchmarkGoLibauditCoalesceOnly(b *testing.B) {
	replayGoLibaudit(b, func() libaudit.Stream { return &coalesceStream{} })
}

type coalesceStream struct{ events int }

func (s *coalesceStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	if _, err := aucoalesce.CoalesceMessages(msgs); err == nil {
		s.events++
	}
}

func (s *coalesceStream) EventsLost(int) {}

// BenchmarkGoLibauditJSON is the anchor the replay target is set against:
// go-libaudit's auparse, Reassembler and aucoalesce, and encoding/json of
// the coalesced event as aucoalesce shapes it (no Auditbeat mapping).
func BenchmarkGoLibauditJSON(b *testing.B) {
	buf := make([]byte, 0, 256<<20)
	var st *coalesceJSONStream
	replayGoLibaudit(b, func() libaudit.Stream {
		st = &coalesceJSONStream{buf: buf[:0]}
		return st
	})
	b.ReportMetric(float64(st.events), "events")
}

type coalesceJSONStream struct {
	buf    []byte
	events int
}

func (s *coalesceJSONStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	ev, err := aucoalesce.CoalesceMessages(msgs)
	if err != nil {
		return
	}
	out, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	s.buf = append(s.buf, out...)
	s.buf = append(s.buf, '\n')
	s.events++
}

func (s *coalesceJSONStream) EventsLost(int) {}
