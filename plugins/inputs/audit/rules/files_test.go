//go:build linux

package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
	"github.com/engine-audit/engine/sdk"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseFile(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "x.rules"),
		"## comment\n"+
			"-D\r\n"+
			"\n"+
			"-w /etc/passwd -p wz -k identity\n"+
			"-a always,exit -F arch=b64 -S open # trailing comment\n"+
			"  -a always,exitt\n"+
			"-e 1")
	lines, errs := rules.ParseFile(path)
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
		if l.Src.File != path {
			t.Errorf("line %q has source %+v", l.Text, l.Src)
		}
	}
	if want := []string{"-D", "-a always,exit -F arch=b64 -S open # trailing comment", "-e 1"}; !slices.Equal(texts, want) {
		t.Errorf("lines %q, want %q", texts, want)
	}
	if lines[1].Src.Line != 5 || lines[2].Src.Line != 7 {
		t.Errorf("line numbers %d, %d", lines[1].Src.Line, lines[2].Src.Line)
	}
	want := []struct{ line, col int }{{4, 20}, {6, 13}}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for i, w := range want {
		var fe *sdk.FileError
		if !errors.As(errs[i], &fe) || fe.Path != path || fe.Line != w.line || fe.Column != w.col {
			t.Errorf("error %d = %#v, want %s:%d:%d", i, errs[i], path, w.line, w.col)
		}
	}
	if _, errs := rules.ParseFile(filepath.Join(t.TempDir(), "missing.rules")); len(errs) != 1 {
		t.Errorf("a missing file gave %v", errs)
	}
}

func TestExpandFiles(t *testing.T) {
	dir := t.TempDir()
	d1, d2 := filepath.Join(dir, "rules.d"), filepath.Join(dir, "extra")
	for _, f := range []string{"10-base.rules", "9-first.rules", "100-last.rules", "notes.txt", "020-zero.rules"} {
		writeFile(t, filepath.Join(d1, f), "")
	}
	writeFile(t, filepath.Join(d2, "50-mid.rules"), "")
	writeFile(t, filepath.Join(d2, "10-base.rules"), "")
	if err := os.Mkdir(filepath.Join(d1, "dir.rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := rules.ExpandFiles([]string{d1, filepath.Join(d2, "*.rules"), filepath.Join(d1, "10-base.rules")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(d1, "9-first.rules"),
		filepath.Join(d2, "10-base.rules"),
		filepath.Join(d1, "10-base.rules"),
		filepath.Join(d1, "020-zero.rules"),
		filepath.Join(d2, "50-mid.rules"),
		filepath.Join(d1, "100-last.rules"),
	}
	// ls -v puts 020 after 10 and 10-base of one directory beside the other's.
	slices.SortStableFunc(want[1:3], func(a, b string) int { return strings.Compare(a, b) })
	if !slices.Equal(got, want) {
		t.Errorf("ExpandFiles:\n got %q\nwant %q", got, want)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ glob, msg string }{
		{filepath.Join(dir, "nope", "*.rules"), "no rule files match"},
		{filepath.Join(dir, "missing.rules"), "no such file"},
		{empty, "no rule files (*.rules) in directory"},
		{filepath.Join(dir, "[x"), "syntax error in pattern"},
	} {
		files, err := rules.ExpandFiles([]string{d1, tt.glob})
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), tt.glob) {
			t.Errorf("ExpandFiles(%q): %v, want …%s… naming it", tt.glob, err, tt.msg)
		}
		if len(files) != 4 {
			t.Errorf("ExpandFiles(%q) kept %d files of the good glob", tt.glob, len(files))
		}
	}
}

func TestOrder(t *testing.T) {
	var lines []rules.Line
	for i, text := range []string{"-b 1", "-D", "-w /a", "-e 1", "-f 1", "-b 2", "-D -k x", "-w /b", "-D", "--backlog_wait_time 5", "-r 3"} {
		l, err := rules.Parse(text, rules.Source{Index: i})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, *l)
	}
	var got []string
	for _, l := range rules.Order(lines) {
		got = append(got, l.Text)
	}
	want := []string{"-D", "-b 2", "-f 1", "-w /a", "-D -k x", "-w /b", "--backlog_wait_time 5", "-r 3", "-e 1"}
	if !slices.Equal(got, want) {
		t.Errorf("Order:\n got %q\nwant %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "50-site.rules"),
		"-D\n"+
			"-w /etc/passwd -p wa\n"+
			"-a always,exit -F arch=b64 -S opne\n"+
			"--loginuid-immutable\n"+
			"-a always,exit -F auid=engine-no-such-user\n"+
			"--reset-lost\n")
	cfg := rules.Config{
		Rules: []string{
			"-w /etc/shadow -p wa",
			"-a always,exitt",
			"-e 2",
			"-a always,exit -F gid=engine-no-such-group",
			"",
		},
		RuleFiles: []string{filepath.Join(dir, "*.rules"), filepath.Join(dir, "none", "*.rules")},
	}
	type diag struct {
		where   string
		warning bool
		msg     string
	}
	collect := func(err error) []diag {
		var out []diag
		for _, e := range sdk.Errors(err) {
			d := diag{warning: sdk.IsWarning(e), msg: e.Error()}
			var oe *sdk.OptionError
			var fe *sdk.FileError
			switch {
			case errors.As(e, &fe):
				d.where = filepath.Base(fe.Path) + ":" + strconv.Itoa(fe.Line) + ":" + strconv.Itoa(fe.Column)
			case errors.As(e, &oe):
				d.where = oe.Option
			default:
				t.Errorf("unplaced diagnostic %v", e)
			}
			out = append(out, d)
		}
		return out
	}
	got := collect(rules.Validate(cfg))
	want := []diag{
		{"rule_files[1]", true, "no rule files match"},
		{"50-site.rules:3:31", false, `unknown system call "opne"`},
		{"50-site.rules:4:1", false, "immutable until reboot"},
		{"50-site.rules:5:24", true, `no user "engine-no-such-user"`},
		{"50-site.rules:6:0", true, "--reset-lost is not carried out"},
		{"rules[1]", false, "column 11: unknown list or action"},
		{"rules[2]", false, "immutable until reboot; set immutable = true"},
		{"rules[3]", true, `column 23: this rule cannot load on this machine: there is no group "engine-no-such-group"`},
	}
	if len(got) != len(want) {
		t.Fatalf("Validate:\n got %+v\nwant %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.where != w.where || g.warning != w.warning || !strings.Contains(g.msg, w.msg) {
			t.Errorf("diagnostic %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	cfg.Immutable = true
	for _, d := range collect(rules.Validate(cfg)) {
		if strings.Contains(d.msg, "immutable") {
			t.Errorf("with immutable = true: %+v", d)
		}
	}

	// Load keeps the lines, in augenrules order, and fails only on errors.
	lines, err := rules.Load(rules.Config{Rules: []string{"-e 1", "-w /etc/shadow -p wa", "-a always,exit -F uid=engine-no-such-user"}, RuleFiles: []string{file}, Immutable: true})
	if err == nil || !strings.Contains(err.Error(), "opne") || strings.Contains(err.Error(), "engine-no-such-user") {
		t.Errorf("Load error: %v", err)
	}
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
	}
	wantTexts := []string{"-D", "-w /etc/passwd -p wa", "--loginuid-immutable", "-a always,exit -F auid=engine-no-such-user", "--reset-lost",
		"-w /etc/shadow -p wa", "-a always,exit -F uid=engine-no-such-user", "-e 1"}
	if !slices.Equal(texts, wantTexts) {
		t.Errorf("Load:\n got %q\nwant %q", texts, wantTexts)
	}
}

// rulesTestPlugin is an input whose only options are audit rules; it is
// registered once per test binary (go test -count runs the test again).
var (
	registerTestPlugin sync.Once
	rulesTestPlugin    = sdk.Plugin{
		Kind: sdk.KindInput, Type: "rulestest_audit", Summary: "Test input with audit rules.",
		Options: []sdk.Option{
			{Name: "rules", Type: sdk.TypeStringList, Default: []string{}, Doc: "Rules."},
			{Name: "rule_files", Type: sdk.TypeStringList, Default: []string{}, Doc: "Rule files."},
			{Name: "immutable", Type: sdk.TypeBool, Default: false, Doc: "Allow -e 2."},
		},
		Validate: func(cfg *sdk.Config) error {
			return rules.Validate(rules.Config{Rules: cfg.Strings("rules"), RuleFiles: cfg.Strings("rule_files"), Immutable: cfg.Bool("immutable")})
		},
		New: func(*sdk.Config, sdk.Env) (any, error) { return nil, errors.New("test plugin") },
	}
)

// The diagnostics land where `engine validate` shows them: in the pipeline
// file at the list element, and in the rule file at the line and column.
func TestValidateDiagnosticsInEngineValidate(t *testing.T) {
	registerTestPlugin.Do(func() { sdk.Register(rulesTestPlugin) })
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "10-x.rules"), "-D\n  -a always,exit -F a0=x\n-e 2\n")
	src := `input "rulestest_audit" "a" {
  rules = [
    "-w /etc/passwd -p wa",
    "-a always,exitt",
  ]
  rule_files = ["` + filepath.Join(dir, "*.rules") + `"]
}
`
	_, diags := config.LoadSource(map[string][]byte{"p.hcl": []byte(src)}, config.LoadOptions{Environ: []string{}})
	type place struct {
		file     string
		line     int
		col      int
		severity hcl.DiagnosticSeverity
	}
	var got []place
	for _, d := range diags {
		if d.Subject != nil && (strings.HasSuffix(d.Subject.Filename, ".rules") || d.Subject.Start.Line == 4) {
			got = append(got, place{filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, d.Severity})
		}
	}
	want := []place{
		{"p.hcl", 4, 5, hcl.DiagError},
		{"10-x.rules", 2, 24, hcl.DiagError},
		{"10-x.rules", 3, 1, hcl.DiagError},
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no diagnostic at %+v; got %+v\n%v", w, got, diags)
		}
	}
}

// Debian's rule library validates: every line parses, the only error
// without immutable = true is --loginuid-immutable, and the rest are
// warnings about what this machine lacks.
func TestDebianLibraryValidates(t *testing.T) {
	files := debianRules(t)
	var all []string
	for _, f := range files {
		all = append(all, f)
		if _, errs := rules.ParseFile(f); len(errs) > 0 {
			t.Errorf("%s: %v", filepath.Base(f), errs)
		}
	}
	for _, immutable := range []bool{true, false} {
		var errs []string
		for _, e := range sdk.Errors(rules.Validate(rules.Config{RuleFiles: all, Immutable: immutable})) {
			var fe *sdk.FileError
			if !errors.As(e, &fe) {
				t.Errorf("unplaced: %v", e)
				continue
			}
			if !sdk.IsWarning(e) {
				errs = append(errs, filepath.Base(fe.Path)+":"+strconv.Itoa(fe.Line))
			}
		}
		want := []string{"11-loginuid.rules:2"}
		if immutable {
			want = nil
		}
		if !slices.Equal(errs, want) {
			t.Errorf("immutable = %v: errors at %q, want %q", immutable, errs, want)
		}
	}
}

func BenchmarkParseDebianLibrary(b *testing.B) {
	var lines []string
	for _, f := range debianRulesB(b) {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, strings.Split(string(data), "\n")...)
	}
	b.ResetTimer()
	for range b.N {
		for i, l := range lines {
			if _, err := rules.Parse(l, rules.Source{Index: i}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}
