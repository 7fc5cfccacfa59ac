package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestReadme keeps README.md honest: every function a pipeline can call is
// documented, and every complete HCL example parses.
func TestReadme(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, name := range FunctionNames() {
		if !strings.Contains(readme, "`"+name+"`") && !strings.Contains(readme, "`"+name+"(") {
			t.Errorf("function %s is not documented in README.md", name)
		}
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllStringSubmatch(readme, -1)
	if len(blocks) < 5 {
		t.Fatalf("found only %d HCL examples", len(blocks))
	}
	for i, b := range blocks {
		src := b[1]
		if strings.Count(src, "{") != strings.Count(src, "}") {
			continue // a deliberate fragment
		}
		if _, diags := hclsyntax.ParseConfig([]byte(src), "README.md", hcl.InitialPos); diags.HasErrors() {
			t.Errorf("example %d does not parse: %s\n%s", i, diags, src)
		}
	}
}
