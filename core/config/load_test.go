package config

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/engine-audit/engine/sdk"
)

func mustLoad(t *testing.T, paths []string, opts LoadOptions) *Pipeline {
	t.Helper()
	p, diags := Load(paths, opts)
	if len(diags) > 0 {
		var buf bytes.Buffer
		_ = WriteText(&buf, p.Files, diags, false)
		t.Fatalf("unexpected diagnostics:\n%s", buf.String())
	}
	return p
}

func mustLoadSource(t *testing.T, src string, opts LoadOptions) *Pipeline {
	t.Helper()
	p, diags := LoadSource(map[string][]byte{"test.hcl": []byte(src)}, opts)
	if len(diags) > 0 {
		var buf bytes.Buffer
		_ = WriteText(&buf, p.Files, diags, false)
		t.Fatalf("unexpected diagnostics:\n%s", buf.String())
	}
	return p
}

func TestLoadFullPipeline(t *testing.T) {
	opts := testOptions()
	opts.Environ = []string{"ENGINE_TEST_ENV=prod"}
	p := mustLoad(t, []string{filepath.Join("testdata", "valid", "full.hcl")}, opts)

	wantSettings := Settings{
		StateDir:        "/var/lib/engine",
		HTTPAddress:     "127.0.0.1:9464",
		ShutdownTimeout: 45 * time.Second,
		LogLevel:        "warn",
		Set:             map[string]bool{"state_dir": true, "http_address": true, "shutdown_timeout": true, "log_level": true},
	}
	if !reflect.DeepEqual(p.Settings, wantSettings) {
		t.Errorf("settings = %+v, want %+v", p.Settings, wantSettings)
	}

	var ids []string
	for _, c := range p.Components {
		ids = append(ids, c.ID)
	}
	wantIDs := []string{
		"input.cfgtest_source.audit", "input.cfgtest_source.second",
		"processor.cfgtest_filter.keep", "processor.cfgtest_noop.copy",
		"output.cfgtest_sink.primary", "output.cfgtest_sink.archive",
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("components = %v, want %v", ids, wantIDs)
	}

	audit := p.Component("input.cfgtest_source.audit")
	if audit.Kind != sdk.KindInput || audit.Type != "cfgtest_source" || audit.Name != "audit" || audit.Plugin == nil {
		t.Errorf("audit component = %+v", audit)
	}
	if audit.DeclRange.Start.Line != 32 || audit.DeclRange.Filename != filepath.Join("testdata", "valid", "full.hcl") {
		t.Errorf("audit DeclRange = %v", audit.DeclRange)
	}
	cfg := audit.Config
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"path", cfg.String("path"), "/var/log/audit/audit.log"},
		{"format", cfg.String("format"), "audit"},
		{"paths", cfg.Strings("paths"), []string{"/var/log/*.log", "/tmp/x[0-9].log"}},
		{"poll", cfg.Duration("poll"), 90 * time.Second},
		{"max_size", cfg.Size("max_size"), int64(10_000_000)},
		{"tags", cfg.Map("tags"), map[string]string{"host": "WEB1", "env": "prod"}},
		{"retries", cfg.Int("retries"), int64(5)},
		{"ratio", cfg.Float("ratio"), 0.25},
		{"follow", cfg.Bool("follow"), false},
		{"levels", cfg.Strings("levels"), []string{"low", "high"}},
		{"tls.ca_file", cfg.Block("tls").String("ca_file"), "the-ca-bundle"},
		{"tls.verify (default)", cfg.Block("tls").Bool("verify"), true},
		{"tls.verify set", cfg.Block("tls").IsSet("verify"), false},
		{"rules", len(cfg.Blocks("rule")), 2},
		{"rule[1].action", cfg.Blocks("rule")[1].String("action"), "deny"},
		{"rule[1].match", cfg.Blocks("rule")[1].String("match"), "fail(ed)?"},
		{"format set", cfg.IsSet("format"), true},
		{"batch", audit.Batch, sdk.BatchPolicy{MaxEvents: 256, MaxAge: 250 * time.Millisecond}},
		{"go type of retries", reflect.TypeOf(cfg.Get("retries")), reflect.TypeOf(int64(0))},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("audit %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	second := p.Component("input.cfgtest_source.second").Config
	defaults := []struct {
		name string
		got  any
		want any
	}{
		{"path", second.String("path"), "/var/log/second.log"},
		{"format", second.String("format"), "json"},
		{"poll", second.Duration("poll"), time.Second},
		{"max_size", second.Size("max_size"), int64(64 << 20)},
		{"retries", second.Int("retries"), int64(3)},
		{"follow", second.Bool("follow"), true},
		{"levels", second.Strings("levels"), []string{"low"}},
		{"tls", second.Block("tls"), (*sdk.Config)(nil)},
		{"rule", second.Blocks("rule"), []*sdk.Config(nil)},
		{"format set", second.IsSet("format"), false},
		{"batch", p.Component("input.cfgtest_source.second").Batch, sdk.DefaultBatchPolicy},
	}
	for _, c := range defaults {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("second %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	graph := map[string][]string{}
	queues := map[string]int{}
	for _, c := range p.Components {
		if c.Kind != sdk.KindInput {
			graph[c.ID] = c.Inputs
			queues[c.ID] = c.QueueSize
		}
	}
	wantGraph := map[string][]string{
		"processor.cfgtest_filter.keep": {"input.cfgtest_source.audit", "input.cfgtest_source.second"},
		"processor.cfgtest_noop.copy":   {"processor.cfgtest_filter.keep"},
		"output.cfgtest_sink.primary":   {"processor.cfgtest_filter.keep"},
		"output.cfgtest_sink.archive":   {"processor.cfgtest_noop.copy", "input.cfgtest_source.second"},
	}
	if !reflect.DeepEqual(graph, wantGraph) {
		t.Errorf("inputs = %v, want %v", graph, wantGraph)
	}
	wantQueues := map[string]int{
		"processor.cfgtest_filter.keep": 16, "processor.cfgtest_noop.copy": DefaultQueueSize,
		"output.cfgtest_sink.primary": DefaultQueueSize, "output.cfgtest_sink.archive": DefaultQueueSize,
	}
	if !reflect.DeepEqual(queues, wantQueues) {
		t.Errorf("queue sizes = %v, want %v", queues, wantQueues)
	}
	if got := p.Component("output.cfgtest_sink.archive").Config.String("target"); got != "disk" {
		t.Errorf("archive target = %q", got)
	}
	in, proc, out := p.Counts()
	if in != 2 || proc != 2 || out != 2 {
		t.Errorf("counts = %d, %d, %d", in, proc, out)
	}
}

func TestSettingsDefaults(t *testing.T) {
	p := mustLoad(t, []string{filepath.Join("testdata", "valid", "minimal.hcl")}, testOptions())
	want := Settings{ShutdownTimeout: 30 * time.Second, LogLevel: "info", Set: map[string]bool{}}
	if !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings = %+v, want %+v", p.Settings, want)
	}
}

// TestDefaultsAreCopied makes sure that a plugin changing a default list in
// place cannot change another component's config.
func TestDefaultsAreCopied(t *testing.T) {
	p := mustLoadSource(t, `
input "cfgtest_source" "a" { path = "a" }
input "cfgtest_source" "b" { path = "b" }
output "cfgtest_sink" "s" { inputs = [input.cfgtest_source.a, input.cfgtest_source.b] }
`, testOptions())
	p.Components[0].Config.Strings("levels")[0] = "changed"
	if got := p.Components[1].Config.Strings("levels"); got[0] != "low" {
		t.Errorf("second component's default changed to %v", got)
	}
}

const precedenceSource = `
variable "v" {
  default = "from-default"
}
variable "n" {
  type    = number
  default = 1
}
variable "list" {
  type    = list(string)
  default = []
}
variable "untyped" {
  default = 5
}
input "cfgtest_source" "a" {
  path    = var.v
  retries = var.n
  paths   = var.list
  format  = var.untyped == "5" || var.untyped == 5 ? "json" : "raw"
}
output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
  target = "${var.untyped}"
}
`

func TestVariablePrecedence(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		vars    map[string]string
		path    string
		retries int64
		list    []string
		target  string
	}{
		{name: "defaults", path: "from-default", retries: 1, list: []string{}, target: "5"},
		{name: "environment", environ: []string{"ENGINE_VAR_v=from-env", "ENGINE_VAR_n=7", `ENGINE_VAR_list=["x", "y"]`},
			path: "from-env", retries: 7, list: []string{"x", "y"}, target: "5"},
		{name: "command line", vars: map[string]string{"v": "from-flag", "n": "8", "list": `["z"]`, "untyped": "42"},
			path: "from-flag", retries: 8, list: []string{"z"}, target: "42"},
		{name: "command line over environment",
			environ: []string{"ENGINE_VAR_v=from-env", "ENGINE_VAR_n=7", "ENGINE_VAR_untyped=env"},
			vars:    map[string]string{"v": "from-flag"},
			path:    "from-flag", retries: 7, list: []string{}, target: "env"},
		{name: "unrelated environment is ignored", environ: []string{"ENGINE_VAR_other=1", "v=no-prefix"},
			path: "from-default", retries: 1, list: []string{}, target: "5"},
		{name: "empty values count", environ: []string{"ENGINE_VAR_v="}, path: "", retries: 1, list: []string{}, target: "5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			if tc.environ != nil {
				opts.Environ = tc.environ
			}
			opts.Vars = tc.vars
			p := mustLoadSource(t, precedenceSource, opts)
			cfg := p.Components[0].Config
			if got := cfg.String("path"); got != tc.path {
				t.Errorf("path = %q, want %q", got, tc.path)
			}
			if got := cfg.Int("retries"); got != tc.retries {
				t.Errorf("retries = %d, want %d", got, tc.retries)
			}
			if got := cfg.Strings("paths"); !reflect.DeepEqual(got, tc.list) {
				t.Errorf("paths = %#v, want %#v", got, tc.list)
			}
			if got := p.Components[1].Config.String("target"); got != tc.target {
				t.Errorf("target = %q, want %q", got, tc.target)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	src := `
input "cfgtest_source" "a" {
  path   = env("ENGINE_CONFIG_TEST_PATH")
  format = env("ENGINE_CONFIG_TEST_UNSET", "raw")
}
output "cfgtest_sink" "s" { inputs = [input.cfgtest_source.a] }
`
	t.Setenv("ENGINE_CONFIG_TEST_PATH", "/from/process")
	t.Run("nil Environ reads the process environment", func(t *testing.T) {
		p := mustLoadSource(t, src, LoadOptions{})
		if got := p.Components[0].Config.String("path"); got != "/from/process" {
			t.Errorf("path = %q", got)
		}
		if got := p.Components[0].Config.String("format"); got != "raw" {
			t.Errorf("format = %q", got)
		}
	})
	t.Run("Environ replaces the process environment", func(t *testing.T) {
		p := mustLoadSource(t, src, LoadOptions{Environ: []string{"ENGINE_CONFIG_TEST_PATH=/given", "ENGINE_CONFIG_TEST_UNSET=audit"}})
		if got := p.Components[0].Config.String("path"); got != "/given" {
			t.Errorf("path = %q", got)
		}
		if got := p.Components[0].Config.String("format"); got != "audit" {
			t.Errorf("format = %q", got)
		}
	})
	t.Run("ENGINE_VAR from the process environment", func(t *testing.T) {
		t.Setenv("ENGINE_VAR_p", "/via/var")
		p := mustLoadSource(t, `
variable "p" {}
input "cfgtest_source" "a" { path = var.p }
output "cfgtest_sink" "s" { inputs = [input.cfgtest_source.a] }
`, LoadOptions{})
		if got := p.Components[0].Config.String("path"); got != "/via/var" {
			t.Errorf("path = %q", got)
		}
	})
}

func TestFunctions(t *testing.T) {
	cases := []struct {
		expr string
		want string
	}{
		{`upper("a")`, "A"},
		{`lower("A")`, "a"},
		{`join(",", ["a", "b"])`, "a,b"},
		{`split(",", "a,b")[1]`, "b"},
		{`format("%s-%03d", "x", 7)`, "x-007"},
		{`join("", concat(["a"], ["b"]))`, "ab"},
		{`coalesce(null, "fallback")`, "fallback"},
		{`trimspace("  x  ")`, "x"},
		{`replace("a.b.c", ".", "/")`, "a/b/c"},
		{`regex_replace("a1b22", "[0-9]+", "#")`, "a#b#"},
		{`tostring(length(["a", "b", "c"]))`, "3"},
		{`tostring(length("héllo"))`, "5"},
		{`tostring(contains(["a", "b"], "b"))`, "true"},
		{`lookup({ a = "x" }, "b", "default")`, "default"},
		{`jsonencode({ a = 1 })`, `{"a":1}`},
		{`try(env("ENGINE_CONFIG_TEST_UNSET"), "caught")`, "caught"},
		{`file("testdata/valid/ca.pem")`, "the-ca-bundle\n"},
		{`env("ENGINE_TEST_X")`, "x-value"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			p := mustLoadSource(t, `
input "cfgtest_source" "a" { path = `+tc.expr+` }
output "cfgtest_sink" "s" { inputs = [input.cfgtest_source.a] }
`, LoadOptions{Environ: []string{"ENGINE_TEST_X=x-value"}})
			if got := p.Components[0].Config.String("path"); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

// TestFileIsRelativeToCallingFile checks that file() resolves paths against
// the directory of the file that calls it, not the working directory.
func TestFileIsRelativeToCallingFile(t *testing.T) {
	files := map[string][]byte{
		filepath.Join("testdata", "valid", "a.hcl"): []byte(`
locals { ca = file("ca.pem") }
input "cfgtest_source" "a" { path = local.ca }
`),
		"b.hcl": []byte(`output "cfgtest_sink" "s" { inputs = [input.cfgtest_source.a] }`),
	}
	p, diags := LoadSource(files, testOptions())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := p.Component("input.cfgtest_source.a").Config.String("path"); got != "the-ca-bundle\n" {
		t.Errorf("path = %q", got)
	}
}

func TestMultiFileDirectory(t *testing.T) {
	dir := filepath.Join("testdata", "multi")
	p := mustLoad(t, []string{dir}, testOptions())
	var ids []string
	for _, c := range p.Components {
		ids = append(ids, c.ID)
	}
	want := []string{"input.cfgtest_source.audit", "input.cfgtest_source.syslog", "output.cfgtest_sink.all"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("components = %v, want %v", ids, want)
	}
	if got := p.Components[0].Config.String("path"); got != "/var/log/audit.log" {
		t.Errorf("path from a local in another file = %q", got)
	}
	if len(p.Files) != 3 {
		t.Errorf("files = %v, want the three .hcl files", keys(p.Files))
	}
	if p.Components[2].DeclRange.Filename != filepath.Join(dir, "30-outputs.hcl") {
		t.Errorf("output declared in %s", p.Components[2].DeclRange.Filename)
	}

	// The same files named one by one, and twice, load the same pipeline.
	p2 := mustLoad(t, []string{
		filepath.Join(dir, "30-outputs.hcl"), dir, filepath.Join(dir, "10-variables.hcl"),
	}, testOptions())
	if len(p2.Files) != 3 || len(p2.Components) != 3 {
		t.Errorf("files named twice: %d files, %d components", len(p2.Files), len(p2.Components))
	}
}

func TestLoadPathErrors(t *testing.T) {
	cases := []struct {
		paths   []string
		summary string
	}{
		{[]string{filepath.Join("testdata", "does-not-exist.hcl")}, "Cannot read pipeline path"},
		{[]string{filepath.Join("testdata", "multi", "ignored.d", "nothing-here")}, "Cannot read pipeline path"},
		{[]string{t.TempDir()}, "No pipeline files in directory"},
	}
	for _, tc := range cases {
		_, diags := Load(tc.paths, testOptions())
		if len(diags) == 0 || diags[0].Summary != tc.summary {
			t.Errorf("Load(%v): diags = %v, want first %q", tc.paths, diags, tc.summary)
		}
	}
}

func TestDuplicateAcrossFiles(t *testing.T) {
	_, diags := LoadSource(map[string][]byte{
		"a.hcl": []byte("input \"cfgtest_source\" \"x\" {\n  path = \"a\"\n}\n"),
		"b.hcl": []byte("\n\ninput \"cfgtest_source\" \"x\" {\n  path = \"b\"\n}\noutput \"cfgtest_sink\" \"s\" {\n  inputs = [input.cfgtest_source.x]\n}\n"),
	}, testOptions())
	checkDiagnostics(t, diags, []wantDiag{
		{errD, `Duplicate input "cfgtest_source" "x"`, "3:7-3:27", "already declared at a.hcl:1:1"},
	})
	if diags[0].Subject.Filename != "b.hcl" {
		t.Errorf("duplicate reported in %s, want b.hcl", diags[0].Subject.Filename)
	}
}

func TestGraphShapes(t *testing.T) {
	// A diamond: one input fans out to two processors that fan in to one
	// output, plus a second output on the input directly.
	p := mustLoadSource(t, `
input "cfgtest_source" "in" { path = "x" }
processor "cfgtest_noop" "left"  { inputs = [input.cfgtest_source.in] }
processor "cfgtest_noop" "right" { inputs = [input.cfgtest_source.in] }
output "cfgtest_sink" "join" { inputs = [processor.cfgtest_noop.left, processor.cfgtest_noop.right] }
output "cfgtest_sink" "raw"  { inputs = [input.cfgtest_source.in] }
`, testOptions())
	got := map[string][]string{}
	for _, c := range p.Components {
		got[c.ID] = c.Inputs
	}
	want := map[string][]string{
		"input.cfgtest_source.in":      nil,
		"processor.cfgtest_noop.left":  {"input.cfgtest_source.in"},
		"processor.cfgtest_noop.right": {"input.cfgtest_source.in"},
		"output.cfgtest_sink.join":     {"processor.cfgtest_noop.left", "processor.cfgtest_noop.right"},
		"output.cfgtest_sink.raw":      {"input.cfgtest_source.in"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("graph = %v, want %v", got, want)
	}
}

func TestPlatforms(t *testing.T) {
	path := filepath.Join("testdata", "invalid", "platform.hcl")
	opts := testOptions()
	opts.GOOS = "plan9"
	mustLoad(t, []string{path}, opts)

	opts.GOOS = "darwin"
	_, diags := Load([]string{path}, opts)
	checkDiagnostics(t, diags, []wantDiag{{errD, "Plugin not available on darwin", "1:7-1:22", "runs only on plan9"}})
}

func TestWriteJSON(t *testing.T) {
	p, diags := LoadSource(map[string][]byte{"j.hcl": []byte(`variable "p" {
  default = "5 minutes"
}
input "cfgtest_source" "a" {
  path = "/var/log/a.log"
  poll = var.p
}
input "cfgtest_source" "b" {
  path = "/var/log/b.log"
}
output "cfgtest_sink" "s" {
  inputs = [input.cfgtest_source.a]
}
`)}, testOptions())
	var buf bytes.Buffer
	if err := WriteJSON(&buf, p.Files, diags); err != nil {
		t.Fatal(err)
	}
	var got struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		ErrorCount    int    `json:"error_count"`
		WarningCount  int    `json:"warning_count"`
		Diagnostics   []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Detail   string `json:"detail"`
			Range    struct {
				Filename string `json:"filename"`
				Start    struct{ Line, Column, Byte int }
				End      struct{ Line, Column, Byte int }
			} `json:"range"`
			Snippet struct {
				Context              *string `json:"context"`
				Code                 string  `json:"code"`
				StartLine            int     `json:"start_line"`
				HighlightStartOffset int     `json:"highlight_start_offset"`
				HighlightEndOffset   int     `json:"highlight_end_offset"`
				Values               []struct {
					Traversal string `json:"traversal"`
					Statement string `json:"statement"`
				} `json:"values"`
			} `json:"snippet"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if got.FormatVersion != "1.0" || got.Valid || got.ErrorCount != 1 || got.WarningCount != 1 || len(got.Diagnostics) != 2 {
		t.Fatalf("report = %+v", got)
	}
	d := got.Diagnostics[0]
	if d.Severity != "error" || d.Summary != "Invalid duration" || d.Range.Filename != "j.hcl" ||
		d.Range.Start.Line != 6 || d.Range.Start.Column != 10 || d.Range.End.Column != 15 {
		t.Errorf("diagnostic = %+v", d)
	}
	src := p.Files["j.hcl"].Bytes
	if string(src[d.Range.Start.Byte:d.Range.End.Byte]) != "var.p" {
		t.Errorf("range bytes select %q", src[d.Range.Start.Byte:d.Range.End.Byte])
	}
	s := d.Snippet
	if s.Code != "  poll = var.p" || s.StartLine != 6 || s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != "var.p" {
		t.Errorf("snippet = %+v", s)
	}
	if s.Context == nil || *s.Context != `input "cfgtest_source" "a"` {
		t.Errorf("snippet context = %v", s.Context)
	}
	if len(s.Values) != 1 || s.Values[0].Traversal != "var.p" || s.Values[0].Statement != `is "5 minutes"` {
		t.Errorf("snippet values = %+v", s.Values)
	}
	w := got.Diagnostics[1]
	if w.Severity != "warning" || !strings.Contains(w.Summary, "input.cfgtest_source.b") || w.Snippet.Values == nil {
		t.Errorf("warning = %+v", w)
	}

	// A valid pipeline reports an empty list, not null.
	buf.Reset()
	if err := WriteJSON(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"diagnostics": []`) || !strings.Contains(buf.String(), `"valid": true`) {
		t.Errorf("empty report = %s", buf.String())
	}
}

func TestSnippetSpanningLines(t *testing.T) {
	src := "input \"cfgtest_source\" \"a\" {\n  path = \"x\"\n  paths = [\n    \"ok\",\n    \"bad[\",\n  ]\n}\noutput \"cfgtest_sink\" \"s\" {\n  inputs = [input.cfgtest_source.a]\n}\n"
	p, diags := LoadSource(map[string][]byte{"m.hcl": []byte(src)}, testOptions())
	checkDiagnostics(t, diags, []wantDiag{{errD, "Invalid glob pattern", "5:5-5:11", ""}})
	r := NewJSONReport(p.Files, diags)
	s := r.Diagnostics[0].Snippet
	if s.Code != `    "bad[",` || s.StartLine != 5 || s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != `"bad["` {
		t.Errorf("snippet = %+v", s)
	}
	// A diagnostic whose range covers several lines gets all of them.
	start := strings.Index(src, "[\n")
	end := strings.Index(src, "  ]") + 3
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "x", Subject: &hcl.Range{
		Filename: "m.hcl", Start: hcl.Pos{Line: 3, Column: 11, Byte: start}, End: hcl.Pos{Line: 6, Column: 4, Byte: end},
	}}
	s = NewJSONReport(p.Files, hcl.Diagnostics{d}).Diagnostics[0].Snippet
	if s.StartLine != 3 || s.Code != "  paths = [\n    \"ok\",\n    \"bad[\",\n  ]" || s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != "[\n    \"ok\",\n    \"bad[\",\n  ]" {
		t.Errorf("multi-line snippet = %+v", s)
	}
}

func TestWriteTextColor(t *testing.T) {
	p, diags := Load([]string{filepath.Join("testdata", "invalid", "enum.hcl")}, testOptions())
	var plain, color bytes.Buffer
	if err := WriteText(&plain, p.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&color, p.Files, diags, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain output has escape sequences")
	}
	if !strings.Contains(color.String(), "\x1b[31m") {
		t.Error("color output has no red")
	}
}

// BenchmarkLoadFull measures loading the pipeline that uses every feature:
// parse, variables, locals, decode against schemas, graph checks.
func BenchmarkLoadFull(b *testing.B) {
	path := filepath.Join("testdata", "valid", "full.hcl")
	opts := testOptions()
	for b.Loop() {
		if _, diags := Load([]string{path}, opts); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
