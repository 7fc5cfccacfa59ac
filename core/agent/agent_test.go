package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/engine-audit/engine/plugins/all"
	_ "github.com/engine-audit/engine/plugins/inputs/logfile"
)

// pipelineHCL tails `in` line by line into the NDJSON file `out`.
func pipelineHCL(in, out string) string {
	return fmt.Sprintf(`
input "logfile" "src" {
  paths         = [%q]
  format        = "lines"
  poll_interval = "20ms"
}
output "file" "dst" {
  inputs = [input.logfile.src]
  path   = %q
}
`, in, out)
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		fmt.Fprintf(f, "line %d\n", i)
	}
}

// readMessages returns the message field of every document in an NDJSON file.
func readMessages(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var doc struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("%s holds invalid JSON %q: %v", path, sc.Text(), err)
		}
		out = append(out, doc.Message)
	}
	return out
}

func (r *running) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-r.errc:
			t.Fatalf("agent exited while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type running struct {
	cancel context.CancelFunc
	reload chan struct{}
	errc   chan error
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, reload: make(chan struct{}, 1), errc: make(chan error, 1)}
	go func() { r.errc <- New(opts).Run(ctx, r.reload) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func expectSequence(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d documents, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("line %d", i); m != want {
			t.Fatalf("document %d is %q, want %q (lost or repeated lines)", i, m, want)
		}
	}
}

func TestRestartNeitherLosesNorRepeats(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.ndjson")
	pipe := filepath.Join(dir, "pipeline.hcl")
	if err := os.WriteFile(pipe, []byte(pipelineHCL(in, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Paths: []string{pipe}, StateDir: filepath.Join(dir, "state")}

	appendLines(t, in, 0, 500)
	r := start(t, opts)
	r.waitFor(t, "500 documents", func() bool { return len(readMessages(t, out)) >= 500 })
	appendLines(t, in, 500, 700)
	r.waitFor(t, "700 documents", func() bool { return len(readMessages(t, out)) >= 700 })
	r.stop(t)

	// Lines written while engine is down are picked up from the checkpoint.
	appendLines(t, in, 700, 1000)
	r = start(t, opts)
	r.waitFor(t, "1000 documents", func() bool { return len(readMessages(t, out)) >= 1000 })
	r.stop(t)
	expectSequence(t, readMessages(t, out), 1000)
}

func TestReloadAppliesValidPipelineAndKeepsRunningOnInvalid(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	out1, out2 := filepath.Join(dir, "one.ndjson"), filepath.Join(dir, "two.ndjson")
	pipe := filepath.Join(dir, "pipeline.hcl")
	write := func(s string) {
		if err := os.WriteFile(pipe, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(pipelineHCL(in, out1))
	r := start(t, Options{Paths: []string{pipe}, StateDir: filepath.Join(dir, "state")})
	appendLines(t, in, 0, 100)
	r.waitFor(t, "100 documents in the first output", func() bool { return len(readMessages(t, out1)) >= 100 })

	// An invalid pipeline is rejected; the running one keeps going.
	write(`input "logfile" "src" { paths = 42 }`)
	r.reload <- struct{}{}
	appendLines(t, in, 100, 150)
	r.waitFor(t, "150 documents after a rejected reload", func() bool { return len(readMessages(t, out1)) >= 150 })

	// A valid pipeline replaces it and continues from the checkpoint.
	write(pipelineHCL(in, out2))
	r.reload <- struct{}{}
	r.waitFor(t, "the new pipeline to write", func() bool { _, err := os.Stat(out2); return err == nil })
	appendLines(t, in, 150, 200)
	r.waitFor(t, "50 documents in the second output", func() bool { return len(readMessages(t, out2)) >= 50 })
	r.stop(t)

	all := append(readMessages(t, out1), readMessages(t, out2)...)
	expectSequence(t, all, 200)
}

func TestInvalidPipelineReturnsDiagnostics(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "p.hcl")
	os.WriteFile(pipe, []byte("output \"file\" \"x\" {\n  inputs = [input.logfile.nope]\n  path = \"x\"\n}\n"), 0o644)
	err := New(Options{Paths: []string{pipe}, StateDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(context.Background(), nil)
	de, ok := err.(*DiagnosticsError)
	if !ok {
		t.Fatalf("Run = %v, want *DiagnosticsError", err)
	}
	found := false
	for _, d := range de.Diags {
		if d.Subject != nil && d.Subject.Start.Line == 2 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no diagnostic on line 2 (the unknown reference): %v", de.Diags)
	}
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.ndjson")
	pipe := filepath.Join(dir, "pipeline.hcl")
	os.WriteFile(pipe, []byte(pipelineHCL(in, out)), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	appendLines(t, in, 0, 42)
	r := start(t, Options{Paths: []string{pipe}, StateDir: filepath.Join(dir, "state"), HTTPAddress: &addr})
	defer r.stop(t)
	r.waitFor(t, "42 documents", func() bool { return len(readMessages(t, out)) >= 42 })

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	r.waitFor(t, "the sent counter to reach 42", func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `engine_component_sent_events_total{component_id="output.file.dst",component_kind="output",component_type="file"} 42`)
	})
	_, body := get("/metrics")
	for _, want := range []string{
		`engine_component_sent_events_total{component_id="input.logfile.src",component_kind="input",component_type="logfile"} 42`,
		`engine_component_received_events_total{component_id="output.file.dst",component_kind="output",component_type="file"} 42`,
		`engine_component_queue_batches{component_id="output.file.dst"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, body := get("/healthz")
	var h struct {
		Status     string                    `json:"status"`
		Components map[string]map[string]any `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || h.Status != "ok" {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if h.Components["input.logfile.src"]["state"] != "running" {
		t.Fatalf("/healthz components = %v", h.Components)
	}
}
