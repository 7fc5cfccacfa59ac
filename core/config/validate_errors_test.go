package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/engine-audit/engine/sdk"
)

// cfgtest_rulefile's Validate reports, all at once: an error about the
// second element of its list, an error inside the file it names, and a
// warning.
func init() {
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindInput, Type: "cfgtest_rulefile", Summary: "Test input reading a rule file.",
		Options: []sdk.Option{
			{Name: "items", Type: sdk.TypeStringList, Doc: "Items."},
			{Name: "file", Type: sdk.TypeString, Doc: "A file with one rule per line."},
		},
		Validate: func(cfg *sdk.Config) error {
			var errs []error
			for i, it := range cfg.Strings("items") {
				if it == "bad" {
					errs = append(errs, sdk.OptionErrorf("items["+itoa(i)+"]", "%q is not an item", it))
				}
			}
			if path := cfg.String("file"); path != "" {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				for n, line := range strings.Split(string(data), "\n") {
					if i := strings.Index(line, "oops"); i >= 0 {
						errs = append(errs, &sdk.FileError{Path: path, Line: n + 1, Column: i + 1, Err: errors.New("oops is not a rule")})
					}
					if strings.HasPrefix(line, "old") {
						errs = append(errs, sdk.Warning(&sdk.FileError{Path: path, Line: n + 1, Err: errors.New("old syntax")}))
					}
				}
			}
			return errors.Join(errs...)
		},
		New: func(*sdk.Config, sdk.Env) (any, error) { return nil, errors.New("test plugin") },
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestValidateErrorsPointIntoListsAndFiles(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "my.rules")
	if err := os.WriteFile(rules, []byte("fine\nold style\n  oops here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `input "cfgtest_rulefile" "a" {
  items = [
    "good",
    "bad",
  ]
  file = "` + rules + `"
}
output "cfgtest_sink" "o" {
  inputs = [input.cfgtest_rulefile.a]
}
`
	p, diags := LoadSource(map[string][]byte{"p.hcl": []byte(src)}, LoadOptions{Environ: []string{}})
	type place struct {
		file     string
		line     int
		col      int
		severity hcl.DiagnosticSeverity
	}
	var got []place
	for _, d := range diags {
		if d.Subject == nil {
			t.Fatalf("diagnostic without a place: %v", d)
		}
		got = append(got, place{filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, d.Severity})
	}
	want := []place{
		{"p.hcl", 4, 5, hcl.DiagError},      // "bad", the second element
		{"my.rules", 3, 3, hcl.DiagError},   // oops, at its column
		{"my.rules", 2, 1, hcl.DiagWarning}, // old style: the whole line
	}
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics %v, want %v", len(got), got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("no diagnostic at %+v; got %+v", w, got)
		}
	}
	// The rule file is shown in the text output like a pipeline file.
	var b strings.Builder
	if err := WriteText(&b, p.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "3:   oops here") {
		t.Errorf("text output lacks the rule file's snippet:\n%s", b.String())
	}
	if len(diags.Errs()) != 2 {
		t.Errorf("%d errors, want 2 (the warning is not one)", len(diags.Errs()))
	}
}
