package sdk

import (
	"context"
	"sync/atomic"
)

// Ack is a delivery receipt for a unit of input data, such as a range of
// lines of a file. It counts the batches that still carry data from that
// unit; when the last one is done (delivered, or deliberately dropped), the
// callback runs once. An input that can replay its source advances its
// checkpoint in that callback, which gives at-least-once delivery.
//
// Inputs create Acks with Batch.OnDone; processors that move events between
// batches carry them with Batch.Attach. Outputs never touch them: the core
// marks a batch done once the output has written it.
type Ack struct {
	refs atomic.Int32
	fn   func()
}

func (a *Ack) retain() {
	if a.refs.Add(1) == 1 {
		panic("sdk: Ack attached after it completed; keep a holder batch (Attach, then Done when finished) instead of bare Acks")
	}
}

func (a *Ack) release() {
	switch n := a.refs.Add(-1); {
	case n == 0:
		if a.fn != nil {
			a.fn()
		}
	case n < 0:
		panic("sdk: Ack released more often than retained")
	}
}

// Batch is the unit of work between components: a slice of events and the
// receipts of the input data they came from. A batch has a single owner at
// a time; whoever receives it may change its events in place.
type Batch struct {
	Events []Event
	acks   []*Ack
}

// NewBatch returns an empty batch with room for n events.
func NewBatch(n int) *Batch { return &Batch{Events: make([]Event, 0, n)} }

// Len returns the number of events.
func (b *Batch) Len() int { return len(b.Events) }

// OnDone registers fn to run once every event of this batch — and of any
// batch that later carries its receipt — has been delivered or deliberately
// dropped. Inputs call it before emitting the batch. fn runs on whichever
// goroutine completes the last delivery; it must be quick and safe for
// concurrent use.
func (b *Batch) OnDone(fn func()) {
	a := &Ack{fn: fn}
	a.refs.Store(1)
	b.acks = append(b.acks, a)
}

// Attach makes b carry the receipts of other as well: they complete only
// after b is done too. A processor that emits events built from earlier
// batches (such as a coalescer holding records until their event completes)
// attaches those batches to the batch it emits, then calls Done on them.
func (b *Batch) Attach(other *Batch) {
	for _, a := range other.acks {
		b.AttachAck(a)
	}
}

// AttachAck adds one receipt to b.
func (b *Batch) AttachAck(a *Ack) {
	if n := len(b.acks); n > 0 && b.acks[n-1] == a {
		return
	}
	for _, have := range b.acks {
		if have == a {
			return
		}
	}
	a.retain()
	b.acks = append(b.acks, a)
}

// Acks returns the receipts b carries. Holding an *Ack does not keep it
// alive: a processor that keeps events across batches keeps the receipts in
// a holder batch instead —
//
//	hold := sdk.NewBatch(0); hold.Attach(in); in.Done()
//	... later, when the events are emitted:
//	out.Attach(hold); hold.Done()
//
// AttachAck on a receipt that has already completed panics.
func (b *Batch) Acks() []*Ack { return b.acks }

// Done releases b's hold on its receipts: b has been delivered, or its
// events were deliberately dropped. Each receipt whose data is no longer
// carried by any batch completes. A batch must not be used after Done.
func (b *Batch) Done() {
	acks := b.acks
	b.acks = nil
	for _, a := range acks {
		a.release()
	}
}

// Split moves the events from index i on into a new batch that carries the
// same receipts, and keeps the first i events in b.
func (b *Batch) Split(i int) *Batch {
	nb := &Batch{Events: append([]Event(nil), b.Events[i:]...)}
	clear(b.Events[i:])
	b.Events = b.Events[:i]
	nb.Attach(b)
	return nb
}

// Clone returns a deep copy of b that carries the same receipts. The core
// uses it to fan one batch out to several consumers.
func (b *Batch) Clone() *Batch {
	nb := &Batch{Events: make([]Event, len(b.Events))}
	for i := range b.Events {
		nb.Events[i] = b.Events[i].Clone()
	}
	nb.Attach(b)
	return nb
}

// Emitter receives the batches a component produces. Emit blocks while the
// downstream queue is full (backpressure) and returns an error only when ctx
// ends first; the batch then still belongs to the caller. An empty batch is
// accepted and simply marked done.
type Emitter interface {
	Emit(ctx context.Context, b *Batch) error
}

// EmitterFunc adapts a function to the Emitter interface.
type EmitterFunc func(ctx context.Context, b *Batch) error

// Emit calls f.
func (f EmitterFunc) Emit(ctx context.Context, b *Batch) error { return f(ctx, b) }
