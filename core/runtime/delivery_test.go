package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/core/deadletter"
	"github.com/engine-audit/engine/sdk"
)

// partialOutput refuses events whose n is in reject for good, and fails the
// events whose n is in flaky the first time it sees them.
type partialOutput struct {
	mu        sync.Mutex
	reject    map[int64]bool
	flaky     map[int64]bool
	delivered map[int64]int
	calls     int
}

func (o *partialOutput) Write(_ context.Context, b *sdk.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	pe := &sdk.PartialError{}
	for i := range b.Events {
		v, _ := b.Events[i].Fields.Get("n")
		n := v.Int()
		switch {
		case o.reject[n]:
			pe.Rejected = append(pe.Rejected, sdk.Rejection{Index: i, Reason: "mapper_parsing_exception: bad n"})
		case o.flaky[n]:
			delete(o.flaky, n)
			pe.Retry = append(pe.Retry, i)
		default:
			o.delivered[n]++
		}
	}
	if len(pe.Retry) > 0 {
		pe.Err = errors.New("es_rejected_execution_exception")
	}
	if len(pe.Retry)+len(pe.Rejected) == 0 {
		return nil
	}
	return pe
}

func TestPartialWritesRetryTheRestAndDeadLetterTheRefused(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 2, size: 10, acked: &acked, emitted: &emitted})
	o := &partialOutput{
		reject:    map[int64]bool{3: true, 14: true},
		flaky:     map[int64]bool{1: true, 2: true, 15: true},
		delivered: map[int64]int{},
	}
	out := h.add(sdk.KindOutput, "sink", o, in)
	deadPath := filepath.Join(t.TempDir(), "dead.ndjson")
	h.specs[1].DeadLetter = &deadletter.Config{Path: deadPath}
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	for n := int64(0); n < 20; n++ {
		want := 1
		if n == 3 || n == 14 {
			want = 0
		}
		if o.delivered[n] != want {
			t.Errorf("event %d delivered %d times, want %d", n, o.delivered[n], want)
		}
	}
	if acked.Load() != 20 {
		t.Fatalf("acked %d, want 20", acked.Load())
	}
	data, err := os.ReadFile(deadPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("dead letter holds %d lines, want 2:\n%s", len(lines), data)
	}
	var line struct {
		Component, Reason string
		Event             map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line.Component != out || line.Reason != "mapper_parsing_exception: bad n" || line.Event["n"] != 3.0 {
		t.Fatalf("dead letter line: %+v", line)
	}
	if got := testutil.ToFloat64(h.metrics.discarded.WithLabelValues(out, "output", "test", "dead_letter")); got != 2 {
		t.Fatalf("dead_letter discards = %v, want 2", got)
	}
	if got := counterValue(t, h.metrics, "sent", out); got != 18 {
		t.Fatalf("sent = %v, want 18", got)
	}
}

// downOutput fails every write until up is set, then records events.
type downOutput struct {
	up     atomic.Bool
	mu     sync.Mutex
	counts map[int64]int
	writes atomic.Int64
}

func (o *downOutput) Write(_ context.Context, b *sdk.Batch) error {
	o.writes.Add(1)
	if !o.up.Load() {
		return sdk.Retryable(errors.New("connection refused"))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range b.Events {
		v, _ := b.Events[i].Fields.Get("n")
		o.counts[v.Int()]++
	}
	return nil
}

func buildWith(t *testing.T, h *harness, dataDir string) *Pipeline {
	t.Helper()
	p, err := Build(h.specs, Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:  h.metrics,
		DataDir:  dataDir,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiskBufferKeepsEventsAcrossAnOutageAndARestart(t *testing.T) {
	dataDir := t.TempDir()
	var acked, emitted atomic.Int64
	down := &downOutput{counts: map[int64]int{}}
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 50, size: 20, acked: &acked, emitted: &emitted, stayOpen: true})
	h.add(sdk.KindOutput, "sink", down, in)
	h.specs[1].Buffer = buffer.Config{Type: buffer.TypeDisk, MaxSize: 64 << 20}
	p := buildWith(t, h, dataDir)
	p.Start()
	// The destination is down, yet the input's events are all acknowledged:
	// they are safe on disk.
	deadline := time.Now().Add(30 * time.Second)
	for acked.Load() < 1000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if acked.Load() != 1000 {
		t.Fatalf("acked %d of 1000 while the destination is down", acked.Load())
	}
	// The output runs on its own goroutine, so under load it may not have
	// made its first attempt by the time the input is acknowledged.
	for down.writes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if down.writes.Load() == 0 {
		t.Fatal("the output was never tried")
	}
	// Stop does not wait for the outage to end.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// (Had it waited, it would have run into its 20s deadline.)
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Stop took %v with a disk buffer and the destination down", d)
	}

	// Next run: the destination is back; everything is delivered once.
	var acked2, emitted2 atomic.Int64
	up := &downOutput{counts: map[int64]int{}}
	up.up.Store(true)
	h2 := newHarness()
	in2 := h2.add(sdk.KindInput, "gen", &genInput{batches: 0, acked: &acked2, emitted: &emitted2})
	h2.add(sdk.KindOutput, "sink", up, in2)
	h2.specs[1].Buffer = buffer.Config{Type: buffer.TypeDisk, MaxSize: 64 << 20}
	p2 := buildWith(t, h2, dataDir)
	p2.Start()
	waitDone(t, p2)
	if len(up.counts) != 1000 {
		t.Fatalf("delivered %d distinct events after the restart, want 1000", len(up.counts))
	}
	for n, c := range up.counts {
		if c != 1 {
			t.Fatalf("event %d delivered %d times", n, c)
		}
	}
}

func TestDropNewestBufferReportsLossDownstream(t *testing.T) {
	var acked, emitted atomic.Int64
	sink := &sinkOutput{block: make(chan struct{})}
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 20, size: 5, acked: &acked, emitted: &emitted})
	out := h.add(sdk.KindOutput, "sink", sink, in)
	h.specs[1].Buffer = buffer.Config{Type: buffer.TypeMemory, MaxBatches: 2, WhenFull: buffer.WhenFullDropNewest}
	p := h.build(t)
	p.Start()
	deadline := time.Now().Add(30 * time.Second)
	for emitted.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if emitted.Load() < 100 {
		t.Fatalf("the input emitted %d of 100 events", emitted.Load())
	}
	close(sink.block)
	waitDone(t, p)
	dropped := testutil.ToFloat64(h.metrics.discarded.WithLabelValues(out, "output", "test", "buffer_full"))
	if dropped == 0 {
		t.Fatal("nothing was dropped; the test did not fill the buffer")
	}
	var reported int64
	for _, e := range sink.events {
		if e.Fields.GetString("event.action") == "events_lost" {
			v, _ := e.Fields.Get("engine.loss.count")
			reported += v.Int()
		}
	}
	if float64(reported) != dropped {
		t.Fatalf("loss events report %d dropped, metric says %v", reported, dropped)
	}
	if int64(sink.count())-countLoss(sink.events)+reported != 100 {
		t.Fatalf("delivered %d + dropped %d != 100", sink.count(), reported)
	}
}

func countLoss(evs []sdk.Event) int64 {
	var n int64
	for _, e := range evs {
		if e.Fields.GetString("event.action") == "events_lost" {
			n++
		}
	}
	return n
}

func TestOutputWritesMergeQueuedBatches(t *testing.T) {
	var acked, emitted atomic.Int64
	sink := &sinkOutput{block: make(chan struct{})}
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 20, size: 5, acked: &acked, emitted: &emitted})
	h.add(sdk.KindOutput, "sink", sink, in)
	h.specs[1].QueueSize = 32
	h.specs[1].Batch.MaxEvents = 40
	p := h.build(t)
	p.Start()
	deadline := time.Now().Add(30 * time.Second)
	for emitted.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if emitted.Load() < 100 {
		t.Fatalf("the input emitted %d of 100 events", emitted.Load())
	}
	close(sink.block) // the first write held one batch; the rest queued up
	waitDone(t, p)
	if sink.count() != 100 || acked.Load() != 100 {
		t.Fatalf("delivered %d, acked %d, want 100", sink.count(), acked.Load())
	}
	// The first write takes what was queued when the output started (one
	// batch or more); the rest went in writes of 40 events: 3 or 4 writes,
	// not 20.
	if w := sink.writes.Load(); w < 3 || w > 4 {
		t.Fatalf("%d writes, want 3 or 4: queued batches were not merged up to batch_max_events", w)
	}
}

// concurrentOutput counts the writes in flight at once.
type concurrentOutput struct {
	inFlight, peak atomic.Int32
	delivered      atomic.Int64
	n              int
}

func (o *concurrentOutput) WritesInFlight() int { return o.n }

func (o *concurrentOutput) Write(_ context.Context, b *sdk.Batch) error {
	cur := o.inFlight.Add(1)
	for {
		p := o.peak.Load()
		if cur <= p || o.peak.CompareAndSwap(p, cur) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond) // waiting for the destination's ack
	o.delivered.Add(int64(len(b.Events)))
	o.inFlight.Add(-1)
	return nil
}

func TestConcurrentOutputWritesInFlight(t *testing.T) {
	var acked, emitted atomic.Int64
	o := &concurrentOutput{n: 3}
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 30, size: 5, acked: &acked, emitted: &emitted})
	h.add(sdk.KindOutput, "sink", o, in)
	h.specs[1].QueueSize = 8
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	if o.delivered.Load() != 150 || acked.Load() != 150 {
		t.Fatalf("delivered %d, acked %d, want 150", o.delivered.Load(), acked.Load())
	}
	if peak := o.peak.Load(); peak < 2 || peak > 3 {
		t.Fatalf("peak writes in flight = %d, want 2 or 3 (never more than WritesInFlight)", peak)
	}
}
