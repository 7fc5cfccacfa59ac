package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/engine-audit/engine/internal/lossevent"
	"github.com/engine-audit/engine/sdk"
)

// On disk, a buffer is a directory of numbered segment files
// (00000000000000000001.seg, ...) holding records, and a small "ack" file
// holding the position up to which records were delivered. A record is a
// 12-byte header — payload length, event count and CRC-32C of the payload,
// little endian — and the payload: one batch in the sdk's binary encoding.
// The writer appends to the newest segment; the reader reads from the
// oldest; a segment is deleted once everything in it was delivered.
//
// Each record is written with one write(2), so a crash of engine (kill -9)
// never tears a record that was acknowledged; a torn record at the end of
// the newest segment (power loss, full disk) is cut off when the buffer is
// opened again. Segment and ack files are synced to disk every second and
// on close, so a power loss costs at most the last second.

const (
	recordHeader = 12
	segmentExt   = ".seg"
	ackFileName  = "ack"
	lockFileName = "lock"
	syncEvery    = time.Second
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id   uint64
	size int64 // bytes of valid records
}

type inflight struct {
	seg    uint64
	end    int64
	events int64
	done   bool
}

type disk struct {
	cfg    Config
	env    Env
	dir    string
	maxSeg int64

	lockFile *os.File
	ackFile  *os.File

	gate
	segs     []segment // oldest first; the last one is being written
	wf       *os.File
	total    int64 // bytes in segs not yet deleted
	events   int64 // events not yet delivered
	records  int64 // records not yet delivered
	rseg     uint64
	roff     int64
	rf       *os.File // open for rseg
	rfID     uint64
	pending  []*inflight
	ackSeg   uint64
	ackOff   int64
	dirty    bool // written or acked since the last sync
	corrupt  int64
	final    bool
	shut     bool
	ready    chan struct{}
	enc      []byte
	stopSync chan struct{}
	syncDone chan struct{}
}

func openDisk(cfg Config, env Env) (*disk, error) {
	if env.Dir == "" {
		return nil, errors.New("a disk buffer needs a directory")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultDiskMaxSize
	}
	d := &disk{cfg: cfg, env: env, dir: env.Dir, ready: make(chan struct{}),
		stopSync: make(chan struct{}), syncDone: make(chan struct{})}
	d.space = make(chan struct{})
	d.maxSeg = min(max(cfg.MaxSize/8, 1<<20), 64<<20)
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk buffer: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(d.dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("disk buffer: %w", err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		return nil, fmt.Errorf("disk buffer %s is in use by another engine process (%v): give each engine its own state_dir", d.dir, err)
	}
	d.lockFile = lf
	if err := d.recover(); err != nil {
		d.closeFiles()
		return nil, fmt.Errorf("disk buffer %s: %w", d.dir, err)
	}
	if d.corrupt > 0 {
		if err := d.reportDropsLocked(); err != nil {
			d.closeFiles()
			return nil, fmt.Errorf("disk buffer %s: %w", d.dir, err)
		}
	}
	go d.syncLoop()
	return d, nil
}

func segName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentExt) }

// recover reads what an earlier run left: the ack position and the
// segments, cutting off a torn record at the end of the newest one.
func (d *disk) recover() error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })

	d.ackFile, err = os.OpenFile(filepath.Join(d.dir, ackFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var buf [20]byte
	if n, _ := d.ackFile.ReadAt(buf[:], 0); n == len(buf) && crc32.Checksum(buf[:16], castagnoli) == binary.LittleEndian.Uint32(buf[16:]) {
		d.ackSeg = binary.LittleEndian.Uint64(buf[0:])
		d.ackOff = int64(binary.LittleEndian.Uint64(buf[8:]))
	}
	// Segments entirely before the ack position were delivered.
	for len(ids) > 0 && ids[0] < d.ackSeg {
		os.Remove(filepath.Join(d.dir, segName(ids[0])))
		ids = ids[1:]
	}
	if len(ids) == 0 || ids[0] != d.ackSeg {
		d.ackOff = 0 // the acked segment is gone: start at the oldest left
	}
	for i, id := range ids {
		start := int64(0)
		if id == d.ackSeg {
			start = d.ackOff
		}
		size, events, records, err := d.scan(id, start, i == len(ids)-1)
		if err != nil {
			return err
		}
		d.segs = append(d.segs, segment{id: id, size: size})
		d.total += size
		d.events += events
		d.records += records
	}
	if len(d.segs) == 0 {
		d.segs = append(d.segs, segment{id: d.ackSeg + 1})
		d.ackSeg, d.ackOff = d.ackSeg+1, 0
	} else if d.segs[0].id != d.ackSeg {
		d.ackSeg, d.ackOff = d.segs[0].id, 0
	}
	d.rseg, d.roff = d.ackSeg, d.ackOff
	last := d.segs[len(d.segs)-1]
	d.wf, err = os.OpenFile(filepath.Join(d.dir, segName(last.id)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := d.wf.Truncate(last.size); err != nil {
		return err
	}
	if _, err := d.wf.Seek(last.size, io.SeekStart); err != nil {
		return err
	}
	return nil
}

// scan walks a segment's records from start and returns the end of the last
// valid one. In the newest segment every payload is checked, so that a torn
// tail is found; older segments were complete when the next one began.
func (d *disk) scan(id uint64, start int64, newest bool) (size, events, records int64, err error) {
	f, err := os.Open(filepath.Join(d.dir, segName(id)))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	fileSize := st.Size()
	off := start
	var hdr [recordHeader]byte
	var payload []byte
	for off+recordHeader <= fileSize {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			break
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if n == 0 || off+recordHeader+n > fileSize {
			break
		}
		if newest {
			payload = grow(payload, int(n))
			if _, err := f.ReadAt(payload, off+recordHeader); err != nil {
				break
			}
			if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
				d.corrupt += countTail(f, off, fileSize)
				return off, events, records, nil
			}
		}
		events += int64(binary.LittleEndian.Uint32(hdr[4:]))
		records++
		off += recordHeader + n
	}
	if newest && off < fileSize {
		// A torn or damaged tail: its events were acknowledged to the
		// pipeline and are lost; report as many as the headers tell.
		d.corrupt += countTail(f, off, fileSize)
	}
	return off, events, records, nil
}

// countTail adds up the event counts of the record headers from off on, as
// far as they are plausible.
func countTail(f *os.File, off, fileSize int64) int64 {
	var hdr [recordHeader]byte
	var events int64
	for off+recordHeader <= fileSize {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			break
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if n == 0 {
			break
		}
		events += int64(binary.LittleEndian.Uint32(hdr[4:]))
		off += recordHeader + n
	}
	return events
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func (d *disk) wake(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

func (d *disk) Push(ctx context.Context, abort <-chan struct{}, b *sdk.Batch) error {
	n := len(b.Events)
	d.mu.Lock()
	d.enc = encodeRecord(d.enc[:0], b)
	size := int64(len(d.enc))
	ok, err := d.admit(ctx, abort, b, d.cfg.WhenFull == WhenFullDropNewest, d.env.OnDrop,
		func() bool { used := d.usedLocked(); return used == 0 || used+size <= d.cfg.MaxSize },
		func() {
			// Another Push may have used the encoding buffer meanwhile.
			d.enc = encodeRecord(d.enc[:0], b)
			size = int64(len(d.enc))
		})
	if !ok {
		return err
	}
	if err := d.reportDropsLocked(); err != nil {
		d.mu.Unlock()
		return err
	}
	if err := d.appendLocked(d.enc, int64(n)); err != nil {
		d.mu.Unlock()
		return err
	}
	d.mu.Unlock()
	b.Done() // durable now: the input's receipt completes
	return nil
}

func encodeRecord(dst []byte, b *sdk.Batch) []byte {
	dst = append(dst, make([]byte, recordHeader)...)
	dst = b.AppendBinary(dst)
	payload := dst[recordHeader:]
	binary.LittleEndian.PutUint32(dst[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[4:], uint32(len(b.Events)))
	binary.LittleEndian.PutUint32(dst[8:], crc32.Checksum(payload, castagnoli))
	return dst
}

// reportDropsLocked writes the loss event for what was dropped, if any.
func (d *disk) reportDropsLocked() error {
	if d.dropped == 0 && d.corrupt == 0 {
		return nil
	}
	lb := sdk.NewBatch(1)
	if d.dropped > 0 {
		lb.Events = append(lb.Events, lossEvent(d.env.Component, time.Now(), d.dropped))
	}
	if d.corrupt > 0 {
		ev := lossevent.Loss{Component: d.env.Component, Module: "engine", Cause: "buffer_corrupt", Unit: "events",
			Count: d.corrupt, Time: time.Now(),
			Message: fmt.Sprintf("%s skipped %d unreadable records of its disk buffer %s; the disk or the file system damaged them", d.env.Component, d.corrupt, d.dir)}.Event()
		lb.Events = append(lb.Events, ev)
	}
	rec := encodeRecord(nil, lb)
	if err := d.appendLocked(rec, int64(len(lb.Events))); err != nil {
		return err
	}
	d.dropped, d.corrupt = 0, 0
	return nil
}

// appendLocked writes one record to the newest segment, starting a new
// segment when this one is full.
func (d *disk) appendLocked(rec []byte, events int64) error {
	last := &d.segs[len(d.segs)-1]
	if last.size > 0 && last.size+int64(len(rec)) > d.maxSeg {
		if err := d.wf.Sync(); err != nil {
			return fmt.Errorf("disk buffer: sync %s: %w", d.wf.Name(), err)
		}
		nf, err := os.OpenFile(filepath.Join(d.dir, segName(last.id+1)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("disk buffer: %w", err)
		}
		d.wf.Close()
		d.wf = nf
		d.segs = append(d.segs, segment{id: last.id + 1})
		last = &d.segs[len(d.segs)-1]
		d.collectLocked()
	}
	if _, err := d.wf.Write(rec); err != nil {
		// Cut off whatever part was written, so the segment stays readable.
		d.wf.Truncate(last.size)
		d.wf.Seek(last.size, io.SeekStart)
		return fmt.Errorf("disk buffer: write %s: %w (is the disk full?)", d.wf.Name(), err)
	}
	last.size += int64(len(rec))
	d.total += int64(len(rec))
	d.events += events
	d.records++
	d.dirty = true
	d.wake(&d.ready)
	return nil
}

func (d *disk) segSize(id uint64) (int64, bool) {
	for _, s := range d.segs {
		if s.id == id {
			return s.size, true
		}
	}
	return 0, false
}

func (d *disk) Pop(ctx context.Context) (*sdk.Batch, bool) {
	return d.pop(ctx, true)
}

func (d *disk) TryPop() (*sdk.Batch, bool) {
	return d.pop(context.Background(), false)
}

func (d *disk) pop(ctx context.Context, wait bool) (*sdk.Batch, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.shut || (d.closed && !d.final) {
			return nil, false
		}
		newest := d.segs[len(d.segs)-1]
		if d.rseg == newest.id && d.roff >= newest.size {
			if d.closed || !wait {
				return nil, false
			}
			ready := d.ready
			d.mu.Unlock()
			select {
			case <-ready:
			case <-ctx.Done():
				d.mu.Lock()
				return nil, false
			}
			d.mu.Lock()
			continue
		}
		size, ok := d.segSize(d.rseg)
		if !ok || d.roff >= size {
			// Finished this segment (or it is gone): go to the next one.
			next := newest.id
			for _, s := range d.segs {
				if s.id > d.rseg {
					next = s.id
					break
				}
			}
			d.rseg, d.roff = next, 0
			continue
		}
		b, n, events, err := d.readLocked(d.rseg, d.roff, size)
		if err != nil {
			// Unreadable: skip the rest of the segment and say so.
			d.corrupt += max(events, 1)
			rec := &inflight{seg: d.rseg, end: size, events: 0}
			d.pending = append(d.pending, rec)
			d.roff = size
			d.ackLocked(rec)
			if err := d.reportDropsLocked(); err != nil {
				return nil, false
			}
			continue
		}
		rec := &inflight{seg: d.rseg, end: d.roff + n, events: events}
		d.pending = append(d.pending, rec)
		d.roff += n
		b.OnDone(func() {
			d.mu.Lock()
			if !d.shut {
				d.ackLocked(rec)
			}
			d.mu.Unlock()
		})
		return b, true
	}
}

// readLocked reads the record at off of segment id, which holds size valid
// bytes, and returns its batch, its length on disk and its event count.
func (d *disk) readLocked(id uint64, off, size int64) (*sdk.Batch, int64, int64, error) {
	if d.rf == nil || d.rfID != id {
		if d.rf != nil {
			d.rf.Close()
			d.rf = nil
		}
		f, err := os.Open(filepath.Join(d.dir, segName(id)))
		if err != nil {
			return nil, size - off, 0, err
		}
		d.rf, d.rfID = f, id
	}
	var hdr [recordHeader]byte
	if _, err := d.rf.ReadAt(hdr[:], off); err != nil {
		return nil, size - off, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:]))
	events := int64(binary.LittleEndian.Uint32(hdr[4:]))
	if n == 0 || off+recordHeader+n > size {
		return nil, size - off, events, fmt.Errorf("record at %d claims %d bytes", off, n)
	}
	payload := make([]byte, n)
	if _, err := d.rf.ReadAt(payload, off+recordHeader); err != nil {
		return nil, size - off, events, err
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, size - off, events, fmt.Errorf("record at %d fails its checksum", off)
	}
	b, err := sdk.DecodeBatch(payload)
	if err != nil {
		return nil, size - off, events, err
	}
	return b, recordHeader + n, events, nil
}

// ackLocked marks a record delivered and advances the ack position over
// every record delivered in order.
func (d *disk) ackLocked(rec *inflight) {
	rec.done = true
	moved := false
	for len(d.pending) > 0 && d.pending[0].done {
		r := d.pending[0]
		d.pending[0] = nil
		d.pending = d.pending[1:]
		d.ackSeg, d.ackOff = r.seg, r.end
		d.events -= r.events
		d.records--
		moved = true
	}
	if !moved {
		return
	}
	d.writeAckLocked()
	d.collectLocked()
}

func (d *disk) writeAckLocked() {
	var buf [20]byte
	binary.LittleEndian.PutUint64(buf[0:], d.ackSeg)
	binary.LittleEndian.PutUint64(buf[8:], uint64(d.ackOff))
	binary.LittleEndian.PutUint32(buf[16:], crc32.Checksum(buf[:16], castagnoli))
	if _, err := d.ackFile.WriteAt(buf[:], 0); err == nil {
		d.dirty = true
	}
}

// collectLocked deletes the segments whose records were all delivered.
func (d *disk) collectLocked() {
	freed := false
	for len(d.segs) > 1 {
		s := d.segs[0]
		if s.id > d.ackSeg || (s.id == d.ackSeg && d.ackOff < s.size) {
			break
		}
		if d.rf != nil && d.rfID == s.id {
			d.rf.Close()
			d.rf = nil
		}
		os.Remove(filepath.Join(d.dir, segName(s.id)))
		d.total -= s.size
		d.segs = d.segs[1:]
		freed = true
	}
	if freed {
		d.wake(&d.space)
	}
}

func (d *disk) CloseInput(final bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	// A failure here leaves the counts for the next run's first write.
	_ = d.reportDropsLocked()
	d.closed, d.final = true, final
	d.wake(&d.ready)
	d.wake(&d.space)
}

// usedLocked returns the bytes of records not yet delivered. Files hold a
// little more until their segment is entirely delivered: disk use exceeds
// max_size by at most one segment (an eighth of max_size, 64MiB at most).
func (d *disk) usedLocked() int64 {
	if d.segs[0].id == d.ackSeg {
		return d.total - d.ackOff
	}
	return d.total
}

func (d *disk) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Events: d.events, Bytes: d.usedLocked(), Batches: d.records}
}

func (d *disk) syncLoop() {
	defer close(d.syncDone)
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.mu.Lock()
			d.syncLocked()
			d.mu.Unlock()
		case <-d.stopSync:
			return
		}
	}
}

func (d *disk) syncLocked() {
	if !d.dirty {
		return
	}
	d.dirty = false
	if d.wf != nil {
		d.wf.Sync()
	}
	if d.ackFile != nil {
		d.ackFile.Sync()
	}
}

func (d *disk) Close() error {
	d.CloseInput(false)
	close(d.stopSync)
	<-d.syncDone
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shut = true
	d.syncLocked()
	d.wake(&d.ready)
	return d.closeFiles()
}

func (d *disk) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{d.wf, d.rf, d.ackFile, d.lockFile} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	d.wf, d.rf, d.ackFile, d.lockFile = nil, nil, nil, nil
	return errors.Join(errs...)
}
