package config

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/engine-audit/engine/sdk"
)

// bodyDecoder decodes one component's block (and its nested blocks) against
// a plugin schema.
type bodyDecoder struct {
	l    *loader
	file string
	// owner names the component in messages: `input "logfile"`.
	owner string
	// pluginID is the argument to `engine plugins` for this plugin.
	pluginID string
	// meta are the meta-arguments accepted in the top-level body, offered
	// as suggestions for typos.
	meta []string
	// ranges maps option paths ("tls.ca_file", "rules.0.action") to where
	// their values were written, for errors returned by Plugin.Validate.
	ranges map[string]hcl.Range
	errors int
}

func (d *bodyDecoder) report(diag *hcl.Diagnostic) {
	if diag.Severity == hcl.DiagError {
		d.errors++
	}
	d.l.diags = append(d.l.diags, diag)
}

func (d *bodyDecoder) reportAll(diags hcl.Diagnostics) {
	for _, diag := range diags {
		d.report(diag)
	}
}

// where describes the block being decoded for messages: `input "logfile"`
// at the top, `the tls block of input "logfile"` below.
func (d *bodyDecoder) where(prefix string) string {
	if prefix == "" {
		return d.owner
	}
	return fmt.Sprintf("the %s block of %s", displayPath(strings.TrimSuffix(prefix, ".")), d.owner)
}

// displayPath renders an option path for people: "rule.1.match" becomes
// "rule[1].match".
func displayPath(p string) string {
	parts := strings.Split(p, ".")
	var sb strings.Builder
	for i, part := range parts {
		if _, err := strconv.Atoi(part); err == nil && i > 0 {
			sb.WriteString("[" + part + "]")
			continue
		}
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(part)
	}
	return sb.String()
}

// decode decodes body against opts. prefix is the dotted path of the body
// ("" at the top, "tls." in a nested block); skip holds names handled by
// the caller (meta-arguments); header is where missing options are
// reported.
func (d *bodyDecoder) decode(body *hclsyntax.Body, opts []sdk.Option, prefix string, skip map[string]bool, header hcl.Range) *sdk.Config {
	values := map[string]any{}
	var set []string
	written := map[string]bool{}
	nulls := map[string]hcl.Range{}
	firstBlock := map[string]*hclsyntax.Block{}

	for _, attr := range sortedAttributes(body) {
		if skip[attr.Name] {
			continue
		}
		written[attr.Name] = true
		opt := findOption(opts, attr.Name)
		if opt == nil {
			d.unknown(attr.Name, attr.NameRange, opts, prefix, "argument")
			continue
		}
		if opt.Type == sdk.TypeBlock || opt.Type == sdk.TypeBlockList {
			d.report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Block written as an argument",
				Detail:   fmt.Sprintf("%s is a block option of %s: write it as %s { ... }, without an equals sign.", attr.Name, d.where(prefix), attr.Name),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		val, diags := d.l.eval(attr.Expr, d.file)
		d.reportAll(diags)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			// Unknown values come from errors reported elsewhere.
			continue
		}
		if val.IsNull() {
			nulls[attr.Name] = attr.Expr.Range()
			continue
		}
		path := prefix + attr.Name
		goVal, ok := d.convert(opt, val, attr.Expr, displayPath(path))
		if !ok {
			continue
		}
		values[attr.Name] = goVal
		set = append(set, attr.Name)
		d.ranges[path] = attr.Expr.Range()
		// Elements of a list literal get their own ranges, so that an
		// error about rules[3] points at the fourth element.
		if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok {
			for i, e := range tuple.Exprs {
				d.ranges[path+"."+strconv.Itoa(i)] = e.Range()
			}
		}
	}

	for _, blk := range body.Blocks {
		if skip[blk.Type] {
			continue
		}
		written[blk.Type] = true
		opt := findOption(opts, blk.Type)
		if opt == nil {
			d.unknown(blk.Type, blk.TypeRange, opts, prefix, "block")
			continue
		}
		if opt.Type != sdk.TypeBlock && opt.Type != sdk.TypeBlockList {
			d.report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Argument written as a block",
				Detail:   fmt.Sprintf("%s is an option of type %s of %s, not a block: write it as %s = %s.", blk.Type, opt.Type, d.where(prefix), blk.Type, ExampleValue(*opt)),
				Subject:  blk.TypeRange.Ptr(),
			})
			continue
		}
		if len(blk.Labels) > 0 {
			d.report(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected block label",
				Detail:   fmt.Sprintf("%s blocks take no labels: write %s { ... }.", blk.Type, blk.Type),
				Subject:  blk.LabelRanges[0].Ptr(),
			})
			continue
		}
		path := prefix + blk.Type
		if opt.Type == sdk.TypeBlock {
			if first, dup := firstBlock[blk.Type]; dup {
				d.report(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate " + blk.Type + " block",
					Detail:   fmt.Sprintf("%s takes at most one %s block, and one is already written at %s. Merge the two.", d.where(prefix), blk.Type, at(first.DefRange())),
					Subject:  blk.TypeRange.Ptr(),
				})
				continue
			}
			firstBlock[blk.Type] = blk
			d.ranges[path] = blk.DefRange()
			values[blk.Type] = d.decode(blk.Body, opt.Options, path+".", nil, blk.DefRange())
			set = append(set, blk.Type)
			continue
		}
		list, _ := values[blk.Type].([]*sdk.Config)
		if list == nil {
			d.ranges[path] = blk.DefRange()
			set = append(set, blk.Type)
		}
		idx := strconv.Itoa(len(list))
		d.ranges[path+"."+idx] = blk.DefRange()
		values[blk.Type] = append(list, d.decode(blk.Body, opt.Options, path+"."+idx+".", nil, blk.DefRange()))
	}

	for i := range opts {
		opt := &opts[i]
		if _, ok := values[opt.Name]; ok {
			continue
		}
		if opt.Required {
			if rng, isNull := nulls[opt.Name]; isNull {
				d.report(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Required option is null",
					Detail:   strings.TrimSpace(fmt.Sprintf("Option %q of %s is required and cannot be null. %s", opt.Name, d.where(prefix), opt.Doc)),
					Subject:  rng.Ptr(),
				})
			} else if !written[opt.Name] {
				d.report(d.missing(opt, prefix, header))
			}
			continue
		}
		if opt.Default != nil {
			values[opt.Name] = cloneDefault(opt.Default)
		}
	}
	return sdk.NewConfig(values, set)
}

func (d *bodyDecoder) missing(opt *sdk.Option, prefix string, header hcl.Range) *hcl.Diagnostic {
	var how string
	if opt.Type == sdk.TypeBlock || opt.Type == sdk.TypeBlockList {
		how = fmt.Sprintf("Add a block %s { ... }", opt.Name)
	} else {
		how = fmt.Sprintf("Add %s = %s", opt.Name, ExampleValue(*opt))
	}
	if len(opt.Enum) > 0 {
		how += fmt.Sprintf(" (one of %s)", quoteList(opt.Enum))
	}
	detail := fmt.Sprintf("%s needs option %q (%s).", capitalize(d.where(prefix)), opt.Name, opt.Type)
	if opt.Doc != "" {
		detail += " " + strings.TrimSpace(opt.Doc)
	}
	detail += " " + how + " to the block."
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Missing required option %q", opt.Name),
		Detail:   detail,
		Subject:  header.Ptr(),
	}
}

func (d *bodyDecoder) unknown(name string, rng hcl.Range, opts []sdk.Option, prefix, what string) {
	names := make([]string, 0, len(opts))
	for _, o := range opts {
		names = append(names, o.Name)
	}
	candidates := names
	if prefix == "" {
		candidates = append(slices.Clone(names), d.meta...)
	}
	detail := fmt.Sprintf("%s has no option named %q.", capitalize(d.where(prefix)), name)
	if s := suggest(name, candidates); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	switch {
	case len(names) == 0 && prefix == "" && len(d.meta) > 0:
		detail += fmt.Sprintf(" It takes no options of its own, only %s.", joinList(d.meta))
	case len(names) == 0:
		detail += " It takes no options."
	case prefix == "":
		detail += fmt.Sprintf(" Its options are %s", joinList(names))
		if len(d.meta) > 0 {
			detail += fmt.Sprintf(", besides %s", joinList(d.meta))
		}
		detail += "."
	default:
		detail += fmt.Sprintf(" Its options are %s.", joinList(names))
	}
	detail += fmt.Sprintf(" Run 'engine plugins %s' for their documentation.", d.pluginID)
	summary := "Unsupported argument"
	if what == "block" {
		summary = "Unsupported block type"
	}
	d.report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
}

// convert turns an evaluated value into the Go value of the option's type,
// reporting what is wrong with it.
func (d *bodyDecoder) convert(opt *sdk.Option, val cty.Value, expr hcl.Expression, path string) (any, bool) {
	ctx := d.l.evalContext(d.file)
	fail := func(summary, detail string, rng hcl.Range) (any, bool) {
		d.report(&hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     summary,
			Detail:      detail,
			Subject:     rng.Ptr(),
			Expression:  expr,
			EvalContext: ctx,
		})
		return nil, false
	}
	wrongType := func(err error) (any, bool) {
		detail := fmt.Sprintf("Option %q of %s expects %s, but this is %s.", path, d.owner, describeOptionType(opt.Type), friendlyType(val.Type()))
		if msg := describeConvertError(err); strings.Contains(msg, ": ") {
			// cty says which element of a collection is wrong.
			detail += " " + capitalize(msg) + "."
		}
		return fail("Incorrect value type", detail, expr.Range())
	}
	elementRange := func(i int) hcl.Range {
		if tuple, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(tuple.Exprs) {
			return tuple.Exprs[i].Range()
		}
		return expr.Range()
	}
	// checkString applies Enum and Format to one string.
	checkString := func(s string, rng hcl.Range) bool {
		if len(opt.Enum) > 0 && !slices.Contains(opt.Enum, s) {
			detail := fmt.Sprintf("Option %q of %s must be one of %s; %q is not.", path, d.owner, quoteList(opt.Enum), s)
			if sug := suggest(s, opt.Enum); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			}
			fail("Value not allowed", detail, rng)
			return false
		}
		switch opt.Format {
		case sdk.FormatRegex:
			if _, err := regexp.Compile(s); err != nil {
				fail("Invalid regular expression", fmt.Sprintf("Option %q of %s must be a regular expression in Go (RE2) syntax, but %q does not compile: %s.", path, d.owner, s, err), rng)
				return false
			}
		case sdk.FormatGlob:
			if _, err := filepath.Match(s, ""); err != nil {
				fail("Invalid glob pattern", fmt.Sprintf("Option %q of %s must be a glob pattern (*, ?, [a-z], with \\ to escape), but %q is malformed: %s.", path, d.owner, s, err), rng)
				return false
			}
		}
		return true
	}

	// bounded applies the option's Bound to a number, size or duration.
	bounded := func(v any) (any, bool) {
		if err := opt.Bound.Check(opt.Type, v); err != nil {
			detail := fmt.Sprintf("Option %q of %s %s; %s is not.", path, d.owner, err, FormatValue(opt.Type, v))
			if opt.Default != nil {
				detail += fmt.Sprintf(" Its default is %s.", FormatValue(opt.Type, opt.Default))
			}
			return fail("Value out of range", detail, expr.Range())
		}
		return v, true
	}

	switch opt.Type {
	case sdk.TypeString:
		v, err := convert.Convert(val, cty.String)
		if err != nil {
			return wrongType(err)
		}
		if !checkString(v.AsString(), expr.Range()) {
			return nil, false
		}
		return v.AsString(), true

	case sdk.TypeInt:
		v, err := convert.Convert(val, cty.Number)
		if err != nil {
			return wrongType(err)
		}
		n, ok := bigToInt64(v.AsBigFloat())
		if !ok {
			return fail("Invalid whole number", fmt.Sprintf("Option %q of %s expects a whole number (int), but %s is not one or is out of range.", path, d.owner, v.AsBigFloat().Text('g', -1)), expr.Range())
		}
		return bounded(n)

	case sdk.TypeFloat:
		v, err := convert.Convert(val, cty.Number)
		if err != nil {
			return wrongType(err)
		}
		f, _ := v.AsBigFloat().Float64()
		if math.IsInf(f, 0) {
			return fail("Number out of range", fmt.Sprintf("Option %q of %s is too large.", path, d.owner), expr.Range())
		}
		return bounded(f)

	case sdk.TypeBool:
		v, err := convert.Convert(val, cty.Bool)
		if err != nil {
			return wrongType(err)
		}
		return v.True(), true

	case sdk.TypeDuration:
		if val.Type() == cty.Number {
			return fail("Duration without a unit", fmt.Sprintf("Option %q of %s is a duration: write it as a string with a unit, such as \"%ss\" for seconds.", path, d.owner, val.AsBigFloat().Text('f', -1)), expr.Range())
		}
		v, err := convert.Convert(val, cty.String)
		if err != nil {
			return wrongType(err)
		}
		dur, err := ParseDuration(v.AsString())
		if err != nil {
			return fail("Invalid duration", fmt.Sprintf("Option %q of %s: %s.", path, d.owner, err), expr.Range())
		}
		return bounded(dur)

	case sdk.TypeSize:
		if val.Type() == cty.Number {
			n, ok := bigToInt64(val.AsBigFloat())
			if !ok || n < 0 {
				return fail("Invalid size", fmt.Sprintf("Option %q of %s is a size: a whole, non-negative number of bytes, or a string such as \"64MiB\" or \"10MB\".", path, d.owner), expr.Range())
			}
			return bounded(n)
		}
		v, err := convert.Convert(val, cty.String)
		if err != nil {
			return wrongType(err)
		}
		n, err := ParseSize(v.AsString())
		if err != nil {
			return fail("Invalid size", fmt.Sprintf("Option %q of %s: %s. Write a size as \"64MiB\", \"10MB\" or a number of bytes.", path, d.owner, err), expr.Range())
		}
		return bounded(n)

	case sdk.TypeStringList:
		if val.Type() == cty.String {
			return fail("Incorrect value type", fmt.Sprintf("Option %q of %s is a list of strings: write it in brackets, such as [%q].", path, d.owner, val.AsString()), expr.Range())
		}
		v, err := convert.Convert(val, cty.List(cty.String))
		if err != nil {
			return wrongType(err)
		}
		out := make([]string, 0, v.LengthInt())
		ok := true
		for i, e := range v.AsValueSlice() {
			if e.IsNull() {
				fail("Null list element", fmt.Sprintf("Element %d of option %q of %s is null; a list of strings cannot hold null.", i, path, d.owner), elementRange(i))
				ok = false
				continue
			}
			if !checkString(e.AsString(), elementRange(i)) {
				ok = false
			}
			out = append(out, e.AsString())
		}
		return out, ok

	case sdk.TypeStringMap:
		v, err := convert.Convert(val, cty.Map(cty.String))
		if err != nil {
			return wrongType(err)
		}
		out := make(map[string]string, v.LengthInt())
		ok := true
		for k, e := range v.AsValueMap() {
			if e.IsNull() {
				fail("Null map value", fmt.Sprintf("Key %q of option %q of %s is null; a map of strings cannot hold null.", k, path, d.owner), expr.Range())
				ok = false
				continue
			}
			if opt.Format != sdk.FormatNone && !checkString(e.AsString(), expr.Range()) {
				ok = false
			}
			out[k] = e.AsString()
		}
		return out, ok
	}
	return fail("Unsupported option type", fmt.Sprintf("Option %q of %s has type %s, which the core cannot decode; this is a bug in the plugin.", path, d.owner, opt.Type), expr.Range())
}

// ParseDuration reads a non-negative duration such as "1m30s".
func ParseDuration(s string) (time.Duration, error) {
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write a number with a unit (ns, us, ms, s, m, h), such as \"500ms\" or \"1m30s\"", s)
	}
	if dur < 0 {
		return 0, fmt.Errorf("%q is negative; durations must be zero or more", s)
	}
	return dur, nil
}

func findOption(opts []sdk.Option, name string) *sdk.Option {
	for i := range opts {
		if opts[i].Name == name {
			return &opts[i]
		}
	}
	return nil
}

// cloneDefault copies defaults that a plugin could modify in place, so that
// one component cannot change another's defaults.
func cloneDefault(v any) any {
	switch d := v.(type) {
	case []string:
		return slices.Clone(d)
	case map[string]string:
		return maps.Clone(d)
	}
	return v
}

// describeOptionType says in words what a value of the type looks like.
func describeOptionType(t sdk.OptionType) string {
	switch t {
	case sdk.TypeString:
		return "a string"
	case sdk.TypeInt:
		return "a whole number"
	case sdk.TypeFloat:
		return "a number"
	case sdk.TypeBool:
		return "true or false"
	case sdk.TypeDuration:
		return `a duration such as "1m30s"`
	case sdk.TypeSize:
		return `a size such as "64MiB", "10MB" or a number of bytes`
	case sdk.TypeStringList:
		return `a list of strings, such as ["a", "b"]`
	case sdk.TypeStringMap:
		return `a map of strings, such as { key = "value" }`
	}
	return t.String()
}

// ExampleValue is a placeholder value for an option, as HCL: its first
// allowed value if it has an Enum, else a value of its type. It fills "add
// name = ..." hints and the skeletons `engine plugins` prints.
func ExampleValue(o sdk.Option) string {
	if len(o.Enum) > 0 {
		if o.Type == sdk.TypeStringList {
			return fmt.Sprintf("[%q]", o.Enum[0])
		}
		return strconv.Quote(o.Enum[0])
	}
	switch o.Type {
	case sdk.TypeString:
		return `"..."`
	case sdk.TypeInt, sdk.TypeFloat:
		return "0"
	case sdk.TypeBool:
		return "true"
	case sdk.TypeDuration:
		return `"10s"`
	case sdk.TypeSize:
		return `"64MiB"`
	case sdk.TypeStringList:
		return `["..."]`
	case sdk.TypeStringMap:
		return `{ key = "value" }`
	}
	return "..."
}

// describeConvertError renders a cty conversion error, with the path of the
// offending element if there is one.
func describeConvertError(err error) string {
	if err == nil {
		return ""
	}
	var pe cty.PathError
	if pathErr, ok := err.(cty.PathError); ok {
		pe = pathErr
		if len(pe.Path) > 0 {
			return fmt.Sprintf("%s: %s", formatPath(pe.Path), pe.Error())
		}
	}
	return err.Error()
}

// friendlyType names a value's type as an operator would: tuples and lists
// are lists, objects and maps are maps.
func friendlyType(ty cty.Type) string {
	switch {
	case ty == cty.String:
		return "a string"
	case ty == cty.Number:
		return "a number"
	case ty == cty.Bool:
		return "a bool"
	case ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		return "a list"
	case ty.IsObjectType() || ty.IsMapType():
		return "a map"
	}
	return ty.FriendlyName()
}

func formatPath(path cty.Path) string {
	var sb strings.Builder
	for i, step := range path {
		if i > 0 {
			sb.WriteString(", ")
		}
		switch s := step.(type) {
		case cty.IndexStep:
			switch s.Key.Type() {
			case cty.Number:
				fmt.Fprintf(&sb, "element %s", s.Key.AsBigFloat().Text('f', -1))
			case cty.String:
				fmt.Fprintf(&sb, "key %q", s.Key.AsString())
			}
		case cty.GetAttrStep:
			fmt.Fprintf(&sb, "attribute %q", s.Name)
		}
	}
	return sb.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
