package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// wantDiag is one expected diagnostic: its severity, a substring of its
// summary, and its range as "line:col-line:col" ("" for none).
type wantDiag struct {
	sev     hcl.DiagnosticSeverity
	summary string
	rng     string
	detail  string // substring of the detail, if set
}

const (
	errD  = hcl.DiagError
	warnD = hcl.DiagWarning
)

// testOptions isolate tests from the environment and the host.
func testOptions() LoadOptions {
	return LoadOptions{Environ: []string{}, GOOS: "linux"}
}

// TestInvalidPipelines loads each broken pipeline in testdata/invalid and
// checks every diagnostic it produces, in order, and the rendered text
// against a golden file.
func TestInvalidPipelines(t *testing.T) {
	cases := []struct {
		file string
		opts func(*LoadOptions)
		want []wantDiag
	}{
		{file: "syntax_error", want: []wantDiag{
			{errD, "Invalid expression", "3:12-4:1", "Expected the start of an expression"},
		}},
		{file: "unknown_block", want: []wantDiag{
			{errD, "Unsupported block type", "1:1-1:6", `Did you mean "input"?`},
			{errD, "Reference to undeclared component", "6:13-6:35", "input.cfgtest_source.a"},
			{errD, "Pipeline has no input", "", "at least one input and one output"},
		}},
		{file: "unknown_plugin", want: []wantDiag{
			{errD, `Unknown input type "cfgtest_sorce"`, "1:7-1:22", `Did you mean "cfgtest_source"?`},
			{errD, `Unknown input type "cfgtest_sink"`, "5:7-5:21", `"cfgtest_sink" is an output plugin`},
		}},
		{file: "unknown_option", want: []wantDiag{
			{errD, "Unsupported argument", "3:3-3:9", `Did you mean "format"?`},
			{errD, "Unsupported argument", "6:5-6:10", `Did you mean "verify"?`},
			{errD, "Unsupported block type", "8:3-8:8", "Its options are path, format"},
			{warnD, "Events of processor.cfgtest_noop.n go nowhere", "11:1-11:29", ""},
			{errD, "Unsupported argument", "13:3-13:10", "takes no options of its own, only inputs and queue_size"},
			{errD, "Unsupported argument", "17:3-17:8", `Did you mean "inputs"?`},
		}},
		{file: "missing_required", want: []wantDiag{
			{errD, `Missing required option "path"`, "1:1-1:27", `Add path = "..."`},
			{errD, `Missing required option "ca_file"`, "3:3-3:6", "The tls block of"},
			{errD, `Missing required option "action"`, "6:3-6:7", `one of "allow" and "deny"`},
			{errD, "Required option is null", "12:10-12:14", ""},
		}},
		{file: "wrong_types", want: []wantDiag{
			{errD, "Incorrect value type", "2:13-2:31", "expects a string"},
			{errD, "Incorrect value type", "3:13-3:20", "expects a whole number"},
			{errD, "Incorrect value type", "4:13-4:20", "expects true or false"},
			{errD, "Incorrect value type", "5:13-5:23", "expects a map of strings"},
			{errD, "Incorrect value type", "6:13-6:29", `write it in brackets, such as ["/var/log/*.log"]`},
			{errD, "Incorrect value type", "7:13-7:26", "expects a number"},
			{errD, "Incorrect value type", "8:13-8:30", "Element 1: string required"},
			{errD, "Block written as an argument", "13:3-13:6", "write it as tls { ... }"},
			{errD, "Argument written as a block", "14:3-14:10", "write it as retries = 0"},
		}},
		{file: "enum", want: []wantDiag{
			{errD, "Value not allowed", "3:12-3:17", `Did you mean "json"?`},
			{errD, "Value not allowed", "4:20-4:28", `must be one of "low" and "high"; "medium" is not`},
			{errD, "Value not allowed", "6:14-6:22", `Option "rule[0].action"`},
		}},
		{file: "duration_size", want: []wantDiag{
			{errD, "Invalid duration", "3:14-3:25", `"5 minutes" is not a duration`},
			{errD, "Invalid size", "4:14-4:20", `unknown unit "XB"`},
			{errD, "Duration without a unit", "9:19-9:21", `such as "30s"`},
			{errD, "Invalid size", "10:19-10:21", "non-negative"},
			{errD, "Invalid duration", "11:19-11:24", "is negative"},
			{errD, "Invalid size", "16:22-16:28", "not a whole number of bytes"},
			{errD, "Invalid batch_max_events", "17:22-17:23", "from 1 to"},
			{errD, "Invalid whole number", "22:16-22:19", `"queue_size"`},
		}},
		{file: "bounds", want: []wantDiag{
			{errD, "Value out of range", "3:13-3:17", `must be more than zero; "0s" is not. Its default is "1s".`},
			{errD, "Value out of range", "4:13-4:15", "must not be negative; -1 is not. Its default is 3."},
			{errD, "Value out of range", "5:13-5:14", "must be more than zero; 0 is not."},
		}},
		{file: "regex_glob", want: []wantDiag{
			{errD, "Invalid glob pattern", "3:30-3:46", "syntax error in pattern"},
			{errD, "Invalid regular expression", "10:14-10:25", "missing closing )"},
			{errD, "Invalid regular expression", "16:13-16:18", "invalid nested repetition operator"},
		}},
		{file: "references", want: []wantDiag{
			{errD, "Reference to undeclared component", "6:13-6:35", "Did you mean input.cfgtest_source.a?"},
			{errD, "Invalid reference in inputs", "6:37-6:61", "without quotes"},
			{errD, "Invalid reference in inputs", "6:63-6:83", "has 2 parts instead of 3"},
			{errD, "Output used as an input", "10:39-10:60", "output.cfgtest_sink.t is an output"},
			{errD, "Invalid reference in inputs", "10:62-10:72", "cannot come from var.source"},
			{errD, "Invalid reference in inputs", "10:74-10:85", "does not start with input, processor or output"},
			{errD, "Duplicate input", "14:37-14:59", "references.hcl:14:13"},
		}},
		{file: "inputs_meta", want: []wantDiag{
			{errD, "inputs is not valid in an input block", "3:3-3:9", ""},
			{errD, "queue_size is not valid in an input block", "4:3-4:13", ""},
			{errD, "Missing inputs", "11:1-11:29", "Add inputs = [input.TYPE.NAME]"},
			{errD, "Empty inputs", "15:19-15:21", ""},
			{errD, "batch_max_age is not valid in an output block", "16:3-16:16", ""},
			{errD, "Invalid inputs", "20:12-20:34", "written in brackets"},
		}},
		{file: "output_blocks", want: []wantDiag{
			{errD, "buffer is not valid in a processor block", "6:3-6:9", "belongs to an output"},
			{errD, "Value not allowed", "11:17-11:22", `Did you mean "disk"?`},
			{errD, "Value not allowed", "13:17-13:30", `"block" and "drop_newest"`},
			{errD, `Missing required option "path"`, "15:3-15:14", "The dead_letter block of"},
			{errD, "Unsupported argument", "16:5-16:9", `Did you mean "path"?`},
			{errD, "Duplicate buffer block", "18:3-18:9", "output_blocks.hcl:10:3"},
			{errD, "Block written as an argument", "19:3-19:14", "write it as dead_letter { ... }"},
		}},
		{file: "cycle", want: []wantDiag{
			{errD, "Cycle in the pipeline graph", "10:13-10:39",
				"processor.cfgtest_noop.one → processor.cfgtest_noop.two → processor.cfgtest_noop.three → processor.cfgtest_noop.one"},
			{errD, "Cycle in the pipeline graph", "18:13-18:40", "lists itself in its inputs"},
		}},
		{file: "duplicates", want: []wantDiag{
			{errD, "Duplicate variable declaration", "5:1-5:15", "duplicates.hcl:1:1"},
			{errD, "Duplicate local value", "14:3-14:7", "duplicates.hcl:10:3"},
			{errD, "Duplicate engine block", "21:1-21:7", "duplicates.hcl:17:1"},
			{errD, "Duplicate tls block", "30:3-30:6", "duplicates.hcl:27:3"},
			{errD, `Duplicate input "cfgtest_source" "a"`, "35:7-35:27", "duplicates.hcl:25:1"},
		}},
		{file: "platform", want: []wantDiag{
			{errD, "Plugin not available on linux", "1:7-1:22", "runs only on plan9"},
		}},
		{file: "unconsumed", want: []wantDiag{
			{warnD, "Events of input.cfgtest_source.unused go nowhere", "5:1-5:32", ""},
			{warnD, "Events of processor.cfgtest_noop.dangling go nowhere", "9:1-9:36", ""},
		}},
		{file: "empty", want: []wantDiag{
			{errD, "Empty pipeline", "", "A pipeline needs at least one input and one output"},
		}},
		{file: "no_output", want: []wantDiag{
			{warnD, "Events of input.cfgtest_source.a go nowhere", "1:1-1:27", ""},
			{errD, "Pipeline has no output", "", "declares no output block"},
		}},
		{file: "variables", want: []wantDiag{
			{errD, "No value for required variable", "1:1-1:20", "--var required=VALUE"},
			{errD, "Invalid default value for variable", "7:13-7:19", "does not match its type number"},
			{errD, "Reference in variable default", "11:13-11:22", "refers to var.count"},
			{errD, "Invalid variable name", "14:10-14:20", ""},
			{errD, "No value for required variable", "18:1-18:16", "ENGINE_VAR_kind=VALUE"},
			{errD, "Invalid type specification", "19:10-19:16", ""},
			{errD, "Reference to undeclared variable", "23:13-23:25", "Did you mean var.required?"},
		}},
		{file: "variables_cli", opts: func(o *LoadOptions) {
			o.Vars = map[string]string{"retries": "many", "undeclared": "x", "follow": "false"}
			o.Environ = []string{`ENGINE_VAR_paths=["a",`}
		}, want: []wantDiag{
			{errD, "Invalid value for variable", "1:1-1:19", `the value "many" given by --var retries is not one`},
			{errD, "Invalid value for variable", "5:1-5:17", "given by the environment variable ENGINE_VAR_paths"},
			{errD, "Value for undeclared variable", "", `Declare it with variable "undeclared" {}`},
		}},
		{file: "locals_cycle", want: []wantDiag{
			{errD, "Cycle in local values", "2:3-2:4", "local.a → local.c → local.b → local.a"},
			{errD, "Reference to undeclared local value", "3:7-3:17", `no local value named "nope"`},
		}},
		{file: "engine_block", want: []wantDiag{
			{errD, "Empty state_dir", "2:22-2:24", ""},
			{errD, "Invalid http_address", "3:22-3:33", "HOST:PORT"},
			{errD, "Invalid shutdown_timeout", "4:22-4:26", "more than zero"},
			{errD, "Value not allowed", "5:22-5:31", `"debug", "info", "warn" and "error"`},
			{errD, "Unsupported argument", "6:3-6:13", "The arguments allowed in the engine block are state_dir"},
		}},
		{file: "plugin_block", want: []wantDiag{
			{errD, "External plugins are not supported yet", "1:1-1:15", "'engine plugins'"},
			{errD, "Invalid sha256", "3:12-3:26", "64 hexadecimal digits"},
			{errD, "External plugins are not supported yet", "6:1-6:15", ""},
			{errD, "Missing required argument", "6:16-6:16", `"path"`},
		}},
		{file: "plugin_validate", want: []wantDiag{
			{errD, `Invalid value for option "tls.ca_file"`, "4:15-4:20", "rejected by the test plugin"},
			{errD, `Invalid value for option "rule[1].match"`, "13:3-13:7", "a deny rule needs a match"},
			{errD, "Invalid input configuration", "18:1-18:27", "refuses this path"},
			{errD, `Invalid value for option "retries"`, "24:13-24:17", "at most 100"},
			{errD, "Invalid output configuration", "27:1-27:28", "panicked: boom"},
			{errD, "Invalid plugin schema", "31:8-31:27", `option "inputs"`},
		}},
		{file: "functions", want: []wantDiag{
			{errD, "Invalid function argument", "2:15-2:32", "ENGINE_TEST_UNSET is not set"},
			{errD, "Invalid function argument", "6:16-6:27", "missing.txt: no such file"},
			{errD, "Call to unknown function", "10:10-10:19", `"uppercase"`},
			{errD, "Component reference outside inputs", "14:10-14:32", ""},
			{errD, "Unknown variable", "18:10-18:18", "Did you mean var.dir?"},
		}},
		{file: "labels", want: []wantDiag{
			{errD, "Invalid input name", "1:24-1:34", `"my input"`},
			{errD, "Missing name for input", "5:24-5:25", ""},
			{errD, "Unexpected block label", "11:7-11:10", "tls blocks take no labels"},
			{errD, "Extraneous label for output", "16:27-16:34", ""},
		}},
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			opts := testOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			path := filepath.Join("testdata", "invalid", tc.file+".hcl")
			p, diags := Load([]string{path}, opts)
			checkDiagnostics(t, diags, tc.want)

			var text bytes.Buffer
			if err := WriteText(&text, p.Files, diags, false); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "invalid", tc.file+".golden"), text.Bytes())
		})
	}
	// Every file in testdata/invalid must have a case.
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.hcl"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		if !seen[name] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func checkDiagnostics(t *testing.T, diags hcl.Diagnostics, want []wantDiag) {
	t.Helper()
	for i := 0; i < max(len(diags), len(want)); i++ {
		if i >= len(diags) {
			t.Errorf("diagnostic %d missing: want %v %q at %q", i, want[i].sev, want[i].summary, want[i].rng)
			continue
		}
		d := diags[i]
		if i >= len(want) {
			t.Errorf("unexpected diagnostic %d: %v %q at %q: %s", i, d.Severity, d.Summary, rangeString(d.Subject), d.Detail)
			continue
		}
		w := want[i]
		if d.Severity != w.sev || !strings.Contains(d.Summary, w.summary) || rangeString(d.Subject) != w.rng {
			t.Errorf("diagnostic %d:\n got %v %q at %q\nwant %v %q at %q", i, d.Severity, d.Summary, rangeString(d.Subject), w.sev, w.summary, w.rng)
		}
		if w.detail != "" && !strings.Contains(d.Detail, w.detail) {
			t.Errorf("diagnostic %d (%s): detail %q does not contain %q", i, d.Summary, d.Detail, w.detail)
		}
		if d.Detail == "" {
			t.Errorf("diagnostic %d (%s) has no detail", i, d.Summary)
		}
	}
}

func rangeString(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d:%d-%d:%d", r.Start.Line, r.Start.Column, r.End.Line, r.End.Column)
}

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
