package logfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engine-audit/engine/core/state"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

const waitTimeout = 10 * time.Second

func plugin(t testing.TB) *sdk.Plugin {
	t.Helper()
	p := sdk.Lookup(sdk.KindInput, "logfile")
	if p == nil {
		t.Fatal("input logfile is not registered")
	}
	return p
}

// runner runs one Input in the background.
type runner struct {
	in     *Input
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// fastOptions makes the input react within milliseconds in tests.
var fastOptions = map[string]any{
	"poll_interval":       5 * time.Millisecond,
	"scan_interval":       20 * time.Millisecond,
	"checkpoint_interval": 10 * time.Millisecond,
	"rotate_wait":         100 * time.Millisecond,
}

func newInput(t testing.TB, st sdk.StateStore, policy sdk.BatchPolicy, opts map[string]any) *Input {
	t.Helper()
	vals := map[string]any{}
	for k, v := range fastOptions {
		vals[k] = v
	}
	for k, v := range opts {
		vals[k] = v
	}
	env := sdktest.Env("input.logfile.test", st)
	if policy.MaxEvents > 0 {
		env.Batch = policy
	}
	in, err := New(sdktest.Config(plugin(t), vals), env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return in
}

func startInput(t testing.TB, st sdk.StateStore, out sdk.Emitter, policy sdk.BatchPolicy, opts map[string]any) *runner {
	t.Helper()
	r := &runner{in: newInput(t, st, policy, opts), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.in.Run(ctx, out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *runner) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return after cancel")
		}
	})
}

// shutdown stops Run and closes the input, as the core does after draining.
func (r *runner) shutdown(t testing.TB) {
	t.Helper()
	r.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.in.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%04d\n", prefix, i)
	}
	return b.String()
}

func messages(evs []sdk.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].Fields.GetString(sdk.FieldMessage)
	}
	return out
}

func offsetOf(ev *sdk.Event) int64 {
	v, _ := ev.Fields.Get(sdk.FieldLogOffset)
	return v.Int()
}

// wantMessages checks that got holds exactly want, each once, in any order.
func wantMessages(t testing.TB, got []string, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("messages differ\n got %d: %q\nwant %d: %q", len(g), abbreviate(g), len(w), abbreviate(w))
	}
}

func abbreviate(s []string) []string {
	if len(s) > 12 {
		return append(append(slices.Clone(s[:6]), "..."), s[len(s)-6:]...)
	}
	return s
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// storedCheckpoint returns the checkpoint of path's file.
func storedCheckpoint(t testing.TB, st sdk.StateStore, path string) (checkpoint, bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity(fi)
	v, err := st.Get(id.key())
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return checkpoint{}, false
	}
	cp, err := decodeCheckpoint(v)
	if err != nil {
		t.Fatalf("stored checkpoint %s: %v", v, err)
	}
	return cp, true
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// holder is an emitter that keeps every batch unacknowledged until the test
// acks it, in any order.
type holder struct {
	mu      sync.Mutex
	batches []*sdk.Batch
	acked   []bool
}

func (h *holder) Emit(_ context.Context, b *sdk.Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, b)
	h.acked = append(h.acked, false)
	return nil
}

func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.batches)
}

func (h *holder) events() []sdk.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.Event
	for _, b := range h.batches {
		out = append(out, b.Events...)
	}
	return out
}

func (h *holder) batch(i int) *sdk.Batch {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.batches[i]
}

func (h *holder) ack(i int) {
	h.mu.Lock()
	b, done := h.batches[i], h.acked[i]
	h.acked[i] = true
	h.mu.Unlock()
	if !done {
		b.Done()
	}
}

func TestRegistered(t *testing.T) {
	p := plugin(t)
	if p.Kind != sdk.KindInput || p.Summary == "" || p.Description == "" {
		t.Fatalf("incomplete plugin: %+v", p)
	}
	reserved := []string{"inputs", "queue_size", "batch_max_events", "batch_max_age"}
	for _, o := range p.Options {
		if o.Doc == "" {
			t.Errorf("option %s has no doc", o.Name)
		}
		if !o.Required && o.Default == nil {
			t.Errorf("option %s has no default", o.Name)
		}
		if slices.Contains(reserved, o.Name) {
			t.Errorf("option %s uses a name the core owns", o.Name)
		}
	}
	in, err := p.New(sdktest.Config(p, map[string]any{"paths": []string{"/nonexistent/*.log"}}), sdktest.Env("x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in.(sdk.Input); !ok {
		t.Fatal("not an sdk.Input")
	}
	if _, ok := in.(sdk.Closer); !ok {
		t.Fatal("not an sdk.Closer")
	}
}

func TestValidate(t *testing.T) {
	p := plugin(t)
	tests := []struct {
		name   string
		vals   map[string]any
		option string // "" means valid
	}{
		{"defaults", map[string]any{"paths": []string{"/var/log/*.log"}}, ""},
		{"no paths", map[string]any{"paths": []string{}}, "paths"},
		{"bad glob", map[string]any{"paths": []string{"/var/log/[.log"}}, "paths"},
		{"bad exclude", map[string]any{"paths": []string{"/a"}, "exclude": []string{"["}}, "exclude"},
		{"bad format", map[string]any{"paths": []string{"/a"}, "format": "xml"}, "format"},
		{"bad start_at", map[string]any{"paths": []string{"/a"}, "start_at": "middle"}, "start_at"},
		{"zero poll", map[string]any{"paths": []string{"/a"}, "poll_interval": time.Duration(0)}, "poll_interval"},
		{"tiny lines", map[string]any{"paths": []string{"/a"}, "max_line_bytes": int64(1)}, "max_line_bytes"},
		{"no open files", map[string]any{"paths": []string{"/a"}, "max_open_files": int64(0)}, "max_open_files"},
		{"negative forget", map[string]any{"paths": []string{"/a"}, "forget_after": -time.Second}, "forget_after"},
		{"forget disabled", map[string]any{"paths": []string{"/a"}, "forget_after": time.Duration(0)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.CheckOptionError(t, sdktest.Validate(p, tt.vals), tt.option)
		})
	}
}

func TestFollowAppends(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one\ntwo\r\n\nthree\n")
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}})
	evs := col.WaitFor(t, 3, waitTimeout)
	if got := messages(evs); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("got %q", got)
	}
	if offs := []int64{offsetOf(&evs[0]), offsetOf(&evs[1]), offsetOf(&evs[2])}; !slices.Equal(offs, []int64{0, 4, 10}) {
		t.Fatalf("offsets %v, want [0 4 10] (empty lines are skipped, CR is dropped)", offs)
	}
	appendFile(t, path, "four\nfive\n")
	evs = col.WaitFor(t, 5, waitTimeout)
	if got := messages(evs[3:]); !slices.Equal(got, []string{"four", "five"}) {
		t.Fatalf("got %q", got)
	}
	ids := map[string]bool{}
	for i := range evs {
		ev := &evs[i]
		if ev.ID == "" || ids[ev.ID] {
			t.Fatalf("event %d has an empty or repeated ID %q", i, ev.ID)
		}
		ids[ev.ID] = true
		if ev.Fields.GetString(sdk.FieldLogFilePath) != path {
			t.Fatalf("log.file.path = %q", ev.Fields.GetString(sdk.FieldLogFilePath))
		}
		if time.Since(ev.Time) > time.Minute || ev.Time.After(time.Now()) {
			t.Fatalf("event time %v is not the read time", ev.Time)
		}
	}
}

func TestPartialLineIsHeld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "first\nabc") // one write: the input reads "abc" with "first"
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}})
	col.WaitFor(t, 1, waitTimeout)
	appendFile(t, path, "def")
	appendFile(t, path, "\nlast\n")
	evs := col.WaitFor(t, 3, waitTimeout)
	if got := messages(evs); !slices.Equal(got, []string{"first", "abcdef", "last"}) {
		t.Fatalf("got %q", got)
	}
	if off := offsetOf(&evs[1]); off != 6 {
		t.Fatalf("offset of the completed line = %d, want 6", off)
	}
}

func TestLongLinesAreTruncated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	long := strings.Repeat("x", 100)
	appendFile(t, path, "short\n"+long+"\n"+long[:40]) // second long line arrives in pieces
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}, "max_line_bytes": int64(16)})
	col.WaitFor(t, 2, waitTimeout)
	appendFile(t, path, long[40:])
	appendFile(t, path, "\nafter\n")
	evs := col.WaitFor(t, 4, waitTimeout)
	want := []string{"short", long[:16], long[:16], "after"}
	if got := messages(evs); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i, ev := range evs {
		flags, _ := ev.Fields.Get(fieldLogFlags)
		truncated := slices.Equal(flags.StringList(), []string{"truncated"})
		if truncated != (i == 1 || i == 2) {
			t.Errorf("event %d: log.flags = %v", i, flags.StringList())
		}
	}
	if got, want := offsetOf(&evs[2]), int64(6+101); got != want {
		t.Errorf("offset of second long line = %d, want %d", got, want)
	}
	if got, want := offsetOf(&evs[3]), int64(6+101+101); got != want {
		t.Errorf("offset after long lines = %d, want %d", got, want)
	}
}

func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 50))
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{MaxEvents: 7, MaxAge: time.Second},
		map[string]any{"paths": []string{path}, "rotate_wait": 10 * time.Second})
	col.WaitFor(t, 50, waitTimeout)

	// The writer keeps its descriptor across the rename, as a logger does
	// until it reopens its file.
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.WriteString(numbered("a", 50, 60))
	appendFile(t, path, numbered("b", 0, 20))
	col.WaitFor(t, 80, waitTimeout)      // the input has seen the new file, so knows the old one is gone
	w.WriteString(numbered("a", 60, 65)) // late lines into the renamed file, within rotate_wait
	want := lines(numbered("a", 0, 65) + numbered("b", 0, 20))
	col.WaitFor(t, len(want), waitTimeout)
	appendFile(t, path, "sentinel\n")
	evs := col.WaitFor(t, len(want)+1, waitTimeout)
	wantMessages(t, messages(evs), append(want, "sentinel"))
	for i := range evs {
		msg := evs[i].Fields.GetString(sdk.FieldMessage)
		p := evs[i].Fields.GetString(sdk.FieldLogFilePath)
		if strings.HasPrefix(msg, "b-") && p != path {
			t.Fatalf("%s read from %s", msg, p)
		}
	}
}

func TestRotatedFileFinalLineIsEmitted(t *testing.T) {
	// A file renamed out of paths never gets the newline of its last line:
	// once it has been quiet for rotate_wait, that line is emitted as it is.
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one\nunterminated")
	col := sdktest.NewCollector()
	st := sdktest.NewMemState()
	startInput(t, st, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}, "rotate_wait": 20 * time.Millisecond})
	col.WaitFor(t, 1, waitTimeout)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "two\n")
	evs := col.WaitFor(t, 3, waitTimeout)
	wantMessages(t, messages(evs), []string{"one", "unterminated", "two"})
	sdktest.WaitFor(t, "the rotated file's checkpoint at its end", waitTimeout, func() bool {
		cp, _ := storedCheckpoint(t, st, path+".1")
		return cp.Offset == int64(len("one\nunterminated"))
	})
}

func TestRotationWithinGlob(t *testing.T) {
	// The rotated name still matches: the file keeps its identity, so it is
	// neither read again nor lost.
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 30))
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{filepath.Join(dir, "app.log*")}})
	col.WaitFor(t, 30, waitTimeout)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", numbered("a", 30, 35))
	appendFile(t, path, numbered("b", 0, 10))
	col.WaitFor(t, 45, waitTimeout)
	appendFile(t, path, "sentinel\n")
	evs := col.WaitFor(t, 46, waitTimeout)
	wantMessages(t, messages(evs), append(lines(numbered("a", 0, 35)+numbered("b", 0, 10)), "sentinel"))
}

func TestCopyTruncate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after string // written after the truncation
	}{
		// Found by the size dropping below the offset.
		{"same first line", "old-0000\n" + numbered("new", 0, 2)},
		// Also found by the changed first line, whatever the size.
		{"new first line", numbered("new", 0, 3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendFile(t, path, numbered("old", 0, 20))
			col := sdktest.NewCollector()
			startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}, "scan_interval": time.Hour})
			col.WaitFor(t, 20, waitTimeout)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, tt.after)
			want := lines(tt.after)
			evs := col.WaitFor(t, 20+len(want), waitTimeout)
			if got := messages(evs[20:]); !slices.Equal(got, want) {
				t.Fatalf("after truncation got %q, want %q", got, want)
			}
			if off := offsetOf(&evs[20]); off != 0 {
				t.Fatalf("first line after truncation has offset %d, want 0", off)
			}
			if tt.name == "new first line" && evs[20].ID == evs[0].ID {
				t.Fatalf("a different line after truncation reuses the ID %q", evs[0].ID)
			}
		})
	}
}

// gate is an emitter that blocks, as a full pipeline does, until opened.
type gate struct {
	col     *sdktest.Collector
	blocked chan struct{} // receives when an Emit starts waiting
	open    chan struct{}
}

func (g *gate) Emit(ctx context.Context, b *sdk.Batch) error {
	select {
	case <-g.open:
	default:
		select {
		case g.blocked <- struct{}{}:
		default:
		}
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.col.Emit(ctx, b)
}

func TestRewrittenPastOffsetWhileBlocked(t *testing.T) {
	// The file is truncated and rewritten beyond the old offset while the
	// input waits on backpressure: its size says nothing, its changed first
	// line does, and the input starts over at the next scan.
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("old", 0, 20))
	g := &gate{col: sdktest.NewCollector(), blocked: make(chan struct{}, 1), open: make(chan struct{})}
	startInput(t, nil, g, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}})
	select {
	case <-g.blocked:
	case <-time.After(waitTimeout):
		t.Fatal("the input never emitted")
	}
	if err := os.WriteFile(path, []byte(numbered("new", 0, 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	close(g.open)
	want := lines(numbered("new", 0, 40))
	sdktest.WaitFor(t, "every new line", waitTimeout, func() bool {
		got := map[string]bool{}
		for _, m := range messages(g.col.Events()) {
			got[m] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})
}

func TestNewFilesAndExclude(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.log"), "a1\n")
	appendFile(t, filepath.Join(dir, "a.debug.log"), "debug\n")
	appendFile(t, filepath.Join(dir, "skip.log"), "skip\n")
	appendFile(t, filepath.Join(dir, "a.txt"), "txt\n")
	if err := os.Mkdir(filepath.Join(dir, "d.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	col := sdktest.NewCollector()
	st := sdktest.NewMemState()
	startInput(t, st, col, sdk.BatchPolicy{}, map[string]any{
		"paths":    []string{filepath.Join(dir, "*.log")},
		"exclude":  []string{"*.debug.log", filepath.Join(dir, "skip.log")},
		"start_at": startEnd, // does not apply to files created later
	})
	sdktest.WaitFor(t, "the first scan", waitTimeout, func() bool { _, ok := storedCheckpoint(t, st, filepath.Join(dir, "a.log")); return ok })
	if _, ok := storedCheckpoint(t, st, filepath.Join(dir, "skip.log")); ok {
		t.Fatal("an excluded file got a checkpoint")
	}
	appendFile(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
	appendFile(t, filepath.Join(dir, "c.debug.log"), "debug\n")
	col.WaitFor(t, 2, waitTimeout)
	appendFile(t, filepath.Join(dir, "a.log"), "a2\n")
	appendFile(t, filepath.Join(dir, "skip.log"), "skip\n")
	col.WaitFor(t, 3, waitTimeout)
	appendFile(t, filepath.Join(dir, "b.log"), "sentinel\n")
	evs := col.WaitFor(t, 4, waitTimeout)
	wantMessages(t, messages(evs), []string{"b1", "b2", "a2", "sentinel"})
}

func TestStartAt(t *testing.T) {
	for _, tt := range []struct {
		startAt string
		want    []string
	}{
		{startBeginning, []string{"a", "b", "partial", "c"}},
		{startEnd, []string{"partial", "c"}},
	} {
		t.Run(tt.startAt, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendFile(t, path, "a\nb\npar")
			col := sdktest.NewCollector()
			st := sdktest.NewMemState()
			startInput(t, st, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}, "start_at": tt.startAt})
			// The start position is checkpointed before anything is read.
			sdktest.WaitFor(t, "a checkpoint", waitTimeout, func() bool { _, ok := storedCheckpoint(t, st, path); return ok })
			appendFile(t, path, "tial\nc\n")
			evs := col.WaitFor(t, len(tt.want), waitTimeout)
			if got := messages(evs); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStartAtEndKeepsCheckpoint(t *testing.T) {
	// start_at = "end" applies only to files without a checkpoint: lines
	// written while the engine was stopped are read after a restart.
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "old\n")
	st := sdktest.NewMemState()
	opts := map[string]any{"paths": []string{path}, "start_at": startEnd}
	col := sdktest.NewCollector()
	r := startInput(t, st, col, sdk.BatchPolicy{}, opts)
	sdktest.WaitFor(t, "a checkpoint", waitTimeout, func() bool { _, ok := storedCheckpoint(t, st, path); return ok })
	r.shutdown(t)
	appendFile(t, path, "while-stopped\n")
	col2 := sdktest.NewCollector()
	startInput(t, st, col2, sdk.BatchPolicy{}, opts)
	evs := col2.WaitFor(t, 1, waitTimeout)
	if got := messages(evs); !slices.Equal(got, []string{"while-stopped"}) {
		t.Fatalf("got %q", got)
	}
}

func TestGracefulRestartResumesExactly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 100)+"partial")
	st := sdktest.NewMemState()
	opts := map[string]any{"paths": []string{path}}
	policy := sdk.BatchPolicy{MaxEvents: 8, MaxAge: time.Second}

	col := sdktest.NewCollector()
	r := startInput(t, st, col, policy, opts)
	col.WaitFor(t, 100, waitTimeout)
	r.shutdown(t)
	cp, ok := storedCheckpoint(t, st, path)
	if want := fileSize(t, path) - int64(len("partial")); !ok || cp.Offset != want {
		t.Fatalf("checkpoint %+v, want offset %d", cp, want)
	}
	if cp.Path != path || cp.HeadLen == 0 {
		t.Fatalf("checkpoint %+v lacks path or head", cp)
	}

	appendFile(t, path, "-done\n"+numbered("b", 0, 10))
	col2 := sdktest.NewCollector()
	r2 := startInput(t, st, col2, policy, opts)
	col2.WaitFor(t, 11, waitTimeout)
	appendFile(t, path, "sentinel\n")
	evs := col2.WaitFor(t, 12, waitTimeout)
	wantMessages(t, messages(evs), append([]string{"partial-done"}, append(lines(numbered("b", 0, 10)), "sentinel")...))
	// Reading the same line again yields the same ID.
	first := col.Events()[0]
	r2.shutdown(t)
	col3 := sdktest.NewCollector()
	startInput(t, sdktest.NewMemState(), col3, policy, opts)
	again := col3.WaitFor(t, 1, waitTimeout)[0]
	if again.ID != first.ID {
		t.Fatalf("re-reading gave ID %q, first read %q", again.ID, first.ID)
	}
}

func TestRestartWithBoltState(t *testing.T) {
	// The same as above with the engine's real state store.
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 30))
	stateDir := t.TempDir()
	opts := map[string]any{"paths": []string{path}}
	run := func(want []string) {
		db, err := state.Open(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		col := sdktest.NewCollector()
		r := startInput(t, db.Store("input.logfile.test"), col, sdk.BatchPolicy{}, opts)
		col.WaitFor(t, len(want), waitTimeout)
		appendFile(t, path, "sentinel\n")
		evs := col.WaitFor(t, len(want)+1, waitTimeout)
		wantMessages(t, messages(evs), append(want, "sentinel"))
		r.shutdown(t)
	}
	run(lines(numbered("a", 0, 30)))
	appendFile(t, path, numbered("b", 0, 5))
	run(lines(numbered("b", 0, 5)))
}

func TestCrashReplaysUnacked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	all := lines(numbered("a", 0, 50))
	appendFile(t, path, numbered("a", 0, 50))
	st := sdktest.NewMemState()
	opts := map[string]any{"paths": []string{path}}
	policy := sdk.BatchPolicy{MaxEvents: 10, MaxAge: time.Second}

	h := &holder{}
	r := startInput(t, st, h, policy, opts)
	sdktest.WaitFor(t, "5 batches", waitTimeout, func() bool { return h.count() == 5 })
	h.ack(0)
	h.ack(1)
	ackedEnd := offsetOf(&h.batch(1).Events[9]) + int64(len(all[19])) + 1
	sdktest.WaitFor(t, "checkpoint after 2 batches", waitTimeout, func() bool {
		cp, _ := storedCheckpoint(t, st, path)
		return cp.Offset == ackedEnd
	})
	r.stop(t) // a crash: batches 2..4 are never acknowledged, Close never runs

	col := sdktest.NewCollector()
	startInput(t, st, col, policy, opts)
	col.WaitFor(t, 30, waitTimeout)
	appendFile(t, path, "sentinel\n")
	evs := col.WaitFor(t, 31, waitTimeout)
	wantMessages(t, messages(evs), append(slices.Clone(all[20:]), "sentinel"))
}

func TestOutOfOrderAcksAdvanceContiguousPrefix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 40))
	st := sdktest.NewMemState()
	h := &holder{}
	r := startInput(t, st, h, sdk.BatchPolicy{MaxEvents: 10, MaxAge: time.Second}, map[string]any{"paths": []string{path}})
	sdktest.WaitFor(t, "4 batches", waitTimeout, func() bool { return h.count() == 4 })
	lineLen := int64(len("a-0000\n"))
	offset := func() int64 {
		if err := r.in.track.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		cp, _ := storedCheckpoint(t, st, path)
		return cp.Offset
	}
	for _, step := range []struct {
		ack  int
		want int64 // lines covered by the checkpoint after the ack
	}{
		{2, 0}, {3, 0}, {0, 10}, {1, 40},
	} {
		h.ack(step.ack)
		if got := offset(); got != step.want*lineLen {
			t.Fatalf("after acking batch %d: checkpoint at %d, want %d", step.ack, got, step.want*lineLen)
		}
	}
}

func TestAcksAfterRunReturnAreSavedByClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 20))
	st := sdktest.NewMemState()
	h := &holder{}
	r := startInput(t, st, h, sdk.BatchPolicy{MaxEvents: 10, MaxAge: time.Second}, map[string]any{"paths": []string{path}})
	sdktest.WaitFor(t, "2 batches", waitTimeout, func() bool { return h.count() == 2 })
	r.stop(t)
	h.ack(0) // the pipeline drains after Run returned
	h.ack(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if cp, _ := storedCheckpoint(t, st, path); cp.Offset != fileSize(t, path) {
		t.Fatalf("checkpoint %d after Close, want %d", cp.Offset, fileSize(t, path))
	}
}

func TestFingerprint(t *testing.T) {
	// A checkpoint stored under the file's device and inode is used only if
	// the file still starts with the same first line.
	for _, tt := range []struct {
		name      string
		firstLine string // first line the checkpoint was taken from
		want      []string
	}{
		{"same file", "a-0000\n", lines(numbered("a", 5, 10))},
		{"inode reused", "other\n", lines(numbered("a", 0, 10))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendFile(t, path, numbered("a", 0, 10))
			fi, _ := os.Stat(path)
			id, _ := identity(fi)
			st := sdktest.NewMemState()
			cp := fmt.Sprintf(`{"path":"/old/name.log","offset":%d,"head_len":%d,"head":"%x","seen":%d}`,
				5*len("a-0000\n"), len(tt.firstLine), hashBytes([]byte(tt.firstLine)), time.Now().Unix())
			if err := st.Put(id.key(), []byte(cp)); err != nil {
				t.Fatal(err)
			}
			col := sdktest.NewCollector()
			startInput(t, st, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{path}})
			col.WaitFor(t, len(tt.want), waitTimeout)
			appendFile(t, path, "sentinel\n")
			evs := col.WaitFor(t, len(tt.want)+1, waitTimeout)
			wantMessages(t, messages(evs), append(tt.want, "sentinel"))
		})
	}
}

func TestRewrittenWhileStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 5))
	st := sdktest.NewMemState()
	opts := map[string]any{"paths": []string{path}}
	col := sdktest.NewCollector()
	r := startInput(t, st, col, sdk.BatchPolicy{}, opts)
	col.WaitFor(t, 5, waitTimeout)
	r.shutdown(t)
	// Same inode, new content, longer than the checkpoint's offset.
	if err := os.WriteFile(path, []byte(numbered("b", 0, 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	col2 := sdktest.NewCollector()
	startInput(t, st, col2, sdk.BatchPolicy{}, opts)
	evs := col2.WaitFor(t, 8, waitTimeout)
	wantMessages(t, messages(evs), lines(numbered("b", 0, 8)))
}

func TestCloseInactiveAndReopen(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")}
	for i, p := range paths {
		appendFile(t, p, numbered(fmt.Sprint(i), 0, 3))
	}
	col := sdktest.NewCollector()
	r := startInput(t, nil, col, sdk.BatchPolicy{}, map[string]any{
		"paths":          []string{filepath.Join(dir, "*.log")},
		"max_open_files": int64(1),
		"close_inactive": 30 * time.Millisecond,
	})
	col.WaitFor(t, 9, waitTimeout)
	sdktest.WaitFor(t, "all files closed", waitTimeout, func() bool { return r.openCount() == 0 })
	appendFile(t, paths[1], numbered("1", 3, 5))
	col.WaitFor(t, 11, waitTimeout)
	appendFile(t, paths[1], "sentinel\n")
	evs := col.WaitFor(t, 12, waitTimeout)
	want := lines(numbered("0", 0, 3) + numbered("1", 0, 5) + numbered("2", 0, 3))
	wantMessages(t, messages(evs), append(want, "sentinel"))
}

// openCount returns how many files the input holds open.
func (r *runner) openCount() int { return int(r.in.openFiles.Load()) }

func TestForgetsCheckpointsOfGoneFiles(t *testing.T) {
	dir := t.TempDir()
	st := sdktest.NewMemState()
	old := fmt.Sprintf(`{"path":"/gone.log","offset":10,"seen":%d}`, time.Now().Add(-2*time.Hour).Unix())
	recent := fmt.Sprintf(`{"path":"/recent.log","offset":10,"seen":%d}`, time.Now().Unix())
	st.Put("file:1:1", []byte(old))
	st.Put("file:1:2", []byte(recent))
	st.Put("other", []byte("kept"))
	col := sdktest.NewCollector()
	startInput(t, st, col, sdk.BatchPolicy{}, map[string]any{"paths": []string{filepath.Join(dir, "*.log")}, "forget_after": time.Hour})
	sdktest.WaitFor(t, "old checkpoint deleted", waitTimeout, func() bool { v, _ := st.Get("file:1:1"); return v == nil })
	if v, _ := st.Get("file:1:2"); v == nil {
		t.Fatal("recent checkpoint was deleted")
	}
	if v, _ := st.Get("other"); string(v) != "kept" {
		t.Fatal("a key that is not a checkpoint was touched")
	}
}

func TestBatchesRespectPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, numbered("a", 0, 25))
	h := &holder{}
	startInput(t, nil, h, sdk.BatchPolicy{MaxEvents: 10, MaxAge: time.Hour}, map[string]any{"paths": []string{path}})
	// Full batches go at once; the rest goes when the file has no more data,
	// without waiting for MaxAge.
	sdktest.WaitFor(t, "3 batches", waitTimeout, func() bool { return h.count() == 3 })
	for i, want := range []int{10, 10, 5} {
		if n := h.batch(i).Len(); n != want {
			t.Fatalf("batch %d has %d events, want %d", i, n, want)
		}
	}
	for i := range 3 {
		h.ack(i)
	}
}

func TestMessagesStayValid(t *testing.T) {
	// Messages point into read buffers; later reads must not change them.
	path := filepath.Join(t.TempDir(), "app.log")
	col := sdktest.NewCollector()
	startInput(t, nil, col, sdk.BatchPolicy{MaxEvents: 3, MaxAge: time.Second}, map[string]any{"paths": []string{path}})
	var want []string
	for round := range 20 {
		chunk := numbered(fmt.Sprintf("r%02d", round), 0, 7) + strings.Repeat("z", 1000) + "\n"
		appendFile(t, path, chunk)
		want = append(want, lines(chunk)...)
		col.WaitFor(t, len(want), waitTimeout)
	}
	wantMessages(t, messages(col.Events()), want)
}

func TestOnceStopsAtTheEndOfEveryFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, numbered("a", 0, 3000))
	appendFile(t, b, numbered("b", 0, 5)+"unterminated")
	st := sdktest.NewMemState()
	run := func() []sdk.Event {
		t.Helper()
		vals := map[string]any{"paths": []string{filepath.Join(dir, "*.log")}}
		for k, v := range fastOptions {
			vals[k] = v
		}
		env := sdktest.Env("input.logfile.test", st)
		env.Once = true
		env.Batch = sdk.BatchPolicy{MaxEvents: 100, MaxAge: time.Second}
		in, err := New(sdktest.Config(plugin(t), vals), env)
		if err != nil {
			t.Fatal(err)
		}
		col := sdktest.NewCollector()
		done := make(chan error, 1)
		go func() { done <- in.Run(context.Background(), col) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Run did not stop by itself in once mode")
		}
		if err := in.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return col.Events()
	}
	got := run()
	if len(got) != 3006 {
		t.Fatalf("first once run read %d lines, want 3006 (the unterminated last line counts in once mode)", len(got))
	}
	if m := got[len(got)-1].Fields.GetString("message"); m != "unterminated" {
		t.Fatalf("last message %q, want the unterminated line", m)
	}
	appendFile(t, b, "\n"+numbered("b", 5, 7))
	got = run()
	wantMessages(t, messages(got), lines(numbered("b", 5, 7)))
}
