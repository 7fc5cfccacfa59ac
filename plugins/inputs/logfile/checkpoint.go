package logfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// keyPrefix starts the state-store key of every checkpoint ("file:DEV:INODE").
const keyPrefix = "file:"

// checkpoint is the stored form of a file's position: everything before
// Offset has been delivered.
type checkpoint struct {
	Path    string `json:"path"`               // for humans; the key is the identity
	Offset  int64  `json:"offset"`             // next byte to read
	HeadLen int    `json:"head_len,omitempty"` // bytes of the head fingerprint
	Head    string `json:"head,omitempty"`     // FNV-1a 64 of those bytes, hex
	Seen    int64  `json:"seen"`               // unix seconds when a scan last found the file

	head head
}

// cursor tracks one file's delivery progress. Its checkpoint advances over
// the contiguous prefix of acknowledged segments; acknowledgements may arrive
// in any order and on any goroutine.
type cursor struct {
	key string

	// Guarded by tracker.mu.
	path      string
	head      head
	acked     int64      // offset up to which everything is delivered
	pending   []*segment // emitted, in file order
	dirty     bool       // acked or metadata changed since the last write
	seen      time.Time
	savedSeen time.Time // Seen as last written

	// Owned by the Run goroutine.
	end     int64 // offset just past the last line handled
	touched bool  // end moved since the last emit
}

// segment is the part of one file carried by one batch: everything up to end.
type segment struct {
	t    *tracker
	c    *cursor
	end  int64
	done bool
}

func (s *segment) ack() {
	s.t.mu.Lock()
	s.done = true
	s.c.advance()
	s.t.mu.Unlock()
}

// advance moves acked over the done segments at the front. Call with the
// tracker's lock held.
func (c *cursor) advance() {
	i := 0
	for i < len(c.pending) && c.pending[i].done {
		c.acked = c.pending[i].end
		c.dirty = true
		i++
	}
	if i > 0 {
		clear(c.pending[:i])
		c.pending = c.pending[i:]
	}
}

// tracker owns the cursors and writes their checkpoints to the state store.
type tracker struct {
	state sdk.StateStore
	log   *slog.Logger

	writeMu sync.Mutex // serializes writes to the state store

	mu      sync.Mutex
	cursors map[string]*cursor    // the current cursor of each key
	saved   map[string]checkpoint // loaded at start, not yet claimed by a file
}

func newTracker(state sdk.StateStore, log *slog.Logger) *tracker {
	return &tracker{state: state, log: log, cursors: map[string]*cursor{}, saved: map[string]checkpoint{}}
}

// load reads the stored checkpoints.
func (t *tracker) load() error {
	keys, err := t.state.Keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, keyPrefix) {
			continue
		}
		v, err := t.state.Get(k)
		if err != nil {
			return err
		}
		cp, err := decodeCheckpoint(v)
		if err != nil {
			t.log.Warn("ignoring unreadable checkpoint", "key", k, "error", err)
			continue
		}
		t.mu.Lock()
		t.saved[k] = cp
		t.mu.Unlock()
	}
	return nil
}

func decodeCheckpoint(v []byte) (checkpoint, error) {
	var cp checkpoint
	if err := json.Unmarshal(v, &cp); err != nil {
		return cp, err
	}
	if cp.Offset < 0 || cp.HeadLen < 0 || cp.HeadLen > headMax {
		return cp, fmt.Errorf("offset %d or head length %d out of range", cp.Offset, cp.HeadLen)
	}
	if cp.HeadLen > 0 {
		sum, err := strconv.ParseUint(cp.Head, 16, 64)
		if err != nil {
			return cp, fmt.Errorf("head: %w", err)
		}
		cp.head = head{n: cp.HeadLen, sum: sum}
	}
	return cp, nil
}

// claim hands the stored checkpoint of key to a file that was just found.
func (t *tracker) claim(key string) (checkpoint, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cp, ok := t.saved[key]
	delete(t.saved, key)
	return cp, ok
}

// newCursor makes the cursor of key current, starting at offset start.
func (t *tracker) newCursor(key, path string, start int64, hd head, now time.Time) *cursor {
	c := &cursor{key: key, path: path, head: hd, acked: start, dirty: true, seen: now, end: start}
	t.mu.Lock()
	t.cursors[key] = c
	t.mu.Unlock()
	return c
}

func (t *tracker) setHead(c *cursor, hd head) {
	t.mu.Lock()
	c.head = hd
	c.dirty = true
	t.mu.Unlock()
}

// sawFile records that a scan found c's file at path. The stored Seen is
// refreshed now and then, so that a file that never changes is not forgotten.
func (t *tracker) sawFile(c *cursor, path string, now time.Time, forgetAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.seen = now
	if c.path != path {
		c.path = path
		c.dirty = true
	}
	if forgetAfter > 0 && now.Sub(c.savedSeen) > forgetAfter/4 {
		c.dirty = true
	}
}

// cut registers the receipts of a batch about to be emitted: one segment for
// each cursor that moved since the last batch.
func (t *tracker) cut(b *sdk.Batch, touched []*cursor) {
	segs := make([]segment, len(touched))
	t.mu.Lock()
	for i, c := range touched {
		segs[i] = segment{t: t, c: c, end: c.end}
		c.pending = append(c.pending, &segs[i])
		c.touched = false
	}
	t.mu.Unlock()
	for i := range segs {
		b.OnDone(segs[i].ack)
	}
}

// settle records progress that needs no acknowledgement (bytes that produced
// no event): it counts as delivered once everything before it is.
func (t *tracker) settle(touched []*cursor) {
	t.mu.Lock()
	for _, c := range touched {
		c.pending = append(c.pending, &segment{t: t, c: c, end: c.end, done: true})
		c.touched = false
		c.advance()
	}
	t.mu.Unlock()
}

// forget drops the checkpoint of a file gone for forget_after, unless
// deliveries are still pending. It reports whether it did.
func (t *tracker) forget(c *cursor) bool {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	if len(c.pending) > 0 {
		t.mu.Unlock()
		return false
	}
	if t.cursors[c.key] == c {
		delete(t.cursors, c.key)
	}
	t.mu.Unlock()
	if err := t.state.Delete(c.key); err != nil {
		t.log.Warn("cannot delete checkpoint", "key", c.key, "error", err)
	}
	t.log.Debug("forgot checkpoint of a file gone for long", "key", c.key, "path", c.path)
	return true
}

// forgetSaved deletes stored checkpoints that no file claimed and whose file
// no scan has found for forgetAfter.
func (t *tracker) forgetSaved(now time.Time, forgetAfter time.Duration, present map[string]bool) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	var drop []string
	t.mu.Lock()
	for k, cp := range t.saved {
		if now.Sub(time.Unix(cp.Seen, 0)) > forgetAfter && !present[k] {
			drop = append(drop, k)
			delete(t.saved, k)
		}
	}
	t.mu.Unlock()
	for _, k := range drop {
		if err := t.state.Delete(k); err != nil {
			t.log.Warn("cannot delete checkpoint", "key", k, "error", err)
		}
	}
}

// persistEvery writes changed checkpoints every interval until ctx ends.
func (t *tracker) persistEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.flush(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("writing checkpoints failed; retrying", "error", err)
			}
		}
	}
}

// flush writes every changed checkpoint.
func (t *tracker) flush(ctx context.Context) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	type put struct {
		c    *cursor
		val  []byte
		seen time.Time
	}
	var puts []put
	t.mu.Lock()
	for _, c := range t.cursors {
		if !c.dirty {
			continue
		}
		c.dirty = false
		cp := checkpoint{Path: c.path, Offset: c.acked, Seen: c.seen.Unix()}
		if c.head.n > 0 {
			cp.HeadLen, cp.Head = c.head.n, strconv.FormatUint(c.head.sum, 16)
		}
		val, _ := json.Marshal(cp)
		puts = append(puts, put{c: c, val: val, seen: c.seen})
	}
	t.mu.Unlock()
	var errs []error
	for i, p := range puts {
		err := ctx.Err()
		if err == nil {
			err = t.state.Put(p.c.key, p.val)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("checkpoint %s: %w", p.c.key, err))
			t.mu.Lock()
			for _, q := range puts[i:] {
				q.c.dirty = true
			}
			t.mu.Unlock()
			break
		}
		t.mu.Lock()
		p.c.savedSeen = p.seen
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}

// offsets returns the acknowledged offset of every current cursor, by key.
func (t *tracker) offsets() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.cursors))
	for k, c := range t.cursors {
		out[k] = c.acked
	}
	return out
}
