// Package sdktest helps plugin authors test components without a pipeline:
// an in-memory state store, an emitter that collects batches, and helpers to
// build configs from a plugin's schema.
package sdktest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// MemState is an in-memory sdk.StateStore.
type MemState struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemState returns an empty store.
func NewMemState() *MemState { return &MemState{m: map[string][]byte{}} }

// Get implements sdk.StateStore.
func (s *MemState) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

// Put implements sdk.StateStore.
func (s *MemState) Put(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// Delete implements sdk.StateStore.
func (s *MemState) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Keys implements sdk.StateStore.
func (s *MemState) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Collector is an sdk.Emitter that keeps every batch it receives. With
// AutoAck set, it marks each batch done as soon as it arrives, as an output
// that delivered it would.
type Collector struct {
	AutoAck bool

	mu      sync.Mutex
	batches []*sdk.Batch
	events  []sdk.Event
	notify  chan struct{}
}

// NewCollector returns a Collector that acks what it receives.
func NewCollector() *Collector { return &Collector{AutoAck: true, notify: make(chan struct{}, 1)} }

// Emit implements sdk.Emitter.
func (c *Collector) Emit(ctx context.Context, b *sdk.Batch) error {
	c.mu.Lock()
	c.events = append(c.events, b.Events...)
	if !c.AutoAck {
		c.batches = append(c.batches, b)
	}
	c.mu.Unlock()
	if c.AutoAck {
		b.Done()
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// Events returns a copy of the events received so far.
func (c *Collector) Events() []sdk.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sdk.Event(nil), c.events...)
}

// Len returns the number of events received so far.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// AckAll marks every batch held (when AutoAck is off) as done.
func (c *Collector) AckAll() {
	c.mu.Lock()
	held := c.batches
	c.batches = nil
	c.mu.Unlock()
	for _, b := range held {
		b.Done()
	}
}

// WaitFor waits until at least n events have arrived or the timeout passes,
// and returns the events received.
func (c *Collector) WaitFor(t testing.TB, n int, timeout time.Duration) []sdk.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if c.Len() >= n {
			return c.Events()
		}
		select {
		case <-c.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			got := c.Events()
			t.Fatalf("timed out after %v waiting for %d events; got %d", timeout, n, len(got))
			return got
		}
	}
}

// Env returns an sdk.Env for tests, with a MemState (or the given store),
// a discarding logger and the default batch policy.
func Env(id string, state sdk.StateStore) sdk.Env {
	if state == nil {
		state = NewMemState()
	}
	return sdk.Env{
		ID:      id,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		State:   state,
		Batch:   sdk.DefaultBatchPolicy,
		Metrics: sdk.NopMetrics{},
	}
}

// Config builds a config from the plugin's defaults overridden by values,
// the way the core would after decoding a block. Values use the Go types of
// sdk.OptionType.
func Config(p *sdk.Plugin, values map[string]any) *sdk.Config {
	vals := map[string]any{}
	for _, o := range p.Options {
		if o.Default != nil {
			vals[o.Name] = o.Default
		}
	}
	set := make([]string, 0, len(values))
	for k, v := range values {
		vals[k] = v
		set = append(set, k)
	}
	return sdk.NewConfig(vals, set)
}

// Validate checks values the way the core does before it builds a
// component: each top-level option against its Bound, then the plugin's own
// Validate over Config(p, values). A value out of its bound comes back as
// an *sdk.OptionError naming the option.
func Validate(p *sdk.Plugin, values map[string]any) error {
	for _, o := range p.Options {
		if v, ok := values[o.Name]; ok {
			if err := o.Bound.Check(o.Type, v); err != nil {
				return &sdk.OptionError{Option: o.Name, Err: err}
			}
		}
	}
	if p.Validate == nil {
		return nil
	}
	return p.Validate(Config(p, values))
}

// CheckOptionError fails t unless err fits a validation case: nil when
// option is "", else an *sdk.OptionError that names option.
func CheckOptionError(t testing.TB, err error, option string) {
	t.Helper()
	var oe *sdk.OptionError
	switch {
	case option == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case option != "" && !errors.As(err, &oe):
		t.Fatalf("want an OptionError on %s, got %v", option, err)
	case option != "" && oe.Option != option:
		t.Fatalf("error names option %q, want %q: %v", oe.Option, option, err)
	}
}

// LogBuffer collects log lines, safe for a component's goroutines, so that
// a test can assert what was logged.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Logger returns a text logger at level that writes into the buffer.
func (l *LogBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Metrics is an sdk.Metrics that keeps every counter's total and every
// gauge's last value, safe for a component's goroutines, so that a test can
// assert them or wait for one to move.
type Metrics struct {
	mu sync.Mutex
	v  map[string]float64
}

// NewMetrics returns an empty Metrics.
func NewMetrics() *Metrics { return &Metrics{v: map[string]float64{}} }

type metric struct {
	m   *Metrics
	key string
}

func (c metric) Add(d float64) { c.m.mu.Lock(); c.m.v[c.key] += d; c.m.mu.Unlock() }
func (c metric) Set(v float64) { c.m.mu.Lock(); c.m.v[c.key] = v; c.m.mu.Unlock() }

func metricKey(name string, labels []string) string {
	return name + "{" + strings.Join(labels, ",") + "}"
}

// Counter implements sdk.Metrics.
func (m *Metrics) Counter(name, _ string, labels ...string) sdk.Counter {
	return metric{m, metricKey(name, labels)}
}

// Gauge implements sdk.Metrics.
func (m *Metrics) Gauge(name, _ string, labels ...string) sdk.Gauge {
	return metric{m, metricKey(name, labels)}
}

// Value returns the value of the metric name with the label pairs (key,
// value, ...) it was made with; 0 if it was never written.
func (m *Metrics) Value(name string, labels ...string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[metricKey(name, labels)]
}

// WaitFor polls cond until it holds, and fails t if it does not within
// timeout, naming what it waited for. It polls every millisecond at first
// and backs off to every 100ms, so that a cheap condition is seen at once
// and a costly one (a file read, an HTTP request) is not run in a loop.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
