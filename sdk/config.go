package sdk

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// OptionType is the type of a config option.
type OptionType int

// The option types. In HCL, Duration is a string such as "1m30s" and Size a
// string such as "64MiB" or a number of bytes.
const (
	TypeString     OptionType = iota + 1 // Go string
	TypeInt                              // Go int64
	TypeFloat                            // Go float64
	TypeBool                             // Go bool
	TypeDuration                         // Go time.Duration
	TypeSize                             // Go int64, bytes
	TypeStringList                       // Go []string
	TypeStringMap                        // Go map[string]string
	TypeBlock                            // a nested block, Go *Config
	TypeBlockList                        // repeated nested blocks, Go []*Config
)

var optionTypeNames = map[OptionType]string{
	TypeString: "string", TypeInt: "int", TypeFloat: "float", TypeBool: "bool",
	TypeDuration: "duration", TypeSize: "size", TypeStringList: "list(string)",
	TypeStringMap: "map(string)", TypeBlock: "block", TypeBlockList: "list(block)",
}

// String returns the type's name as `engine plugins` shows it.
func (t OptionType) String() string {
	if s, ok := optionTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// Format asks the core to check string values beyond their type.
type Format string

// Formats the core checks during validation.
const (
	FormatNone  Format = ""
	FormatRegex Format = "regex" // each value must compile as a Go (RE2) regular expression
	FormatGlob  Format = "glob"  // each value must be a valid filepath.Match pattern
)

// Bound limits the values of a number, size or duration option. The core
// checks it where the value is written, with a diagnostic at the attribute,
// so that a plugin's Validate need not.
type Bound string

// The bounds the core checks.
const (
	Unbounded   Bound = ""
	NonNegative Bound = "non-negative" // zero or more
	Positive    Bound = "positive"     // more than zero: at least 1 for an int
)

// Check returns an error saying what v, a value of type t as Config holds
// it, must be when it is out of the bound; nil when it is within.
func (b Bound) Check(t OptionType, v any) error {
	var sign int
	switch n := v.(type) {
	case int64:
		sign = cmpZero(n)
	case float64:
		sign = cmpZero(n)
	case time.Duration:
		sign = cmpZero(n)
	default:
		return nil
	}
	switch {
	case b == Positive && sign <= 0 && t == TypeInt:
		return errors.New("must be at least 1")
	case b == Positive && sign <= 0:
		return errors.New("must be more than zero")
	case b == NonNegative && sign < 0:
		return errors.New("must not be negative")
	}
	return nil
}

func cmpZero[T int64 | float64 | time.Duration](n T) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}

// Option declares one attribute (or nested block) of a plugin's config.
type Option struct {
	Name string
	Type OptionType
	// Doc is one or two sentences for `engine plugins` and the README.
	Doc string
	// Required options have no default.
	Required bool
	// Default is the value used when the option is not set, as the Go type
	// that Config returns (string, int64, float64, bool, time.Duration,
	// int64 bytes, []string, map[string]string).
	Default any
	// Enum, if set, lists the allowed values of a string or of each element
	// of a string list.
	Enum []string
	// Format asks for extra validation of string values.
	Format Format
	// Bound limits the values of an int, float, size or duration option.
	Bound Bound
	// Options is the schema of a TypeBlock or TypeBlockList option.
	Options []Option
}

// Config is a decoded, type-checked plugin configuration. Values have the Go
// types listed for each OptionType; unset options hold their defaults.
// Accessors return the zero value for unknown names.
type Config struct {
	values map[string]any
	set    map[string]bool
}

// NewConfig builds a Config from decoded values. set lists the options the
// user wrote explicitly (as opposed to defaults).
func NewConfig(values map[string]any, set []string) *Config {
	c := &Config{values: values, set: make(map[string]bool, len(set))}
	if c.values == nil {
		c.values = map[string]any{}
	}
	for _, s := range set {
		c.set[s] = true
	}
	return c
}

// ConfigFromDefaults returns a Config holding the defaults of opts.
func ConfigFromDefaults(opts []Option) *Config {
	vals := map[string]any{}
	for _, o := range opts {
		if o.Default != nil {
			vals[o.Name] = o.Default
		}
	}
	return NewConfig(vals, nil)
}

// Get returns the raw value of an option.
func (c *Config) Get(name string) any { return c.values[name] }

// IsSet reports whether the user wrote the option (rather than relying on
// its default).
func (c *Config) IsSet(name string) bool { return c.set[name] }

// Names returns the names of the options that have a value, sorted.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.values))
	for k := range c.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String returns a string option.
func (c *Config) String(name string) string { v, _ := c.values[name].(string); return v }

// Int returns an integer option.
func (c *Config) Int(name string) int64 { v, _ := c.values[name].(int64); return v }

// Float returns a float option.
func (c *Config) Float(name string) float64 { v, _ := c.values[name].(float64); return v }

// Bool returns a boolean option.
func (c *Config) Bool(name string) bool { v, _ := c.values[name].(bool); return v }

// Duration returns a duration option.
func (c *Config) Duration(name string) time.Duration {
	v, _ := c.values[name].(time.Duration)
	return v
}

// Size returns a size option in bytes.
func (c *Config) Size(name string) int64 { v, _ := c.values[name].(int64); return v }

// Strings returns a list-of-strings option.
func (c *Config) Strings(name string) []string { v, _ := c.values[name].([]string); return v }

// Map returns a map-of-strings option.
func (c *Config) Map(name string) map[string]string {
	v, _ := c.values[name].(map[string]string)
	return v
}

// Block returns a nested block option, or nil if it is absent.
func (c *Config) Block(name string) *Config { v, _ := c.values[name].(*Config); return v }

// Blocks returns the repeated nested blocks of an option.
func (c *Config) Blocks(name string) []*Config { v, _ := c.values[name].([]*Config); return v }

// OptionError is an error about one option. The core reports it at the
// option's place in the pipeline file. For nested blocks, Option is a dotted
// path ("tls.ca_file").
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// OptionErrorf returns an OptionError with a formatted message.
func OptionErrorf(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}
