// Package file implements the "file" output: it appends events to a local
// file as NDJSON (one JSON document per line), rotates the file by size, and
// makes writes durable according to an fsync policy.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// The fsync policies.
const (
	fsyncBatch    = "batch"
	fsyncInterval = "interval"
	fsyncNever    = "never"
)

var options = []sdk.Option{
	{
		Name:     "path",
		Type:     sdk.TypeString,
		Required: true,
		Doc:      "File to append events to, one JSON document per line. Missing parent directories are created with mode 0700.",
	},
	{
		Name:    "max_size",
		Type:    sdk.TypeSize,
		Default: int64(100 << 20),
		Bound:   sdk.NonNegative,
		Doc:     "Rotate the file before a document would make it larger than this. 0 disables rotation (for example when logrotate manages the file).",
	},
	{
		Name:    "max_files",
		Type:    sdk.TypeInt,
		Default: int64(5),
		Doc:     "How many rotated files to keep (path.1 is the newest, path.N the oldest); older ones are removed. At least 1 when max_size is set.",
	},
	{
		Name:    "mode",
		Type:    sdk.TypeString,
		Default: "0600",
		Doc:     "Permissions, in octal, of files the output creates. An existing file keeps its mode; a warning is logged if it is broader than this.",
	},
	{
		Name:    "fsync",
		Type:    sdk.TypeString,
		Default: fsyncBatch,
		Enum:    []string{fsyncBatch, fsyncInterval, fsyncNever},
		Doc:     `When to fsync: "batch" before acknowledging each batch (durable), "interval" every fsync_interval (up to that much acknowledged data can be lost in a crash), "never" (left to the kernel).`,
	},
	{
		Name:    "fsync_interval",
		Type:    sdk.TypeDuration,
		Default: time.Second,
		Doc:     `How often to fsync with fsync = "interval".`,
	},
	{
		Name:    "reopen_check_interval",
		Type:    sdk.TypeDuration,
		Default: 2 * time.Second,
		Bound:   sdk.NonNegative,
		Doc:     "How often to check whether the file was moved, removed or truncated by another program (logrotate), and reopen it. 0 checks before every batch.",
	},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindOutput,
		Type:    "file",
		Summary: "Append events to a local file as NDJSON, with size rotation and an fsync policy",
		Description: "Writes each event as one JSON document per line. A batch is acknowledged only after " +
			"its bytes are written (and fsynced with the default policy); a failed write never leaves a " +
			"partial line behind. The file is rotated by size, and reopened when logrotate moves it.",
		Options:  options,
		Validate: func(cfg *sdk.Config) error { _, err := parseConfig(cfg); return err },
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			c, err := parseConfig(cfg)
			if err != nil {
				return nil, err
			}
			return open(c, env.Logger, openOSFile)
		},
	})
}

// config is the decoded and checked configuration.
type config struct {
	path        string
	maxSize     int64
	maxFiles    int
	mode        os.FileMode
	fsync       string
	fsyncEvery  time.Duration
	reopenCheck time.Duration
}

func parseConfig(cfg *sdk.Config) (config, error) {
	c := config{
		path:        cfg.String("path"),
		maxSize:     cfg.Size("max_size"),
		fsync:       cfg.String("fsync"),
		fsyncEvery:  cfg.Duration("fsync_interval"),
		reopenCheck: cfg.Duration("reopen_check_interval"),
	}
	if c.path == "" {
		return c, sdk.OptionErrorf("path", "must not be empty")
	}
	maxFiles := cfg.Int("max_files")
	if maxFiles < 0 || maxFiles > 10000 {
		return c, sdk.OptionErrorf("max_files", "must be between 1 and 10000, got %d", maxFiles)
	}
	if c.maxSize > 0 && maxFiles < 1 {
		return c, sdk.OptionErrorf("max_files", "must be at least 1 when max_size is set; set max_size = 0 to disable rotation")
	}
	c.maxFiles = int(maxFiles)
	mode, err := strconv.ParseUint(cfg.String("mode"), 8, 32)
	if err != nil || mode > 0o777 {
		return c, sdk.OptionErrorf("mode", "must be octal permissions such as \"0600\", got %q", cfg.String("mode"))
	}
	c.mode = os.FileMode(mode)
	if c.mode&0o600 != 0o600 {
		return c, sdk.OptionErrorf("mode", "must let the owner read and write the file (0600 at least), got %#o", mode)
	}
	switch c.fsync {
	case fsyncBatch, fsyncNever:
	case fsyncInterval:
		if c.fsyncEvery <= 0 {
			return c, sdk.OptionErrorf("fsync_interval", "must be positive with fsync = \"interval\"")
		}
	default:
		return c, sdk.OptionErrorf("fsync", "must be %q, %q or %q, got %q", fsyncBatch, fsyncInterval, fsyncNever, c.fsync)
	}
	return c, nil
}

// handle is the part of *os.File the output uses. It exists so that tests can
// inject write and sync failures; production code always uses *os.File.
type handle interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Chmod(mode os.FileMode) error
	Close() error
}

type openFunc func(name string, flag int, perm os.FileMode) (handle, error)

func openOSFile(name string, flag int, perm os.FileMode) (handle, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil handle
	}
	return f, nil
}

// maxTornTail bounds how far back from the end of an existing file the output
// looks for the last complete line when the file does not end with a newline.
const maxTornTail = 4 << 20

// Output is the file output. Write and Close may be called from different
// goroutines; a background goroutine fsyncs with the "interval" policy.
type Output struct {
	cfg  config
	log  *slog.Logger
	open openFunc

	mu        sync.Mutex
	f         handle      // nil until opened, and after a failed rotation
	ident     os.FileInfo // identity of f, compared with the path's
	size      int64       // bytes of complete, committed documents in f
	torn      bool        // f may hold bytes of a failed write past size
	unsynced  bool        // f has writes that were not fsynced
	syncErr   error       // last failed background fsync; the next Write retries it
	nextCheck time.Time   // next time to compare the path with f
	resume    resumePoint
	closed    bool

	buf  []byte // encoded batch, reused
	ends []int  // end offset of each document in buf, only kept when rotating

	stop chan struct{} // closes the interval syncer
	done chan struct{} // closed when the syncer returns
}

// resumePoint remembers how many documents of a batch reached a file that was
// rotated away before the batch failed, so that its retry does not write them
// twice. The first event's address tells a retried batch from a new one.
type resumePoint struct {
	batch   *sdk.Batch
	first   *sdk.Event
	events  int
	written int
}

func open(c config, log *slog.Logger, openFn openFunc) (*Output, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(c.path)
	if err != nil {
		return nil, &sdk.OptionError{Option: "path", Err: err}
	}
	c.path = abs
	o := &Output{cfg: c, log: log.With("path", abs), open: openFn}
	// Fail at startup, not at the first batch, when the file cannot be opened.
	if err := o.openFile(); err != nil {
		return nil, &sdk.OptionError{Option: "path", Err: err}
	}
	if c.fsync == fsyncInterval {
		o.stop, o.done = make(chan struct{}), make(chan struct{})
		go o.syncLoop(c.fsyncEvery)
	}
	return o, nil
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("file output: write after close")

// Write appends the batch, one document per line, and returns once the bytes
// are written and, with fsync = "batch", synced. On failure the file is left
// so that the retry of the same batch writes every document exactly once.
func (o *Output) Write(ctx context.Context, b *sdk.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return sdk.Permanent(errClosed)
	}
	skip := 0
	if r := o.resume; r.batch == b && r.events == len(b.Events) && (r.events == 0 || r.first == &b.Events[0]) {
		skip = r.written
	}
	o.resume = resumePoint{}
	if err := o.prepare(); err != nil {
		o.remember(b, skip)
		return err
	}

	rotating := o.cfg.maxSize > 0
	buf, ends := o.buf[:0], o.ends[:0]
	for i := skip; i < len(b.Events); i++ {
		buf = b.Events[i].AppendJSON(buf)
		buf = append(buf, '\n')
		if rotating {
			ends = append(ends, len(buf))
		}
	}
	o.buf, o.ends = buf, ends
	if len(buf) == 0 {
		return nil
	}
	if !rotating {
		if err := o.commit(buf); err != nil {
			o.remember(b, skip)
			return err
		}
		return nil
	}

	// Write runs of whole documents, rotating before a document that would
	// push the file past max_size. A file holds at least one document, so a
	// document larger than max_size gets a file of its own.
	start, doc := 0, 0
	for doc < len(ends) {
		if o.size > 0 && o.size+int64(ends[doc]-start) > o.cfg.maxSize {
			if err := o.rotate(); err != nil {
				o.remember(b, skip+doc)
				return err
			}
		}
		room := o.cfg.maxSize - o.size
		next := doc + 1 + sort.Search(len(ends)-doc-1, func(k int) bool { return int64(ends[doc+1+k]-start) > room })
		if err := o.commit(buf[start:ends[next-1]]); err != nil {
			o.remember(b, skip+doc)
			return err
		}
		start, doc = ends[next-1], next
	}
	return nil
}

func (o *Output) remember(b *sdk.Batch, written int) {
	o.resume = resumePoint{batch: b, events: len(b.Events), written: written}
	if len(b.Events) > 0 {
		o.resume.first = &b.Events[0]
	}
}

// prepare gets the file ready for the next write: open, free of a torn tail,
// synced after a failed background fsync, and still the file at path.
func (o *Output) prepare() error {
	if o.f == nil {
		if err := o.openFile(); err != nil {
			return err
		}
	}
	if o.torn {
		// O_APPEND: once truncated, the next write lands right after the
		// last complete document.
		if err := o.f.Truncate(o.size); err != nil {
			return o.fail("remove the partial line of a failed write from", err)
		}
		o.torn = false
	}
	if o.syncErr != nil {
		if err := o.sync(); err != nil {
			return o.fail("fsync (a background fsync failed earlier; data written since the last successful fsync may not be durable)", err)
		}
	}
	return o.checkMoved()
}

// commit writes p, a run of whole documents, with one write(2), and syncs it
// with the "batch" policy. On failure, the bytes past size are torn and are
// truncated before the next write.
func (o *Output) commit(p []byte) error {
	if _, err := o.f.Write(p); err != nil {
		o.torn = true
		return o.fail("write", err)
	}
	o.unsynced = true
	if o.cfg.fsync == fsyncBatch {
		if err := o.sync(); err != nil {
			// The bytes may never reach the disk: write them again.
			o.torn = true
			return o.fail("fsync", err)
		}
	}
	o.size += int64(len(p))
	return nil
}

func (o *Output) sync() error {
	if err := o.f.Sync(); err != nil {
		o.syncErr = err
		return err
	}
	o.unsynced = false
	o.syncErr = nil
	return nil
}

// openFile opens path for appending, creating it (and its directory) if
// needed, and removes a partial last line left by a crash.
func (o *Output) openFile() error {
	path := o.cfg.path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return o.fail("create the directory of", err)
	}
	f, err := o.open(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, o.cfg.mode)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = o.open(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return o.fail("open", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s); use the stdout output for a terminal or pipe", st.Mode().Type())
	}
	if err == nil && created {
		// The umask may have narrowed the mode; give the file the mode asked for.
		err = f.Chmod(o.cfg.mode)
		if err == nil && o.cfg.fsync != fsyncNever {
			err = syncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		f.Close()
		return o.fail("open", err)
	}
	if perm := st.Mode().Perm(); !created && perm&^o.cfg.mode != 0 {
		o.log.Warn("file output: existing file has broader permissions than the configured mode; leaving them unchanged",
			"mode", fmt.Sprintf("%#o", perm), "configured", fmt.Sprintf("%#o", o.cfg.mode))
	}
	size := st.Size()
	if size > 0 {
		keep, err := completeLength(path, size)
		if err != nil {
			f.Close()
			return o.fail("read the end of", err)
		}
		switch {
		case keep < size:
			if err := f.Truncate(keep); err != nil {
				f.Close()
				return o.fail("remove the partial last line of", err)
			}
			o.log.Warn("file output: removed a partial last line left by an interrupted write", "bytes", size-keep)
			size = keep
		case keep > size: // no newline near the end: end the fragment so ours start on a new line
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return o.fail("write", err)
			}
			o.log.Warn("file output: the file does not end with a newline; added one before appending")
			size++
		}
	}
	o.f, o.ident, o.size = f, st, size
	o.torn, o.unsynced = false, false
	o.nextCheck = time.Now().Add(o.cfg.reopenCheck)
	return nil
}

// completeLength returns the length of path up to and including its last
// newline. It returns size when the file ends with a newline, and size+1 when
// no newline is found within maxTornTail bytes of the end (the file is not
// one this output wrote, or its first write was cut short).
func completeLength(path string, size int64) (int64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var chunk [64 << 10]byte
	end := size
	for end > 0 && size-end < maxTornTail {
		n := min(int64(len(chunk)), end)
		p := chunk[:n]
		if _, err := r.ReadAt(p, end-n); err != nil {
			return 0, err
		}
		for i := len(p) - 1; i >= 0; i-- {
			if p[i] == '\n' {
				return end - n + int64(i) + 1, nil
			}
		}
		end -= n
	}
	return size + 1, nil
}

// checkMoved reopens path when another program moved, removed or replaced the
// file (logrotate's create mode), and notices when it truncated it in place
// (copytruncate). It looks at most once per reopen_check_interval.
func (o *Output) checkMoved() error {
	now := time.Now()
	if now.Before(o.nextCheck) {
		return nil
	}
	o.nextCheck = now.Add(o.cfg.reopenCheck)
	st, err := os.Stat(o.cfg.path)
	switch {
	case err == nil && os.SameFile(st, o.ident):
		if st.Size() < o.size {
			o.log.Info("file output: file was truncated by another program; appending at its new end", "size", st.Size())
			o.size = st.Size()
		}
		return nil
	case err == nil || errors.Is(err, fs.ErrNotExist):
		o.log.Info("file output: file was moved or removed by another program; reopening")
		if err := o.closeFile(); err != nil {
			return err
		}
		return o.openFile()
	default:
		// Keep writing to the open file; the next check tries again.
		o.log.Warn("file output: cannot check whether the file was moved", "error", err)
		return nil
	}
}

// closeFile syncs (whatever the policy: the file is finished, and readers of
// a rotated file expect it whole) and closes the current file.
func (o *Output) closeFile() error {
	if o.unsynced || o.syncErr != nil {
		if err := o.sync(); err != nil {
			return o.fail("fsync", err)
		}
	}
	err := o.f.Close()
	o.f, o.ident = nil, nil
	if err != nil {
		return o.fail("close", err)
	}
	return nil
}

// rotate renames path to path.1 (shifting path.1 to path.2 and so on,
// removing what falls beyond max_files) and starts a new file.
func (o *Output) rotate() error {
	if err := o.closeFile(); err != nil {
		return err
	}
	path, n := o.cfg.path, o.cfg.maxFiles
	name := func(i int) string { return path + "." + strconv.Itoa(i) }
	last := 0 // path.1 .. path.last exist
	for {
		if _, err := os.Lstat(name(last + 1)); err != nil {
			break
		}
		last++
	}
	for i := last; i >= n; i-- {
		if err := os.Remove(name(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return o.fail("remove old rotated file "+name(i)+" next to", err)
		}
	}
	for i := min(last, n-1); i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil {
			return o.fail("rotate "+name(i)+" next to", err)
		}
	}
	if err := os.Rename(path, name(1)); err != nil {
		return o.fail("rotate", err)
	}
	o.log.Debug("file output: rotated", "to", name(1))
	return o.openFile()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncLoop fsyncs every interval while there are unsynced writes.
func (o *Output) syncLoop(every time.Duration) {
	defer close(o.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		o.mu.Lock()
		if o.f != nil && o.unsynced {
			if err := o.sync(); err != nil {
				o.log.Error("file output: background fsync failed; the next write retries it", "error", err)
			}
		}
		o.mu.Unlock()
	}
}

// Close syncs and closes the file. It removes the partial line of a failed
// write first. Calling it again does nothing.
func (o *Output) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	if o.stop != nil {
		close(o.stop)
		<-o.done
	}

	done := make(chan error, 1)
	go func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.f == nil {
			done <- nil
			return
		}
		if o.torn {
			if err := o.f.Truncate(o.size); err != nil {
				o.f.Close()
				o.f = nil
				done <- o.fail("remove the partial line of a failed write from", err)
				return
			}
			o.torn = false
		}
		done <- o.closeFile() // syncs what is not synced yet, whatever the policy
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("file output: closing %s: %w (fsync still running)", o.cfg.path, ctx.Err())
	}
}

// fail wraps a filesystem error for the core. None of them depends on the
// batch's content, so all are retryable: the core backs off, and the
// pipeline holds the events, until the operator fixes the cause.
func (o *Output) fail(op string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		hint = "; free disk space, or lower max_size or max_files"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint = "; check the permissions of the file and its directory"
	case errors.Is(err, syscall.EROFS):
		hint = "; the filesystem is read-only"
	case errors.Is(err, syscall.EIO):
		hint = "; the disk reported an I/O error, check the kernel log"
	}
	return sdk.Retryable(fmt.Errorf("file output: %s %s: %w%s", op, o.cfg.path, err, hint))
}

var (
	_ sdk.Output = (*Output)(nil)
	_ sdk.Closer = (*Output)(nil)
)
