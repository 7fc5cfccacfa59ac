package sdk

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// receipt counts how often an OnDone callback ran.
type receipt struct{ fired atomic.Int32 }

func (r *receipt) fn() { r.fired.Add(1) }

func (r *receipt) check(t *testing.T, when string, want int32) {
	t.Helper()
	if got := r.fired.Load(); got != want {
		t.Fatalf("%s: OnDone ran %d times, want %d", when, got, want)
	}
}

func numbered(n int) *Batch {
	b := NewBatch(n)
	for i := range n {
		e := Event{}
		e.Fields.Set("n", Int(int64(i)))
		b.Events = append(b.Events, e)
	}
	return b
}

func TestAckScenarios(t *testing.T) {
	tests := []struct {
		name string
		// run gets a batch carrying one receipt and must call step after
		// each Done, passing whether the receipt must have fired by then.
		run func(b *Batch, step func(fired bool))
	}{
		{"done once", func(b *Batch, step func(bool)) {
			b.Done()
			step(true)
		}},
		{"done twice fires once", func(b *Batch, step func(bool)) {
			b.Done()
			b.Done()
			step(true)
		}},
		{"split", func(b *Batch, step func(bool)) {
			tail := b.Split(2)
			b.Done()
			step(false)
			tail.Done()
			step(true)
		}},
		{"split, tail done first", func(b *Batch, step func(bool)) {
			tail := b.Split(1)
			tail.Done()
			step(false)
			b.Done()
			step(true)
		}},
		{"split of a split", func(b *Batch, step func(bool)) {
			t1 := b.Split(1)
			t2 := t1.Split(1)
			t1.Done()
			b.Done()
			step(false)
			t2.Done()
			step(true)
		}},
		{"clone fan-out", func(b *Batch, step func(bool)) {
			c1, c2 := b.Clone(), b.Clone()
			b.Done()
			c2.Done()
			step(false)
			c1.Done()
			step(true)
		}},
		{"attach: processor holds a batch in an emitted one", func(b *Batch, step func(bool)) {
			out := NewBatch(1)
			out.Attach(b)
			b.Done()
			step(false)
			out.Done()
			step(true)
		}},
		{"attach the same batch twice carries it once", func(b *Batch, step func(bool)) {
			out := NewBatch(1)
			out.Attach(b)
			out.Attach(b)
			b.Done()
			step(false)
			out.Done()
			step(true)
		}},
		{"attach ack by ack, with repeats", func(b *Batch, step func(bool)) {
			out := NewBatch(1)
			for range 3 {
				for _, a := range b.Acks() {
					out.AttachAck(a)
				}
			}
			if len(out.Acks()) != 1 {
				panic("AttachAck did not deduplicate: " + strconv.Itoa(len(out.Acks())))
			}
			b.Done()
			step(false)
			out.Done()
			step(true)
		}},
		{"attach again after other receipts were added", func(b *Batch, step func(bool)) {
			out := NewBatch(1)
			out.Attach(b)
			out.OnDone(func() {})
			out.Attach(b)
			if len(out.Acks()) != 2 {
				panic("AttachAck did not deduplicate a receipt that is not the last: " + strconv.Itoa(len(out.Acks())))
			}
			b.Done()
			step(false)
			out.Done()
			step(true)
		}},
		{"attach a batch to itself", func(b *Batch, step func(bool)) {
			b.Attach(b)
			b.Done()
			step(true)
		}},
		{"holder batch keeps receipts across batches", func(b *Batch, step func(bool)) {
			hold := NewBatch(0) // what a coalescer keeps while events are open
			hold.Attach(b)
			b.Done()
			step(false)
			out1, out2 := NewBatch(1), NewBatch(1)
			out1.Attach(hold)
			out2.Attach(hold)
			hold.Done()
			step(false)
			out1.Done()
			step(false)
			out2.Done()
			step(true)
		}},
		{"attach into a batch that carries other receipts", func(b *Batch, step func(bool)) {
			var other receipt
			out := NewBatch(1)
			out.OnDone(other.fn)
			out.Attach(b)
			b.Done()
			step(false)
			out.Done()
			step(true)
			if other.fired.Load() != 1 {
				panic("the emitted batch's own receipt did not fire once")
			}
		}},
		{"clone of a split with attachments", func(b *Batch, step func(bool)) {
			tail := b.Split(3)
			out := NewBatch(0)
			out.Attach(tail)
			c := out.Clone()
			tail.Done()
			b.Done()
			out.Done()
			step(false)
			c.Done()
			step(true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r receipt
			b := numbered(4)
			b.OnDone(r.fn)
			n := 0
			tt.run(b, func(fired bool) {
				n++
				want := int32(0)
				if fired {
					want = 1
				}
				r.check(t, "after step "+strconv.Itoa(n), want)
			})
			r.check(t, "at the end", 1)
		})
	}
}

func TestSplitAndClone(t *testing.T) {
	b := numbered(5)
	tail := b.Split(2)
	if b.Len() != 2 || tail.Len() != 3 || tail.Events[0].Fields.GetString("n") != "" {
		t.Fatalf("split sizes %d+%d", b.Len(), tail.Len())
	}
	if v, _ := tail.Events[0].Fields.Get("n"); v.Int() != 2 {
		t.Errorf("tail starts at event %d, want 2", v.Int())
	}
	// The tail must not share the head's backing array: appending to the
	// head must not overwrite the tail.
	b.Events = append(b.Events, Event{})
	if v, _ := tail.Events[0].Fields.Get("n"); v.Int() != 2 {
		t.Errorf("appending to the head changed the tail")
	}
	c := tail.Clone()
	c.Events[0].Fields.Set("n", Int(99))
	if v, _ := tail.Events[0].Fields.Get("n"); v.Int() != 2 {
		t.Errorf("changing a clone changed its source")
	}
	if edge := numbered(2).Split(2); edge.Len() != 0 {
		t.Errorf("split at the end gave %d events", edge.Len())
	}
}

func TestBatchWithManyReceipts(t *testing.T) {
	// A batch built from several input units completes each exactly once.
	var rs [3]receipt
	var parts []*Batch
	for i := range rs {
		p := numbered(1)
		p.OnDone(rs[i].fn)
		parts = append(parts, p)
	}
	merged := NewBatch(3)
	for _, p := range parts {
		merged.Events = append(merged.Events, p.Events...)
		merged.Attach(p)
		p.Done()
	}
	tail := merged.Split(1)
	merged.Done()
	for i := range rs {
		rs[i].check(t, "before the tail is done", 0)
	}
	tail.Done()
	for i := range rs {
		rs[i].check(t, "after everything is done", 1)
	}
}

// TestAckConcurrent spreads the carriers of many receipts over goroutines
// that split, clone, attach and finish them concurrently. Every receipt must
// fire exactly once, and only after every batch carrying it is done. Run
// with -race.
func TestAckConcurrent(t *testing.T) {
	const inputs = 2000
	const workers = 8
	var fired [inputs]atomic.Int32
	var live [inputs]atomic.Int64 // carriers not yet done, per receipt
	var early atomic.Int32
	var splits, clones, merges atomic.Int32

	// Each work item is a batch and the receipts it carries.
	type item struct {
		b    *Batch
		from []int
	}
	work := make(chan item, 1<<16)
	var pending sync.WaitGroup // items queued or being processed

	retain := func(from []int) {
		for _, i := range from {
			live[i].Add(1)
		}
	}
	done := func(it item) {
		for _, i := range it.from {
			live[i].Add(-1)
		}
		it.b.Done()
	}

	for i := range inputs {
		b := numbered(8)
		b.OnDone(func() {
			if live[i].Load() != 0 {
				early.Add(1)
			}
			fired[i].Add(1)
		})
		retain([]int{i})
		pending.Add(1)
		work <- item{b, []int{i}}
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var held *item // a batch this worker keeps, like a coalescer
			for it := range work {
				switch op := r.IntN(6); {
				case op == 0 && it.b.Len() > 1:
					splits.Add(1)
					retain(it.from)
					tail := it.b.Split(r.IntN(it.b.Len()-1) + 1)
					pending.Add(2)
					work <- item{tail, it.from}
					work <- it
				case op == 1 && len(work) < 2000:
					clones.Add(1)
					retain(it.from)
					c := it.b.Clone()
					pending.Add(2)
					work <- item{c, it.from}
					work <- it
				case op == 2:
					// Merge into a batch this worker holds, then finish the input.
					merges.Add(1)
					if held == nil {
						held = &item{b: NewBatch(0)}
					}
					newFrom := append([]int(nil), it.from...)
					retain(newFrom)
					held.b.Attach(it.b)
					held.from = append(held.from, newFrom...)
					done(it)
				default:
					done(it)
				}
				if held != nil && r.IntN(3) == 0 {
					pending.Add(1)
					work <- *held
					held = nil
				}
				pending.Done()
			}
			if held != nil {
				done(*held)
			}
		}()
	}
	pending.Wait()
	close(work)
	wg.Wait()

	for i := range inputs {
		if n := fired[i].Load(); n != 1 {
			t.Errorf("receipt %d fired %d times, want once", i, n)
		}
	}
	t.Logf("%d splits, %d clones, %d merges", splits.Load(), clones.Load(), merges.Load())
	if splits.Load() == 0 || clones.Load() == 0 || merges.Load() == 0 {
		t.Error("the random schedule did not exercise split, clone and merge")
	}
	if n := early.Load(); n != 0 {
		t.Errorf("%d receipts fired while a batch still carried them", n)
	}
}

// TestAckConcurrentRelease hammers one receipt from many goroutines at once:
// each takes a clone, re-attaches it to a batch of its own (a retain), and
// finishes both (two releases), all released together by a barrier.
func TestAckConcurrentRelease(t *testing.T) {
	const carriers = 64
	for round := range 200 {
		var r receipt
		b := numbered(1)
		b.OnDone(r.fn)
		clones := make([]*Batch, carriers)
		for i := range clones {
			clones[i] = b.Clone()
		}
		b.Done()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range clones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out := NewBatch(0)
				out.Attach(c)
				c.Done()
				out.Done()
			}()
		}
		close(start)
		wg.Wait()
		if n := r.fired.Load(); n != 1 {
			t.Fatalf("round %d: OnDone ran %d times, want once", round, n)
		}
	}
}
