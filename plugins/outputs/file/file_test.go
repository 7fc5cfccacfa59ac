package file

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// --- helpers -----------------------------------------------------------------

// newOutput builds the output from the plugin's schema defaults overridden by
// values, as the core would. openFn defaults to the real filesystem.
func newOutput(t *testing.T, values map[string]any, openFn openFunc, log *slog.Logger) *Output {
	t.Helper()
	cfg := sdktest.Config(sdk.Lookup(sdk.KindOutput, "file"), values)
	c, err := parseConfig(cfg)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if openFn == nil {
		openFn = openOSFile
	}
	o, err := open(c, log, openFn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

func write(t *testing.T, o *Output, b *sdk.Batch) {
	t.Helper()
	if err := o.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkNDJSON fails unless content is complete lines of valid JSON.
func checkNDJSON(t *testing.T, name, content string) {
	t.Helper()
	if content != "" && !strings.HasSuffix(content, "\n") {
		t.Errorf("%s ends with a partial line: %q", name, tail(content))
	}
	for i, line := range strings.SplitAfter(content, "\n") {
		if line == "" {
			continue
		}
		if !json.Valid([]byte(strings.TrimSuffix(line, "\n"))) {
			t.Errorf("%s line %d is not valid JSON: %q", name, i+1, line)
		}
	}
}

func tail(s string) string {
	if len(s) > 80 {
		return "..." + s[len(s)-80:]
	}
	return s
}

// fixedEvent returns an event whose JSON line is the same length for every
// i < 1e6, so that rotation tests can reason in documents.
func fixedEvent(i int) sdk.Event {
	e := sdk.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.Fields.Set("message", sdk.String(fmt.Sprintf("event %06d %s", i, strings.Repeat("x", 40))))
	return e
}

func fixedBatch(first, n int) *sdk.Batch {
	b := sdk.NewBatch(n)
	for i := range n {
		b.Events = append(b.Events, fixedEvent(first+i))
	}
	return b
}

var fixedLen = int64(len(lines([]sdk.Event{fixedEvent(0)})[0]))

// faults wraps real files to observe writes and syncs and to inject
// failures. It is used only for fault injection and counting: the bytes
// still go to the real filesystem.
type faults struct {
	mu        sync.Mutex
	failWrite int   // fail the failWrite-th write from now (1 = the next one)
	writeErr  error // ... with this error, after writing half of the bytes
	failSync  int   // fail the failSync-th sync from now
	syncDown  bool  // fail every sync while set
	syncErr   error
	writes    int
	syncs     int // successful syncs
	failed    int // failed syncs
}

func (fl *faults) open(name string, flag int, perm os.FileMode) (handle, error) {
	h, err := openOSFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyHandle{handle: h, fl: fl}, nil
}

func (fl *faults) count() (writes, syncs, failed int) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.writes, fl.syncs, fl.failed
}

func (fl *faults) armWrite(nth int, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.failWrite, fl.writeErr = nth, err
}

func (fl *faults) armSync(nth int, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.failSync, fl.syncErr = nth, err
}

func (fl *faults) setSyncDown(down bool, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.syncDown, fl.syncErr = down, err
}

type faultyHandle struct {
	handle
	fl *faults
}

func (h *faultyHandle) Write(p []byte) (int, error) {
	fl := h.fl
	fl.mu.Lock()
	fl.writes++
	fail := false
	if fl.failWrite > 0 {
		fl.failWrite--
		fail = fl.failWrite == 0
	}
	fl.mu.Unlock()
	if fail {
		n, _ := h.handle.Write(p[:len(p)/2])
		return n, fl.writeErr
	}
	return h.handle.Write(p)
}

func (h *faultyHandle) Sync() error {
	fl := h.fl
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.syncDown {
		fl.failed++
		return fl.syncErr
	}
	if fl.failSync > 0 {
		fl.failSync--
		if fl.failSync == 0 {
			fl.failed++
			return fl.syncErr
		}
	}
	fl.syncs++
	return h.handle.Sync()
}

// logBuffer returns a logger writing text lines into a buffer.
func logBuffer() (*slog.Logger, *sdktest.LogBuffer) {
	var buf sdktest.LogBuffer
	return buf.Logger(slog.LevelDebug), &buf
}

// --- tests -------------------------------------------------------------------

func TestRegistered(t *testing.T) {
	p := sdk.Lookup(sdk.KindOutput, "file")
	if p == nil {
		t.Fatal(`output "file" is not registered`)
	}
	for _, o := range p.Options {
		if o.Doc == "" {
			t.Errorf("option %s has no doc", o.Name)
		}
		if !o.Required && o.Default == nil {
			t.Errorf("option %s has neither a default nor Required", o.Name)
		}
	}
	if err := p.Validate(sdktest.Config(p, map[string]any{"path": "x"})); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	out, err := p.New(sdktest.Config(p, map[string]any{"path": filepath.Join(t.TempDir(), "e.ndjson")}), sdktest.Env("output.file.t", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.(sdk.Output); !ok {
		t.Fatalf("New returned %T, not an sdk.Output", out)
	}
	out.(sdk.Closer).Close(context.Background())
}

func TestValidate(t *testing.T) {
	p := sdk.Lookup(sdk.KindOutput, "file")
	tests := []struct {
		name   string
		values map[string]any
		option string // the option the error must name; "" = valid
	}{
		{"defaults", map[string]any{"path": "a"}, ""},
		{"empty path", map[string]any{"path": ""}, "path"},
		{"mode 0640", map[string]any{"path": "a", "mode": "0640"}, ""},
		{"mode not octal", map[string]any{"path": "a", "mode": "rw-------"}, "mode"},
		{"mode 9", map[string]any{"path": "a", "mode": "0609"}, "mode"},
		{"mode too large", map[string]any{"path": "a", "mode": "01600"}, "mode"},
		{"mode without owner write", map[string]any{"path": "a", "mode": "0444"}, "mode"},
		{"negative max_size", map[string]any{"path": "a", "max_size": int64(-1)}, "max_size"},
		{"max_files 0 with rotation", map[string]any{"path": "a", "max_files": int64(0)}, "max_files"},
		{"max_files 0 without rotation", map[string]any{"path": "a", "max_files": int64(0), "max_size": int64(0)}, ""},
		{"max_files huge", map[string]any{"path": "a", "max_files": int64(1e6)}, "max_files"},
		{"unknown fsync", map[string]any{"path": "a", "fsync": "always"}, "fsync"},
		{"interval without period", map[string]any{"path": "a", "fsync": "interval", "fsync_interval": time.Duration(0)}, "fsync_interval"},
		{"never ignores interval", map[string]any{"path": "a", "fsync": "never", "fsync_interval": time.Duration(0)}, ""},
		{"negative reopen check", map[string]any{"path": "a", "reopen_check_interval": -time.Second}, "reopen_check_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.CheckOptionError(t, sdktest.Validate(p, tt.values), tt.option)
		})
	}
}

func TestWritesEventsAsNDJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	o := newOutput(t, map[string]any{"path": path}, nil, nil)
	var want []sdk.Event
	for _, n := range []int{1, 0, 7, 300} {
		b := batchOf(len(want), n)
		want = append(want, b.Events...)
		write(t, o, b)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	checkNDJSON(t, path, got)
	if exp := strings.Join(lines(want), ""); got != exp {
		t.Fatalf("file holds %d bytes, want %d; first line:\n%s", len(got), len(exp), strings.SplitAfter(got, "\n")[0])
	}
	// Spot-check the decoded structure of one line.
	var doc struct {
		Timestamp string `json:"@timestamp"`
		Process   struct {
			PID    int64 `json:"pid"`
			Parent struct {
				PID int64 `json:"pid"`
			} `json:"parent"`
		} `json:"process"`
	}
	if err := json.Unmarshal([]byte(strings.SplitAfter(got, "\n")[3]), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Timestamp != "2026-11-23T13:36:05.284Z" || doc.Process.PID != 5386 || doc.Process.Parent.PID != 5372 {
		t.Errorf("line 4 decodes to %+v", doc)
	}
}

// TestGolden pins the bytes of the file for three realistic audit events;
// README.md shows its second line.
func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	o := newOutput(t, map[string]any{"path": path}, nil, nil)
	write(t, o, batchOf(0, 3))
	got := readFile(t, path)
	golden := filepath.Join("testdata", "events.golden.ndjson")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("file differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func TestAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	prior := "{\"earlier\":true}\n"
	if err := os.WriteFile(path, []byte(prior), 0o600); err != nil {
		t.Fatal(err)
	}
	o := newOutput(t, map[string]any{"path": path}, nil, nil)
	b := batchOf(0, 3)
	write(t, o, b)
	if got, want := readFile(t, path), prior+strings.Join(lines(b.Events), ""); got != want {
		t.Fatalf("got %q\nwant %q", tail(got), tail(want))
	}
}

func TestCreatesParentDirectories(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "events.ndjson")
	newOutput(t, map[string]any{"path": path}, nil, nil)
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %#o, want 0700", d, st.Mode().Perm())
		}
	}
}

func TestMode(t *testing.T) {
	tests := []struct {
		name    string
		mode    string // "" = default
		want    os.FileMode
		rotated bool
	}{
		{"default", "", 0o600, false},
		// 0660 is wider than the usual umask 022 allows: it proves the
		// output sets the mode instead of leaving it to the umask.
		{"group writable", "0660", 0o660, false},
		{"rotated files too", "0640", 0o640, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			values := map[string]any{"path": path}
			if tt.mode != "" {
				values["mode"] = tt.mode
			}
			if tt.rotated {
				values["max_size"] = fixedLen
			}
			o := newOutput(t, values, nil, nil)
			write(t, o, fixedBatch(0, 3))
			names := []string{path}
			if tt.rotated {
				names = append(names, path+".1", path+".2")
			}
			for _, name := range names {
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != tt.want {
					t.Errorf("%s has mode %#o, want %#o", filepath.Base(name), st.Mode().Perm(), tt.want)
				}
			}
		})
	}
}

func TestExistingFileKeepsModeAndWarnsWhenBroader(t *testing.T) {
	tests := []struct {
		mode os.FileMode
		warn bool
	}{
		{0o644, true},
		{0o600, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#o", tt.mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			log, logs := logBuffer()
			o := newOutput(t, map[string]any{"path": path}, nil, log)
			write(t, o, batchOf(0, 1))
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.mode {
				t.Errorf("mode changed to %#o, want %#o kept", st.Mode().Perm(), tt.mode)
			}
			if warned := strings.Contains(logs.String(), "broader permissions"); warned != tt.warn {
				t.Errorf("warned = %v, want %v; logs:\n%s", warned, tt.warn, logs)
			}
		})
	}
}

func TestRefusesNonRegularFile(t *testing.T) {
	p := sdk.Lookup(sdk.KindOutput, "file")
	_, err := p.New(sdktest.Config(p, map[string]any{"path": "/dev/null"}), sdktest.Env("output.file.t", nil))
	var oe *sdk.OptionError
	if !errors.As(err, &oe) || oe.Option != "path" || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("want an error on path about a regular file, got %v", err)
	}
}

func TestRotation(t *testing.T) {
	L := fixedLen
	tests := []struct {
		name     string
		maxSize  int64
		maxFiles int64
		batches  []int // events per batch
		want     map[string][]int
	}{
		{
			name:    "three documents per file",
			maxSize: 3*L + L/2, maxFiles: 5,
			batches: []int{4, 1, 5},
			want: map[string][]int{
				"":   {9},
				".1": {6, 7, 8},
				".2": {3, 4, 5},
				".3": {0, 1, 2},
			},
		},
		{
			name:    "exact fit does not rotate early",
			maxSize: 3 * L, maxFiles: 5,
			batches: []int{3, 3},
			want: map[string][]int{
				"":   {3, 4, 5},
				".1": {0, 1, 2},
			},
		},
		{
			name:    "one byte short rotates",
			maxSize: 3*L - 1, maxFiles: 5,
			batches: []int{3},
			want: map[string][]int{
				"":   {2},
				".1": {0, 1},
			},
		},
		{
			name:    "oldest removed beyond max_files",
			maxSize: 2 * L, maxFiles: 2,
			batches: []int{3, 2, 4},
			want: map[string][]int{
				"":   {8},
				".1": {6, 7},
				".2": {4, 5},
			},
		},
		{
			name:    "one rotated file",
			maxSize: L, maxFiles: 1,
			batches: []int{5},
			want: map[string][]int{
				"":   {4},
				".1": {3},
			},
		},
		{
			name:    "document larger than max_size gets a file of its own",
			maxSize: L / 2, maxFiles: 10,
			batches: []int{2, 1},
			want: map[string][]int{
				"":   {2},
				".1": {1},
				".2": {0},
			},
		},
		{
			name:    "disabled",
			maxSize: 0, maxFiles: 1,
			batches: []int{50, 50},
			want:    map[string][]int{"": seq(0, 100)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "events.ndjson")
			o := newOutput(t, map[string]any{"path": path, "max_size": tt.maxSize, "max_files": tt.maxFiles}, nil, nil)
			n := 0
			for _, k := range tt.batches {
				write(t, o, fixedBatch(n, k))
				n += k
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tt.want) {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %v, want %d files", names, len(tt.want))
			}
			for suffix, docs := range tt.want {
				var events []sdk.Event
				for _, i := range docs {
					events = append(events, fixedEvent(i))
				}
				got := readFile(t, path+suffix)
				checkNDJSON(t, "events.ndjson"+suffix, got)
				if want := strings.Join(lines(events), ""); got != want {
					t.Errorf("events.ndjson%s holds\n%s\nwant\n%s", suffix, got, want)
				}
				if tt.maxSize > 0 && int64(len(got)) > tt.maxSize && len(docs) > 1 {
					t.Errorf("events.ndjson%s is %d bytes, above max_size %d", suffix, len(got), tt.maxSize)
				}
			}
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestRotationDropsFilesBeyondLoweredMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.ndjson")
	for i := 1; i <= 5; i++ {
		if err := os.WriteFile(fmt.Sprintf("%s.%d", path, i), []byte("{}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := newOutput(t, map[string]any{"path": path, "max_size": fixedLen, "max_files": int64(2)}, nil, nil)
	write(t, o, fixedBatch(0, 2))
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "events.ndjson events.ndjson.1 events.ndjson.2" {
		t.Fatalf("directory holds %s", got)
	}
	// The old path.1 became path.2; the old path.2 .. path.5 are gone.
	if got, want := readFile(t, path+".1"), lines([]sdk.Event{fixedEvent(0)})[0]; got != want {
		t.Errorf("events.ndjson.1 holds %q, want the first document", got)
	}
	if got := readFile(t, path+".2"); got != "{}\n" {
		t.Errorf("events.ndjson.2 holds %q, want the previous events.ndjson.1", got)
	}
}

func TestFsyncPolicy(t *testing.T) {
	tests := []struct {
		policy       string
		interval     time.Duration
		syncsAfter3  int // syncs after three batches
		syncsOnClose int // further syncs made by Close
	}{
		{"batch", 0, 3, 0},
		{"never", 0, 0, 1},
		{"interval", time.Hour, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			values := map[string]any{"path": path, "fsync": tt.policy}
			if tt.interval > 0 {
				values["fsync_interval"] = tt.interval
			}
			var fl faults
			o := newOutput(t, values, fl.open, nil)
			for i := range 3 {
				write(t, o, batchOf(i*10, 10))
			}
			// The bytes are in the file as soon as Write returns, whatever the policy.
			if got := strings.Count(readFile(t, path), "\n"); got != 30 {
				t.Errorf("file holds %d lines after Write returned, want 30", got)
			}
			if _, syncs, _ := fl.count(); syncs != tt.syncsAfter3 {
				t.Errorf("%d fsyncs after 3 batches, want %d", syncs, tt.syncsAfter3)
			}
			if err := o.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, syncs, _ := fl.count(); syncs != tt.syncsAfter3+tt.syncsOnClose {
				t.Errorf("%d fsyncs after Close, want %d", syncs, tt.syncsAfter3+tt.syncsOnClose)
			}
		})
	}
}

func TestFsyncIntervalSyncsInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	var fl faults
	o := newOutput(t, map[string]any{"path": path, "fsync": "interval", "fsync_interval": time.Millisecond}, fl.open, nil)
	write(t, o, batchOf(0, 5))
	sdktest.WaitFor(t, "a background fsync", 10*time.Second, func() bool { _, syncs, _ := fl.count(); return syncs >= 1 })
	// Nothing new written: the syncer stays idle.
	_, before, _ := fl.count()
	time.Sleep(20 * time.Millisecond)
	if _, after, _ := fl.count(); after != before {
		t.Errorf("syncer made %d fsyncs without new writes", after-before)
	}
}

func TestFsyncIntervalFailureStopsNextWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	var fl faults
	o := newOutput(t, map[string]any{"path": path, "fsync": "interval", "fsync_interval": time.Millisecond}, fl.open, nil)
	fl.setSyncDown(true, syscall.EIO)
	write(t, o, batchOf(0, 5))
	sdktest.WaitFor(t, "a failed background fsync", 10*time.Second, func() bool { _, _, failed := fl.count(); return failed >= 1 })
	// The next Write retries the fsync before writing, and fails with it.
	err := o.Write(context.Background(), batchOf(5, 5))
	if err == nil || sdk.IsPermanent(err) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Write after a failed background fsync returned %v, want a retryable EIO", err)
	}
	// Once the disk recovers, the retry goes through and nothing is duplicated.
	fl.setSyncDown(false, nil)
	b := batchOf(5, 5)
	write(t, o, b)
	if got := strings.Count(readFile(t, path), "\n"); got != 10 {
		t.Errorf("file holds %d lines, want 10", got)
	}
}

func TestRetryAfterFailureWritesEachDocumentOnce(t *testing.T) {
	L := fixedLen
	tests := []struct {
		name      string
		values    map[string]any
		failWrite int // fail the n-th write(2) of the batch, after writing half of it
		failSync  int // fail the n-th fsync of the batch
		err       error
		batch     int
		files     []string // expected files, newest first
	}{
		{name: "ENOSPC mid-write", failWrite: 1, err: syscall.ENOSPC, batch: 21, files: []string{""}},
		{name: "EIO mid-write", failWrite: 1, err: syscall.EIO, batch: 3, files: []string{""}},
		{name: "fsync fails after a full write", failSync: 1, err: syscall.EIO, batch: 20, files: []string{""}},
		{
			name:   "write fails after the batch rotated the file",
			values: map[string]any{"max_size": 3 * L, "max_files": int64(9)},
			// 2 documents are already in the file; the batch fills it,
			// rotates, and fails in the middle of the second file.
			failWrite: 2, err: syscall.ENOSPC, batch: 8, files: []string{"", ".1", ".2", ".3"},
		},
		{
			name:     "fsync fails after the batch rotated the file",
			values:   map[string]any{"max_size": 3 * L, "max_files": int64(9)},
			failSync: 2, err: syscall.EIO, batch: 8, files: []string{"", ".1", ".2", ".3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			values := map[string]any{"path": path}
			for k, v := range tt.values {
				values[k] = v
			}
			var fl faults
			o := newOutput(t, values, fl.open, nil)
			write(t, o, fixedBatch(0, 2))

			b := fixedBatch(2, tt.batch)
			if tt.failWrite > 0 {
				fl.armWrite(tt.failWrite, tt.err)
			} else {
				fl.armSync(tt.failSync, tt.err)
			}
			err := o.Write(context.Background(), b)
			if err == nil {
				t.Fatal("Write succeeded despite the injected fault")
			}
			if sdk.IsPermanent(err) || !errors.Is(err, tt.err) {
				t.Fatalf("Write returned %v, want a retryable %v", err, tt.err)
			}
			if tt.failWrite > 0 && strings.HasSuffix(readFile(t, path), "\n") {
				t.Fatal("the injected fault left no partial line: the test does not test anything")
			}
			if err := o.Write(context.Background(), b); err != nil {
				t.Fatalf("retry: %v", err)
			}
			write(t, o, fixedBatch(2+tt.batch, 1))

			var all strings.Builder
			for i := len(tt.files) - 1; i >= 0; i-- {
				content := readFile(t, path+tt.files[i])
				checkNDJSON(t, "events.ndjson"+tt.files[i], content)
				all.WriteString(content)
			}
			want := strings.Join(lines(fixedBatch(0, 2+tt.batch+1).Events), "")
			if all.String() != want {
				t.Errorf("files hold\n%s\nwant each document once, in order:\n%s", all.String(), want)
			}
		})
	}
}

func TestRetryOfUnrelatedBatchAfterFailure(t *testing.T) {
	// After a failed Write, the core may give up on that batch; a different
	// batch must then be written whole, not resumed.
	path := filepath.Join(t.TempDir(), "events.ndjson")
	var fl faults
	o := newOutput(t, map[string]any{"path": path, "max_size": 2 * fixedLen, "max_files": int64(9)}, fl.open, nil)
	fl.armWrite(2, syscall.ENOSPC)
	if err := o.Write(context.Background(), fixedBatch(0, 4)); err == nil {
		t.Fatal("Write succeeded despite the injected fault")
	}
	write(t, o, fixedBatch(100, 4))
	got := readFile(t, path+".2") + readFile(t, path+".1") + readFile(t, path)
	want := strings.Join(lines(append(fixedBatch(0, 2).Events, fixedBatch(100, 4).Events...)), "")
	if got != want {
		t.Errorf("files hold\n%s\nwant\n%s", got, want)
	}
}

func TestReopenAfterExternalChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(path string) error
		// old is the content the changed-away file must keep ("" = none).
		oldName string
	}{
		{"renamed (logrotate create)", func(p string) error { return os.Rename(p, p+".old") }, ".old"},
		{"removed", os.Remove, ""},
		{"replaced", func(p string) error {
			if err := os.Rename(p, p+".old"); err != nil {
				return err
			}
			return os.WriteFile(p, nil, 0o600)
		}, ".old"},
		{"truncated in place (copytruncate)", func(p string) error { return os.Truncate(p, 0) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			log, logs := logBuffer()
			o := newOutput(t, map[string]any{"path": path, "reopen_check_interval": time.Duration(0)}, nil, log)
			first, second := batchOf(0, 3), batchOf(3, 2)
			write(t, o, first)
			if err := tt.change(path); err != nil {
				t.Fatal(err)
			}
			write(t, o, second)
			if got, want := readFile(t, path), strings.Join(lines(second.Events), ""); got != want {
				t.Errorf("file at path holds %d bytes %q, want only the second batch", len(got), tail(got))
			}
			if tt.oldName != "" {
				if got, want := readFile(t, path+tt.oldName), strings.Join(lines(first.Events), ""); got != want {
					t.Errorf("moved file holds %q, want only the first batch", tail(got))
				}
			}
			if !strings.Contains(logs.String(), "by another program") {
				t.Errorf("the change was not logged:\n%s", logs)
			}
		})
	}
}

func TestReopenCheckIsRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	o := newOutput(t, map[string]any{"path": path, "reopen_check_interval": time.Hour}, nil, nil)
	write(t, o, batchOf(0, 1))
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	write(t, o, batchOf(1, 1))
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file reopened before reopen_check_interval passed (stat: %v)", err)
	}
	if got := strings.Count(readFile(t, path+".old"), "\n"); got != 2 {
		t.Errorf("moved file holds %d lines, want 2", got)
	}
}

func TestRepairsPartialLastLine(t *testing.T) {
	tests := []struct {
		name, prior, kept string
	}{
		{"torn document", "{\"a\":1}\n{\"b\":2}\n{\"c\":", "{\"a\":1}\n{\"b\":2}\n"},
		{"complete", "{\"a\":1}\n", "{\"a\":1}\n"},
		{"no newline at all", "{\"a\"", "{\"a\"\n"},
		{"torn line longer than a read chunk", "{}\n" + strings.Repeat("y", 100<<10), "{}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.ndjson")
			if err := os.WriteFile(path, []byte(tt.prior), 0o600); err != nil {
				t.Fatal(err)
			}
			o := newOutput(t, map[string]any{"path": path}, nil, nil)
			b := batchOf(0, 2)
			write(t, o, b)
			if got, want := readFile(t, path), tt.kept+strings.Join(lines(b.Events), ""); got != want {
				t.Errorf("got %q\nwant %q", tail(got), tail(want))
			}
		})
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	var fl faults
	o := newOutput(t, map[string]any{"path": path}, fl.open, nil)
	write(t, o, batchOf(0, 2))
	// A failed write leaves a partial line that Close must remove.
	fl.armWrite(1, syscall.ENOSPC)
	if err := o.Write(context.Background(), batchOf(2, 3)); err == nil {
		t.Fatal("Write succeeded despite the injected fault")
	}
	for i := range 2 {
		if err := o.Close(context.Background()); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	got := readFile(t, path)
	checkNDJSON(t, path, got)
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("file holds %d lines after Close, want 2", n)
	}
	err := o.Write(context.Background(), batchOf(4, 1))
	if !sdk.IsPermanent(err) {
		t.Errorf("Write after Close returned %v, want a permanent error", err)
	}
}

func TestWriteHonoursCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	o := newOutput(t, map[string]any{"path": path}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Write(ctx, batchOf(0, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write returned %v, want context.Canceled", err)
	}
	if got := readFile(t, path); got != "" {
		t.Errorf("cancelled Write wrote %q", got)
	}
}

func TestErrorsAreRetryableAndActionable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.ndjson")
	var fl faults
	o := newOutput(t, map[string]any{"path": path}, fl.open, nil)
	fl.armWrite(1, syscall.ENOSPC)
	err := o.Write(context.Background(), batchOf(0, 1))
	if sdk.IsPermanent(err) || !strings.Contains(err.Error(), "free disk space") || !strings.Contains(err.Error(), path) {
		t.Errorf("ENOSPC error %q should be retryable, name the file and say what to do", err)
	}
}
