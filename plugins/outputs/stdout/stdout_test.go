package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleBatch covers what the formats treat differently: nested fields, a
// message, no message, a message that is not a string, and a message with
// terminal escapes, newlines and invalid UTF-8.
func sampleBatch() *sdk.Batch {
	at := time.Date(2026, 11, 23, 13, 36, 5, 281_000_000, time.UTC)
	b := sdk.NewBatch(5)
	add := func(fields ...any) {
		e := sdk.Event{Time: at}
		for i := 0; i < len(fields); i += 2 {
			e.Fields.Set(fields[i].(string), fields[i+1].(sdk.Value))
		}
		b.Events = append(b.Events, e)
		at = at.Add(time.Millisecond)
	}
	add("message", sdk.String("root executed /usr/bin/mkdir -p /tmp/wl"),
		"event.action", sdk.String("executed"),
		"process.pid", sdk.Int(5384),
		"process.parent.pid", sdk.Int(5383),
		"process.args", sdk.Strings([]string{"mkdir", "-p", "/tmp/wl"}))
	add("event.action", sdk.String("opened-file"),
		"file.path", sdk.String("/etc/passwd"),
		"auditd.paths", sdk.Objects([]sdk.Fields{fields("name", sdk.String("/etc/passwd"), "inode", sdk.String("1234"))}))
	add("message", sdk.Int(42))
	add("message", sdk.String("\x1b[31mred\x1b[0m line one\nline two\tafter a tab, bad byte \xff, C1 \u009b, kept: é ✓"))
	add("message", sdk.Value{}, "event.kind", sdk.String("event"))
	return b
}

func fields(kv ...any) sdk.Fields {
	var f sdk.Fields
	for i := 0; i < len(kv); i += 2 {
		f.Set(kv[i].(string), kv[i+1].(sdk.Value))
	}
	return f
}

// countingWriter records each Write call.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestFormats(t *testing.T) {
	for _, format := range []string{formatJSON, formatPretty, formatMessage} {
		t.Run(format, func(t *testing.T) {
			var w countingWriter
			o, err := newOutput(&w, format)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Write(context.Background(), sampleBatch()); err != nil {
				t.Fatal(err)
			}
			if w.calls != 1 {
				t.Errorf("%d writes for one batch, want 1", w.calls)
			}
			golden := filepath.Join("testdata", format+".golden")
			if *update {
				if err := os.WriteFile(golden, w.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(w.Bytes(), want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, w.Bytes())
			}
		})
	}
}

func TestJSONFormatIsTheEventsNDJSON(t *testing.T) {
	var w bytes.Buffer
	o, _ := newOutput(&w, formatJSON)
	b := sampleBatch()
	if err := o.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(got) != len(b.Events) {
		t.Fatalf("%d lines for %d events", len(got), len(b.Events))
	}
	for i, line := range got {
		if want := string(b.Events[i].AppendJSON(nil)); line != want {
			t.Errorf("line %d = %s, want %s", i+1, line, want)
		}
	}
}

func TestPrettyFormatDecodesToTheSameDocuments(t *testing.T) {
	var w bytes.Buffer
	o, _ := newOutput(&w, formatPretty)
	b := sampleBatch()
	if err := o.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&w)
	for i := range b.Events {
		var got, want any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		json.Unmarshal(b.Events[i].AppendJSON(nil), &want)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("document %d = %s, want %s", i+1, gb, wb)
		}
	}
}

func TestMessageFormatKeepsOneLinePerEvent(t *testing.T) {
	var w bytes.Buffer
	o, _ := newOutput(&w, formatMessage)
	b := sampleBatch()
	if err := o.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	if n := strings.Count(out, "\n"); n != len(b.Events) {
		t.Errorf("%d lines for %d events", n, len(b.Events))
	}
	if strings.ContainsAny(out, "\x1b\u009b") {
		t.Errorf("terminal control characters reached the output: %q", out)
	}
}

func TestEmptyBatchWritesNothing(t *testing.T) {
	var w countingWriter
	o, _ := newOutput(&w, formatJSON)
	if err := o.Write(context.Background(), sdk.NewBatch(0)); err != nil {
		t.Fatal(err)
	}
	if w.calls != 0 {
		t.Errorf("%d writes for an empty batch", w.calls)
	}
}

// failingWriter accepts the first `accept` bytes of its next write and then
// fails with err, once.
type failingWriter struct {
	bytes.Buffer
	accept int
	err    error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		return w.Buffer.Write(p)
	}
	n, _ := w.Buffer.Write(p[:min(w.accept, len(p))])
	err := w.err
	w.err = nil
	return n, err
}

func TestRetryWritesTheRestOnce(t *testing.T) {
	var want bytes.Buffer
	ref, _ := newOutput(&want, formatJSON)
	b := sampleBatch()
	ref.Write(context.Background(), b)

	w := &failingWriter{accept: 100, err: syscall.EAGAIN}
	o, _ := newOutput(w, formatJSON)
	err := o.Write(context.Background(), b)
	if err == nil || sdk.IsPermanent(err) {
		t.Fatalf("Write returned %v, want a retryable error", err)
	}
	if err := o.Write(context.Background(), b); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A different batch after the retry is written whole.
	next := sampleBatch()
	next.Events = next.Events[:1]
	if err := o.Write(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	ref.Write(context.Background(), next)
	if w.String() != want.String() {
		t.Errorf("got\n%s\nwant\n%s", w.String(), want.String())
	}
}

func TestClosedStdoutIsPermanent(t *testing.T) {
	for _, werr := range []error{syscall.EPIPE, os.ErrClosed} {
		o, _ := newOutput(&failingWriter{err: werr}, formatJSON)
		err := o.Write(context.Background(), sampleBatch())
		if !sdk.IsPermanent(err) || !errors.Is(err, werr) {
			t.Errorf("write failing with %v returned %v, want a permanent error", werr, err)
		}
	}
}

func TestPlugin(t *testing.T) {
	p := sdk.Lookup(sdk.KindOutput, "stdout")
	if p == nil {
		t.Fatal(`output "stdout" is not registered`)
	}
	out, err := p.New(sdktest.Config(p, nil), sdktest.Env("output.stdout.t", nil))
	if err != nil {
		t.Fatal(err)
	}
	if o := out.(*Output); o.w != os.Stdout || o.format != formatJSON {
		t.Errorf("default output writes %s to %v, want json to os.Stdout", o.format, o.w)
	}
	if _, err := p.New(sdktest.Config(p, map[string]any{"format": "yaml"}), sdktest.Env("output.stdout.t", nil)); err == nil {
		t.Error("format yaml accepted")
	}
}

func TestAppendLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"a\nb\r\n", `a\x0ab\x0d\x0a`},
		{"\x1b[2J", `\x1b[2J`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b1m", `csi\u009b1m`},
		{"bad\xff\xfebytes", "bad\ufffd\ufffdbytes"},
		{"utf-8: é ✓ 𝄞", "utf-8: é ✓ 𝄞"},
	}
	for _, tt := range tests {
		if got := string(appendLine(nil, tt.in)); got != tt.want {
			t.Errorf("appendLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, format := range []string{formatJSON, formatPretty, formatMessage} {
		b.Run(format, func(b *testing.B) {
			o, _ := newOutput(io.Discard, format)
			batch := sdk.NewBatch(1024)
			for len(batch.Events) < 1024 {
				batch.Events = append(batch.Events, sampleBatch().Events...)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := o.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch.Events))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
