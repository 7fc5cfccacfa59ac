package fim

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestFileRoot(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	write(t, conf, "v1")
	r := start(t, state, map[string]any{"paths": []string{conf}}, nil)
	r.waitFor(actInitialScan, conf)
	write(t, filepath.Join(dir, "other"), "o")
	// An editor's save: write a temporary file, rename it over the original.
	tmp := filepath.Join(dir, ".app.conf.tmp")
	write(t, tmp, "v2")
	if err := os.Rename(tmp, conf); err != nil {
		t.Fatal(err)
	}
	r.settle()
	var last sdk.Event
	for _, ev := range r.col.Events() {
		p := ev.Fields.GetString("file.path")
		if p != conf {
			t.Errorf("event for a path not in paths: %s %s", ev.Fields.GetString("event.action"), p)
		}
		last = ev
	}
	if last.Fields.GetString("file.hash.sha256") != sum([]byte("v2")) {
		t.Errorf("last event does not carry the new content:\n%s", r.summary())
	}
}

func TestDirectoryMovedWithinTree(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(dir, "old", "inner"), 0o755)
	write(t, filepath.Join(dir, "old", "inner", "f"), "f")
	r := start(t, state, map[string]any{"paths": []string{dir}, "recursive": true}, nil)
	r.waitFor(actInitialScan, filepath.Join(dir, "old", "inner", "f"))
	r.settle()
	if err := os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	mv := r.waitFor(actMoved, filepath.Join(dir, "new"))
	if mv.Fields.GetString("file.old_path") != filepath.Join(dir, "old") {
		t.Errorf("old path %q", mv.Fields.GetString("file.old_path"))
	}
	r.settle()
	// The entries came along without events, and the new tree is watched.
	write(t, filepath.Join(dir, "new", "inner", "g"), "g")
	r.waitFor(actCreated, filepath.Join(dir, "new", "inner", "g"))
	write(t, filepath.Join(dir, "new", "inner", "f"), "changed")
	r.waitFor(actUpdated, filepath.Join(dir, "new", "inner", "f"))
}

// TestGoldenEvent checks the whole shape of an event; fields that depend on
// the machine (inode, device, owner, times set by the kernel, the temporary
// directory) are masked.
func TestGoldenEvent(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	p := filepath.Join(dir, "motd")
	write(t, p, "Welcome\n")
	os.Chmod(p, 0o640)
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, mt, mt)
	os.Symlink("motd", filepath.Join(dir, "link"))
	r := start(t, state, map[string]any{"paths": []string{dir}, "hash_types": []string{"md5", "sha256", "xxh64"}}, nil)
	r.waitFor(actInitialScan, filepath.Join(dir, "link"))
	r.waitFor(actInitialScan, p)
	var docs []map[string]any
	for _, ev := range r.col.Events() {
		if ev.Fields.GetString("file.path") == dir {
			continue
		}
		doc := map[string]any{}
		for _, f := range ev.Fields.All() {
			v := f.Value.Text()
			switch f.Key {
			case "file.inode", "file.device", "file.uid", "file.gid", "file.owner", "file.group", "file.ctime":
				v = "<masked>"
			case "file.mtime":
				if strings.HasSuffix(ev.Fields.GetString("file.path"), "link") {
					v = "<masked>"
				}
			}
			doc[f.Key] = strings.ReplaceAll(v, dir, "DIR")
		}
		docs = append(docs, doc)
	}
	got, _ := json.MarshalIndent(docs, "", "  ")
	golden := filepath.Join("testdata", "initial_scan.golden.json")
	if *updateGolden {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFollowSymlinks(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write(t, filepath.Join(other, "target"), "t")
	os.Mkdir(filepath.Join(other, "d"), 0o755)
	write(t, filepath.Join(other, "d", "inside"), "i")
	os.Symlink(filepath.Join(other, "target"), filepath.Join(dir, "lf"))
	os.Symlink(filepath.Join(other, "d"), filepath.Join(dir, "ld"))
	os.Symlink(dir, filepath.Join(dir, "loop")) // must not be walked forever
	for _, follow := range []bool{false, true} {
		r := start(t, t.TempDir(), map[string]any{"paths": []string{dir}, "recursive": true, "follow_symlinks": follow}, nil)
		lf := r.waitFor(actInitialScan, filepath.Join(dir, "lf"))
		r.settle()
		r.stop()
		hashed := lf.Fields.GetString("file.hash.sha256") == sum([]byte("t"))
		if hashed != follow || lf.Fields.GetString("file.target_path") != filepath.Join(other, "target") {
			t.Errorf("follow=%v: link event %v", follow, lf.Fields.All())
		}
		inside := false
		for _, a := range r.actions() {
			inside = inside || a == actInitialScan+" "+filepath.Join(dir, "ld", "inside")
		}
		if inside != follow {
			t.Errorf("follow=%v: descended into the linked directory: %v\n%s", follow, inside, r.summary())
		}
	}
}

// An empty tree on the first run is still a first run: what appears while
// stopped afterwards is "created", not "initial_scan".
func TestEmptyFirstRun(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	a := filepath.Join(dir, "a") // not there yet
	r := start(t, state, map[string]any{"paths": []string{a}}, nil)
	r.settle()
	r.stop()
	if r.col.Len() != 0 {
		t.Fatalf("events for an empty tree:\n%s", r.summary())
	}
	write(t, a, "a")
	r2 := start(t, state, map[string]any{"paths": []string{a}}, nil)
	r2.waitFor(actCreated, a)
}
