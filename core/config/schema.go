package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/engine-audit/engine/sdk"
)

// CheckPlugin reports mistakes in a plugin's config schema: names that are
// not identifiers or collide with meta-arguments, defaults of the wrong Go
// type, Enum, Format and Bound on types they do not apply to. The loader refuses
// to decode a block against a schema that fails this check; plugin tests
// can call it directly.
func CheckPlugin(p *sdk.Plugin) error {
	return checkOptions(p.Options, "", reservedNames(p.Kind))
}

func checkOptions(opts []sdk.Option, prefix string, reserved map[string]bool) error {
	seen := map[string]bool{}
	for _, o := range opts {
		name := prefix + o.Name
		if !hclsyntax.ValidIdentifier(o.Name) {
			return fmt.Errorf("option %q: the name is not a valid HCL identifier", name)
		}
		if seen[o.Name] {
			return fmt.Errorf("option %q is declared twice", name)
		}
		seen[o.Name] = true
		if reserved[o.Name] {
			return fmt.Errorf("option %q: the name is reserved for the core's meta-argument", name)
		}
		if _, known := sdkTypeGo[o.Type]; !known {
			return fmt.Errorf("option %q has an unknown type %d", name, int(o.Type))
		}
		if o.Required && o.Default != nil {
			return fmt.Errorf("option %q is required but has a default", name)
		}
		isBlock := o.Type == sdk.TypeBlock || o.Type == sdk.TypeBlockList
		if isBlock {
			if o.Default != nil {
				return fmt.Errorf("option %q is a block and cannot have a default", name)
			}
			if len(o.Enum) > 0 || o.Format != sdk.FormatNone || o.Bound != sdk.Unbounded {
				return fmt.Errorf("option %q is a block and cannot have Enum, Format or Bound", name)
			}
			if err := checkOptions(o.Options, name+".", nil); err != nil {
				return err
			}
			continue
		}
		if len(o.Options) > 0 {
			return fmt.Errorf("option %q has nested Options but is not a block", name)
		}
		if o.Default != nil {
			if want := sdkTypeGo[o.Type]; fmt.Sprintf("%T", o.Default) != want {
				return fmt.Errorf("option %q of type %s has a default of Go type %T; it must be %s", name, o.Type, o.Default, want)
			}
		}
		if len(o.Enum) > 0 {
			if o.Type != sdk.TypeString && o.Type != sdk.TypeStringList {
				return fmt.Errorf("option %q: Enum applies to string and list(string) options, not %s", name, o.Type)
			}
			if s, ok := o.Default.(string); ok && !slices.Contains(o.Enum, s) {
				return fmt.Errorf("option %q: the default %q is not in its Enum", name, s)
			}
			if l, ok := o.Default.([]string); ok {
				for _, s := range l {
					if !slices.Contains(o.Enum, s) {
						return fmt.Errorf("option %q: the default element %q is not in its Enum", name, s)
					}
				}
			}
		}
		switch o.Bound {
		case sdk.Unbounded:
		case sdk.NonNegative, sdk.Positive:
			switch o.Type {
			case sdk.TypeInt, sdk.TypeFloat, sdk.TypeDuration, sdk.TypeSize:
			default:
				return fmt.Errorf("option %q: Bound applies to int, float, duration and size options, not %s", name, o.Type)
			}
			if o.Default != nil {
				if err := o.Bound.Check(o.Type, o.Default); err != nil {
					return fmt.Errorf("option %q: the default is out of its Bound: it %v", name, err)
				}
			}
		default:
			return fmt.Errorf("option %q has an unknown Bound %q", name, o.Bound)
		}
		switch o.Format {
		case sdk.FormatNone:
		case sdk.FormatRegex, sdk.FormatGlob:
			if o.Type != sdk.TypeString && o.Type != sdk.TypeStringList && o.Type != sdk.TypeStringMap {
				return fmt.Errorf("option %q: Format applies to string options, not %s", name, o.Type)
			}
		default:
			return fmt.Errorf("option %q has an unknown Format %q", name, o.Format)
		}
	}
	return nil
}

// sdkTypeGo is the Go type of each option type's values, as %T prints it.
var sdkTypeGo = map[sdk.OptionType]string{
	sdk.TypeString:     "string",
	sdk.TypeInt:        "int64",
	sdk.TypeFloat:      "float64",
	sdk.TypeBool:       "bool",
	sdk.TypeDuration:   fmt.Sprintf("%T", time.Duration(0)),
	sdk.TypeSize:       "int64",
	sdk.TypeStringList: "[]string",
	sdk.TypeStringMap:  "map[string]string",
	sdk.TypeBlock:      "*sdk.Config",
	sdk.TypeBlockList:  "[]*sdk.Config",
}
