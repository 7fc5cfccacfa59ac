// This test keeps the ready-to-run pipelines,
// the tour in examples/ and every plugin's example.hcl valid against the
// plugins compiled into engine.
package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/engine-audit/engine/core/config"
	_ "github.com/engine-audit/engine/plugins/all"
)

func TestShippedPipelinesAreValid(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.hcl", "../examples/*/*.hcl", "../plugins/*/*/example.hcl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d pipeline files: %v", len(files), files)
	}
	for _, f := range files {
		if filepath.Base(f) == "broken.hcl" {
			continue
		}
		t.Run(f, func(t *testing.T) {
			p, diags := config.Load([]string{f}, config.LoadOptions{Environ: []string{}, GOOS: "linux"})
			if len(diags) > 0 {
				var b strings.Builder
				_ = config.WriteText(&b, p.Files, diags, false)
				t.Fatalf("%s is not clean:\n%s", f, b.String())
			}
		})
	}
}

// The tour's broken pipeline must keep showing the mistakes it explains,
// each on its line.
func TestTourBrokenPipelineDiagnostics(t *testing.T) {
	p, diags := config.Load([]string{"../examples/tour/broken.hcl"}, config.LoadOptions{Environ: []string{}, GOOS: "linux"})
	want := map[int]string{ // line -> summary fragment
		6:  "go nowhere",
		8:  "Value not allowed",
		12: "undeclared component",
		13: "Invalid duration",
		16: `Missing required option "path"`,
	}
	got := map[int]string{}
	for _, d := range diags {
		if d.Subject != nil {
			got[d.Subject.Start.Line] = d.Summary
		}
	}
	for line, frag := range want {
		if !strings.Contains(got[line], frag) {
			var b strings.Builder
			_ = config.WriteText(&b, p.Files, diags, false)
			t.Errorf("line %d: want a diagnostic containing %q, got %q; all:\n%s", line, frag, got[line], b.String())
		}
	}
	if len(diags.Errs()) != 4 {
		t.Errorf("got %d errors, want 4", len(diags.Errs()))
	}
}

// Every hcl block of a plugin's README is a whole pipeline an operator can
// copy: it must load without errors. (Warnings are allowed: a README may
// name files this machine does not have, such as auditd's rules.d.)
func TestPluginReadmeExamplesAreValid(t *testing.T) {
	readmes, err := filepath.Glob("../plugins/*/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```hcl\n(.*?)```")
	checked := 0
	for _, readme := range readmes {
		src, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllSubmatch(src, -1) {
			name := fmt.Sprintf("%s#%d.hcl", readme, i+1)
			p, diags := config.LoadSource(map[string][]byte{name: m[1]}, config.LoadOptions{Environ: []string{}, GOOS: "linux"})
			if diags.HasErrors() {
				var b strings.Builder
				_ = config.WriteText(&b, p.Files, diags, false)
				t.Errorf("%s is not a valid pipeline:\n%s", name, b.String())
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d README examples", checked)
	}
}

func TestSampleLogIsShipped(t *testing.T) {
	fi, err := os.Stat("testdata/sample-audit.log")
	if err != nil || fi.Size() == 0 {
		t.Fatalf("the sample audit log the README runs is missing: %v", err)
	}
}
