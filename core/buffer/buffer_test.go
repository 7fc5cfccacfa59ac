package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// batch returns a batch of n events numbered from first, and a counter of
// how many times its receipt completed.
func batch(first, n int) (*sdk.Batch, *atomic.Int32) {
	b := sdk.NewBatch(n)
	for i := 0; i < n; i++ {
		ev := sdk.Event{Time: time.Unix(1700000000, 0), ID: fmt.Sprintf("ev-%d", first+i)}
		ev.Fields.Set("message", sdk.String(strings.Repeat("x", 100)))
		ev.Fields.Set("seq", sdk.Int(int64(first+i)))
		b.Events = append(b.Events, ev)
	}
	var done atomic.Int32
	b.OnDone(func() { done.Add(1) })
	return b, &done
}

func ids(b *sdk.Batch) []string {
	var out []string
	for _, e := range b.Events {
		out = append(out, e.ID)
	}
	return out
}

func pop(t *testing.T, q Queue) *sdk.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, ok := q.Pop(ctx)
	if !ok {
		t.Fatal("Pop returned nothing")
	}
	return b
}

func push(t *testing.T, q Queue, b *sdk.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Push(ctx, nil, b); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryPassesBatchesThroughInOrder(t *testing.T) {
	q, _ := Open(Config{MaxBatches: 3}, Env{Component: "output.x.y"})
	b1, d1 := batch(0, 2)
	b2, _ := batch(2, 2)
	push(t, q, b1)
	push(t, q, b2)
	if s := q.Stats(); s.Events != 4 || s.Batches != 2 {
		t.Fatalf("stats = %+v", s)
	}
	got := pop(t, q)
	if got != b1 {
		t.Fatal("memory buffer must hand over the pipeline's own batch")
	}
	if d1.Load() != 0 {
		t.Fatal("receipt completed before delivery")
	}
	got.Done()
	if d1.Load() != 1 {
		t.Fatal("receipt did not complete on delivery")
	}
	pop(t, q).Done()
	q.CloseInput(false)
	if _, ok := q.Pop(context.Background()); ok {
		t.Fatal("Pop after close and empty returned a batch")
	}
	if err := q.Push(context.Background(), nil, b1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after close = %v", err)
	}
}

func TestMemoryBlocksWhenFull(t *testing.T) {
	q, _ := Open(Config{MaxBatches: 1}, Env{})
	b1, _ := batch(0, 1)
	push(t, q, b1)
	b2, _ := batch(1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, nil, b2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push into a full buffer = %v, want it to block until the deadline", err)
	}
	abort := make(chan struct{})
	close(abort)
	if err := q.Push(context.Background(), abort, b2); err == nil {
		t.Fatal("Push ignored abort")
	}
	done := make(chan error)
	go func() { done <- q.Push(context.Background(), nil, b2) }()
	pop(t, q).Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ids(pop(t, q)); got[0] != "ev-1" {
		t.Fatalf("got %v", got)
	}
}

func TestMemoryMaxSize(t *testing.T) {
	one, _ := batch(0, 10)
	size := estimate(one)
	q, _ := Open(Config{MaxBatches: 100, MaxSize: size + size/2}, Env{})
	push(t, q, one)
	b2, _ := batch(10, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, nil, b2); err == nil {
		t.Fatal("Push past max_size did not block")
	}
	// A batch larger than max_size still goes through when the buffer is empty.
	pop(t, q).Done()
	big, _ := batch(0, 100)
	push(t, q, big)
}

func TestDropNewestReportsLoss(t *testing.T) {
	for _, typ := range []string{TypeMemory, TypeDisk} {
		t.Run(typ, func(t *testing.T) {
			var dropped atomic.Int64
			one, _ := batch(0, 5)
			cfg := Config{Type: typ, MaxBatches: 1, WhenFull: WhenFullDropNewest, MaxSize: int64(len(encodeRecord(nil, one))) + 10}
			q, err := Open(cfg, Env{Component: "output.es.main", Dir: t.TempDir(), OnDrop: func(n int) { dropped.Add(int64(n)) }})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			b1, _ := batch(0, 5)
			push(t, q, b1)
			b2, d2 := batch(5, 5)
			push(t, q, b2) // dropped
			b3, d3 := batch(10, 3)
			push(t, q, b3) // dropped
			if d2.Load() != 1 || d3.Load() != 1 {
				t.Fatal("dropped batches must be marked done (deliberately dropped)")
			}
			if dropped.Load() != 8 {
				t.Fatalf("OnDrop counted %d, want 8", dropped.Load())
			}
			pop(t, q).Done()
			b4, _ := batch(13, 1)
			push(t, q, b4) // room again: the loss event goes first
			loss := pop(t, q)
			ev := loss.Events[0]
			if ev.Fields.GetString("event.action") != "events_lost" || ev.Fields.GetString("engine.loss.cause") != "buffer_full" {
				t.Fatalf("first batch after drops is not a loss event: %v", ev.Fields.All())
			}
			if v, _ := ev.Fields.Get("engine.loss.count"); v.Int() != 8 {
				t.Fatalf("loss count = %d, want 8", v.Int())
			}
			if ev.Fields.GetString("engine.component.id") != "output.es.main" {
				t.Fatal("loss event does not name the component")
			}
			loss.Done()
			if got := ids(pop(t, q)); got[0] != "ev-13" {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func openDiskT(t *testing.T, dir string, maxSize int64) Queue {
	t.Helper()
	q, err := Open(Config{Type: TypeDisk, MaxSize: maxSize, WhenFull: WhenFullBlock}, Env{Component: "output.es.main", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestDiskAcksInputOnWriteAndRedeliversAfterRestart(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	var dones []*atomic.Int32
	for i := 0; i < 5; i++ {
		b, d := batch(i*10, 10)
		push(t, q, b)
		dones = append(dones, d)
	}
	for i, d := range dones {
		if d.Load() != 1 {
			t.Fatalf("batch %d: the input's receipt must complete once the batch is on disk", i)
		}
	}
	// Deliver two, take a third without delivering it, then "crash":
	// close without acknowledging.
	b := pop(t, q)
	if b.Events[0].ID != "ev-0" || b.Events[0].Fields.GetString("message") == "" {
		t.Fatalf("read back %v", b.Events[0])
	}
	b.Done()
	pop(t, q).Done()
	pop(t, q) // in flight when the process dies
	if s := q.Stats(); s.Events != 30 {
		t.Fatalf("undelivered events = %d, want 30", s.Events)
	}
	q.Close()

	q = openDiskT(t, dir, 1<<20)
	defer q.Close()
	if s := q.Stats(); s.Events != 30 || s.Batches != 3 {
		t.Fatalf("after restart: %+v, want 30 events in 3 batches", s)
	}
	for _, want := range []string{"ev-20", "ev-30", "ev-40"} {
		b := pop(t, q)
		if b.Events[0].ID != want {
			t.Fatalf("got %s, want %s", b.Events[0].ID, want)
		}
		b.Done()
	}
	if s := q.Stats(); s.Events != 0 {
		t.Fatalf("after delivering everything: %+v", s)
	}
}

func TestDiskOutOfOrderAcks(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	for i := 0; i < 3; i++ {
		b, _ := batch(i, 1)
		push(t, q, b)
	}
	b0, b1, b2 := pop(t, q), pop(t, q), pop(t, q)
	b2.Done()
	b1.Done() // b0 not delivered: nothing may be skipped on restart
	q.Close()
	q = openDiskT(t, dir, 1<<20)
	defer q.Close()
	_ = b0
	if got := pop(t, q).Events[0].ID; got != "ev-0" {
		t.Fatalf("restart resumed at %s, want ev-0", got)
	}
}

func TestDiskCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	for i := 0; i < 2; i++ {
		b, _ := batch(i*10, 10)
		push(t, q, b)
	}
	q.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	// A torn last record: half of a record appended.
	rec := encodeRecord(nil, func() *sdk.Batch { b, _ := batch(99, 10); return b }())
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write(rec[:len(rec)/2])
	f.Close()

	q = openDiskT(t, dir, 1<<20)
	defer q.Close()
	if s := q.Stats(); s.Events != 21 {
		t.Fatalf("after a torn write: %+v, want the 20 complete events and a loss event", s)
	}
	b, _ := batch(20, 1)
	push(t, q, b) // appends after the cut
	var got []string
	for i := 0; i < 4; i++ {
		b := pop(t, q)
		ev := b.Events[0]
		if ev.Fields.GetString("event.action") == "events_lost" {
			v, _ := ev.Fields.Get("engine.loss.count")
			got = append(got, fmt.Sprintf("lost-%d", v.Int()))
		} else {
			got = append(got, ev.ID)
		}
		b.Done()
	}
	if strings.Join(got, ",") != "ev-0,ev-10,lost-10,ev-20" {
		t.Fatalf("got %v", got)
	}
}

func TestDiskSegmentsAreDeletedWhenDelivered(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 8<<20) // 1 MiB segments
	for i := 0; i < 120; i++ {
		b, _ := batch(i*100, 100) // ~13 KiB per record
		push(t, q, b)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if len(segs) < 2 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	before := q.Stats().Bytes
	for i := 0; i < 120; i++ {
		pop(t, q).Done()
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if len(after) != 1 {
		t.Fatalf("delivered segments not deleted: %v", after)
	}
	if s := q.Stats(); s.Events != 0 || s.Bytes >= before {
		t.Fatalf("stats after delivery: %+v (before %d bytes)", s, before)
	}
	q.Close()
	q = openDiskT(t, dir, 8<<20)
	defer q.Close()
	if s := q.Stats(); s.Events != 0 {
		t.Fatalf("after restart: %+v, want nothing left", s)
	}
}

func TestDiskBlocksWhenFullUntilDelivery(t *testing.T) {
	dir := t.TempDir()
	one, _ := batch(0, 100)
	recSize := int64(len(encodeRecord(nil, one)))
	// 1 MiB segments and room for 1.5 segments' worth of records.
	q := openDiskT(t, dir, (1<<20)+(1<<19))
	defer q.Close()
	pushed := 0
	for {
		b, _ := batch(pushed*100, 100)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		err := q.Push(ctx, nil, b)
		cancel()
		if err != nil {
			break
		}
		pushed++
		if pushed > 1000 {
			t.Fatal("disk buffer never filled")
		}
	}
	if got := q.Stats().Bytes; got+recSize <= (1<<20)+(1<<19) {
		t.Fatalf("refused a push with room left: %d bytes held", got)
	}
	// Delivering the first segment frees room.
	done := make(chan error)
	go func() { b, _ := batch(999999, 100); done <- q.Push(context.Background(), nil, b) }()
	for i := 0; i < pushed; i++ {
		pop(t, q).Done()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked Push did not resume after delivery freed room")
	}
}

func TestDiskCloseInputKeepsTheRestUnlessFinal(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	for i := 0; i < 3; i++ {
		b, _ := batch(i, 1)
		push(t, q, b)
	}
	q.CloseInput(false)
	if _, ok := q.Pop(context.Background()); ok {
		t.Fatal("a stopping disk buffer handed out more batches; they should wait for the next run")
	}
	q.Close()
	q = openDiskT(t, dir, 1<<20)
	defer q.Close()
	q.CloseInput(true)
	n := 0
	for {
		b, ok := q.Pop(context.Background())
		if !ok {
			break
		}
		b.Done()
		n++
	}
	if n != 3 {
		t.Fatalf("a final close gave %d batches, want 3", n)
	}
}

func TestDiskSkipsCorruptRecordAndReportsIt(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	b0, _ := batch(0, 4)
	push(t, q, b0)
	b1, _ := batch(4, 4)
	push(t, q, b1)
	q.Close()
	// Flip a byte in the first record's payload: it and everything after
	// it in the newest segment are cut off, and reported.
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	data, _ := os.ReadFile(segs[0])
	data[recordHeader+20] ^= 0xff
	os.WriteFile(segs[0], data, 0o600)
	q = openDiskT(t, dir, 1<<20)
	defer q.Close()
	b := pop(t, q)
	ev := b.Events[0]
	if ev.Fields.GetString("engine.loss.cause") != "buffer_corrupt" {
		t.Fatalf("first batch after damage: %v", ev.Fields.All())
	}
	if v, _ := ev.Fields.Get("engine.loss.count"); v.Int() != 8 {
		t.Fatalf("loss count = %d, want 8", v.Int())
	}
	b.Done()
}

func TestDiskIsLockedToOneProcess(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	defer q.Close()
	_, err := Open(Config{Type: TypeDisk}, Env{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open = %v, want an in-use error", err)
	}
}

func TestDiskAckAfterCloseIsHarmless(t *testing.T) {
	dir := t.TempDir()
	q := openDiskT(t, dir, 1<<20)
	b, _ := batch(0, 1)
	push(t, q, b)
	got := pop(t, q)
	q.Close()
	got.Done() // the output finished after the buffer was closed
}

func TestTryPopNeverWaits(t *testing.T) {
	for _, typ := range []string{TypeMemory, TypeDisk} {
		t.Run(typ, func(t *testing.T) {
			q, err := Open(Config{Type: typ, MaxBatches: 4}, Env{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if _, ok := q.TryPop(); ok {
				t.Fatal("TryPop on an empty buffer returned a batch")
			}
			b, _ := batch(7, 2)
			push(t, q, b)
			got, ok := q.TryPop()
			if !ok || got.Events[0].ID != "ev-7" {
				t.Fatalf("TryPop = %v, %v", got, ok)
			}
			got.Done()
			if _, ok := q.TryPop(); ok {
				t.Fatal("TryPop returned a batch twice")
			}
		})
	}
}

// FuzzDiskRecover opens a disk buffer whose segment and ack files hold
// arbitrary bytes: it must neither panic nor hang, and must hand out only
// batches that decode, then accept new ones.
func FuzzDiskRecover(f *testing.F) {
	good, _ := batch(0, 3)
	rec := encodeRecord(nil, good)
	f.Add(rec, []byte{})
	f.Add(append(append([]byte{}, rec...), rec[:len(rec)/2]...), []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 20))
	f.Fuzz(func(t *testing.T, seg, ack []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o600)
		if len(ack) > 0 {
			os.WriteFile(filepath.Join(dir, ackFileName), ack, 0o600)
		}
		q, err := Open(Config{Type: TypeDisk, MaxSize: 1 << 20}, Env{Dir: dir})
		if err != nil {
			return
		}
		defer q.Close()
		for i := 0; i < 100; i++ {
			b, ok := q.TryPop()
			if !ok {
				break
			}
			b.Done()
		}
		nb, _ := batch(100, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := q.Push(ctx, nil, nb); err != nil {
			t.Fatalf("Push after recovery: %v", err)
		}
	})
}
