package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/engine-audit/engine/sdk"
)

const (
	lineChunk  = 512 << 10 // arena chunk that file data is read into
	smallChunk = 32 << 10  // arena chunk for event IDs
	minRead    = 64 << 10  // never read into less free space than this
	turnBytes  = 4 << 20   // most bytes read from one file before the next file's turn
	headMax    = 1024      // the head fingerprint covers the first line, at most this many bytes
	tailSearch = 64 << 10  // start_at=end looks this far back for the last newline
)

// arena hands out append-only byte space. Strings point into it, so bytes
// once committed are never written again; a full chunk is replaced by a new
// one and freed by the garbage collector when no string refers to it.
type arena struct {
	buf   []byte
	chunk int
}

// free returns the uncommitted space, at least n bytes, starting at len(a.buf).
func (a *arena) free(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		size := a.chunk
		if n > size {
			size = 2 * n
		}
		a.buf = make([]byte, 0, size)
	}
	return a.buf[len(a.buf):cap(a.buf)]
}

// commitString commits b, which must have been appended to a.free(...)[:0]
// within its capacity, and returns it as a string.
func (a *arena) commitString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	a.buf = a.buf[:len(a.buf)+len(b)]
	return unsafe.String(&b[0], len(b))
}

// fileID is a file's identity: device and inode.
type fileID struct{ dev, ino uint64 }

// key is the state-store key of the file's checkpoint.
func (id fileID) key() string {
	return "file:" + strconv.FormatUint(id.dev, 10) + ":" + strconv.FormatUint(id.ino, 10)
}

// head fingerprints the start of a file: a hash of its first line, or of its
// first headMax bytes if the first line is longer. It tells a file from
// another that reuses its inode, and it is stable from the moment the first
// line is complete, which is before any event is read from the file.
type head struct {
	n   int // bytes covered; 0 means unknown
	sum uint64
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// readHead reads the head of f. complete is false while the file holds
// neither a complete first line nor headMax bytes; the head then covers
// what there is.
func readHead(f *os.File) (hd head, complete bool) {
	buf := make([]byte, headMax)
	n, _ := f.ReadAt(buf, 0)
	data := buf[:n]
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return head{n: i + 1, sum: hashBytes(data[:i+1])}, true
	}
	return head{n: n, sum: hashBytes(data)}, n == headMax
}

// headMatches reports whether f starts with the bytes hd was taken from.
func headMatches(f *os.File, hd head) bool {
	if hd.n <= 0 || hd.n > headMax {
		return false
	}
	buf := make([]byte, hd.n)
	n, _ := f.ReadAt(buf, 0)
	return n == hd.n && hashBytes(buf) == hd.sum
}

// idPrefix derives the per-file part of event IDs from identity and head, so
// that a reused inode yields different IDs.
func idPrefix(id fileID, hd head) string {
	var b [24]byte
	for i := range 8 {
		b[i] = byte(id.dev >> (8 * i))
		b[8+i] = byte(id.ino >> (8 * i))
		b[16+i] = byte(hd.sum >> (8 * i))
	}
	return fmt.Sprintf("%016x", hashBytes(b[:]))
}

// harvester is one file the input knows, open or not.
type harvester struct {
	id   fileID
	path string
	f    *os.File
	cur  *cursor

	readOff  int64  // offset of the next byte read
	consumed int64  // offset just past the last complete line
	carry    []byte // the pending partial line (consumed..readOff), at most max_line_bytes
	skipping bool   // the pending line is longer than max_line_bytes: drop bytes until its newline
	prefix   string // event ID prefix; "" until the head is known

	atEOF      bool
	lastData   time.Time // last read that returned data (or the open)
	seen       time.Time // last scan that found the file
	goneSince  time.Time // when a scan first missed the file while it was open
	closedSize int64     // size when the descriptor was closed
}

func (h *harvester) close() {
	if h.f == nil {
		return
	}
	h.f.Close()
	h.f = nil
	h.closedSize = h.readOff
	h.readOff = h.consumed
	h.carry = h.carry[:0]
	h.skipping = false
	h.atEOF = false
}

// found is a file a scan matched.
type found struct {
	path string
	fi   os.FileInfo
	id   fileID
}

// scan expands the glob patterns, opens new files, reopens known files that
// grew, notices files that are gone and forgets old checkpoints.
func (in *Input) scan(now time.Time, initial bool) {
	present := map[fileID]found{}
	for _, pat := range in.cfg.paths {
		matches, err := filepath.Glob(pat)
		if err != nil {
			continue // validated at startup
		}
		for _, p := range matches {
			if in.excluded(p) {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id, ok := identity(fi)
			if !ok {
				continue
			}
			if _, dup := present[id]; !dup {
				present[id] = found{path: p, fi: fi, id: id}
			}
		}
	}

	for id, h := range in.files {
		if _, ok := present[id]; ok {
			continue
		}
		if h.f != nil {
			if h.goneSince.IsZero() {
				h.goneSince = now
				in.log.Debug("file renamed or removed; reading it to its end", "path", h.path)
			}
			continue
		}
		if in.cfg.forgetAfter > 0 && now.Sub(h.seen) > in.cfg.forgetAfter && in.track.forget(h.cur) {
			delete(in.files, id)
		}
	}
	if in.cfg.forgetAfter > 0 {
		keys := make(map[string]bool, len(present))
		for id := range present {
			keys[id.key()] = true
		}
		in.track.forgetSaved(now, in.cfg.forgetAfter, keys)
	}

	var candidates []found
	for id, fd := range present {
		h := in.files[id]
		if h == nil {
			candidates = append(candidates, fd)
			continue
		}
		h.seen = now
		h.goneSince = time.Time{}
		if h.path != fd.path {
			h.path = fd.path
		}
		in.track.sawFile(h.cur, h.path, now, in.cfg.forgetAfter)
		if h.f != nil {
			if h.prefix != "" && !headMatches(h.f, h.cur.head) {
				in.restart(h, now, "the start of the file changed")
			}
			continue
		}
		if fd.fi.Size() != h.closedSize {
			candidates = append(candidates, fd)
		}
	}
	slices.SortFunc(candidates, func(a, b found) int {
		if c := a.fi.ModTime().Compare(b.fi.ModTime()); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	for _, fd := range candidates {
		if len(in.open) >= in.cfg.maxOpenFiles {
			in.log.Debug("max_open_files reached; files wait for a free slot", "waiting", len(candidates))
			break
		}
		in.openFile(fd, now, initial)
	}
}

// openFile opens a file a scan found: a known file at the offset it was
// closed at, a file with a matching checkpoint at the checkpoint, any other
// file at its start (or, during the first scan with start_at = "end", after
// its last complete line).
func (in *Input) openFile(fd found, now time.Time, initial bool) {
	f, err := os.Open(fd.path)
	if err != nil {
		if !isNotExist(err) {
			level := slog.LevelDebug
			if !in.warned[fd.path] {
				in.warned[fd.path] = true
				level = slog.LevelWarn
			}
			in.log.Log(context.Background(), level, "cannot open file; retrying at every scan", "path", fd.path, "error", err)
		}
		return
	}
	delete(in.warned, fd.path)
	fi, err := f.Stat()
	var id fileID
	ok := err == nil
	if ok {
		id, ok = identity(fi)
	}
	if !ok {
		f.Close()
		return
	}
	h := in.files[id]
	if h != nil && h.f != nil {
		f.Close() // replaced between stat and open by a file already open
		return
	}
	if h != nil {
		h.f, h.path, h.lastData, h.atEOF = f, fd.path, now, false
		h.seen, h.goneSince = now, time.Time{}
		if fi.Size() < h.consumed || (h.prefix != "" && !headMatches(f, h.cur.head)) {
			in.restart(h, now, "truncated or replaced while closed")
		} else if _, err := f.Seek(h.consumed, io.SeekStart); err != nil {
			in.log.Warn("cannot seek file; retrying at the next scan", "path", fd.path, "error", err)
			h.close()
			return
		}
		h.readOff = h.consumed
		in.open = append(in.open, h)
		in.openFiles.Store(int32(len(in.open)))
		return
	}

	key := id.key()
	start, resumed := int64(0), false
	var hd head
	if cp, ok := in.track.claim(key); ok {
		switch {
		case cp.Offset == 0:
			resumed = true
		case cp.Offset <= fi.Size() && headMatches(f, cp.head):
			start, hd, resumed = cp.Offset, cp.head, true
		default:
			in.log.Info("checkpoint does not match the file (inode reused or file rewritten); reading it as a new file",
				"path", fd.path, "checkpoint_path", cp.Path, "checkpoint_offset", cp.Offset)
		}
	}
	if !resumed && initial && in.cfg.startAtEnd {
		start = lastLineEnd(f, fi.Size())
		if start > 0 {
			hd, _ = readHead(f)
		}
	}
	if start > 0 {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			in.log.Warn("cannot seek file; retrying at the next scan", "path", fd.path, "error", err)
			f.Close()
			return
		}
	}
	h = &harvester{id: id, path: fd.path, f: f, readOff: start, consumed: start, lastData: now, seen: now}
	h.cur = in.track.newCursor(key, fd.path, start, hd, now)
	if hd.n > 0 {
		h.prefix = idPrefix(id, hd)
	}
	in.files[id] = h
	in.open = append(in.open, h)
	in.openFiles.Store(int32(len(in.open)))
	in.log.Debug("reading file", "path", fd.path, "offset", start, "resumed", resumed)
}

// lastLineEnd returns the offset just past the last newline of a file of the
// given size, looking back at most tailSearch bytes; size if there is none
// that close to the end (the file does not end in a short line), 0 if the
// file has no newline at all.
func lastLineEnd(f *os.File, size int64) int64 {
	from := max(size-tailSearch, 0)
	buf := make([]byte, size-from)
	n, _ := f.ReadAt(buf, from)
	if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
		return from + int64(i) + 1
	}
	if from == 0 {
		return 0
	}
	return size
}

// restart reads a file again from its start after it was truncated
// (copytruncate) or rewritten. Acknowledgements of what was read before go to
// the old cursor, which is no longer saved.
func (in *Input) restart(h *harvester, now time.Time, reason string) {
	in.log.Info("file truncated; reading it again from the start", "path", h.path, "reason", reason, "previous_offset", h.readOff)
	h.cur = in.track.newCursor(h.cur.key, h.path, 0, head{}, now)
	h.readOff, h.consumed, h.prefix = 0, 0, ""
	h.carry, h.skipping = h.carry[:0], false
	if h.f != nil {
		if _, err := h.f.Seek(0, io.SeekStart); err != nil {
			h.close()
		}
	}
}

// harvest gives h one turn: read what is there (up to turnBytes), or check an
// idle file for truncation, rotation and inactivity. more reports whether h
// may have more data right away.
func (in *Input) harvest(ctx context.Context, out sdk.Emitter, h *harvester, now time.Time) (more bool, err error) {
	if h.atEOF {
		fi, err := h.f.Stat()
		if err != nil {
			in.log.Warn("cannot stat open file; closing it", "path", h.path, "error", err)
			h.close()
			return false, nil
		}
		switch size := fi.Size(); {
		case size < h.readOff:
			in.restart(h, now, "size dropped below the read offset")
		case size == h.readOff:
			return false, in.idle(ctx, out, h, now)
		}
		h.atEOF = false
	}
	var got int
	for got < turnBytes {
		n, rerr, err := in.readOnce(ctx, out, h)
		if err != nil {
			return false, err
		}
		got += n
		if in.batch != nil && time.Since(in.batchAt) >= in.policy.MaxAge {
			if err := in.emit(ctx, out); err != nil {
				return false, err
			}
		}
		if n == 0 || errors.Is(rerr, io.EOF) {
			h.atEOF = true
			return false, nil
		}
		if rerr != nil {
			in.log.Warn("read failed; closing the file until the next scan", "path", h.path, "error", rerr)
			h.close()
			return false, nil
		}
	}
	return true, nil
}

// idle handles a file with no new data: close it when it is gone and quiet
// for rotate_wait or inactive for close_inactive, and otherwise check whether
// its path now names another file (rotation), which calls for a scan.
func (in *Input) idle(ctx context.Context, out sdk.Emitter, h *harvester, now time.Time) error {
	if !h.goneSince.IsZero() {
		if now.Sub(h.lastData) >= in.cfg.rotateWait && now.Sub(h.goneSince) >= in.cfg.rotateWait {
			err := in.finish(ctx, out, h)
			in.log.Debug("closing rotated file", "path", h.path, "offset", h.readOff)
			h.close()
			return err
		}
		return nil
	}
	if now.Sub(h.lastData) >= in.cfg.closeInactive {
		in.log.Debug("closing inactive file", "path", h.path, "offset", h.readOff)
		h.close()
		return nil
	}
	fi, err := os.Stat(h.path)
	if err != nil {
		in.scanNow = true
		return nil
	}
	if id, ok := identity(fi); !ok || id != h.id {
		in.scanNow = true
	}
	return nil
}

// finish emits the unterminated last line of a file that was rotated away:
// no newline will come for it.
func (in *Input) finish(ctx context.Context, out sdk.Emitter, h *harvester) error {
	if len(h.carry) == 0 {
		return nil
	}
	msg := string(h.carry)
	lineOff, truncated := h.consumed, h.skipping
	h.carry, h.skipping = h.carry[:0], false
	if h.prefix == "" {
		in.ensureHead(h)
	}
	in.consume(h, h.readOff)
	if len(msg) > 0 && msg[len(msg)-1] == '\r' && !truncated {
		msg = msg[:len(msg)-1]
	}
	if msg == "" {
		return nil
	}
	return in.add(ctx, out, h, msg, lineOff, truncated, time.Now())
}

// readOnce reads once from h into the line arena and hands each complete line
// on. Lines are used where they were read; only a partial line at the end of
// the read is copied aside (into h.carry) for the next read.
func (in *Input) readOnce(ctx context.Context, out sdk.Emitter, h *harvester) (n int, readErr, emitErr error) {
	carried := 0
	if !h.skipping {
		carried = len(h.carry)
	}
	buf := in.lines.free(carried + minRead)
	base := len(in.lines.buf)
	copy(buf, h.carry[:carried])
	n, readErr = h.f.Read(buf[carried:])
	if n <= 0 {
		return 0, readErr, nil
	}
	now := time.Now()
	h.lastData = now
	readAt := h.readOff
	h.readOff += int64(n)
	data := buf[:carried+n]
	pos, off := 0, h.consumed // off is the file offset of data[pos]
	if h.skipping {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return n, readErr, nil // still inside an over-long line
		}
		msg, lineOff := string(h.carry), h.consumed
		pos, off = i+1, readAt+int64(i)+1
		h.carry, h.skipping = h.carry[:0], false
		if h.prefix == "" {
			in.ensureHead(h)
		}
		in.consume(h, off)
		if err := in.add(ctx, out, h, msg, lineOff, true, now); err != nil {
			return n, nil, err
		}
	}
	maxLine := in.cfg.maxLineBytes
	for {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			break
		}
		line := data[pos : pos+i]
		lineOff := off
		pos += i + 1
		off += int64(i) + 1
		if h.prefix == "" {
			in.ensureHead(h)
		}
		in.consume(h, off)
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		if len(line) == 0 {
			continue
		}
		truncated := len(line) > maxLine
		if truncated {
			line = line[:maxLine]
		}
		if err := in.add(ctx, out, h, unsafe.String(&line[0], len(line)), lineOff, truncated, now); err != nil {
			return n, nil, err
		}
	}
	in.lines.buf = in.lines.buf[:base+pos]
	rest := data[pos:]
	if len(rest) > maxLine {
		h.carry, h.skipping = append(h.carry[:0], rest[:maxLine]...), true
	} else {
		h.carry = append(h.carry[:0], rest...)
	}
	return n, readErr, nil
}

// ensureHead fingerprints h's first line, which is complete by now (or, for
// the unterminated last line of a rotated file, final).
func (in *Input) ensureHead(h *harvester) {
	hd, _ := readHead(h.f)
	h.prefix = idPrefix(h.id, hd)
	in.track.setHead(h.cur, hd)
}

// consume records that h's bytes up to next are handled.
func (in *Input) consume(h *harvester, next int64) {
	h.consumed = next
	c := h.cur
	c.end = next
	if !c.touched {
		c.touched = true
		in.touched = append(in.touched, c)
	}
}

// add appends one line's event to the current batch and emits the batch once
// it is full.
func (in *Input) add(ctx context.Context, out sdk.Emitter, h *harvester, msg string, off int64, truncated bool, now time.Time) error {
	if in.batch == nil {
		in.batch = sdk.NewBatch(in.batchCap())
		in.batchAt = now
	}
	in.batch.Events = append(in.batch.Events, in.decodeFn(h, msg, off, truncated, now))
	if len(in.batch.Events) >= in.policy.MaxEvents {
		return in.emit(ctx, out)
	}
	return nil
}

// batchCap sizes a new batch from the last one, so that a trickle of lines
// does not allocate room for MaxEvents each time.
func (in *Input) batchCap() int {
	return min(max(2*in.lastBatch, 64), in.policy.MaxEvents)
}

// eventID returns the event ID of the line at off: the file's prefix and the
// offset, written into the small arena.
func (in *Input) eventID(h *harvester, off int64) string {
	b := in.small.free(len(h.prefix) + 21)[:0]
	b = append(b, h.prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, off, 10)
	return in.small.commitString(b)
}
