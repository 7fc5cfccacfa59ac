package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// Test-only plugins. Their type names start with cfgtest_ so that they can
// never collide with real plugins compiled into the same test binary.
func init() {
	newNothing := func(*sdk.Config, sdk.Env) (any, error) { return nil, errors.New("test plugin") }

	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindInput,
		Type:    "cfgtest_source",
		Summary: "Test input with one option of every type.",
		Options: []sdk.Option{
			{Name: "path", Type: sdk.TypeString, Required: true, Doc: "File to read."},
			{Name: "format", Type: sdk.TypeString, Default: "json", Enum: []string{"json", "audit", "raw"}, Doc: "How lines are parsed."},
			{Name: "paths", Type: sdk.TypeStringList, Format: sdk.FormatGlob, Doc: "More files, as globs."},
			{Name: "poll", Type: sdk.TypeDuration, Default: time.Second, Bound: sdk.Positive, Doc: "Poll interval."},
			{Name: "max_size", Type: sdk.TypeSize, Default: int64(64 << 20), Doc: "Largest file."},
			{Name: "tags", Type: sdk.TypeStringMap, Doc: "Tags to add."},
			{Name: "retries", Type: sdk.TypeInt, Default: int64(3), Bound: sdk.NonNegative, Doc: "Retries."},
			{Name: "ratio", Type: sdk.TypeFloat, Bound: sdk.Positive, Doc: "Sampling ratio."},
			{Name: "follow", Type: sdk.TypeBool, Default: true, Doc: "Follow the file."},
			{Name: "levels", Type: sdk.TypeStringList, Enum: []string{"low", "high"}, Default: []string{"low"}, Doc: "Levels."},
			{Name: "tls", Type: sdk.TypeBlock, Doc: "TLS settings.", Options: []sdk.Option{
				{Name: "ca_file", Type: sdk.TypeString, Required: true, Doc: "CA bundle."},
				{Name: "verify", Type: sdk.TypeBool, Default: true},
			}},
			{Name: "rule", Type: sdk.TypeBlockList, Doc: "Rules.", Options: []sdk.Option{
				{Name: "action", Type: sdk.TypeString, Required: true, Enum: []string{"allow", "deny"}},
				{Name: "match", Type: sdk.TypeString, Format: sdk.FormatRegex},
			}},
		},
		Validate: func(cfg *sdk.Config) error {
			if tls := cfg.Block("tls"); tls != nil && tls.String("ca_file") == "bad" {
				return sdk.OptionErrorf("tls.ca_file", "the CA file %q is rejected by the test plugin", "bad")
			}
			if cfg.Int("retries") > 100 {
				return sdk.OptionErrorf("retries", "at most 100 retries")
			}
			for i, r := range cfg.Blocks("rule") {
				if r.String("action") == "deny" && r.String("match") == "" {
					return sdk.OptionErrorf(fmt.Sprintf("rule[%d].match", i), "a deny rule needs a match")
				}
			}
			if cfg.String("path") == "validate-fails" {
				return errors.New("the test plugin refuses this path")
			}
			return nil
		},
		New: newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindInput, Type: "cfgtest_plan9", Summary: "Test input that runs only on Plan 9.",
		Platforms: []string{"plan9"}, New: newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindProcessor, Type: "cfgtest_filter", Summary: "Test processor.",
		Options: []sdk.Option{
			{Name: "pattern", Type: sdk.TypeString, Format: sdk.FormatRegex, Doc: "Events to keep."},
		},
		New: newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindProcessor, Type: "cfgtest_noop", Summary: "Test processor without options.", New: newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindOutput, Type: "cfgtest_sink", Summary: "Test output.",
		Options: []sdk.Option{{Name: "target", Type: sdk.TypeString, Default: "memory"}},
		New:     newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindOutput, Type: "cfgtest_panics", Summary: "Test output whose Validate panics.",
		Validate: func(*sdk.Config) error { panic("boom") },
		New:      newNothing,
	})
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindOutput, Type: "cfgtest_badschema", Summary: "Test output with a broken schema.",
		Options: []sdk.Option{{Name: "inputs", Type: sdk.TypeString}},
		New:     newNothing,
	})
}
