package logfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestParseAuditHeader(t *testing.T) {
	tests := []struct {
		line         string
		sec, msec    int64
		serial       uint32
		ok           bool
		whatIsTested string
	}{
		{"type=SYSCALL msg=audit(1795632965.281:23): arch=c000003e", 1795632965, 281, 23, true, "raw record"},
		{"type=EOE msg=audit(1795632965.281:23): ", 1795632965, 281, 23, true, "empty body"},
		{"node=web-01 type=PATH msg=audit(1.000:1): item=0", 1, 0, 1, true, "node prefix"},
		{"type=SYSCALL msg=audit(1795632966.010:32): a=b\x1dARCH=x86_64 UID=\"root\"", 1795632966, 10, 32, true, "enriched"},
		{"type=UNKNOWN[1334] msg=audit(1.001:4294967295): x", 1, 1, 4294967295, true, "unknown type, max serial"},
		{"type=SYSCALL msg=audit(1.001:4294967296): x", 0, 0, 0, false, "serial overflows"},
		{"type=SYSCALL msg=audit(1.01:5): x", 0, 0, 0, false, "two-digit millis"},
		{"type=SYSCALL msg=audit(1.0001:5): x", 0, 0, 0, false, "four-digit millis"},
		{"type=SYSCALL msg=audit(.001:5): x", 0, 0, 0, false, "no seconds"},
		{"type=SYSCALL msg=audit(1.001:): x", 0, 0, 0, false, "no serial"},
		{"type=SYSCALL msg=audit(1.001:5 x", 0, 0, 0, false, "no closing paren"},
		{"type=SYSCALL msg=audit(1234567890123456789.001:5)", 0, 0, 0, false, "seconds too long"},
		{"type= msg=audit(1.001:5)", 0, 0, 0, false, "empty type"},
		{"node= type=SYSCALL msg=audit(1.001:5)", 0, 0, 0, false, "empty node"},
		{"type=SYSCALL  msg=audit(1.001:5)", 0, 0, 0, false, "two spaces"},
		{"type=msg=[0] msg=audit(0.000:0)", 0, 0, 0, false, "type with ="},
		{"type=SYS\tCALL msg=audit(0.000:0)", 0, 0, 0, false, "type with tab"},
		{"msg=audit(1.001:5)", 0, 0, 0, false, "no type"},
		{"Nov 23 13:36:05 host sshd[811]: Accepted", 0, 0, 0, false, "syslog line"},
		{"", 0, 0, 0, false, "empty"},
		{"type=SYSCALL", 0, 0, 0, false, "type only"},
	}
	for _, tt := range tests {
		t.Run(tt.whatIsTested, func(t *testing.T) {
			sec, msec, serial, ok := parseAuditHeader(tt.line)
			if ok != tt.ok || sec != tt.sec || msec != tt.msec || serial != tt.serial {
				t.Fatalf("parseAuditHeader(%q) = %d, %d, %d, %v; want %d, %d, %d, %v",
					tt.line, sec, msec, serial, ok, tt.sec, tt.msec, tt.serial, tt.ok)
			}
		})
	}
}

// checkAgainstGoLibaudit compares the header parser with go-libaudit's on one
// line: whatever this parser accepts, go-libaudit reads the same way (it does
// not know the node= prefix, so that is stripped for it, and it rejects
// record types it has no number for).
func checkAgainstGoLibaudit(t testing.TB, line string) {
	sec, msec, serial, ok := parseAuditHeader(line)
	if !ok {
		return
	}
	if strings.HasPrefix(line, "node=") {
		line = line[strings.IndexByte(line, ' ')+1:]
	}
	typ := line[len("type="):strings.IndexByte(line, ' ')]
	if _, err := auparse.GetAuditMessageType(typ); err != nil {
		return
	}
	msg, err := auparse.ParseLogLine(line)
	if err != nil {
		t.Fatalf("go-libaudit rejects a header this parser accepts: %q: %v", line, err)
	}
	want := time.Unix(sec, msec*int64(time.Millisecond))
	if !msg.Timestamp.Equal(want) || msg.Sequence != serial {
		t.Fatalf("%q: go-libaudit reads %v serial %d, this parser %v serial %d", line, msg.Timestamp, msg.Sequence, want, serial)
	}
}

func TestAuditHeaderMatchesGoLibaudit(t *testing.T) {
	lines := readLines(t, "testdata/audit.log")
	all := corpus.Lines(t)
	lines = append(lines, all[:min(50000, len(all))]...)
	accepted := 0
	for _, line := range lines {
		if _, _, _, ok := parseAuditHeader(line); ok {
			accepted++
		}
		checkAgainstGoLibaudit(t, line)
	}
	if accepted < len(lines)/2 {
		t.Fatalf("only %d of %d lines parsed", accepted, len(lines))
	}
}

func FuzzParseAuditHeader(f *testing.F) {
	for _, s := range []string{
		"type=SYSCALL msg=audit(1795632965.281:23): arch=c000003e",
		"node=web-01 type=PATH msg=audit(1.000:1): item=0",
		"type=SYSCALL msg=audit(1795632966.010:32): a=b\x1dARCH=x86_64",
		"type=UNKNOWN[1334] msg=audit(1.001:4294967295): x",
		"type=SYSCALL msg=audit(1.01:5): x",
		"node= type=X msg=audit(1.001:5)",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sec, msec, _, ok := parseAuditHeader(line)
		if ok && (sec < 0 || msec < 0 || msec > 999) {
			t.Fatalf("%q: out of range %d.%d", line, sec, msec)
		}
		checkAgainstGoLibaudit(t, line)
	})
}

// testHarvester stands in for an open file in decoder tests.
func testHarvester() *harvester {
	return &harvester{path: "/var/log/app.log", prefix: "0123456789abcdef"}
}

// decodeFile decodes every line of a testdata file as the input would and
// renders the events, one JSON object per line.
func decodeFile(t *testing.T, format, path string) []byte {
	t.Helper()
	in := newInput(t, nil, sdk.BatchPolicy{}, map[string]any{"paths": []string{"/x"}, "format": format})
	h := testHarvester()
	readAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []byte
	var off int64
	for _, line := range readLines(t, path) {
		ev := in.decodeFn(h, line, off, false, readAt)
		off += int64(len(line)) + 1
		out = append(out, `{"_id":`...)
		out, _ = appendJSONString(out, ev.ID)
		out = append(out, `,"event":`...)
		out = ev.AppendJSON(out)
		out = append(out, "}\n"...)
		if !json.Valid(out[bytes.LastIndexByte(out[:len(out)-1], '\n')+1:]) {
			t.Fatalf("invalid JSON for line %q", line)
		}
	}
	return out
}

func appendJSONString(dst []byte, s string) ([]byte, error) {
	b, err := json.Marshal(s)
	return append(dst, b...), err
}

func TestGolden(t *testing.T) {
	for _, tt := range []struct{ format, input, golden string }{
		{formatAudit, "testdata/audit.log", "testdata/audit.golden.ndjson"},
		{formatJSON, "testdata/json.ndjson", "testdata/json.golden.ndjson"},
		{formatLines, "testdata/audit.log", "testdata/lines.golden.ndjson"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			got := decodeFile(t, tt.format, tt.input)
			if *update {
				if err := os.WriteFile(tt.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs\n got %s\nwant %s\n(run with -update if the change is intended)", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}

func TestDecodeAudit(t *testing.T) {
	in := newInput(t, nil, sdk.BatchPolicy{}, map[string]any{"paths": []string{"/x"}, "format": formatAudit})
	readAt := time.Now()
	enriched := "node=n1 type=EXECVE msg=audit(1795632965.281:25): argc=1 a0=\"id\"\x1dARGC=1"
	ev := in.decodeFn(testHarvester(), enriched, 42, false, readAt)
	if want := time.Unix(1795632965, 281e6); !ev.Time.Equal(want) {
		t.Errorf("time %v, want %v from the header", ev.Time, want)
	}
	if ev.Fields.GetString(sdk.FieldMessage) != enriched {
		t.Errorf("message %q is not the line verbatim", ev.Fields.GetString(sdk.FieldMessage))
	}
	if ev.Fields.Has(sdk.FieldErrorMessage) {
		t.Errorf("unexpected error.message %q", ev.Fields.GetString(sdk.FieldErrorMessage))
	}
	if ev.ID != "0123456789abcdef-42" {
		t.Errorf("ID %q", ev.ID)
	}
	ev = in.decodeFn(testHarvester(), "plain text", 0, false, readAt)
	if !ev.Time.Equal(readAt) || ev.Fields.GetString(sdk.FieldErrorMessage) == "" || ev.Fields.GetString(sdk.FieldMessage) != "plain text" {
		t.Errorf("a non-audit line must flow on with the read time and error.message: %+v", ev)
	}
}

// conflictFree reports whether no key of f is also the parent of another.
func conflictFree(f *sdk.Fields) bool { return len(parentLeaves(f)) == 0 }

func FuzzFlattenJSON(f *testing.F) {
	for _, line := range readLines(f, "testdata/json.ndjson") {
		f.Add(line)
	}
	f.Add(`{"":{"":1},".":2,"a.":3}`)
	f.Add(`{"error":"x","@timestamp":"bad","error.message":{"y":1}}`)
	f.Add(`{"log":{"file":{"path":{"x":1}},"offset":"no"},"event.original":{"z":2}}`)
	in := newInput(f, nil, sdk.BatchPolicy{}, map[string]any{"paths": []string{"/x"}, "format": formatJSON})
	readAt := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, line string) {
		ev := in.decodeFn(testHarvester(), line, 7, false, readAt)
		if !conflictFree(&ev.Fields) {
			t.Fatalf("%q: a key is both a value and an object: %v", line, ev.Fields.All())
		}
		out := ev.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("%q: encodes to invalid JSON %s", line, out)
		}
		if ev.Fields.GetString(sdk.FieldLogFilePath) == "" {
			t.Fatalf("%q: log.file.path lost", line)
		}
		// A line that is not an object keeps its text in message; an object
		// that could not be kept whole keeps it in event.original.
		isObject := strings.HasPrefix(strings.Trim(line, " \t\r\n"), "{") && json.Valid([]byte(line))
		switch {
		case !isObject:
			if ev.Fields.GetString(sdk.FieldMessage) != line || !ev.Fields.Has(sdk.FieldErrorMessage) {
				t.Fatalf("%q: not an object, but message/error.message are not set: %s", line, out)
			}
		case ev.Fields.Has(sdk.FieldErrorMessage) && ev.Fields.GetString(fieldEventOriginal) != line:
			t.Fatalf("%q: annotated but the line is not kept: %s", line, out)
		}
		if off, _ := ev.Fields.Get(sdk.FieldLogOffset); off.Int() != 7 {
			t.Fatalf("%q: log.offset lost: %s", line, out)
		}
		again := in.decodeFn(testHarvester(), line, 7, false, readAt)
		if !again.Fields.Equal(&ev.Fields) || !again.Time.Equal(ev.Time) {
			t.Fatalf("%q: decoding is not deterministic", line)
		}
	})
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
