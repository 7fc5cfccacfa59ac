package hash

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

func hexOf(sum []byte) string { return hex.EncodeToString(sum) }

func sha(b []byte) string { s := sha256.Sum256(b); return hexOf(s[:]) }

func newProc(t testing.TB, values map[string]any) *Processor {
	t.Helper()
	p := sdk.Lookup(sdk.KindProcessor, "hash")
	if p == nil {
		t.Fatal("hash processor not registered")
	}
	cfg := sdktest.Config(p, values)
	if err := p.Validate(cfg); err != nil {
		t.Fatalf("validate: %v", err)
	}
	c, err := p.New(cfg, sdktest.Env("processor.hash.test", nil))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Processor)
}

func event(kv ...string) sdk.Event {
	var ev sdk.Event
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Fields.Set(kv[i], sdk.String(kv[i+1]))
	}
	return ev
}

func process(t testing.TB, p *Processor, evs ...sdk.Event) []sdk.Event {
	t.Helper()
	b := sdk.NewBatch(len(evs))
	b.Events = append(b.Events, evs...)
	col := sdktest.NewCollector()
	if err := p.Process(context.Background(), b, col); err != nil {
		t.Fatalf("Process: %v", err)
	}
	return col.Events()
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHashes(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	exe := filepath.Join(dir, "exe")
	write(t, a, "abc")
	write(t, exe, "")
	p := newProc(t, map[string]any{
		"fields":     []string{"file.path", "process.executable"},
		"hash_types": []string{"sha256", "md5"},
	})
	out := process(t, p,
		event("file.path", a, "process.executable", exe),
		event("file.path", a),
		event("message", "no file here"),
	)
	if len(out) != 3 {
		t.Fatalf("got %d events, want 3", len(out))
	}
	md5abc := md5.Sum([]byte("abc"))
	tests := []struct {
		ev    int
		field string
		want  string
	}{
		// Published vectors: sha256("abc"), sha256(""), md5("abc").
		{0, "file.hash.sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{0, "file.hash.md5", hexOf(md5abc[:])},
		{0, "process.hash.sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{1, "file.hash.sha256", sha([]byte("abc"))},
	}
	for _, tt := range tests {
		if got := out[tt.ev].Fields.GetString(tt.field); got != tt.want {
			t.Errorf("event %d %s = %q, want %q", tt.ev, tt.field, got, tt.want)
		}
	}
	if out[1].Fields.Has("process.hash.sha256") {
		t.Error("event without process.executable got process hashes")
	}
	want := event("message", "no file here")
	if !out[2].Fields.Equal(&want.Fields) {
		t.Errorf("event without the field changed: %v", out[2].Fields.All())
	}
	if s := p.Stats(); s.Hashed != 2 || s.Misses != 2 || s.Hits != 0 {
		t.Errorf("stats %+v: want 2 files hashed (a batch hashes each distinct path once)", s)
	}
}

func TestTarget(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	write(t, a, "abc")
	p := newProc(t, map[string]any{"fields": []string{"x.name"}, "target": "x.digest"})
	out := process(t, p, event("x.name", a), event("x.name", filepath.Join(dir, "missing")))
	if got := out[0].Fields.GetString("x.digest.sha256"); got != sha([]byte("abc")) {
		t.Errorf("x.digest.sha256 = %q", got)
	}
	if got := out[1].Fields.GetString("x.digest_skipped_reason"); got != ReasonNotFound {
		t.Errorf("x.digest_skipped_reason = %q, want %q", got, ReasonNotFound)
	}
}

func TestDefaultTarget(t *testing.T) {
	for in, want := range map[string]string{
		"file.path":          "file.hash",
		"process.executable": "process.hash",
		"a.b.c":              "a.b.hash",
		"path":               "path.hash",
	} {
		if got := DefaultTarget(in); got != want {
			t.Errorf("DefaultTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	write(t, a, "one")
	p := newProc(t, nil)
	var reads int
	p.testHook = func(string) { reads++ }

	check := func(step, want string, wantReads int) {
		t.Helper()
		out := process(t, p, event("file.path", a))
		if got := out[0].Fields.GetString("file.hash.sha256"); got != want {
			t.Errorf("%s: hash %q, want %q", step, got, want)
		}
		if reads != wantReads {
			t.Errorf("%s: file read %d times, want %d", step, reads, wantReads)
		}
	}
	check("first", sha([]byte("one")), 1)
	check("cached", sha([]byte("one")), 1)

	// Same size, new modification time.
	write(t, a, "two")
	mt := time.Now().Add(time.Hour)
	if err := os.Chtimes(a, mt, mt); err != nil {
		t.Fatal(err)
	}
	check("rewritten, same size", sha([]byte("two")), 2)

	// New size, modification time put back.
	write(t, a, "three")
	if err := os.Chtimes(a, mt, mt); err != nil {
		t.Fatal(err)
	}
	check("grown, same mtime", sha([]byte("three")), 3)

	// Replaced by another file (new inode) with the same size and mtime.
	b := filepath.Join(dir, "b")
	write(t, b, "four!")
	if err := os.Chtimes(b, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, a); err != nil {
		t.Fatal(err)
	}
	want := 4
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		want = 3 // keyed by path, size and mtime: the replacement is not seen
	}
	if want == 4 {
		check("replaced", sha([]byte("four!")), want)
	}
	if s := p.Stats(); s.Hits != 1 {
		t.Errorf("stats %+v: want 1 cache hit", s)
	}
}

func TestCacheEviction(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 3 {
		f := filepath.Join(dir, string(rune('a'+i)))
		write(t, f, f)
		paths = append(paths, f)
	}
	p := newProc(t, map[string]any{"cache_size": int64(2)})
	var reads []string
	p.testHook = func(path string) { reads = append(reads, filepath.Base(path)) }
	for _, f := range []int{0, 1, 0, 2, 0, 1} {
		process(t, p, event("file.path", paths[f]))
	}
	// a, b read; a hit; c read (evicts b, least recent); a hit; b read again.
	if got := strings.Join(reads, ","); got != "a,b,c,b" {
		t.Errorf("files read: %s, want a,b,c,b", got)
	}
	if n := p.cache.len(); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}

	off := newProc(t, map[string]any{"cache_size": int64(0)})
	n := 0
	off.testHook = func(string) { n++ }
	process(t, off, event("file.path", paths[0]))
	process(t, off, event("file.path", paths[0]))
	if n != 2 {
		t.Errorf("cache_size 0: file read %d times, want 2", n)
	}
}

func TestSkipped(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	write(t, big, strings.Repeat("x", 2048))
	small := filepath.Join(dir, "small")
	write(t, small, "ok")
	fifo := filepath.Join(dir, "fifo")
	haveFifo := mkfifo(fifo) == nil
	noperm := filepath.Join(dir, "noperm")
	write(t, noperm, "secret")
	if err := os.Chmod(noperm, 0); err != nil {
		t.Fatal(err)
	}
	canReadAnyway := false
	if f, err := os.Open(noperm); err == nil { // root
		f.Close()
		canReadAnyway = true
	}

	p := newProc(t, map[string]any{"max_file_size": int64(1024)})
	tests := []struct {
		path, reason string
		skip         bool
	}{
		{filepath.Join(dir, "missing"), ReasonNotFound, false},
		{big, ReasonTooLarge, false},
		{dir, ReasonNotRegular, false},
		{fifo, ReasonNotRegular, !haveFifo},
		{noperm, ReasonPermission, canReadAnyway},
		{small, "", false},
	}
	var evs []sdk.Event
	for _, tt := range tests {
		evs = append(evs, event("file.path", tt.path))
	}
	out := process(t, p, evs...)
	for i, tt := range tests {
		if tt.skip {
			continue
		}
		f := &out[i].Fields
		if got := f.GetString("file.hash_skipped_reason"); got != tt.reason {
			t.Errorf("%s: reason %q, want %q", filepath.Base(tt.path), got, tt.reason)
		}
		if got := f.GetString("file.path"); got != tt.path {
			t.Errorf("%s: file.path changed to %q", filepath.Base(tt.path), got)
		}
		if has := f.Has("file.hash.sha256"); has != (tt.reason == "") {
			t.Errorf("%s: has hash %v", filepath.Base(tt.path), has)
		}
	}
}

func TestTimeout(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	write(t, a, "abc")
	p := newProc(t, map[string]any{"timeout": 10 * time.Millisecond})
	// The file's time runs out before it is read.
	p.testHook = func(string) { time.Sleep(50 * time.Millisecond) }
	out := process(t, p, event("file.path", a))
	if got := out[0].Fields.GetString("file.hash_skipped_reason"); got != ReasonTimeout {
		t.Errorf("reason %q, want %q", got, ReasonTimeout)
	}
	if p.cache.len() != 0 {
		t.Error("a timed-out file was cached")
	}
	// Next time, with time enough, it is hashed (10ms is not enough on a
	// loaded machine, even for three bytes).
	p.testHook = nil
	p.timeout = time.Minute
	out = process(t, p, event("file.path", a))
	if got := out[0].Fields.GetString("file.hash.sha256"); got != sha([]byte("abc")) {
		t.Errorf("after a timeout: hash %q", got)
	}
}

func TestWorkers(t *testing.T) {
	dir := t.TempDir()
	var evs []sdk.Event
	want := map[string]string{}
	for i := range 20 {
		f := filepath.Join(dir, "f"+string(rune('a'+i)))
		data := strings.Repeat(string(rune('a'+i)), 100*i+1)
		write(t, f, data)
		want[f] = sha([]byte(data))
		evs = append(evs, event("file.path", f), event("file.path", f))
	}
	p := newProc(t, nil)
	out := process(t, p, evs...)
	for _, ev := range out {
		f := ev.Fields.GetString("file.path")
		if got := ev.Fields.GetString("file.hash.sha256"); got != want[f] {
			t.Errorf("%s: %q, want %q", f, got, want[f])
		}
	}
	if s := p.Stats(); s.Hashed != 20 {
		t.Errorf("hashed %d files, want 20", s.Hashed)
	}
}

func TestValidate(t *testing.T) {
	plug := sdk.Lookup(sdk.KindProcessor, "hash")
	tests := []struct {
		values map[string]any
		option string
	}{
		{map[string]any{}, ""},
		{map[string]any{"fields": []string{}}, "fields"},
		{map[string]any{"fields": []string{"a", "a"}}, "fields"},
		{map[string]any{"fields": []string{"file."}}, "fields"},
		{map[string]any{"fields": []string{"a.b", "c.d"}, "target": "x"}, "target"},
		{map[string]any{"hash_types": []string{}}, "hash_types"},
		{map[string]any{"hash_types": []string{"crc32"}}, "hash_types"},
		{map[string]any{"max_file_size": int64(-1)}, "max_file_size"},
		{map[string]any{"cache_size": int64(-1)}, "cache_size"},
		{map[string]any{"timeout": time.Duration(0)}, "timeout"},
	}
	for _, tt := range tests {
		err := sdktest.Validate(plug, tt.values)
		if tt.option == "" {
			if err != nil {
				t.Errorf("%v: %v", tt.values, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.option) {
			t.Errorf("%v: error %v, want one about %s", tt.values, err, tt.option)
		}
	}
}
