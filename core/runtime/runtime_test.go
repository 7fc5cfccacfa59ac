package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/engine-audit/engine/sdk"
)

// genInput emits `batches` batches of `size` events each, counting acks.
type genInput struct {
	batches, size int
	acked         *atomic.Int64
	emitted       *atomic.Int64
	stayOpen      bool // keep running until ctx ends instead of finishing
	tag           string
}

func (g *genInput) Run(ctx context.Context, out sdk.Emitter) error {
	for i := 0; i < g.batches; i++ {
		b := sdk.NewBatch(g.size)
		for j := 0; j < g.size; j++ {
			var e sdk.Event
			e.Fields.Set("n", sdk.Int(int64(i*g.size+j)))
			e.Fields.Set("src", sdk.String(g.tag))
			b.Events = append(b.Events, e)
		}
		n := int64(len(b.Events))
		b.OnDone(func() { g.acked.Add(n) })
		if err := out.Emit(ctx, b); err != nil {
			return nil
		}
		g.emitted.Add(n)
	}
	if g.stayOpen {
		<-ctx.Done()
	}
	return nil
}

// tagProcessor sets a field on every event, and can hold events until Drain.
type tagProcessor struct {
	hold    bool
	held    *sdk.Batch
	panicOn int64 // panic when an event has this n (when > 0)

	drainedFinal []bool // the final flag of each Drain call
}

func (t *tagProcessor) Process(ctx context.Context, b *sdk.Batch, out sdk.Emitter) error {
	for i := range b.Events {
		if t.panicOn > 0 && b.Events[i].Fields.Has("n") {
			if v, _ := b.Events[i].Fields.Get("n"); v.Int() == t.panicOn {
				panic("boom")
			}
		}
		b.Events[i].Fields.Set("tagged", sdk.Bool(true))
	}
	if t.hold {
		if t.held == nil {
			t.held = sdk.NewBatch(0)
		}
		t.held.Events = append(t.held.Events, b.Events...)
		t.held.Attach(b)
		b.Done()
		return nil
	}
	return out.Emit(ctx, b)
}

func (t *tagProcessor) Drain(ctx context.Context, out sdk.Emitter, final bool) error {
	t.drainedFinal = append(t.drainedFinal, final)
	if t.held == nil {
		return nil
	}
	h := t.held
	t.held = nil
	return out.Emit(ctx, h)
}

// sinkOutput records events; it can fail, block or reject.
type sinkOutput struct {
	mu        sync.Mutex
	events    []sdk.Event
	failTimes int  // retryable failures before succeeding
	permanent bool // reject every batch permanently
	block     chan struct{}
	writes    atomic.Int64
	closed    atomic.Bool
	mutate    bool // change events, to prove fan-out copies
}

func (s *sinkOutput) Write(ctx context.Context, b *sdk.Batch) error {
	s.writes.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.permanent {
		return sdk.Permanent(errors.New("mapping error"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTimes > 0 {
		s.failTimes--
		return errors.New("connection refused")
	}
	for i := range b.Events {
		if s.mutate {
			b.Events[i].Fields.Set("src", sdk.String("mutated"))
		}
		s.events = append(s.events, b.Events[i])
	}
	return nil
}

func (s *sinkOutput) Close(context.Context) error { s.closed.Store(true); return nil }

func (s *sinkOutput) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// harness builds specs around component instances created by the test.
type harness struct {
	specs      []ComponentSpec
	components map[string]any
	metrics    *Metrics
}

func newHarness() *harness { return &harness{components: map[string]any{}, metrics: NewMetrics()} }

func (h *harness) add(kind sdk.ComponentKind, name string, c any, inputs ...string) string {
	id := string(kind) + ".test." + name
	h.components[id] = c
	h.specs = append(h.specs, ComponentSpec{
		ID: id, Kind: kind, Type: "test", Inputs: inputs, QueueSize: 2,
		Plugin: &sdk.Plugin{Kind: kind, Type: "test", New: func(_ *sdk.Config, env sdk.Env) (any, error) {
			return h.components[env.ID], nil
		}},
	})
	return id
}

func (h *harness) build(t *testing.T) *Pipeline {
	t.Helper()
	p, err := Build(h.specs, Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:  h.metrics,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitDone(t *testing.T, p *Pipeline) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatal("pipeline did not finish")
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func counterValue(t *testing.T, m *Metrics, name, id string) float64 {
	t.Helper()
	switch name {
	case "received":
		return testutil.ToFloat64(m.received.WithLabelValues(id, kindOf(id), "test"))
	case "sent":
		return testutil.ToFloat64(m.sent.WithLabelValues(id, kindOf(id), "test"))
	}
	t.Fatalf("unknown metric %s", name)
	return 0
}

func kindOf(id string) string { return id[:strings.IndexByte(id, '.')] }

func TestLinearPipelineDeliversAndAcksEverything(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 50, size: 10, acked: &acked, emitted: &emitted})
	pr := h.add(sdk.KindProcessor, "tag", &tagProcessor{}, in)
	sink := &sinkOutput{}
	out := h.add(sdk.KindOutput, "sink", sink, pr)
	p := h.build(t)
	p.Start()
	waitDone(t, p)

	if got := sink.count(); got != 500 {
		t.Fatalf("delivered %d events, want 500", got)
	}
	if acked.Load() != 500 {
		t.Fatalf("acked %d events, want 500", acked.Load())
	}
	for i, e := range sink.events {
		if v, _ := e.Fields.Get("tagged"); !v.Bool() {
			t.Fatalf("event %d was not processed", i)
		}
		if v, _ := e.Fields.Get("n"); v.Int() != int64(i) {
			t.Fatalf("event %d has n=%d: order not kept on a linear path", i, v.Int())
		}
	}
	if !sink.closed.Load() {
		t.Fatal("output was not closed")
	}
	for id, want := range map[string]float64{in: 500, pr: 500, out: 500} {
		if got := counterValue(t, h.metrics, "sent", id); got != want {
			t.Errorf("%s sent metric = %v, want %v", id, got, want)
		}
	}
	if got := counterValue(t, h.metrics, "received", out); got != 500 {
		t.Errorf("output received metric = %v, want 500", got)
	}
	// Everything was taken off the queues: the gauges say so.
	for _, id := range []string{pr, out} {
		l := []string{id, kindOf(id), "test"}
		if got := testutil.ToFloat64(h.metrics.queueDepth.WithLabelValues(l...)); got != 0 {
			t.Errorf("%s queue_batches = %v after the drain, want 0", id, got)
		}
		if got := testutil.ToFloat64(h.metrics.queueEvents.WithLabelValues(l...)); got != 0 {
			t.Errorf("%s queue_events = %v after the drain, want 0", id, got)
		}
	}
}

func TestFanOutAcksOnlyAfterEveryConsumer(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 5, size: 4, acked: &acked, emitted: &emitted, stayOpen: true})
	fast := &sinkOutput{mutate: true}
	slow := &sinkOutput{block: make(chan struct{})}
	h.add(sdk.KindOutput, "fast", fast, in)
	h.add(sdk.KindOutput, "slow", slow, in)
	p := h.build(t)
	p.Start()

	deadline := time.Now().Add(30 * time.Second)
	for fast.count() < 8 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if fast.count() < 8 {
		t.Fatalf("fast output got %d events", fast.count())
	}
	if acked.Load() != 0 {
		t.Fatalf("%d events acked while the slow output has written nothing", acked.Load())
	}
	close(slow.block)
	for acked.Load() < 20 && time.Now().Before(deadline.Add(30*time.Second)) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acked.Load() != 20 || fast.count() != 20 || slow.count() != 20 {
		t.Fatalf("acked=%d fast=%d slow=%d, want 20 each", acked.Load(), fast.count(), slow.count())
	}
	for _, e := range slow.events {
		if e.Fields.GetString("src") == "mutated" {
			t.Fatal("a consumer saw another consumer's change: fan-out must copy batches")
		}
	}
}

func TestFanInMergesInputs(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	a := h.add(sdk.KindInput, "a", &genInput{batches: 10, size: 3, acked: &acked, emitted: &emitted, tag: "a"})
	b := h.add(sdk.KindInput, "b", &genInput{batches: 7, size: 3, acked: &acked, emitted: &emitted, tag: "b"})
	sink := &sinkOutput{}
	h.add(sdk.KindOutput, "sink", sink, a, b)
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	per := map[string]int{}
	for _, e := range sink.events {
		per[e.Fields.GetString("src")]++
	}
	if per["a"] != 30 || per["b"] != 21 || acked.Load() != 51 {
		t.Fatalf("got %v and %d acks, want a=30 b=21 and 51 acks", per, acked.Load())
	}
}

func TestBackpressureBoundsEventsInFlight(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 1000, size: 1, acked: &acked, emitted: &emitted})
	pr := h.add(sdk.KindProcessor, "tag", &tagProcessor{}, in)
	sink := &sinkOutput{block: make(chan struct{})}
	h.add(sdk.KindOutput, "sink", sink, pr)
	p := h.build(t)
	p.Start()
	// Queues hold 2 batches each; the output holds 1 in Write, the
	// processor 1 in Emit. Wait until the input stops making progress.
	var last int64 = -1
	for stable := 0; stable < 20; {
		time.Sleep(5 * time.Millisecond)
		if cur := emitted.Load(); cur == last {
			stable++
		} else {
			last, stable = cur, 0
		}
	}
	if got := emitted.Load(); got > 8 {
		t.Fatalf("input emitted %d batches into a blocked pipeline; backpressure should stop it near 6", got)
	}
	close(sink.block)
	waitDone(t, p)
	if sink.count() != 1000 || acked.Load() != 1000 {
		t.Fatalf("delivered %d, acked %d, want 1000", sink.count(), acked.Load())
	}
}

func TestRetryableErrorsAreRetriedThenDelivered(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 3, size: 5, acked: &acked, emitted: &emitted})
	sink := &sinkOutput{failTimes: 4}
	out := h.add(sdk.KindOutput, "sink", sink, in)
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	if sink.count() != 15 || acked.Load() != 15 {
		t.Fatalf("delivered %d, acked %d, want 15 (each exactly once)", sink.count(), acked.Load())
	}
	if got := testutil.ToFloat64(h.metrics.errors.WithLabelValues(out, "output", "test", "retryable")); got != 4 {
		t.Fatalf("retryable errors metric = %v, want 4", got)
	}
}

func TestPermanentErrorsDropAndCount(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 2, size: 5, acked: &acked, emitted: &emitted})
	out := h.add(sdk.KindOutput, "sink", &sinkOutput{permanent: true}, in)
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	if acked.Load() != 10 {
		t.Fatalf("acked %d, want 10: a permanent rejection still completes the input's receipt", acked.Load())
	}
	if got := testutil.ToFloat64(h.metrics.discarded.WithLabelValues(out, "output", "test", "rejected")); got != 10 {
		t.Fatalf("discarded metric = %v, want 10", got)
	}
}

func TestDrainFlushesHeldEventsOnStop(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 4, size: 5, acked: &acked, emitted: &emitted, stayOpen: true})
	holder := &tagProcessor{hold: true}
	pr := h.add(sdk.KindProcessor, "hold", holder, in)
	sink := &sinkOutput{}
	h.add(sdk.KindOutput, "sink", sink, pr)
	p := h.build(t)
	p.Start()
	deadline := time.Now().Add(30 * time.Second)
	for emitted.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if emitted.Load() < 20 {
		t.Fatalf("the input emitted %d of 20 events", emitted.Load())
	}
	time.Sleep(20 * time.Millisecond)
	if sink.count() != 0 || acked.Load() != 0 {
		t.Fatalf("held events leaked early: delivered %d, acked %d", sink.count(), acked.Load())
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sink.count() != 20 || acked.Load() != 20 {
		t.Fatalf("after drain: delivered %d, acked %d, want 20", sink.count(), acked.Load())
	}
	if len(holder.drainedFinal) != 1 || holder.drainedFinal[0] {
		t.Fatalf("Drain calls %v, want one with final=false (the pipeline was stopped)", holder.drainedFinal)
	}
}

func TestDrainIsFinalWhenInputsFinish(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 2, size: 5, acked: &acked, emitted: &emitted})
	holder := &tagProcessor{hold: true}
	pr := h.add(sdk.KindProcessor, "hold", holder, in)
	sink := &sinkOutput{}
	h.add(sdk.KindOutput, "sink", sink, pr)
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	if sink.count() != 10 || len(holder.drainedFinal) != 1 || !holder.drainedFinal[0] {
		t.Fatalf("delivered %d, Drain calls %v; want 10 and one final drain", sink.count(), holder.drainedFinal)
	}
}

func TestStopDeadlineAbandonsWithoutAck(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 1, size: 3, acked: &acked, emitted: &emitted, stayOpen: true})
	h.add(sdk.KindOutput, "sink", &sinkOutput{block: make(chan struct{})}, in)
	p := h.build(t)
	p.Start()
	for emitted.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Stop(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want a deadline error", err)
	}
	if acked.Load() != 0 {
		t.Fatal("an undelivered batch was acknowledged")
	}
}

func TestProcessorPanicIsContained(t *testing.T) {
	var acked, emitted atomic.Int64
	h := newHarness()
	in := h.add(sdk.KindInput, "gen", &genInput{batches: 5, size: 2, acked: &acked, emitted: &emitted})
	pr := h.add(sdk.KindProcessor, "tag", &tagProcessor{panicOn: 4}, in)
	sink := &sinkOutput{}
	h.add(sdk.KindOutput, "sink", sink, pr)
	p := h.build(t)
	p.Start()
	waitDone(t, p)
	if sink.count() != 8 {
		t.Fatalf("delivered %d, want 8 (the batch that panicked is lost, the rest flows)", sink.count())
	}
	if got := testutil.ToFloat64(h.metrics.errors.WithLabelValues(pr, "processor", "test", "processing")); got != 1 {
		t.Fatalf("processing errors = %v, want 1", got)
	}
}

func TestBuildRejectsMalformedGraphs(t *testing.T) {
	cases := map[string]func(h *harness){
		"unknown input": func(h *harness) {
			h.add(sdk.KindOutput, "o", &sinkOutput{}, "input.test.missing")
		},
		"cycle": func(h *harness) {
			h.add(sdk.KindProcessor, "a", &tagProcessor{}, "processor.test.b")
			h.add(sdk.KindProcessor, "b", &tagProcessor{}, "processor.test.a")
		},
		"reads from output": func(h *harness) {
			var a, e atomic.Int64
			in := h.add(sdk.KindInput, "i", &genInput{acked: &a, emitted: &e})
			o := h.add(sdk.KindOutput, "o", &sinkOutput{}, in)
			h.add(sdk.KindOutput, "o2", &sinkOutput{}, o)
		},
		"wrong interface": func(h *harness) {
			h.add(sdk.KindOutput, "o", &tagProcessor{}, "x")
			h.specs[0].Inputs = nil
			h.specs[0].Kind = sdk.KindInput
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness()
			setup(h)
			if _, err := Build(h.specs, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: h.metrics}); err == nil {
				t.Fatal("Build accepted a malformed pipeline")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestInputErrorIsRestarted(t *testing.T) {
	runs := atomic.Int32{}
	in := inputFunc(func(ctx context.Context, out sdk.Emitter) error {
		if runs.Add(1) == 1 {
			return fmt.Errorf("source unavailable")
		}
		b := sdk.NewBatch(1)
		b.Events = append(b.Events, sdk.Event{})
		return out.Emit(ctx, b)
	})
	h := newHarness()
	id := h.add(sdk.KindInput, "flaky", in)
	sink := &sinkOutput{}
	h.add(sdk.KindOutput, "sink", sink, id)
	p := h.build(t)
	p.Start()
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatal("input was not restarted")
	}
	_ = p.Stop(context.Background())
	if runs.Load() != 2 || sink.count() != 1 {
		t.Fatalf("runs=%d delivered=%d, want 2 and 1", runs.Load(), sink.count())
	}
}

type inputFunc func(ctx context.Context, out sdk.Emitter) error

func (f inputFunc) Run(ctx context.Context, out sdk.Emitter) error { return f(ctx, out) }

func TestComponentMetricsCarryComponentLabels(t *testing.T) {
	m := NewMetrics()
	a := m.forComponent(m.component("input.audit.a", "input", "audit"))
	b := m.forComponent(m.component("input.audit.b", "input", "audit"))
	a.Counter("engine_test_lost_total", "Lost.", "cause", "kernel").Add(3)
	b.Counter("engine_test_lost_total", "Lost.", "cause", "kernel").Add(1)
	a.Gauge("engine_test_backlog", "Backlog.").Set(42)
	if got := testutil.ToFloat64(m.custom["engine_test_lost_total"].counter.WithLabelValues("input.audit.a", "input", "audit", "kernel")); got != 3 {
		t.Fatalf("counter of a = %v, want 3", got)
	}
	// A second declaration with other label keys is refused, not fatal.
	a.Counter("engine_test_lost_total", "Lost.", "other", "x").Add(1)
	a.Counter("engine_test_backlog", "Backlog as a counter.").Add(1)
	m.Forget("input.audit.a")
	if n := testutil.CollectAndCount(m.custom["engine_test_lost_total"].counter); n != 1 {
		t.Fatalf("%d series after forgetting a, want 1 (b's)", n)
	}
	if n := testutil.CollectAndCount(m.custom["engine_test_backlog"].gauge); n != 0 {
		t.Fatalf("%d backlog series after forgetting a, want 0", n)
	}
}

func TestPermanentInputFailureFailsThePipeline(t *testing.T) {
	runs := atomic.Int32{}
	in := inputFunc(func(ctx context.Context, out sdk.Emitter) error {
		runs.Add(1)
		return sdk.Permanent(errors.New("the audit PID is held by auditd"))
	})
	h := newHarness()
	id := h.add(sdk.KindInput, "owned", in)
	h.add(sdk.KindOutput, "sink", &sinkOutput{}, id)
	p := h.build(t)
	p.Start()
	select {
	case <-p.Failed():
	case <-time.After(time.Minute):
		t.Fatal("a permanent input error did not fail the pipeline")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "input.test.owned") || !strings.Contains(err.Error(), "held by auditd") {
		t.Fatalf("Err = %v", err)
	}
	if p.Healthy() {
		t.Fatal("pipeline reports healthy with a failed input")
	}
	_ = p.Stop(context.Background())
	if runs.Load() != 1 {
		t.Fatalf("input ran %d times; a permanent error must not be retried", runs.Load())
	}
}
