package logfile_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/sdk"

	_ "github.com/engine-audit/engine/plugins/all"
)

// TestExamples loads example.hcl and every hcl block of README.md the way
// `engine validate` does, against every built-in plugin.
func TestExamples(t *testing.T) {
	if sdk.Lookup(sdk.KindInput, "logfile") == nil {
		t.Fatal("plugins/all does not compile in input logfile")
	}
	sources := map[string][]byte{}
	example, err := os.ReadFile("example.hcl")
	if err != nil {
		t.Fatal(err)
	}
	sources["example.hcl"] = example
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no hcl example")
	}
	for i, m := range blocks {
		sources["README.md#"+string(rune('1'+i))+".hcl"] = m[1]
	}
	for name, src := range sources {
		if !strings.Contains(string(src), `input "logfile"`) {
			continue
		}
		_, diags := config.LoadSource(map[string][]byte{name: src}, config.LoadOptions{GOOS: "linux", Environ: []string{}})
		for _, d := range diags {
			t.Errorf("%s: %s", name, d.Error())
		}
	}
}
