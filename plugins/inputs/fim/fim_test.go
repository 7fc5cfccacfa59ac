package fim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

const wait = 10 * time.Second

type run struct {
	t      *testing.T
	in     *Input
	col    *sdktest.Collector
	cancel context.CancelFunc
	done   chan error
}

// start runs the input over the given options with state in dataDir.
func start(t *testing.T, dataDir string, vals map[string]any, wrap func(watcher) watcher) *run {
	t.Helper()
	p := sdk.Lookup(sdk.KindInput, "fim")
	env := sdktest.Env("input.fim.test", nil)
	env.DataDir = dataDir
	env.Batch = sdk.BatchPolicy{MaxEvents: 100, MaxAge: 20 * time.Millisecond}
	in, err := New(sdktest.Config(p, vals), env)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		in.newWatcher = func() (watcher, error) {
			w, err := newFSWatcher()
			if err != nil {
				return nil, err
			}
			return wrap(w), nil
		}
	}
	r := &run{t: t, in: in, col: sdktest.NewCollector(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- in.Run(ctx, r.col) }()
	t.Cleanup(r.stop)
	return r
}

func (r *run) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.in.Close(ctx); err != nil {
		r.t.Error(err)
	}
}

// waitFor waits for an event with this action and path and returns it.
func (r *run) waitFor(action, path string) sdk.Event {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		for _, ev := range r.col.Events() {
			if ev.Fields.GetString("event.action") == action && ev.Fields.GetString("file.path") == path {
				return ev
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("no %s event for %s; got:\n%s", action, path, r.summary())
	return sdk.Event{}
}

// settle waits until no new event arrived for a while.
func (r *run) settle() {
	n := -1
	for r.col.Len() != n {
		n = r.col.Len()
		time.Sleep(moveWindow + 300*time.Millisecond)
	}
}

func (r *run) summary() string {
	var b strings.Builder
	for _, ev := range r.col.Events() {
		b.WriteString(ev.Fields.GetString("event.action") + " " + ev.Fields.GetString("file.path"))
		if o := ev.Fields.GetString("file.old_path"); o != "" {
			b.WriteString(" from " + o)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// actions lists "action path" of every event, in order.
func (r *run) actions() []string {
	var out []string
	for _, ev := range r.col.Events() {
		out = append(out, ev.Fields.GetString("event.action")+" "+ev.Fields.GetString("file.path"))
	}
	return out
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInitialScanFirstRun(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "a"), "alpha")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	write(t, filepath.Join(dir, "sub", "b"), "beta")
	os.Symlink("a", filepath.Join(dir, "link"))
	r := start(t, state, map[string]any{"paths": []string{dir}, "recursive": true}, nil)
	ev := r.waitFor(actInitialScan, filepath.Join(dir, "sub", "b"))
	if got := ev.Fields.GetString("file.hash.sha256"); got != sum([]byte("beta")) {
		t.Errorf("hash %s", got)
	}
	if ev.Fields.GetString("file.mode") != "0644" || ev.Fields.GetString("file.type") != "file" {
		t.Errorf("mode/type: %s", ev.Fields.GetString("file.mode"))
	}
	for _, k := range []string{"file.inode", "file.device", "file.uid", "file.gid", "file.mtime", "file.ctime", "file.size"} {
		if !ev.Fields.Has(k) {
			t.Errorf("missing %s", k)
		}
	}
	if ty, _ := ev.Fields.Get("event.type"); ty.StringList()[0] != "info" {
		t.Errorf("event.type %v", ty.StringList())
	}
	l := r.waitFor(actInitialScan, filepath.Join(dir, "link"))
	if l.Fields.GetString("file.type") != "symlink" || l.Fields.GetString("file.target_path") != "a" || l.Fields.Has("file.hash.sha256") {
		t.Errorf("symlink event: %v", l.Fields.All())
	}
	r.waitFor(actInitialScan, filepath.Join(dir, "sub"))
}

func TestLiveChanges(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	outside := t.TempDir()
	r := start(t, state, map[string]any{"paths": []string{dir}, "recursive": true}, nil)
	r.settle()
	a := filepath.Join(dir, "a")

	write(t, a, "one")
	ev := r.waitFor(actCreated, a)
	r.settle()
	if got := r.col.Events()[r.col.Len()-1].Fields.GetString("file.hash.sha256"); got != sum([]byte("one")) {
		t.Errorf("after create: last hash %s", got)
	}
	_ = ev

	f, _ := os.OpenFile(a, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("two")
	f.Close()
	up := r.waitFor(actUpdated, a)
	r.settle()
	last := r.col.Events()[r.col.Len()-1]
	if last.Fields.GetString("file.hash.sha256") != sum([]byte("onetwo")) {
		t.Errorf("after append: %s", up.Fields.GetString("file.hash.sha256"))
	}

	os.Chmod(a, 0o600)
	am := r.waitFor(actAttributes, a)
	if am.Fields.GetString("file.mode") != "0600" {
		t.Errorf("mode %s", am.Fields.GetString("file.mode"))
	}

	b := filepath.Join(dir, "b")
	os.Rename(a, b)
	mv := r.waitFor(actMoved, b)
	if mv.Fields.GetString("file.old_path") != a || mv.Fields.GetString("file.hash.sha256") != sum([]byte("onetwo")) {
		t.Errorf("move: %v", mv.Fields.All())
	}

	out := filepath.Join(outside, "b")
	os.Rename(b, out)
	r.waitFor(actDeleted, b)

	in := filepath.Join(dir, "c")
	os.Rename(out, in)
	r.waitFor(actCreated, in)

	os.Remove(in)
	del := r.waitFor(actDeleted, in)
	if del.Fields.GetString("file.hash.sha256") != sum([]byte("onetwo")) {
		t.Errorf("deleted event carries the last known hash: %v", del.Fields.All())
	}

	// New subdirectory, files created right after mkdir.
	sub := filepath.Join(dir, "new", "deeper")
	os.MkdirAll(sub, 0o755)
	for _, n := range []string{"x", "y", "z"} {
		write(t, filepath.Join(sub, n), n)
	}
	for _, n := range []string{"x", "y", "z"} {
		ev := r.waitFor(actCreated, filepath.Join(sub, n))
		_ = ev
	}
	r.settle()
	for _, n := range []string{"x", "y", "z"} {
		// the last word on each file carries its content's hash
		var h string
		for _, ev := range r.col.Events() {
			if ev.Fields.GetString("file.path") == filepath.Join(sub, n) {
				h = ev.Fields.GetString("file.hash.sha256")
			}
		}
		if h != sum([]byte(n)) {
			t.Errorf("%s: hash %s", n, h)
		}
	}
	// A file created later in the new subdirectory is seen too.
	write(t, filepath.Join(sub, "later"), "l")
	r.waitFor(actCreated, filepath.Join(sub, "later"))
}

func TestRecreateQuickly(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	a := filepath.Join(dir, "a")
	write(t, a, "old")
	r := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r.waitFor(actInitialScan, a)
	os.Remove(a)
	write(t, a, "new")
	r.waitFor(actDeleted, a)
	r.settle()
	var h string
	for _, ev := range r.col.Events() {
		if ev.Fields.GetString("file.path") == a {
			h = ev.Fields.GetString("file.hash.sha256")
		}
	}
	if h != sum([]byte("new")) {
		t.Errorf("last hash of %s is %s; events:\n%s", a, h, r.summary())
	}
	got := r.actions()
	if got[len(got)-1] != actCreated+" "+a && got[len(got)-1] != actUpdated+" "+a {
		t.Errorf("last event %q", got[len(got)-1])
	}
}

func TestIncludeExcludeAndMaxSize(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "keep.conf"), "k")
	write(t, filepath.Join(dir, "skip.log"), "s")
	write(t, filepath.Join(dir, "big.conf"), strings.Repeat("x", 2000))
	os.Mkdir(filepath.Join(dir, "cache"), 0o755)
	write(t, filepath.Join(dir, "cache", "c.conf"), "c")
	r := start(t, state, map[string]any{"paths": []string{dir}, "recursive": true,
		"include_files": []string{`\.conf$`}, "exclude_files": []string{`/cache$`},
		"max_file_size": int64(1000)}, nil)
	big := r.waitFor(actInitialScan, filepath.Join(dir, "big.conf"))
	if big.Fields.Has("file.hash.sha256") || !strings.Contains(big.Fields.GetString("file.hash_skipped_reason"), "max_file_size") {
		t.Errorf("big file: %v", big.Fields.All())
	}
	r.waitFor(actInitialScan, filepath.Join(dir, "keep.conf"))
	write(t, filepath.Join(dir, "cache", "d.conf"), "d")
	write(t, filepath.Join(dir, "new.log"), "n")
	write(t, filepath.Join(dir, "new.conf"), "n")
	r.waitFor(actCreated, filepath.Join(dir, "new.conf"))
	r.settle()
	for _, a := range r.actions() {
		if strings.HasSuffix(a, ".log") || strings.Contains(a, "cache") || strings.HasSuffix(a, dir) {
			t.Errorf("unexpected event %q", a)
		}
	}
}

func TestChangesWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	for _, n := range []string{"same", "grow", "chmod", "gone"} {
		write(t, filepath.Join(dir, n), n)
	}
	r := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r.waitFor(actInitialScan, filepath.Join(dir, "gone"))
	r.settle()
	r.stop()

	write(t, filepath.Join(dir, "grow"), "grown")
	os.Chmod(filepath.Join(dir, "chmod"), 0o640)
	os.Remove(filepath.Join(dir, "gone"))
	write(t, filepath.Join(dir, "born"), "born")

	r2 := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r2.waitFor(actUpdated, filepath.Join(dir, "grow"))
	r2.waitFor(actAttributes, filepath.Join(dir, "chmod"))
	r2.waitFor(actDeleted, filepath.Join(dir, "gone"))
	r2.waitFor(actCreated, filepath.Join(dir, "born"))
	r2.settle()
	if n := r2.col.Len(); n != 4 {
		t.Errorf("want 4 events (unchanged files say nothing), got:\n%s", r2.summary())
	}
	r2.stop()

	// Nothing changed: nothing reported; with scan_emit_unchanged, everything.
	r3 := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r3.settle()
	if r3.col.Len() != 0 {
		t.Errorf("unchanged tree reported:\n%s", r3.summary())
	}
	r3.stop()
	r4 := start(t, state, map[string]any{"paths": []string{dir}, "scan_emit_unchanged": true}, nil)
	r4.waitFor(actInitialScan, filepath.Join(dir, "same"))
}

func TestBaselineWaitsForAck(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "a"), "a")
	r := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r.col.AutoAck = false
	r.waitFor(actInitialScan, filepath.Join(dir, "a"))
	r.cancel()
	<-r.done
	r.cancel = nil
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	r.in.Close(ctx)
	cancel()
	// Not acknowledged: the next run reports it again.
	r2 := start(t, state, map[string]any{"paths": []string{dir}}, nil)
	r2.waitFor(actInitialScan, filepath.Join(dir, "a"))
}

func TestDeterministicID(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "a")
	var ids []string
	for range 2 {
		r := start(t, t.TempDir(), map[string]any{"paths": []string{dir}}, nil)
		ev := r.waitFor(actInitialScan, filepath.Join(dir, "a"))
		ids = append(ids, ev.ID)
		r.stop()
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("ids %q", ids)
	}
	e := &entry{Type: "file", Size: 1, Mtime: 5, Hashes: map[string]string{"sha256": "x"}}
	if eventID(actCreated, "/a", e, []string{"sha256"}) == eventID(actUpdated, "/a", e, []string{"sha256"}) {
		t.Error("action not in id")
	}
}

// limitWatcher fails every Add after the first n with err, as inotify does
// at max_user_watches (ENOSPC) or max_user_instances (EMFILE).
type limitWatcher struct {
	watcher
	n   int
	err error
}

func (w *limitWatcher) Add(p string) error {
	if w.n <= 0 {
		return &os.PathError{Op: "add", Path: p, Err: w.err}
	}
	w.n--
	return w.watcher.Add(p)
}

func TestWatchLimit(t *testing.T) {
	for _, tc := range []struct {
		err   error
		limit string
	}{
		{syscall.ENOSPC, "max_user_watches"},
		{syscall.EMFILE, "max_user_instances"},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			for _, d := range []string{"a", "b", "c"} {
				os.Mkdir(filepath.Join(dir, d), 0o755)
			}
			r := start(t, state, map[string]any{"paths": []string{dir}, "recursive": true},
				func(w watcher) watcher { return &limitWatcher{watcher: w, n: 1, err: tc.err} })
			r.settle()
			var limits []sdk.Event
			for _, ev := range r.col.Events() {
				if ev.Fields.GetString("event.action") == "watch_limit_reached" {
					limits = append(limits, ev)
				}
			}
			if len(limits) != 1 {
				t.Fatalf("want one watch_limit_reached event, got %d:\n%s", len(limits), r.summary())
			}
			f := &limits[0].Fields
			if f.GetString("event.kind") != "pipeline_error" || f.GetString("engine.component.id") != "input.fim.test" ||
				!strings.Contains(f.GetString("message"), "sysctl fs.inotify."+tc.limit+"=") {
				t.Errorf("event: %v", f.All())
			}
			// The directories are still scanned.
			r.waitFor(actInitialScan, filepath.Join(dir, "c"))
		})
	}
}

// At max_user_instances, inotify_init itself fails: the input says so with
// the same event and stops with the error.
func TestWatcherLimitAtStart(t *testing.T) {
	dir := t.TempDir()
	p := sdk.Lookup(sdk.KindInput, "fim")
	env := sdktest.Env("input.fim.test", nil)
	env.DataDir = t.TempDir()
	in, err := New(sdktest.Config(p, map[string]any{"paths": []string{dir}}), env)
	if err != nil {
		t.Fatal(err)
	}
	in.newWatcher = func() (watcher, error) { return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE) }
	col := sdktest.NewCollector()
	if err := in.Run(context.Background(), col); err == nil {
		t.Fatal("Run succeeded without a watcher")
	}
	in.Close(context.Background())
	evs := col.Events()
	if len(evs) != 1 || evs[0].Fields.GetString("event.action") != "watch_limit_reached" ||
		!strings.Contains(evs[0].Fields.GetString("message"), "sysctl fs.inotify.max_user_instances=") {
		t.Errorf("events: %v", evs)
	}
}
