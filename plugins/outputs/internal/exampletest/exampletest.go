// Package exampletest checks the HCL examples that ship with an output
// plugin — example.hcl and the hcl blocks of README.md — against the
// plugin's schema, so that what operators copy stays valid.
package exampletest

import (
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// Check parses dir/example.hcl and every hcl block of dir/README.md, and
// checks each output block of type typ: options known and of the right
// type, required options present, and the plugin's Validate passing.
// example.hcl must hold at least one such block.
func Check(t *testing.T, dir, typ string) {
	t.Helper()
	p := sdk.Lookup(sdk.KindOutput, typ)
	if p == nil {
		t.Fatalf("output %q is not registered", typ)
	}
	sources := map[string][]byte{}
	example, err := os.ReadFile(filepath.Join(dir, "example.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	sources["example.hcl"] = example
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Error("README.md has no hcl example")
	}
	for i, m := range blocks {
		sources["README.md#"+strconv.Itoa(i+1)] = m[1]
	}
	for name, src := range sources {
		f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		if diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
			continue
		}
		found := 0
		for _, block := range f.Body.(*hclsyntax.Body).Blocks {
			if block.Type != "output" || len(block.Labels) != 2 || block.Labels[0] != typ {
				continue
			}
			found++
			values := map[string]any{}
			for attrName, attr := range block.Body.Attributes {
				if attrName == "inputs" || attrName == "queue_size" {
					continue // meta-arguments, the core's
				}
				i := slices.IndexFunc(p.Options, func(o sdk.Option) bool { return o.Name == attrName })
				if i < 0 {
					t.Errorf("%s:%d: unknown option %q", name, attr.SrcRange.Start.Line, attrName)
					continue
				}
				v, diags := attr.Expr.Value(nil)
				if diags.HasErrors() {
					t.Errorf("%s:%d: %v", name, attr.SrcRange.Start.Line, diags)
					continue
				}
				goValue, ok := decodeOption(p.Options[i], v)
				if !ok {
					t.Errorf("%s:%d: option %q: %s is not a valid %s", name, attr.SrcRange.Start.Line, attrName, v.GoString(), p.Options[i].Type)
					continue
				}
				values[attrName] = goValue
			}
			for _, o := range p.Options {
				if _, set := values[o.Name]; o.Required && !set {
					t.Errorf("%s: output %q lacks the required option %q", name, block.Labels[1], o.Name)
				}
			}
			if p.Validate != nil {
				if err := p.Validate(sdktest.Config(p, values)); err != nil {
					t.Errorf("%s: output %q does not validate: %v", name, block.Labels[1], err)
				}
			}
		}
		if found == 0 && name == "example.hcl" {
			t.Errorf("%s has no output %q block", name, typ)
		}
	}
}

// decodeOption converts a literal HCL value to the Go type of the option.
func decodeOption(o sdk.Option, v cty.Value) (any, bool) {
	switch o.Type {
	case sdk.TypeString:
		if v.Type() != cty.String {
			return nil, false
		}
		s := v.AsString()
		return s, len(o.Enum) == 0 || slices.Contains(o.Enum, s)
	case sdk.TypeInt:
		if v.Type() != cty.Number || !v.AsBigFloat().IsInt() {
			return nil, false
		}
		i, _ := v.AsBigFloat().Int64()
		return i, true
	case sdk.TypeBool:
		return v.Type() == cty.Bool && v.True(), v.Type() == cty.Bool
	case sdk.TypeDuration:
		if v.Type() != cty.String {
			return nil, false
		}
		d, err := time.ParseDuration(v.AsString())
		return d, err == nil
	case sdk.TypeSize:
		if v.Type() == cty.Number {
			i, acc := v.AsBigFloat().Int64()
			return i, acc == big.Exact && i >= 0
		}
		if v.Type() != cty.String {
			return nil, false
		}
		return parseSize(v.AsString())
	}
	return nil, false
}

var sizeUnits = map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

func parseSize(s string) (int64, bool) {
	num := strings.TrimRight(s, "BKMGTi")
	unit, ok := sizeUnits[s[len(num):]]
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	return n * unit, ok && err == nil && n >= 0
}
