// Package fim is the "fim" input: file integrity monitoring. It watches
// directories and files with fsnotify, hashes what changes, compares it with
// a persistent baseline and emits one event per change, including the
// changes made while engine was not running.
package fim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/engine-audit/engine/internal/filehash"
	"github.com/engine-audit/engine/sdk"
)

// Actions of event.action.
const (
	actCreated     = "created"
	actUpdated     = "updated"
	actDeleted     = "deleted"
	actMoved       = "moved"
	actAttributes  = "attributes_modified"
	actInitialScan = "initial_scan"
)

// moveWindow is how long a renamed path waits for the Create of its new
// name (same device and inode) before it is reported deleted.
const moveWindow = 500 * time.Millisecond

// settleDelay gathers the notifications of one path (create, then writes)
// into one look at the file.
const settleDelay = 50 * time.Millisecond

var options = []sdk.Option{
	{Name: "paths", Type: sdk.TypeStringList, Required: true,
		Doc: "Directories and files to monitor."},
	{Name: "recursive", Type: sdk.TypeBool, Default: false,
		Doc: "Monitor subdirectories too. New subdirectories are watched as they appear, and files created in them before the watch was added are found by scanning them."},
	{Name: "include_files", Type: sdk.TypeStringList, Default: []string{}, Format: sdk.FormatRegex,
		Doc: "If set, only files (not directories) whose full path matches one of these regular expressions are reported."},
	{Name: "exclude_files", Type: sdk.TypeStringList, Default: []string{}, Format: sdk.FormatRegex,
		Doc: "Paths matching one of these regular expressions (against the full path) are ignored; an excluded directory is not descended into."},
	{Name: "follow_symlinks", Type: sdk.TypeBool, Default: false,
		Doc: "Report and hash what symbolic links point to, and descend into linked directories. When false, a link is reported as a symlink with its target in file.target_path."},
	{Name: "max_file_size", Type: sdk.TypeSize, Default: int64(100 << 20), Bound: sdk.NonNegative,
		Doc: "Files larger than this are reported without hashes; the event says why in file.hash_skipped_reason."},
	{Name: "scan_at_start", Type: sdk.TypeBool, Default: true,
		Doc: "Walk the monitored paths at start and report what changed since the baseline was last written (created, updated, attributes_modified, deleted). On the very first run every file is reported with action initial_scan."},
	{Name: "scan_emit_unchanged", Type: sdk.TypeBool, Default: false,
		Doc: "Also report files the start-up scan found unchanged, with action initial_scan."},
	{Name: "scan_rate_per_sec", Type: sdk.TypeSize, Default: int64(50 << 20), Bound: sdk.NonNegative,
		Doc: "Bytes per second the start-up scan may hash; 0 means unlimited. Changes seen while running are not throttled."},
	{Name: "hash_types", Type: sdk.TypeStringList, Default: []string{"sha256"}, Enum: filehash.Types,
		Doc: "Hashes computed for each file, reported as file.hash.<type>."},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindInput,
		Type:    "fim",
		Summary: "File integrity monitoring: report created, changed, moved and deleted files with hashes",
		Description: "Watches directories and files (inotify on Linux, FSEvents/kqueue on macOS, " +
			"ReadDirectoryChangesW on Windows) and emits one event per change with the file's " +
			"metadata and hashes. A persistent baseline in the state directory lets it report " +
			"what changed while engine was not running; the baseline advances only once events " +
			"are delivered.",
		Options:  options,
		Validate: validate,
		New:      func(cfg *sdk.Config, env sdk.Env) (any, error) { return New(cfg, env) },
	})
}

func validate(cfg *sdk.Config) error {
	if len(cfg.Strings("paths")) == 0 {
		return sdk.OptionErrorf("paths", "at least one path is needed")
	}
	if len(cfg.Strings("hash_types")) == 0 {
		return sdk.OptionErrorf("hash_types", "at least one hash type is needed")
	}
	if err := filehash.Check(cfg.Strings("hash_types")); err != nil {
		return &sdk.OptionError{Option: "hash_types", Err: err}
	}
	return nil
}

// watcher is the part of fsnotify the input uses; tests inject failures.
type watcher interface {
	Add(path string) error
	Remove(path string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

type fsWatcher struct{ *fsnotify.Watcher }

func (w fsWatcher) Events() <-chan fsnotify.Event { return w.Watcher.Events }
func (w fsWatcher) Errors() <-chan error          { return w.Watcher.Errors }

func newFSWatcher() (watcher, error) {
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, err
	}
	return fsWatcher{w}, nil
}

// Input is the fim input.
type Input struct {
	env        sdk.Env
	paths      []string
	recursive  bool
	include    []*regexp.Regexp
	exclude    []*regexp.Regexp
	follow     bool
	maxSize    int64
	scanAtStrt bool
	emitSame   bool
	rate       int64
	hashTypes  []string
	newWatcher func() (watcher, error)

	hasher    *filehash.Hasher
	hashers   []*filehash.Hasher // for the parallel scan
	base      *baseline
	w         watcher
	known     map[string]*entry
	seq       uint64
	limited   bool // the watch limit event was emitted
	unwatched int  // directories that could not be watched
	// fileOnly lists, for a directory watched only because files in it are
	// named in paths, those files.
	fileOnly map[string]map[string]bool
	batch    *sdk.Batch
	ups      []update
	first    time.Time
	pending  sync.WaitGroup // batches emitted and not yet acknowledged
	users    idCache
	groups   idCache
}

// New builds the input from its config.
func New(cfg *sdk.Config, env sdk.Env) (*Input, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	in := &Input{
		env: env, recursive: cfg.Bool("recursive"), follow: cfg.Bool("follow_symlinks"),
		maxSize: cfg.Size("max_file_size"), scanAtStrt: cfg.Bool("scan_at_start"),
		emitSame: cfg.Bool("scan_emit_unchanged"), rate: cfg.Size("scan_rate_per_sec"),
		hashTypes: cfg.Strings("hash_types"), newWatcher: newFSWatcher,
		users:  idCache{lookup: func(id string) (string, error) { u, err := user.LookupId(id); return nameOf(u, err) }},
		groups: idCache{lookup: func(id string) (string, error) { g, err := user.LookupGroupId(id); return groupName(g, err) }},
	}
	for _, p := range cfg.Strings("paths") {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, sdk.OptionErrorf("paths", "%s: %v", p, err)
		}
		in.paths = append(in.paths, filepath.Clean(abs))
	}
	for _, opt := range []string{"include_files", "exclude_files"} {
		for _, s := range cfg.Strings(opt) {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, sdk.OptionErrorf(opt, "%q: %v", s, err)
			}
			if opt == "include_files" {
				in.include = append(in.include, re)
			} else {
				in.exclude = append(in.exclude, re)
			}
		}
	}
	h, err := filehash.New(in.hashTypes)
	if err != nil {
		return nil, &sdk.OptionError{Option: "hash_types", Err: err}
	}
	in.hasher = h
	if env.DataDir == "" {
		return nil, errors.New("fim needs a data directory for its baseline")
	}
	if env.Batch.MaxEvents <= 0 {
		in.env.Batch = sdk.DefaultBatchPolicy
	}
	return in, nil
}

func nameOf(u *user.User, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

func groupName(g *user.Group, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

// idCache remembers user and group names by id.
type idCache struct {
	mu     sync.Mutex
	m      map[uint32]string
	lookup func(string) (string, error)
}

func (c *idCache) name(id uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.m[id]; ok {
		return n
	}
	if c.m == nil {
		c.m = map[uint32]string{}
	}
	n, _ := c.lookup(strconv.FormatUint(uint64(id), 10))
	c.m[id] = n
	return n
}

// sysInfo is what the platform's stat adds to os.FileInfo.
type sysInfo struct {
	inode, device uint64
	uid, gid      uint32
	ctime         time.Time
}

// Run implements sdk.Input.
func (in *Input) Run(ctx context.Context, out sdk.Emitter) error {
	base, err := openBaseline(in.env.DataDir)
	if err != nil {
		return fmt.Errorf("fim: opening the baseline: %w", err)
	}
	in.base = base
	go base.writer(in.env.Logger, &in.pending)
	if in.known, err = base.load(); err != nil {
		return fmt.Errorf("fim: reading the baseline: %w", err)
	}
	for _, e := range in.known {
		in.seq = max(in.seq, e.Seq)
	}
	firstRun := !base.scanned()
	w, err := in.newWatcher()
	if err != nil {
		if errors.Is(err, syscall.EMFILE) {
			// inotify_init fails this way at max_user_instances.
			in.watchFailed(ctx, out, in.paths[0], err)
			in.flush(ctx, out)
		}
		return fmt.Errorf("fim: %w", err)
	}
	in.w = w
	defer w.Close()

	// Watch first, then scan, so that nothing changed during the scan is missed.
	seen := map[string]bool{}
	for _, root := range in.paths {
		in.walk(ctx, out, root, seen, in.scanAtStrt, firstRun, true)
	}
	if in.scanAtStrt {
		for _, p := range sortedKeys(in.known) {
			if !seen[p] {
				in.report(ctx, out, p, nil, fsnotify.Remove)
			}
		}
		in.ups = append(in.ups, update{}) // mark the scan done once delivered
	}
	if err := in.flush(ctx, out); err != nil {
		return nil
	}

	dirty := map[string]fsnotify.Op{}
	var order []string
	type pendingMove struct {
		path     string
		e        *entry
		deadline time.Time
	}
	var moves []pendingMove
	tick := time.NewTicker(settleDelay)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// What is not emitted yet is not in the baseline either: it is
			// reported again at the next start.
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return nil
			}
			p := filepath.Clean(ev.Name)
			if in.excluded(p) {
				continue
			}
			if only, ok := in.fileOnly[filepath.Dir(p)]; ok && !only[p] {
				continue
			}
			if ev.Has(fsnotify.Create) && in.recursive {
				// Watch a new directory at once; its content is scanned when
				// the path settles.
				if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
					in.addWatch(ctx, out, p)
				}
			}
			if _, ok := dirty[p]; !ok {
				order = append(order, p)
			}
			dirty[p] |= ev.Op
		case err, ok := <-w.Errors():
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				in.env.Logger.Warn("fim: notifications were lost; rescanning", "error", err)
				seen := map[string]bool{}
				for _, root := range in.paths {
					in.walk(ctx, out, root, seen, true, false, false)
				}
				for _, p := range sortedKeys(in.known) {
					if !seen[p] {
						in.report(ctx, out, p, nil, fsnotify.Remove)
					}
				}
				continue
			}
			in.env.Logger.Error("fim: watcher error", "error", err)
		case now := <-tick.C:
			for _, p := range order {
				op := dirty[p]
				e := in.stat(ctx, p, false)
				if e == nil && op.Has(fsnotify.Rename) && in.known[p] != nil {
					moves = append(moves, pendingMove{path: p, e: in.known[p], deadline: now.Add(moveWindow)})
					continue
				}
				if e != nil && in.known[p] == nil {
					if i := slices.IndexFunc(moves, func(m pendingMove) bool {
						return m.e.Inode != 0 && m.e.Inode == e.Inode && m.e.Device == e.Device
					}); i >= 0 {
						in.move(ctx, out, moves[i].path, p, e)
						moves = slices.Delete(moves, i, i+1)
						continue
					}
				}
				in.report(ctx, out, p, e, op)
				if e != nil && e.Type == "dir" && in.recursive && op.Has(fsnotify.Create) {
					in.walk(ctx, out, p, map[string]bool{}, true, false, false)
				}
			}
			clear(dirty)
			order = order[:0]
			for len(moves) > 0 && now.After(moves[0].deadline) {
				in.report(ctx, out, moves[0].path, nil, fsnotify.Remove)
				moves = moves[1:]
			}
			if in.batch != nil && (in.batch.Len() >= in.env.Batch.MaxEvents || now.Sub(in.first) >= in.env.Batch.MaxAge) {
				if err := in.flush(ctx, out); err != nil {
					return nil
				}
			}
		}
	}
}

func sortedKeys(m map[string]*entry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (in *Input) excluded(p string) bool {
	for _, re := range in.exclude {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

func (in *Input) included(p string, e *entry) bool {
	if len(in.include) == 0 {
		return true
	}
	if e != nil && e.Type == "dir" {
		return false
	}
	for _, re := range in.include {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// watchFileRoot watches the directory of a file named in paths (editors
// replace files by renaming, which a watch on the file itself would lose);
// events for its other entries are ignored unless a directory root covers
// them.
func (in *Input) watchFileRoot(ctx context.Context, out sdk.Emitter, p string) {
	dir := filepath.Dir(p)
	for _, r := range in.paths {
		if r == dir || in.recursive && strings.HasPrefix(dir, r+string(filepath.Separator)) {
			if fi, err := os.Stat(r); err == nil && fi.IsDir() {
				return
			}
		}
	}
	if in.fileOnly == nil {
		in.fileOnly = map[string]map[string]bool{}
	}
	if in.fileOnly[dir] == nil {
		in.fileOnly[dir] = map[string]bool{}
		in.addWatch(ctx, out, dir)
	}
	in.fileOnly[dir][p] = true
}

// addWatch watches a directory; when the system's watch limit is reached it
// says so loudly, once, in the log and as an event.
func (in *Input) addWatch(ctx context.Context, out sdk.Emitter, dir string) {
	if err := in.w.Add(dir); err != nil {
		in.watchFailed(ctx, out, dir, err)
	}
}

// watchFailed reports a directory that cannot be watched.
func (in *Input) watchFailed(ctx context.Context, out sdk.Emitter, dir string, err error) {
	limit := ""
	switch {
	case errors.Is(err, syscall.ENOSPC):
		limit = "fs.inotify.max_user_watches"
	case errors.Is(err, syscall.EMFILE):
		limit = "fs.inotify.max_user_instances"
	}
	if limit == "" {
		in.env.Logger.Warn("fim: cannot watch directory", "path", dir, "error", err)
		return
	}
	cur := inotifyLimit(strings.TrimPrefix(limit, "fs.inotify."))
	suggest := "a larger value"
	if n, err := strconv.Atoi(cur); err == nil {
		suggest = strconv.Itoa(n * 2)
	}
	msg := fmt.Sprintf("fim: cannot watch %s: the inotify limit %s (currently %s) is reached, so changes under it are NOT monitored; raise it with `sysctl %s=%s` (and in /etc/sysctl.d/ to keep it)",
		dir, limit, cur, limit, suggest)
	in.unwatched++
	switch {
	case in.unwatched <= 10:
		in.env.Logger.Error(msg, "error", err)
	case in.unwatched%1000 == 0:
		in.env.Logger.Error(fmt.Sprintf("fim: %d directories are not watched: the inotify limit %s is reached", in.unwatched, limit))
	}
	if in.limited {
		return
	}
	in.limited = true
	ev := sdk.Event{Time: time.Now()}
	f := &ev.Fields
	f.Set("engine.component.id", sdk.String(in.env.ID))
	f.Set("error.message", sdk.String(err.Error()))
	f.Set("event.action", sdk.String("watch_limit_reached"))
	f.Set("event.kind", sdk.String("pipeline_error"))
	f.Set("event.module", sdk.String("file_integrity"))
	f.Set("file.path", sdk.String(dir))
	f.Set("message", sdk.String(msg))
	in.add(ctx, out, ev, nil)
}

// walk visits root: it watches directories and, with scan, compares each
// entry with the baseline. seen collects the paths found. initial marks the
// start-up scan, which is throttled and may reuse the baseline's hashes.
func (in *Input) walk(ctx context.Context, out sdk.Emitter, root string, seen map[string]bool, scan, firstRun, initial bool) {
	throttle := initial
	var hashed int64
	start := time.Now()
	visited := map[[2]uint64]bool{}
	var visit func(p string, descend bool, e *entry)
	visit = func(p string, descend bool, e *entry) {
		if ctx.Err() != nil || in.excluded(p) {
			return
		}
		if e == nil {
			e = in.stat(ctx, p, scan && throttle)
		}
		if e == nil {
			return
		}
		seen[p] = true
		if scan {
			if e.Hashes != nil && throttle && in.rate > 0 {
				hashed += e.Size
				if wait := time.Duration(float64(hashed)/float64(in.rate)*float64(time.Second)) - time.Since(start); wait > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
				}
			}
			old := in.known[p]
			switch {
			case old == nil && firstRun:
				in.emit(ctx, out, actInitialScan, p, e, nil)
			case old != nil && in.emitSame && action(old, e) == "":
				in.emit(ctx, out, actInitialScan, p, e, nil)
			default:
				in.report(ctx, out, p, e, fsnotify.Write)
			}
		}
		if p == root && e.Type != "dir" {
			in.watchFileRoot(ctx, out, p)
		}
		if e.Type != "dir" || !descend {
			return
		}
		if e.Inode != 0 {
			id := [2]uint64{e.Device, e.Inode}
			if visited[id] {
				return // a symlink loop
			}
			visited[id] = true
		}
		in.addWatch(ctx, out, p)
		ents, err := os.ReadDir(p)
		if err != nil {
			in.env.Logger.Warn("fim: cannot read directory", "path", p, "error", err)
			return
		}
		names := make([]string, len(ents))
		var files []int
		for i, de := range ents {
			names[i] = filepath.Join(p, de.Name())
			if scan && !de.IsDir() && !in.excluded(names[i]) {
				files = append(files, i)
			}
		}
		pre := make([]*entry, len(ents))
		in.statMany(ctx, names, files, pre, scan && throttle)
		for i, n := range names {
			visit(n, in.recursive, pre[i])
		}
	}
	visit(root, true, nil)
}

// statMany stats and hashes the entries names[i] for i in idx, in parallel,
// into pre[i]. Reading files is mostly system calls, so it scales with CPUs.
func (in *Input) statMany(ctx context.Context, names []string, idx []int, pre []*entry, reuse bool) {
	workers := min(runtime.GOMAXPROCS(0), 8, len(idx))
	if workers < 2 {
		return // visit stats them one by one
	}
	for len(in.hashers) < workers {
		h, err := filehash.New(in.hashTypes)
		if err != nil {
			return
		}
		in.hashers = append(in.hashers, h)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(h *filehash.Hasher) {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(idx) || ctx.Err() != nil {
					return
				}
				pre[idx[k]] = in.statWith(ctx, h, names[idx[k]], reuse)
			}
		}(in.hashers[w])
	}
	wg.Wait()
}

// stat reads a path's metadata and hashes, or returns nil if it is gone.
// With reuse, a file whose size, mtime, ctime and inode match the baseline
// keeps the baseline's hashes instead of being read again.
func (in *Input) stat(ctx context.Context, p string, reuse bool) *entry {
	return in.statWith(ctx, in.hasher, p, reuse)
}

// statWith is stat with the given hasher (one per goroutine). It only reads
// in.known.
func (in *Input) statWith(ctx context.Context, h *filehash.Hasher, p string, reuse bool) *entry {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil
	}
	e := &entry{Mode: unixMode(fi.Mode()), Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		e.Target, _ = os.Readlink(p)
		if in.follow {
			if tfi, err := os.Stat(p); err == nil {
				fi = tfi
				e.Mode, e.Size, e.Mtime = unixMode(fi.Mode()), fi.Size(), fi.ModTime().UnixNano()
			}
		}
	}
	switch {
	case fi.IsDir():
		e.Type, e.Size = "dir", 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = "symlink"
	default:
		e.Type = "file"
	}
	if si, ok := sysStat(fi); ok {
		e.Inode, e.Device, e.UID, e.GID, e.HasIDs = si.inode, si.device, si.uid, si.gid, true
		e.Ctime = si.ctime.UnixNano()
	}
	if e.Type != "file" || !fi.Mode().IsRegular() {
		return e
	}
	if old := in.known[p]; reuse && old != nil && old.Hashes != nil && old.Size == e.Size &&
		old.Mtime == e.Mtime && old.Ctime == e.Ctime && old.Inode == e.Inode {
		e.Hashes = old.Hashes
		return e
	}
	sum, err := h.File(ctx, p, in.maxSize)
	switch {
	case errors.Is(err, filehash.ErrTooLarge):
		e.Skipped = fmt.Sprintf("file size exceeds max_file_size (%d bytes)", in.maxSize)
	case err != nil:
		if _, serr := os.Lstat(p); serr != nil {
			return nil // gone while it was read
		}
		e.Skipped = "cannot read the file: " + err.Error()
	default:
		e.Hashes = make(map[string]string, len(sum.Names))
		for i, n := range sum.Names {
			e.Hashes[n] = sum.Hex[i]
		}
	}
	return e
}

func unixMode(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// action decides what changed between two states of a path; "" if nothing.
func action(old, e *entry) string {
	switch {
	case old == nil && e == nil:
		return ""
	case old == nil:
		return actCreated
	case e == nil:
		return actDeleted
	}
	if old.Type != e.Type || old.Target != e.Target || old.Inode != e.Inode {
		return actUpdated
	}
	if e.Type != "dir" && (old.Size != e.Size || old.Mtime != e.Mtime || hashesDiffer(old.Hashes, e.Hashes)) {
		return actUpdated
	}
	if old.Mode != e.Mode || old.UID != e.UID || old.GID != e.GID {
		return actAttributes
	}
	return ""
}

func hashesDiffer(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return true
		}
	}
	return false
}

// report compares the new state e of p (nil: gone) with what is known and
// emits the event it calls for.
func (in *Input) report(ctx context.Context, out sdk.Emitter, p string, e *entry, op fsnotify.Op) {
	old := in.known[p]
	if e == nil && old != nil {
		// The children of a directory that went away went with it.
		prefix := p + string(filepath.Separator)
		for _, k := range sortedKeys(in.known) {
			if strings.HasPrefix(k, prefix) {
				in.emit(ctx, out, actDeleted, k, nil, in.known[k])
			}
		}
	}
	if old != nil && e != nil && (op.Has(fsnotify.Remove) || old.Inode != e.Inode && op.Has(fsnotify.Rename|fsnotify.Create)) {
		// Deleted (or replaced) and created again between two looks; the
		// inode number may well be reused.
		in.emit(ctx, out, actDeleted, p, nil, old)
		in.emit(ctx, out, actCreated, p, e, nil)
		return
	}
	act := action(old, e)
	if act == "" {
		if e != nil && old != nil {
			e.Seq = old.Seq
			in.known[p] = e // ctime or the like: keep the freshest without an event
		}
		return
	}
	in.emit(ctx, out, act, p, e, old)
}

// move reports a rename within the monitored tree.
func (in *Input) move(ctx context.Context, out sdk.Emitter, from, to string, e *entry) {
	old := in.known[from]
	in.emit(ctx, out, actMoved, to, e, old, from)
	if e.Type == "dir" {
		// Rekey what is under the directory, then watch and check the new tree.
		prefix := from + string(filepath.Separator)
		var ups []update
		for _, k := range sortedKeys(in.known) {
			if strings.HasPrefix(k, prefix) {
				nk := to + k[len(from):]
				if in.known[k].Type == "dir" {
					// The kernel's watch follows the directory, but fsnotify
					// still names it by the old path: watch it afresh.
					_ = in.w.Remove(k)
				}
				in.seq++
				in.known[nk] = in.known[k]
				delete(in.known, k)
				ups = append(ups, update{path: k, seq: in.seq}, update{path: nk, e: in.known[nk], seq: in.seq})
			}
		}
		in.ups = append(in.ups, ups...)
		_ = in.w.Remove(from)
		if in.recursive {
			in.walk(ctx, out, to, map[string]bool{}, true, false, false)
		}
	}
}

var eventTypes = map[string]string{
	actCreated: "creation", actUpdated: "change", actDeleted: "deletion", actMoved: "change",
	actAttributes: "change", actInitialScan: "info",
}

// emit builds the event for one change, records the new state in memory and
// queues the baseline update that is written once the event is delivered.
// e is the new state (nil for deleted), old the previous one.
func (in *Input) emit(ctx context.Context, out sdk.Emitter, act, p string, e, old *entry, oldPath ...string) {
	if !in.included(p, e) && (e != nil || !in.included(p, old)) {
		// Not reported, but still tracked so that it is not reported later.
		in.track(p, e, oldPath...)
		return
	}
	show := e
	if show == nil {
		show = old
	}
	ev := sdk.Event{Time: time.Now()}
	f := &ev.Fields
	f.Set("event.action", sdk.String(act))
	f.Set("event.category", sdk.Strings([]string{"file"}))
	f.Set("event.kind", sdk.String("event"))
	f.Set("event.module", sdk.String("file_integrity"))
	f.Set("event.type", sdk.Strings([]string{eventTypes[act]}))
	f.Set("file.path", sdk.String(p))
	if len(oldPath) > 0 {
		f.Set("file.old_path", sdk.String(oldPath[0]))
	}
	f.Set("file.type", sdk.String(show.Type))
	if show.Target != "" {
		f.Set("file.target_path", sdk.String(show.Target))
	}
	f.Set("file.mode", sdk.String(fmt.Sprintf("%04o", show.Mode)))
	f.Set("file.size", sdk.Int(show.Size))
	f.Set("file.mtime", sdk.Time(time.Unix(0, show.Mtime).UTC()))
	if show.HasIDs {
		f.Set("file.inode", sdk.String(strconv.FormatUint(show.Inode, 10)))
		f.Set("file.device", sdk.String(strconv.FormatUint(show.Device, 10)))
		f.Set("file.uid", sdk.String(strconv.FormatUint(uint64(show.UID), 10)))
		f.Set("file.gid", sdk.String(strconv.FormatUint(uint64(show.GID), 10)))
		if n := in.users.name(show.UID); n != "" {
			f.Set("file.owner", sdk.String(n))
		}
		if n := in.groups.name(show.GID); n != "" {
			f.Set("file.group", sdk.String(n))
		}
		f.Set("file.ctime", sdk.Time(time.Unix(0, show.Ctime).UTC()))
	}
	names := make([]string, 0, len(show.Hashes))
	for n := range show.Hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f.Set("file.hash."+n, sdk.String(show.Hashes[n]))
	}
	if show.Skipped != "" && show.Type == "file" {
		f.Set("file.hash_skipped_reason", sdk.String(show.Skipped))
	}
	ev.ID = eventID(act, p, show, names)
	in.add(ctx, out, ev, in.track(p, e, oldPath...))
}

// track records the new state of p in memory and returns the baseline
// updates that go with it.
func (in *Input) track(p string, e *entry, oldPath ...string) []update {
	in.seq++
	var ups []update
	for _, op := range oldPath {
		delete(in.known, op)
		ups = append(ups, update{path: op, seq: in.seq})
	}
	if e == nil {
		delete(in.known, p)
	} else {
		e.Seq = in.seq
		in.known[p] = e
	}
	return append(ups, update{path: p, e: e, seq: in.seq})
}

// eventID is the same for the same change of the same file, so that a
// replay after a crash overwrites instead of duplicating.
func eventID(act, p string, e *entry, names []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00%o\x00%d\x00%d", act, p, e.Mtime, e.Inode, e.Device, e.Size, e.Mode, e.UID, e.GID)
	for _, n := range names {
		fmt.Fprintf(h, "\x00%s=%s", n, e.Hashes[n])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// add puts one event in the current batch and emits it when full.
func (in *Input) add(ctx context.Context, out sdk.Emitter, ev sdk.Event, ups []update) {
	if in.batch == nil {
		in.batch = sdk.NewBatch(16)
		in.first = time.Now()
	}
	in.batch.Events = append(in.batch.Events, ev)
	in.ups = append(in.ups, ups...)
	if in.batch.Len() >= in.env.Batch.MaxEvents {
		_ = in.flush(ctx, out)
	}
}

// flush emits the current batch; its baseline updates are written when the
// pipeline acknowledges it.
func (in *Input) flush(ctx context.Context, out sdk.Emitter) error {
	if in.batch == nil && len(in.ups) == 0 {
		return nil
	}
	b := in.batch
	if b == nil {
		b = sdk.NewBatch(0)
	}
	ups := in.ups
	in.batch, in.ups = nil, nil
	in.pending.Add(1)
	b.OnDone(func() { in.base.enqueue(ups) })
	if err := out.Emit(ctx, b); err != nil {
		in.pending.Done() // never delivered: reported again at the next start
		return err
	}
	return nil
}

// Close waits, until ctx ends, for the acknowledgements of the batches
// emitted, then closes the baseline.
func (in *Input) Close(ctx context.Context) error {
	if in.base == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { in.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		in.env.Logger.Warn("fim: closing with events not yet acknowledged; they are reported again at the next start")
	}
	return in.base.close()
}
