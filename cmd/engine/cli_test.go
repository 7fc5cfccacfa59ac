package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/engine-audit/engine/sdk"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Test-only plugins, named clitest_* so that they never collide with the
// built-in plugins compiled into the same binary.
func init() {
	newNothing := func(*sdk.Config, sdk.Env) (any, error) { return nil, errors.New("test plugin") }
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindInput, Type: "clitest_source", Summary: "Test input.",
		Description: "Reads nothing; it exists for the command tests.",
		Options: []sdk.Option{
			{Name: "path", Type: sdk.TypeString, Required: true, Doc: "File to read."},
			{Name: "level", Type: sdk.TypeString, Default: "normal", Enum: []string{"quiet", "normal"}, Doc: "How much to say."},
			{Name: "burst", Type: sdk.TypeInt, Default: int64(10), Doc: "Burst size."},
			{Name: "poll", Type: sdk.TypeDuration, Default: 1500 * time.Millisecond, Bound: sdk.Positive, Doc: "Poll interval."},
			{Name: "buffer", Type: sdk.TypeSize, Default: int64(64 << 20), Doc: "Buffer size."},
			{Name: "tags", Type: sdk.TypeStringMap, Doc: "Tags."},
			{Name: "tls", Type: sdk.TypeBlock, Doc: "TLS settings.", Options: []sdk.Option{
				{Name: "ca_file", Type: sdk.TypeString, Required: true, Doc: "CA bundle."},
				{Name: "verify", Type: sdk.TypeBool, Default: true, Doc: "Verify the peer."},
			}},
		},
		New: newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindProcessor, Type: "clitest_filter", Summary: "Test processor.",
		Options: []sdk.Option{{Name: "pattern", Type: sdk.TypeString, Format: sdk.FormatRegex, Doc: "Keep matching events."}},
		New:     newNothing,
	})
	sdk.Register(sdk.Plugin{Kind: sdk.KindOutput, Type: "clitest_sink", Summary: "Test output.", New: newNothing})
	sdk.Register(sdk.Plugin{Kind: sdk.KindInput, Type: "clitest_plan9", Summary: "Test input for Plan 9.", Platforms: []string{"plan9"}, New: newNothing})
	sdk.Register(sdk.Plugin{Kind: sdk.KindInput, Type: "clitest_dual", Summary: "Test input named like an output.", New: newNothing})
	sdk.Register(sdk.Plugin{Kind: sdk.KindOutput, Type: "clitest_dual", Summary: "Test output named like an input.", New: newNothing})
}

// cliResult is what one run of the command line produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cliRun runs execute with args as the process would, capturing stdout and
// stderr (and feeding stdin, if given).
func cliRun(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(dir, "stdin")
	if err := os.WriteFile(inPath, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	inF, err := os.Open(inPath)
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr, oldIn := os.Stdout, os.Stderr, os.Stdin
	os.Stdout, os.Stderr, os.Stdin = outF, errF, inF
	code := execute(args)
	os.Stdout, os.Stderr, os.Stdin = oldOut, oldErr, oldIn
	for _, f := range []*os.File{outF, errF, inF} {
		f.Close()
	}
	stdout, _ := os.ReadFile(outF.Name())
	stderr, _ := os.ReadFile(errF.Name())
	return cliResult{code: code, stdout: string(stdout), stderr: string(stderr)}
}

func vpath(name string) string { return filepath.Join("testdata", "validate", name) }

func TestValidateExitCodesAndText(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     []string // substrings of stdout
		stderr     []string // substrings of stderr
		noStdout   bool
		emptyError bool // stderr must be empty
	}{
		{name: "valid", args: []string{"validate", vpath("valid.hcl")}, code: 0,
			stdout: []string{"Pipeline is valid: 1 input, 0 processors, 1 output.\n"}, emptyError: true},
		{name: "directory", args: []string{"validate", vpath("dir")}, code: 0,
			stdout: []string{"Pipeline is valid: 1 input, 1 processor, 1 output.\n"}, emptyError: true},
		{name: "warnings pass", args: []string{"validate", vpath("warning.hcl")}, code: 0,
			stdout: []string{"Pipeline is valid: 2 inputs, 0 processors, 1 output (1 warning).\n"},
			stderr: []string{"Warning: Events of input.clitest_source.unused go nowhere", "warning.hcl line 5"}},
		{name: "deny warnings", args: []string{"validate", "--deny-warnings", vpath("warning.hcl")}, code: 1, noStdout: true,
			stderr: []string{"Warning: Events of input.clitest_source.unused", "Pipeline has 1 warning, and --deny-warnings makes them fail the check."}},
		{name: "invalid", args: []string{"validate", vpath("invalid.hcl")}, code: 1, noStdout: true,
			stderr: []string{
				"Error: Value not allowed", "on testdata/validate/invalid.hcl line 3", `3:   level = "loud"`,
				"Error: Invalid regular expression", "invalid.hcl line 8",
				`Error: Unknown output type "clitest_snk"`, "invalid.hcl line 11", `Did you mean "clitest_sink"?`,
				"Pipeline is invalid: 3 errors, 0 warnings.",
			}},
		{name: "missing variable", args: []string{"validate", vpath("needs_var.hcl")}, code: 1,
			stderr: []string{"No value for required variable", "--var path=VALUE"}},
		{name: "variable from flag", args: []string{"validate", "--var", "path=/x", "--var=count=3", vpath("needs_var.hcl")}, code: 0,
			stdout: []string{"Pipeline is valid"}},
		{name: "single-dash var flag", args: []string{"validate", "-var", "path=/x", vpath("needs_var.hcl")}, code: 0,
			stdout: []string{"Pipeline is valid"}},
		{name: "variable from environment", args: []string{"validate", vpath("needs_var.hcl")},
			env: map[string]string{"ENGINE_VAR_path": "/from/env"}, code: 0, stdout: []string{"Pipeline is valid"}},
		{name: "typed variable from flag", args: []string{"validate", "--var", "path=/x", "--var", "count=lots", vpath("needs_var.hcl")}, code: 1,
			stderr: []string{"Invalid value for variable", `"lots" given by --var count`}},
		{name: "other platform", args: []string{"validate", vpath("plan9.hcl")}, code: 1,
			stderr: []string{"Plugin not available on " + runtime.GOOS}},
		{name: "target platform", args: []string{"validate", "--goos", "plan9", vpath("plan9.hcl")}, code: 0,
			stdout: []string{"Pipeline is valid"}},

		{name: "no path", args: []string{"validate"}, code: 2, noStdout: true, stderr: []string{"give the pipeline files"}},
		{name: "missing path", args: []string{"validate", vpath("nope.hcl")}, code: 2, noStdout: true, stderr: []string{"nope.hcl"}},
		{name: "unknown flag", args: []string{"validate", "--frobnicate", vpath("valid.hcl")}, code: 2, noStdout: true,
			stderr: []string{"unknown flag: --frobnicate"}},
		{name: "malformed var", args: []string{"validate", "--var", "novalue", vpath("valid.hcl")}, code: 2, noStdout: true,
			stderr: []string{"name=value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := cliRun(t, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tc.noStdout && r.stdout != "" {
				t.Errorf("stdout should be empty:\n%s", r.stdout)
			}
			if tc.emptyError && r.stderr != "" {
				t.Errorf("stderr should be empty:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "\x1b[") {
				t.Errorf("color escape sequences when stderr is not a terminal:\n%q", r.stderr)
			}
		})
	}
}

// TestValidateTextGolden pins the complete text output of an invalid
// pipeline, snippets included.
func TestValidateTextGolden(t *testing.T) {
	r := cliRun(t, "", "validate", "--no-color", vpath("golden.hcl"))
	if r.code != 1 {
		t.Errorf("exit code %d", r.code)
	}
	golden := filepath.Join("testdata", "validate", "golden.txt")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(r.stderr), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if r.stderr != string(want) {
		t.Errorf("stderr differs from %s (go test -update rewrites it):\n%s", golden, r.stderr)
	}
}

// validateReport mirrors the JSON that validate -json prints.
type validateReport struct {
	FormatVersion string `json:"format_version"`
	Valid         *bool  `json:"valid"`
	ErrorCount    int    `json:"error_count"`
	WarningCount  int    `json:"warning_count"`
	Diagnostics   []struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    *struct {
			Filename string `json:"filename"`
			Start    struct {
				Line   int `json:"line"`
				Column int `json:"column"`
				Byte   int `json:"byte"`
			} `json:"start"`
			End struct {
				Line   int `json:"line"`
				Column int `json:"column"`
				Byte   int `json:"byte"`
			} `json:"end"`
		} `json:"range"`
		Snippet *struct {
			Context              *string `json:"context"`
			Code                 string  `json:"code"`
			StartLine            int     `json:"start_line"`
			HighlightStartOffset int     `json:"highlight_start_offset"`
			HighlightEndOffset   int     `json:"highlight_end_offset"`
			Values               []any   `json:"values"`
		} `json:"snippet"`
	} `json:"diagnostics"`
}

func TestValidateJSON(t *testing.T) {
	type wantDiag struct {
		severity, summary string
		line, col         int
		highlight         string
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		valid  bool
		errors int
		warns  int
		diags  []wantDiag
	}{
		{name: "invalid", args: []string{"validate", "-json", vpath("invalid.hcl")}, code: 1, valid: false, errors: 3, diags: []wantDiag{
			{"error", "Value not allowed", 3, 11, `"loud"`},
			{"error", "Invalid regular expression", 8, 13, `"(unclosed"`},
			{"error", `Unknown output type "clitest_snk"`, 11, 8, `"clitest_snk"`},
		}},
		{name: "valid", args: []string{"validate", "--json", vpath("valid.hcl")}, code: 0, valid: true},
		{name: "warning", args: []string{"validate", "--json", vpath("warning.hcl")}, code: 0, valid: true, warns: 1, diags: []wantDiag{
			{"warning", "Events of input.clitest_source.unused go nowhere", 5, 1, `input "clitest_source" "unused"`},
		}},
		{name: "deny warnings", args: []string{"validate", "-json", "-deny-warnings", vpath("warning.hcl")}, code: 1, valid: false, warns: 1, diags: []wantDiag{
			{"warning", "Events of input.clitest_source.unused go nowhere", 5, 1, `input "clitest_source" "unused"`},
		}},
		{name: "no range", args: []string{"validate", "-json", "-var", "undeclared=1", vpath("valid.hcl")}, code: 1, valid: false, errors: 1, diags: []wantDiag{
			{"error", "Value for undeclared variable", 0, 0, ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cliRun(t, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if r.stderr != "" {
				t.Errorf("stderr should be empty in JSON mode: %s", r.stderr)
			}
			var rep validateReport
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r.stdout)
			}
			if rep.FormatVersion != "1.0" || rep.Valid == nil || *rep.Valid != tc.valid || rep.ErrorCount != tc.errors || rep.WarningCount != tc.warns {
				t.Errorf("report header = %+v", rep)
			}
			if rep.Diagnostics == nil || len(rep.Diagnostics) != len(tc.diags) {
				t.Fatalf("diagnostics = %+v, want %d", rep.Diagnostics, len(tc.diags))
			}
			for i, w := range tc.diags {
				d := rep.Diagnostics[i]
				if d.Severity != w.severity || d.Summary != w.summary || d.Detail == "" {
					t.Errorf("diagnostic %d = %s %q, want %s %q", i, d.Severity, d.Summary, w.severity, w.summary)
				}
				if w.line == 0 {
					if d.Range != nil || d.Snippet != nil {
						t.Errorf("diagnostic %d should have no range", i)
					}
					continue
				}
				if d.Range == nil || d.Snippet == nil {
					t.Fatalf("diagnostic %d has no range or snippet", i)
				}
				if d.Range.Start.Line != w.line || d.Range.Start.Column != w.col {
					t.Errorf("diagnostic %d at %d:%d, want %d:%d", i, d.Range.Start.Line, d.Range.Start.Column, w.line, w.col)
				}
				src, err := os.ReadFile(d.Range.Filename)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(src[d.Range.Start.Byte:d.Range.End.Byte]); got != w.highlight {
					t.Errorf("diagnostic %d range selects %q, want %q", i, got, w.highlight)
				}
				s := d.Snippet
				if s.StartLine != w.line || s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != w.highlight || s.Values == nil || s.Context == nil {
					t.Errorf("diagnostic %d snippet = %+v", i, s)
				}
			}
		})
	}
}

func TestSingleDashFlags(t *testing.T) {
	root := newRootCmd()
	cases := []struct{ in, want []string }{
		{[]string{"validate", "-json", "x"}, []string{"validate", "--json", "x"}},
		{[]string{"validate", "-var=a=b", "-deny-warnings", "x"}, []string{"validate", "--var=a=b", "--deny-warnings", "x"}},
		{[]string{"fmt", "-check", "-diff", "x"}, []string{"fmt", "--check", "--diff", "x"}},
		{[]string{"validate", "-h"}, []string{"validate", "-h"}},
		{[]string{"validate", "-nosuch", "x"}, []string{"validate", "-nosuch", "x"}},
		{[]string{"validate", "--", "-json"}, []string{"validate", "--", "-json"}},
		{[]string{"fmt", "-json"}, []string{"fmt", "-json"}},
	}
	for _, tc := range cases {
		if got := acceptSingleDashLongFlags(root, tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%v -> %v, want %v", tc.in, got, tc.want)
		}
	}
}

const unformatted = `input "clitest_source" "a" {
path = "/var/log/a.log"
    burst=3
}

output "clitest_sink" "s" {
  inputs = [input.clitest_source.a]
}
`

func TestFmt(t *testing.T) {
	want := string(hclwrite.Format([]byte(unformatted)))
	if want == unformatted {
		t.Fatal("test input is already formatted")
	}

	t.Run("check lists and changes nothing", func(t *testing.T) {
		dir := t.TempDir()
		f := filepath.Join(dir, "p.hcl")
		writeFile(t, f, unformatted, 0o640)
		r := cliRun(t, "", "fmt", "-check", f)
		if r.code != 1 || r.stdout != f+"\n" {
			t.Errorf("fmt -check: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if readFile(t, f) != unformatted {
			t.Error("fmt -check changed the file")
		}
	})
	t.Run("check with diff", func(t *testing.T) {
		dir := t.TempDir()
		f := filepath.Join(dir, "p.hcl")
		writeFile(t, f, unformatted, 0o640)
		r := cliRun(t, "", "fmt", "-check", "-diff", f)
		for _, s := range []string{"--- " + f, "+++ " + f, "-path = \"/var/log/a.log\"", "+  path  = \"/var/log/a.log\"", "+  burst = 3"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("diff lacks %q:\n%s", s, r.stdout)
			}
		}
		if r.code != 1 || readFile(t, f) != unformatted {
			t.Errorf("fmt -check -diff: code %d or file changed", r.code)
		}
	})
	t.Run("rewrite in place", func(t *testing.T) {
		dir := t.TempDir()
		f := filepath.Join(dir, "p.hcl")
		other := filepath.Join(dir, "ok.hcl")
		writeFile(t, f, unformatted, 0o640)
		writeFile(t, other, want, 0o600)
		r := cliRun(t, "", "fmt", dir)
		if r.code != 0 || r.stdout != f+"\n" || r.stderr != "" {
			t.Errorf("fmt: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if got := readFile(t, f); got != want {
			t.Errorf("formatted file:\n%s\nwant:\n%s", got, want)
		}
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o640 {
			t.Errorf("mode changed to %v", st.Mode().Perm())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("temporary files left behind: %v", entries)
		}
		// Formatting is idempotent: a second run changes nothing.
		r = cliRun(t, "", "fmt", "-check", dir)
		if r.code != 0 || r.stdout != "" {
			t.Errorf("second fmt -check: code %d, stdout %q", r.code, r.stdout)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		dir := t.TempDir()
		f := filepath.Join(dir, "bad.hcl")
		src := "input \"clitest_source\" \"a\" {\n  path = \n}\n"
		writeFile(t, f, src, 0o600)
		r := cliRun(t, "", "fmt", f)
		if r.code != 1 || !strings.Contains(r.stderr, "Error: Invalid expression") || !strings.Contains(r.stderr, "bad.hcl line 2") {
			t.Errorf("fmt on a syntax error: code %d, stderr %q", r.code, r.stderr)
		}
		if readFile(t, f) != src {
			t.Error("fmt changed a file with syntax errors")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		r := cliRun(t, unformatted, "fmt", "-")
		if r.code != 0 || r.stdout != want {
			t.Errorf("fmt -: code %d, stdout:\n%s", r.code, r.stdout)
		}
		r = cliRun(t, unformatted, "fmt", "-check", "-")
		if r.code != 1 || r.stdout != "" {
			t.Errorf("fmt -check -: code %d, stdout %q", r.code, r.stdout)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if r := cliRun(t, "", "fmt"); r.code != 2 {
			t.Errorf("fmt without paths: code %d", r.code)
		}
		if r := cliRun(t, "", "fmt", filepath.Join(t.TempDir(), "nope.hcl")); r.code != 2 {
			t.Errorf("fmt on a missing path: code %d", r.code)
		}
	})
}

func TestPlugins(t *testing.T) {
	t.Run("list", func(t *testing.T) {
		r := cliRun(t, "", "plugins")
		if r.code != 0 {
			t.Fatalf("code %d: %s", r.code, r.stderr)
		}
		in := strings.Index(r.stdout, "Inputs:\n")
		proc := strings.Index(r.stdout, "Processors:\n")
		out := strings.Index(r.stdout, "Outputs:\n")
		if in < 0 || proc < in || out < proc {
			t.Fatalf("kinds missing or out of order:\n%s", r.stdout)
		}
		for _, re := range []string{
			`(?m)^  clitest_source +Test input\.$`,
			`(?m)^  clitest_plan9 +Test input for Plan 9\. \(plan9 only\)$`,
			`(?m)^  clitest_filter +Test processor\.$`,
			`(?m)^  clitest_sink +Test output\.$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.stdout) {
				t.Errorf("list does not match %s:\n%s", re, r.stdout)
			}
		}
		if i := strings.Index(r.stdout, "clitest_sink"); i < out {
			t.Error("clitest_sink is not listed under Outputs")
		}
	})
	t.Run("one plugin", func(t *testing.T) {
		for _, arg := range []string{"input.clitest_source", "clitest_source"} {
			r := cliRun(t, "", "plugins", arg)
			if r.code != 0 {
				t.Fatalf("code %d: %s", r.code, r.stderr)
			}
			for _, re := range []string{
				`^input "clitest_source" \(input\.clitest_source\)\n`,
				`Reads nothing; it exists for the command tests\.`,
				`(?m)^  NAME +TYPE +DEFAULT +ALLOWED +DESCRIPTION$`,
				`(?m)^  path +string +required +File to read\.$`,
				`(?m)^  level +string +"normal" +quiet, normal +How much to say\.$`,
				`(?m)^  poll +duration +"1\.5s" +positive +Poll interval\.$`,
				`(?m)^  buffer +size +"64MiB" +Buffer size\.$`,
				`(?m)^  tls +block +- +TLS settings\.$`,
				`(?m)^    ca_file +string +required +CA bundle\.$`,
				`(?m)^    verify +bool +true +Verify the peer\.$`,
				`(?m)^  batch_max_events +int +1024 `,
				`(?m)^  batch_max_age +duration +"1s" `,
				`input "clitest_source" "NAME" \{\n +path = "\.\.\."\n +\}`,
			} {
				if !regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("plugins %s does not match %s:\n%s", arg, re, r.stdout)
				}
			}
		}
	})
	t.Run("type of two kinds", func(t *testing.T) {
		r := cliRun(t, "", "plugins", "clitest_dual")
		if r.code != 0 || !strings.Contains(r.stdout, `input "clitest_dual"`) || !strings.Contains(r.stdout, `output "clitest_dual"`) ||
			!regexp.MustCompile(`(?m)^  inputs +list\(reference\) +required`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^  buffer +block +- `).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^    when_full +string +"block" +block, drop_newest `).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^  dead_letter +block +- `).MatchString(r.stdout) {
			t.Errorf("code %d:\n%s", r.code, r.stdout)
		}
	})
	t.Run("one kind", func(t *testing.T) {
		r := cliRun(t, "", "plugins", "processors")
		if r.code != 0 || !strings.Contains(r.stdout, "clitest_filter") || strings.Contains(r.stdout, "clitest_source") {
			t.Errorf("code %d:\n%s", r.code, r.stdout)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		r := cliRun(t, "", "plugins", "input.clitest_sorce")
		if r.code != 2 || !strings.Contains(r.stderr, `did you mean "input.clitest_source"?`) {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
		if r := cliRun(t, "", "plugins", "a", "b"); r.code != 2 {
			t.Errorf("two arguments: code %d", r.code)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := cliRun(t, "", "plugins", "--json")
		var got struct {
			Plugins []struct {
				ID, Kind, Type, Summary, Description string
				Platforms                            []string
				Options                              []struct {
					Name, Type, Doc, Format, Bound string
					Required                       bool
					Default                        any
					Enum                           []string
					Options                        []struct {
						Name     string
						Required bool
					}
				}
				MetaArguments []struct {
					Name, Type string
					Required   bool
					Default    any
				} `json:"meta_arguments"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("code %d, %v:\n%s", r.code, err, r.stdout)
		}
		byID := map[string]int{}
		for i, p := range got.Plugins {
			byID[p.ID] = i
		}
		if len(byID) != len(sdk.Plugins()) {
			t.Errorf("%d plugins in JSON, %d registered", len(byID), len(sdk.Plugins()))
		}
		i, ok := byID["input.clitest_source"]
		if !ok {
			t.Fatal("input.clitest_source missing")
		}
		src := got.Plugins[i]
		opts := map[string]int{}
		for j, o := range src.Options {
			opts[o.Name] = j
		}
		checks := []struct {
			name string
			got  any
			want any
		}{
			{"kind", src.Kind, "input"},
			{"path required", src.Options[opts["path"]].Required, true},
			{"level default", src.Options[opts["level"]].Default, "normal"},
			{"level enum", strings.Join(src.Options[opts["level"]].Enum, ","), "quiet,normal"},
			{"poll default", src.Options[opts["poll"]].Default, "1.5s"},
			{"poll bound", src.Options[opts["poll"]].Bound, "positive"},
			{"buffer default", src.Options[opts["buffer"]].Default, float64(64 << 20)},
			{"tls nested", src.Options[opts["tls"]].Options[0].Name, "ca_file"},
			{"meta", src.MetaArguments[0].Name, "batch_max_events"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
			}
		}
		if p := got.Plugins[byID["input.clitest_plan9"]]; len(p.Platforms) != 1 || p.Platforms[0] != "plan9" {
			t.Errorf("platforms = %v", p.Platforms)
		}

		r = cliRun(t, "", "plugins", "--json", "output.clitest_sink")
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Plugins) != 1 || got.Plugins[0].MetaArguments[0].Type != "list(reference)" {
			t.Errorf("plugins --json output.clitest_sink: %v\n%s", err, r.stdout)
		}
	})
}

func TestVersion(t *testing.T) {
	r := cliRun(t, "", "version")
	want := "engine dev\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("version: code %d, stdout %q, want %q", r.code, r.stdout, want)
	}
	if r := cliRun(t, "", "version", "extra"); r.code != 2 {
		t.Errorf("version with an argument: code %d", r.code)
	}
}

// TestVersionLdflags builds the binary the way a release does and checks
// that the version set by the linker is the one printed.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "engine")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=9.8.7-test", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("engine 9.8.7-test\n")) {
		t.Errorf("version output %q", out)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
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
