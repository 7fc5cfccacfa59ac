package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"64MiB", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"64mib", 64 << 20, ""},
		{"10MB", 10_000_000, ""},
		{"1kB", 1000, ""},
		{"1KiB", 1024, ""},
		{"1.5GiB", 3 << 29, ""},
		{"2TB", 2_000_000_000_000, ""},
		{"12B", 12, ""},
		{"9000000TiB", 0, "too large"},
		{"1.5B", 0, "whole number of bytes"},
		{"1.5", 0, "whole number of bytes"},
		{"MiB", 0, "does not start with a number"},
		{"", 0, "does not start with a number"},
		{"-1MiB", 0, "does not start with a number"},
		{"10XB", 0, `unknown unit "XB"`},
		{"1..5MB", 0, "not a number"},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	cases := map[int64]string{
		0: "0", 1000: "1000", 1024: "1KiB", 64 << 20: "64MiB", 3 << 29: "1536MiB", 1 << 40: "1TiB", 10_000_000: "10000000",
	}
	for in, want := range cases {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
		if back, err := ParseSize(FormatSize(in)); err != nil || back != in {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", in, back, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := ParseDuration("1m30s"); err != nil || d != 90*time.Second {
		t.Errorf("ParseDuration(1m30s) = %v, %v", d, err)
	}
	for _, bad := range []string{"5 minutes", "-1s", "", "10"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestCheckPlugin(t *testing.T) {
	cases := []struct {
		name string
		opts []sdk.Option
		err  string
	}{
		{"valid", []sdk.Option{
			{Name: "a", Type: sdk.TypeString, Default: "x", Enum: []string{"x", "y"}},
			{Name: "b", Type: sdk.TypeDuration, Default: time.Second},
			{Name: "c", Type: sdk.TypeSize, Default: int64(1)},
			{Name: "d", Type: sdk.TypeStringList, Default: []string{"x"}, Enum: []string{"x"}},
			{Name: "e", Type: sdk.TypeBlock, Options: []sdk.Option{{Name: "inputs", Type: sdk.TypeString}}},
			{Name: "f", Type: sdk.TypeStringMap, Format: sdk.FormatRegex},
			{Name: "g", Type: sdk.TypeInt, Default: int64(1), Bound: sdk.Positive},
			{Name: "h", Type: sdk.TypeFloat, Default: 0.0, Bound: sdk.NonNegative},
		}, ""},
		{"reserved name", []sdk.Option{{Name: "queue_size", Type: sdk.TypeInt}}, "reserved"},
		{"bad name", []sdk.Option{{Name: "a b", Type: sdk.TypeInt}}, "not a valid HCL identifier"},
		{"duplicate", []sdk.Option{{Name: "a", Type: sdk.TypeInt}, {Name: "a", Type: sdk.TypeString}}, "declared twice"},
		{"int default", []sdk.Option{{Name: "a", Type: sdk.TypeInt, Default: 3}}, "Go type int; it must be int64"},
		{"duration default", []sdk.Option{{Name: "a", Type: sdk.TypeDuration, Default: "1s"}}, "must be time.Duration"},
		{"unknown type", []sdk.Option{{Name: "a"}}, "unknown type"},
		{"required with default", []sdk.Option{{Name: "a", Type: sdk.TypeString, Required: true, Default: "x"}}, "required but has a default"},
		{"enum on int", []sdk.Option{{Name: "a", Type: sdk.TypeInt, Enum: []string{"1"}}}, "Enum applies to"},
		{"default outside enum", []sdk.Option{{Name: "a", Type: sdk.TypeString, Default: "z", Enum: []string{"x"}}}, "not in its Enum"},
		{"format on bool", []sdk.Option{{Name: "a", Type: sdk.TypeBool, Format: sdk.FormatGlob}}, "Format applies to"},
		{"unknown format", []sdk.Option{{Name: "a", Type: sdk.TypeString, Format: "cidr"}}, "unknown Format"},
		{"bound on string", []sdk.Option{{Name: "a", Type: sdk.TypeString, Bound: sdk.Positive}}, "Bound applies to"},
		{"unknown bound", []sdk.Option{{Name: "a", Type: sdk.TypeInt, Bound: "even"}}, "unknown Bound"},
		{"default outside bound", []sdk.Option{{Name: "a", Type: sdk.TypeDuration, Default: time.Duration(0), Bound: sdk.Positive}}, "the default is out of its Bound: it must be more than zero"},
		{"bound on block", []sdk.Option{{Name: "a", Type: sdk.TypeBlock, Bound: sdk.Positive}}, "cannot have Enum, Format or Bound"},
		{"block default", []sdk.Option{{Name: "a", Type: sdk.TypeBlock, Default: "x"}}, "cannot have a default"},
		{"nested error", []sdk.Option{{Name: "a", Type: sdk.TypeBlockList, Options: []sdk.Option{{Name: "b", Type: sdk.TypeInt, Default: 1}}}}, `option "a.b"`},
		{"options on scalar", []sdk.Option{{Name: "a", Type: sdk.TypeString, Options: []sdk.Option{{Name: "b", Type: sdk.TypeInt}}}}, "not a block"},
	}
	for _, tc := range cases {
		err := CheckPlugin(&sdk.Plugin{Options: tc.opts})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.err)
		}
	}
	// Every plugin compiled into this test binary passes, except the one
	// that is broken on purpose.
	for _, p := range sdk.Plugins() {
		if err := CheckPlugin(p); err != nil && p.Type != "cfgtest_badschema" {
			t.Errorf("%s: %v", p.ID(), err)
		}
	}
}

// FuzzLoadSource feeds arbitrary text to the loader and renders whatever
// diagnostics come out. It must never panic.
func FuzzLoadSource(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.hcl"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`input "cfgtest_source" "a" { path = "${`))
	f.Add([]byte("locals {\n a = local.a\n}\n"))
	f.Add([]byte(`processor "cfgtest_noop" "x" { inputs = [processor.cfgtest_noop.x[0]] }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		opts := LoadOptions{Environ: []string{"ENGINE_VAR_x=1"}, Vars: map[string]string{"y": "[1"}, GOOS: "linux"}
		p, diags := LoadSource(map[string][]byte{"fuzz.hcl": src}, opts)
		if p == nil || p.Files == nil {
			t.Fatal("nil pipeline")
		}
		var buf bytes.Buffer
		if err := WriteText(&buf, p.Files, diags, true); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&buf, p.Files, diags); err != nil {
			t.Fatal(err)
		}
		if !diags.HasErrors() {
			for _, c := range p.Components {
				if c.Plugin == nil || c.Config == nil {
					t.Fatalf("valid pipeline with incomplete component %s", c.ID)
				}
			}
		}
	})
}
