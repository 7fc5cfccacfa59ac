// Package buffer holds the batches waiting for an output: in memory, or on
// disk so that they survive an outage of the destination, a crash of engine
// and a restart.
//
// A buffer sits between the pipeline and one output. Push hands it a batch;
// Pop gives the output the next batch to write; the popped batch's Done
// (called by the core once the output delivered it) releases its place. A
// memory buffer passes the pipeline's batches through, so their receipts
// reach the inputs only on delivery. A disk buffer completes a batch's
// receipts as soon as the batch is written to disk — the data is durable
// from then on — and hands the output fresh batches read back from disk,
// advancing its read checkpoint only as they are delivered: after a crash,
// what was not yet delivered is delivered again (at least once; outputs with
// deterministic ids, such as Elasticsearch, make that exactly once).
//
// When full, a buffer either blocks the pipeline (backpressure) or drops
// the newest batches; what it drops is counted and reported by an event
// (event.action "events_lost", engine.loss.cause "buffer_full") written into
// the buffer as soon as there is room again.
package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/engine-audit/engine/internal/lossevent"
	"github.com/engine-audit/engine/sdk"
)

// Types and full policies.
const (
	TypeMemory         = "memory"
	TypeDisk           = "disk"
	WhenFullBlock      = "block"
	WhenFullDropNewest = "drop_newest"
)

// DefaultDiskMaxSize bounds a disk buffer when max_size is not set.
const DefaultDiskMaxSize = 1 << 30

// Config is an output's buffer block.
type Config struct {
	Type     string // TypeMemory (default) or TypeDisk
	MaxSize  int64  // bytes; 0: memory buffers are bounded by MaxBatches only, disk ones by DefaultDiskMaxSize
	WhenFull string // WhenFullBlock (default) or WhenFullDropNewest
	// MaxBatches bounds a memory buffer in batches (the output's queue_size).
	MaxBatches int
}

// Options bound the buffer block of an output, for the config loader.
var Options = []sdk.Option{
	{Name: "type", Type: sdk.TypeString, Default: TypeMemory, Enum: []string{TypeMemory, TypeDisk},
		Doc: `"memory" holds up to queue_size batches (and max_size bytes, if set) and loses them on a crash; "disk" writes them under the state directory, where they survive an outage, a crash and a restart.`},
	{Name: "max_size", Type: sdk.TypeSize,
		Doc: "The most the buffer holds: for disk, bytes on disk (default 1GiB); for memory, an estimate of the bytes the events take (default: no limit beyond queue_size)."},
	{Name: "when_full", Type: sdk.TypeString, Default: WhenFullBlock, Enum: []string{WhenFullBlock, WhenFullDropNewest},
		Doc: `"block" slows the pipeline down to the output's pace (inputs that cannot wait, such as the kernel, then apply their own policy); "drop_newest" drops incoming batches and reports how many events it dropped with an events_lost event.`},
}

// ConfigFrom reads a decoded buffer block (nil means none was written).
func ConfigFrom(c *sdk.Config, maxBatches int) Config {
	cfg := Config{Type: TypeMemory, WhenFull: WhenFullBlock, MaxBatches: maxBatches}
	if c != nil {
		cfg.Type = c.String("type")
		cfg.MaxSize = c.Size("max_size")
		cfg.WhenFull = c.String("when_full")
	}
	return cfg
}

// Durable reports whether the buffer keeps what it holds across a restart.
func (c Config) Durable() bool { return c.Type == TypeDisk }

// Queue is a buffer in front of one output.
type Queue interface {
	// Push hands b to the buffer, which then owns it. It blocks while the
	// buffer is full (when_full = "block") until there is room, ctx ends or
	// abort is closed; it then returns an error and b still belongs to the
	// caller. With "drop_newest" it drops b instead (marking it done) and
	// returns nil.
	Push(ctx context.Context, abort <-chan struct{}, b *sdk.Batch) error
	// Pop returns the next batch to deliver, blocking until there is one.
	// It returns false when the buffer is closed for input and has nothing
	// more to give now: a memory buffer once it is empty; a disk buffer at
	// once after CloseInput(false), keeping the rest for the next run.
	Pop(ctx context.Context) (*sdk.Batch, bool)
	// TryPop is Pop without waiting: it returns a batch only if one is
	// ready now. The core uses it to merge small batches into one write.
	TryPop() (*sdk.Batch, bool)
	// CloseInput says nothing more will be pushed. final says every input
	// finished by itself (run --once): a disk buffer then gives everything
	// it holds before Pop returns false.
	CloseInput(final bool)
	// Stats reports what the buffer holds now.
	Stats() Stats
	// Close releases files; the buffer must not be used afterwards.
	Close() error
}

// Stats is what a buffer holds.
type Stats struct {
	Events  int64
	Bytes   int64
	Batches int64
}

// Env is what a buffer needs from its output's pipeline.
type Env struct {
	Component string // the output's ID, for loss events
	Dir       string // a private directory (disk buffers)
	// OnDrop is called with the number of events dropped by when_full =
	// "drop_newest", for metrics.
	OnDrop func(events int)
}

// Open builds the buffer described by cfg.
func Open(cfg Config, env Env) (Queue, error) {
	if env.OnDrop == nil {
		env.OnDrop = func(int) {}
	}
	switch cfg.Type {
	case "", TypeMemory:
		return newMemory(cfg, env), nil
	case TypeDisk:
		return openDisk(cfg, env)
	default:
		return nil, fmt.Errorf("unknown buffer type %q: use %q or %q", cfg.Type, TypeMemory, TypeDisk)
	}
}

// ErrClosed is returned by Push after CloseInput or Close.
var ErrClosed = errors.New("buffer closed")

// gate is what both buffers share to admit a batch: the lock, the closed
// flag, the events dropped since the last loss event, and a channel closed
// (and replaced) whenever room frees up.
type gate struct {
	mu      sync.Mutex
	closed  bool
	dropped int64
	space   chan struct{}
}

// admit is Push's wait for room. It is entered with g.mu held. It returns
// true with g.mu still held when the batch may be added. Otherwise g.mu is
// released: false with a nil error means the batch was dropped
// (when_full = "drop_newest") and marked done; with an error the batch
// still belongs to the caller. fits tells, under g.mu, whether the batch
// fits now; woke, if set, runs under g.mu after each wait.
func (g *gate) admit(ctx context.Context, abort <-chan struct{}, b *sdk.Batch, dropNewest bool, onDrop func(int), fits func() bool, woke func()) (bool, error) {
	for {
		if g.closed {
			g.mu.Unlock()
			return false, ErrClosed
		}
		if fits() {
			return true, nil
		}
		if dropNewest {
			n := len(b.Events)
			g.dropped += int64(n)
			g.mu.Unlock()
			onDrop(n)
			b.Done()
			return false, nil
		}
		space := g.space
		g.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-abort:
			return false, context.Canceled
		}
		g.mu.Lock()
		if woke != nil {
			woke()
		}
	}
}

// lossEvent reports events dropped because the buffer was full.
func lossEvent(component string, now time.Time, count int64) sdk.Event {
	return lossevent.Loss{Component: component, Module: "engine", Cause: "buffer_full", Unit: "events", Count: count, Time: now,
		Message: fmt.Sprintf("%s dropped %d events because its buffer was full (when_full = %q); raise the buffer's max_size or make the destination keep up",
			component, count, WhenFullDropNewest)}.Event()
}

// estimate is a cheap guess of the memory a batch's events take.
func estimate(b *sdk.Batch) int64 {
	var n int64
	for i := range b.Events {
		n += 64 + int64(len(b.Events[i].ID))
		for _, f := range b.Events[i].Fields.All() {
			n += 56 + int64(len(f.Key)) + valueSize(f.Value)
		}
	}
	return n
}

func valueSize(v sdk.Value) int64 {
	switch v.Kind() {
	case sdk.KindString:
		return int64(len(v.Str()))
	case sdk.KindStrings:
		var n int64
		for _, s := range v.StringList() {
			n += 16 + int64(len(s))
		}
		return n
	case sdk.KindObjects:
		var n int64
		for _, o := range v.ObjectList() {
			for _, f := range o.All() {
				n += 56 + int64(len(f.Key)) + valueSize(f.Value)
			}
		}
		return n
	case sdk.KindRaw:
		return int64(len(v.Raw()))
	}
	return 0
}
