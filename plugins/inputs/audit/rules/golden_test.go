//go:build !windows

package rules

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden parses testdata/syntax.rules and compares what each line
// becomes with testdata/syntax.golden.
func TestGolden(t *testing.T) {
	const in, out = "testdata/syntax.rules", "testdata/syntax.golden"
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for n, text := range strings.Split(string(data), "\n") {
		l, err := Parse(text, Source{File: filepath.Base(in), Line: n + 1})
		var le *LineError
		switch {
		case errors.As(err, &le):
			fmt.Fprintf(&b, "%d: error at column %d: %v\n", n+1, le.Column, le.Err)
			continue
		case err != nil:
			t.Fatalf("line %d: %v", n+1, err)
		case l == nil:
			continue
		}
		fmt.Fprintf(&b, "%d: %s", n+1, l.Kind)
		switch {
		case l.Unloadable != nil:
			fmt.Fprintf(&b, ", cannot load here: %v", l.Unloadable)
		case l.Kind == KindControl:
			fmt.Fprintf(&b, " %s", showControl(l.Control))
		default:
			c, err := Canonical(l.Wire)
			if err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			fmt.Fprintf(&b, " %s", c)
			if r, _ := decodeRule(l.Wire); r.prepend {
				b.WriteString(" (prepend)")
			}
		}
		if l.Immutable() {
			b.WriteString(" (immutable)")
		}
		b.WriteString("\n")
	}
	if *update {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("first difference:\n got %s\nwant %s", g, w)
				break
			}
		}
	}
}
