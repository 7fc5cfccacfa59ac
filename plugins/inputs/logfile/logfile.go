// Package logfile is the "logfile" input: it tails log files matched by glob
// patterns and emits one event per line, with checkpoints that advance only
// when the pipeline acknowledges delivery.
package logfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// Formats of the `format` option.
const (
	formatLines = "lines"
	formatAudit = "audit"
	formatJSON  = "json"
)

// Values of the `start_at` option.
const (
	startBeginning = "beginning"
	startEnd       = "end"
)

var options = []sdk.Option{
	{Name: "paths", Type: sdk.TypeStringList, Required: true, Format: sdk.FormatGlob,
		Doc: "Glob patterns (filepath.Match syntax, no `**`) of the files to tail. They are expanded again every `scan_interval`, so files created later are picked up."},
	{Name: "exclude", Type: sdk.TypeStringList, Default: []string{}, Format: sdk.FormatGlob,
		Doc: "Glob patterns of files to leave alone, matched against the full path and against the base name (for example \"*.gz\")."},
	{Name: "format", Type: sdk.TypeString, Default: formatLines, Enum: []string{formatAudit, formatLines, formatJSON},
		Doc: "How lines are decoded: \"lines\" (text), \"audit\" (audit.log records; the time comes from the record header) or \"json\" (one object per line, flattened into fields)."},
	{Name: "start_at", Type: sdk.TypeString, Default: startBeginning, Enum: []string{startBeginning, startEnd},
		Doc: "Where to start reading a file that has no checkpoint and is present when the input starts. Files that appear later (after rotation, say) are always read from the beginning."},
	{Name: "scan_interval", Type: sdk.TypeDuration, Default: 10 * time.Second, Bound: sdk.Positive,
		Doc: "How often the glob patterns are expanded again to find new files. A rotation of a file already being read is noticed sooner, at the next poll."},
	{Name: "poll_interval", Type: sdk.TypeDuration, Default: 250 * time.Millisecond, Bound: sdk.Positive,
		Doc: "How often idle files are checked for appended data, truncation and rotation (one fstat and one stat per open idle file)."},
	{Name: "max_line_bytes", Type: sdk.TypeSize, Default: int64(1 << 20),
		Doc: "Longest line kept. A longer line is cut to this size and its event gets `log.flags = [\"truncated\"]`; the rest of the line is skipped."},
	{Name: "max_open_files", Type: sdk.TypeInt, Default: int64(1024), Bound: sdk.Positive,
		Doc: "Most files held open at once. Beyond it, files wait (oldest modification first) until others are closed by `close_inactive` or `rotate_wait`."},
	{Name: "close_inactive", Type: sdk.TypeDuration, Default: 5 * time.Minute, Bound: sdk.Positive,
		Doc: "Close a file that has had no new data for this long. It is reopened, at the same offset, by the next scan that finds it grown."},
	{Name: "rotate_wait", Type: sdk.TypeDuration, Default: 5 * time.Second, Bound: sdk.Positive,
		Doc: "After a file was renamed out of `paths` or removed, keep reading it through the open descriptor until it has had no new data for this long, then close it (its final unterminated line, if any, is emitted)."},
	{Name: "checkpoint_interval", Type: sdk.TypeDuration, Default: time.Second, Bound: sdk.Positive,
		Doc: "How often acknowledged offsets are written to the state store (each write is synced to disk). The final checkpoint is always written at shutdown."},
	{Name: "forget_after", Type: sdk.TypeDuration, Default: 72 * time.Hour, Bound: sdk.NonNegative,
		Doc: "Delete the checkpoint of a file that no scan has found for this long. \"0s\" keeps checkpoints forever."},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindInput,
		Type:    "logfile",
		Summary: "Tail log files (text, audit.log, NDJSON) with acknowledged checkpoints",
		Description: "Tails the files matched by glob patterns and emits one event per line. " +
			"Checkpoints advance only when the pipeline acknowledges delivery, so a restart " +
			"neither loses nor repeats lines. Follows rename and copytruncate rotation. " +
			"Under backpressure the input blocks (it can replay, so it never drops).",
		Options:   options,
		Platforms: []string{"linux"},
		Validate:  validate,
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return New(cfg, env)
		},
	})
}

// settings is the decoded configuration.
type settings struct {
	paths              []string
	exclude            []string
	format             string
	startAtEnd         bool
	scanInterval       time.Duration
	pollInterval       time.Duration
	maxLineBytes       int
	maxOpenFiles       int
	closeInactive      time.Duration
	rotateWait         time.Duration
	checkpointInterval time.Duration
	forgetAfter        time.Duration
}

func validate(cfg *sdk.Config) error {
	_, err := parseSettings(cfg)
	return err
}

func parseSettings(cfg *sdk.Config) (settings, error) {
	s := settings{
		paths:              cfg.Strings("paths"),
		exclude:            cfg.Strings("exclude"),
		format:             cfg.String("format"),
		scanInterval:       cfg.Duration("scan_interval"),
		pollInterval:       cfg.Duration("poll_interval"),
		closeInactive:      cfg.Duration("close_inactive"),
		rotateWait:         cfg.Duration("rotate_wait"),
		checkpointInterval: cfg.Duration("checkpoint_interval"),
		forgetAfter:        cfg.Duration("forget_after"),
	}
	if len(s.paths) == 0 {
		return s, sdk.OptionErrorf("paths", "at least one glob pattern is required")
	}
	for _, p := range s.paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return s, sdk.OptionErrorf("paths", "bad glob pattern %q: %v", p, err)
		}
	}
	for _, p := range s.exclude {
		if _, err := filepath.Match(p, ""); err != nil {
			return s, sdk.OptionErrorf("exclude", "bad glob pattern %q: %v", p, err)
		}
	}
	switch s.format {
	case formatLines, formatAudit, formatJSON:
	default:
		return s, sdk.OptionErrorf("format", "unknown format %q; use \"lines\", \"audit\" or \"json\"", s.format)
	}
	switch start := cfg.String("start_at"); start {
	case startBeginning:
	case startEnd:
		s.startAtEnd = true
	default:
		return s, sdk.OptionErrorf("start_at", "unknown value %q; use \"beginning\" or \"end\"", start)
	}
	maxLine := cfg.Size("max_line_bytes")
	if maxLine < 16 || maxLine > 1<<30 {
		return s, sdk.OptionErrorf("max_line_bytes", "must be between 16 bytes and 1GiB, got %d", maxLine)
	}
	s.maxLineBytes = int(maxLine)
	s.maxOpenFiles = int(cfg.Int("max_open_files"))
	return s, nil
}

// Input tails files. It implements sdk.Input and sdk.Closer.
type Input struct {
	cfg    settings
	log    *slog.Logger
	policy sdk.BatchPolicy
	track  *tracker

	// Everything below is owned by the Run goroutine.
	files     map[fileID]*harvester // every file known, open or not
	warned    map[string]bool       // paths whose open failure was logged as a warning
	open      []*harvester          // files with an open descriptor, in opening order
	lines     arena                 // line bytes: messages point into it
	small     arena                 // event IDs
	batch     *sdk.Batch
	batchAt   time.Time // when the batch got its first event
	touched   []*cursor // cursors that consumed bytes since the last emit
	lastBatch int       // events in the last batch emitted
	scanNow   bool      // a rotation was noticed: scan before the next poll
	started   bool
	once      bool // stop when every file has been read to its end

	openFiles atomic.Int32 // len(open), readable from other goroutines
	closeMu   sync.Mutex
	closed    bool
	runDone   chan struct{}
	decodeFn  func(h *harvester, line string, off int64, truncated bool, now time.Time) sdk.Event
}

// New builds the input from a decoded config.
func New(cfg *sdk.Config, env sdk.Env) (*Input, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	if env.State == nil {
		return nil, errors.New("logfile: the engine gave no state store; checkpoints cannot be kept")
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	policy := env.Batch
	if policy.MaxEvents <= 0 {
		policy.MaxEvents = sdk.DefaultBatchPolicy.MaxEvents
	}
	if policy.MaxAge <= 0 {
		policy.MaxAge = sdk.DefaultBatchPolicy.MaxAge
	}
	in := &Input{
		cfg:     s,
		log:     log,
		policy:  policy,
		track:   newTracker(env.State, log),
		files:   map[fileID]*harvester{},
		warned:  map[string]bool{},
		lines:   arena{chunk: lineChunk},
		small:   arena{chunk: smallChunk},
		runDone: make(chan struct{}),
		once:    env.Once,
	}
	switch s.format {
	case formatAudit:
		in.decodeFn = in.decodeAudit
	case formatJSON:
		in.decodeFn = in.decodeJSON
	default:
		in.decodeFn = in.decodeLines
	}
	return in, nil
}

// Run tails the files until ctx ends. Emit blocks under backpressure: the
// input stops reading until the pipeline takes the batch, and never drops.
func (in *Input) Run(ctx context.Context, out sdk.Emitter) error {
	if in.started {
		return errors.New("logfile: Run called twice")
	}
	in.started = true
	defer close(in.runDone)
	if err := in.track.load(); err != nil {
		return fmt.Errorf("logfile: read checkpoints: %w", err)
	}

	persistCtx, stopPersist := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.track.persistEvery(persistCtx, in.cfg.checkpointInterval)
	}()
	defer func() {
		stopPersist()
		wg.Wait()
		in.closeAll()
		if err := in.track.flush(context.Background()); err != nil {
			in.log.Warn("writing checkpoints failed; they will be written again at Close", "error", err)
		}
	}()

	now := time.Now()
	in.scan(now, true)
	nextScan := now.Add(in.cfg.scanInterval)
	timer := time.NewTimer(in.cfg.pollInterval)
	defer timer.Stop()
	for {
		busy, err := in.poll(ctx, out)
		if err != nil || ctx.Err() != nil {
			return stopErr(ctx, err)
		}
		if in.batch != nil && (!busy || time.Since(in.batchAt) >= in.policy.MaxAge) {
			if err := in.emit(ctx, out); err != nil {
				return stopErr(ctx, err)
			}
		}
		if !busy && len(in.touched) > 0 {
			in.settleTouched()
		}
		if !busy && in.once && in.batch == nil {
			// Nothing more will be read, so an unterminated last line
			// is as complete as it will get.
			for _, h := range in.open {
				if err := in.finish(ctx, out, h); err != nil {
					return stopErr(ctx, err)
				}
			}
			if err := in.emit(ctx, out); err != nil {
				return stopErr(ctx, err)
			}
			in.log.Info("read every file to its end; stopping (once)", "files", len(in.open))
			return nil
		}
		now = time.Now()
		if in.scanNow || !now.Before(nextScan) {
			in.scanNow = false
			in.scan(now, false)
			nextScan = now.Add(in.cfg.scanInterval)
		}
		if busy {
			continue
		}
		timer.Reset(in.cfg.pollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// stopErr turns the error that ended Run into its result: a stop because ctx
// ended is clean.
func stopErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close writes the final checkpoint. The core calls it after the pipeline has
// drained, so acknowledgements that arrived after Run returned are included.
func (in *Input) Close(ctx context.Context) error {
	in.closeMu.Lock()
	defer in.closeMu.Unlock()
	if in.closed {
		return nil
	}
	if in.started {
		select {
		case <-in.runDone:
		case <-ctx.Done():
			return fmt.Errorf("logfile: Run did not stop before Close's deadline: %w", ctx.Err())
		}
	}
	in.closed = true
	if err := in.track.flush(ctx); err != nil {
		return fmt.Errorf("logfile: write final checkpoints: %w", err)
	}
	return nil
}

// emit hands the current batch downstream. Each file that contributed to the
// batch gets one receipt; its checkpoint advances when the receipt and all
// earlier receipts of that file are done.
func (in *Input) emit(ctx context.Context, out sdk.Emitter) error {
	b := in.batch
	in.batch = nil
	if b == nil {
		return nil
	}
	in.lastBatch = b.Len()
	in.track.cut(b, in.touched)
	clear(in.touched)
	in.touched = in.touched[:0]
	return out.Emit(ctx, b)
}

// settleTouched records progress over bytes that produced no events (empty
// lines) when no batch is pending: it needs no acknowledgement of its own.
func (in *Input) settleTouched() {
	in.track.settle(in.touched)
	clear(in.touched)
	in.touched = in.touched[:0]
}

// poll gives every open file one turn. busy reports whether any file may
// have more data right away.
func (in *Input) poll(ctx context.Context, out sdk.Emitter) (busy bool, err error) {
	now := time.Now()
	closed := false
	for _, h := range in.open {
		more, err := in.harvest(ctx, out, h, now)
		if err != nil {
			return false, err
		}
		busy = busy || more
		if h.f == nil {
			closed = true
		}
	}
	if closed {
		kept := in.open[:0]
		for _, h := range in.open {
			if h.f != nil {
				kept = append(kept, h)
			}
		}
		clear(in.open[len(kept):])
		in.open = kept
		in.openFiles.Store(int32(len(in.open)))
	}
	return busy, nil
}

// closeAll closes every open descriptor; checkpoints stay.
func (in *Input) closeAll() {
	for _, h := range in.open {
		h.close()
	}
	clear(in.open)
	in.open = in.open[:0]
	in.openFiles.Store(0)
}

// excluded reports whether path matches an exclude pattern, by full path or
// by base name.
func (in *Input) excluded(path string) bool {
	base := filepath.Base(path)
	for _, p := range in.cfg.exclude {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
	}
	return false
}

// isNotExist reports whether err says a file is gone.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
