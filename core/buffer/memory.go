package buffer

import (
	"context"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// memory is a bounded FIFO of the pipeline's own batches.
type memory struct {
	cfg Config
	env Env

	gate
	items  []memItem
	head   int
	bytes  int64
	events int64
	ready  chan struct{} // closed and replaced when a batch arrives
}

type memItem struct {
	b    *sdk.Batch
	size int64
}

func newMemory(cfg Config, env Env) *memory {
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = 4
	}
	m := &memory{cfg: cfg, env: env, ready: make(chan struct{})}
	m.space = make(chan struct{})
	return m
}

func (m *memory) len() int { return len(m.items) - m.head }

func (m *memory) full(size int64) bool {
	if m.len() == 0 {
		return false // a batch larger than max_size still goes through, alone
	}
	return m.len() >= m.cfg.MaxBatches || (m.cfg.MaxSize > 0 && m.bytes+size > m.cfg.MaxSize)
}

func (m *memory) Push(ctx context.Context, abort <-chan struct{}, b *sdk.Batch) error {
	var size int64
	if m.cfg.MaxSize > 0 {
		size = estimate(b)
	}
	m.mu.Lock()
	ok, err := m.admit(ctx, abort, b, m.cfg.WhenFull == WhenFullDropNewest, m.env.OnDrop,
		func() bool { return !m.full(size) }, nil)
	if !ok {
		return err
	}
	m.reportDropsLocked()
	m.append(b, size)
	m.mu.Unlock()
	return nil
}

// reportDropsLocked queues the loss event for what was dropped, if any.
func (m *memory) reportDropsLocked() {
	if m.dropped == 0 {
		return
	}
	lb := sdk.NewBatch(1)
	lb.Events = append(lb.Events, lossEvent(m.env.Component, time.Now(), m.dropped))
	m.dropped = 0
	m.append(lb, 0)
}

func (m *memory) append(b *sdk.Batch, size int64) {
	m.items = append(m.items, memItem{b: b, size: size})
	m.bytes += size
	m.events += int64(len(b.Events))
	close(m.ready)
	m.ready = make(chan struct{})
}

func (m *memory) Pop(ctx context.Context) (*sdk.Batch, bool) {
	m.mu.Lock()
	for m.len() == 0 {
		if m.closed {
			m.mu.Unlock()
			return nil, false
		}
		ready := m.ready
		m.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, false
		}
		m.mu.Lock()
	}
	return m.popLocked(), true
}

func (m *memory) TryPop() (*sdk.Batch, bool) {
	m.mu.Lock()
	if m.len() == 0 {
		m.mu.Unlock()
		return nil, false
	}
	return m.popLocked(), true
}

// popLocked takes the oldest batch; it is called with mu held and releases it.
func (m *memory) popLocked() *sdk.Batch {
	it := m.items[m.head]
	m.items[m.head] = memItem{}
	m.head++
	if m.head == len(m.items) {
		m.items, m.head = m.items[:0], 0
	} else if m.head > 64 && m.head*2 > len(m.items) {
		n := copy(m.items, m.items[m.head:])
		clear(m.items[n:])
		m.items, m.head = m.items[:n], 0
	}
	m.bytes -= it.size
	m.events -= int64(len(it.b.Events))
	close(m.space)
	m.space = make(chan struct{})
	m.mu.Unlock()
	return it.b
}

func (m *memory) CloseInput(final bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.reportDropsLocked()
	m.closed = true
	close(m.ready)
	m.ready = make(chan struct{})
	close(m.space)
	m.space = make(chan struct{})
}

func (m *memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Events: m.events, Bytes: m.bytes, Batches: int64(m.len())}
}

func (m *memory) Close() error {
	m.CloseInput(false)
	return nil
}
