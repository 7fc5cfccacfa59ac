package deadletter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func event(id string) *sdk.Event {
	ev := &sdk.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ID: id}
	ev.Fields.Set("process.pid", sdk.String("not-a-number"))
	ev.Fields.Set("event.action", sdk.String("executed"))
	return ev
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestWriteKeepsEventAndReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dead.ndjson")
	w, err := Open(Config{Path: path}, "output.elasticsearch.main")
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write([]Entry{
		{Event: event("a"), Reason: "mapper_parsing_exception: failed to parse field [process.pid] of type [long]"},
		{Event: event("b"), Reason: "message too large"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	l := lines[0]
	if l["component"] != "output.elasticsearch.main" || !strings.HasPrefix(l["reason"].(string), "mapper_parsing_exception") {
		t.Fatalf("line: %v", l)
	}
	ev := l["event"].(map[string]any)
	if ev["@timestamp"] != "2026-01-02T03:04:05.000Z" || ev["process"].(map[string]any)["pid"] != "not-a-number" {
		t.Fatalf("event not kept as written: %v", ev)
	}
	// Reopening appends.
	w, _ = Open(Config{Path: path}, "output.x.y")
	w.Write([]Entry{{Event: event("c"), Reason: "r"}})
	w.Close()
	if n := len(readLines(t, path)); n != 3 {
		t.Fatalf("after reopen: %d lines, want 3", n)
	}
}

func TestRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	w, _ := Open(Config{Path: path, MaxSize: 400}, "output.x.y")
	defer w.Close()
	for i := 0; i < 6; i++ {
		if err := w.Write([]Entry{{Event: event("a"), Reason: strings.Repeat("r", 50)}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, old := readLines(t, path), readLines(t, path+".1")
	if len(cur) == 0 || len(old) == 0 {
		t.Fatalf("current %d lines, rotated %d lines", len(cur), len(old))
	}
	if st, _ := os.Stat(path); st.Size() > 400 {
		t.Fatalf("current file %d bytes, max 400", st.Size())
	}
}

func TestUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	_, err := Open(Config{Path: filepath.Join(blocker, "dead.ndjson")}, "output.x.y")
	if err == nil {
		t.Fatal("opened a dead letter under a regular file")
	}
}
