//go:build !windows

package rules

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that no line makes the parser panic, that errors point
// inside the line, and that every rule it builds has a canonical form that
// parses back to the same form.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/syntax.rules")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f.Add(l)
	}
	for _, l := range []string{
		"-a always,exit -S 2031", "-a always,exit -F arch=b32 -S all -k a -k b", `-w /a\\ -p w`,
		"-a always,exit -F a0&=0x7C020000 -C fsgid!=obj_gid", "-A never,exit -F path=/x -F perm=w -F key=#k",
		"-d never,filesystem -F fstype!=cgroup2", "-Dk x", "-e2", "-aalways,exit", "-a always,exit -F filetype=0x4000",
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := Parse(text, Source{})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("Parse(%q): error %v is not a *LineError", text, err)
			}
			if le.Column < 0 || le.Column > len(text)+1 {
				t.Fatalf("Parse(%q): column %d outside the line", text, le.Column)
			}
			return
		}
		if l == nil {
			return
		}
		switch l.Kind {
		case KindControl:
			if l.Wire != nil || l.Unloadable != nil {
				t.Fatalf("Parse(%q): control line with a rule", text)
			}
			return
		case KindRule, KindDelete:
		default:
			t.Fatalf("Parse(%q): kind %v", text, l.Kind)
		}
		if (l.Wire == nil) == (l.Unloadable == nil) {
			t.Fatalf("Parse(%q): wire %d bytes and unloadable %v", text, len(l.Wire), l.Unloadable)
		}
		if l.Wire == nil {
			return
		}
		c, err := Canonical(l.Wire)
		if err != nil {
			t.Fatalf("Canonical(Parse(%q)): %v", text, err)
		}
		again, err := Parse(c, Source{})
		if err != nil || again == nil || again.Wire == nil {
			t.Fatalf("Parse(%q) → %q, which does not parse: %v", text, c, err)
		}
		if c2, _ := Canonical(again.Wire); c2 != c {
			t.Fatalf("Parse(%q) → %q → %q", text, c, c2)
		}
	})
}
