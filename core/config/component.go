package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/core/deadletter"
	"github.com/engine-audit/engine/sdk"
)

// The meta-arguments the core owns in component blocks. Plugin options must
// not use these names.
const (
	MetaInputs         = "inputs"           // processors and outputs: the components they consume
	MetaQueueSize      = "queue_size"       // processors and outputs: queue capacity in batches
	MetaBatchMaxEvents = "batch_max_events" // inputs: events per batch; outputs: events per write
	MetaBatchMaxAge    = "batch_max_age"    // inputs: age of a batch before it is emitted
	MetaBuffer         = "buffer"           // outputs: block, the buffer in front of the output
	MetaDeadLetter     = "dead_letter"      // outputs: block, where refused events go
)

// MetaArguments lists every meta-argument and meta-block.
var MetaArguments = []string{MetaInputs, MetaQueueSize, MetaBatchMaxEvents, MetaBatchMaxAge, MetaBuffer, MetaDeadLetter}

// metaBlocks are the core's blocks in output bodies, with their schemas.
var metaBlocks = map[string][]sdk.Option{
	MetaBuffer:     buffer.Options,
	MetaDeadLetter: deadletter.Options,
}

// metaArguments returns the meta-arguments valid for a kind.
func metaArguments(kind sdk.ComponentKind) []string {
	switch kind {
	case sdk.KindInput:
		return []string{MetaBatchMaxEvents, MetaBatchMaxAge}
	case sdk.KindOutput:
		return []string{MetaInputs, MetaQueueSize, MetaBatchMaxEvents}
	}
	return []string{MetaInputs, MetaQueueSize}
}

// reservedNames are the names the core reads in a block of the kind: its
// meta-arguments, plus the meta-blocks on processors and outputs (an input
// plugin may have an option called buffer).
func reservedNames(kind sdk.ComponentKind) map[string]bool {
	names := map[string]bool{MetaInputs: true, MetaQueueSize: true, MetaBatchMaxEvents: true, MetaBatchMaxAge: true}
	if kind != sdk.KindInput {
		names[MetaBuffer], names[MetaDeadLetter] = true, true
	}
	return names
}

func (l *loader) decodeComponent(cd *componentDecl) {
	c := cd.c
	l.decodeMeta(cd)

	p := sdk.Lookup(c.Kind, c.Type)
	if p == nil {
		l.unknownPlugin(cd)
		return
	}
	c.Plugin = p
	if err := CheckPlugin(p); err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin schema",
			Detail:   fmt.Sprintf("The plugin %s declares an invalid config schema: %s. This is a bug in the plugin; report it to its authors.", p.ID(), err),
			Subject:  cd.block.LabelRanges[0].Ptr(),
		})
		return
	}
	if goos := l.opts.goos(); len(p.Platforms) > 0 && !slices.Contains(p.Platforms, goos) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Plugin not available on " + goos,
			Detail: fmt.Sprintf("%s %q runs only on %s, and this pipeline is checked for %s. Run it on a supported system, or remove this %s.",
				c.Kind, c.Type, joinList(p.Platforms), goos, c.Kind),
			Subject: cd.block.LabelRanges[0].Ptr(),
		})
	}

	dec := &bodyDecoder{
		l:        l,
		file:     cd.file,
		owner:    fmt.Sprintf("%s %q", c.Kind, c.Type),
		pluginID: p.ID(),
		meta:     metaArguments(c.Kind),
		ranges:   map[string]hcl.Range{},
	}
	c.Config = dec.decode(cd.body, p.Options, "", reservedNames(c.Kind), c.DeclRange)
	if dec.errors > 0 || p.Validate == nil {
		return
	}
	if err := callValidate(p, c.Config); err != nil {
		for _, e := range sdk.Errors(err) {
			l.diags = append(l.diags, l.validateDiagnostic(cd, dec, e))
		}
	}
}

// callValidate runs a plugin's Validate, turning a panic into an error: a
// bug in one plugin must not take down `engine validate`.
func callValidate(p *sdk.Plugin, cfg *sdk.Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the plugin's Validate panicked: %v; this is a bug in the plugin", r)
		}
	}()
	return p.Validate(cfg)
}

// validateDiagnostic places an error from Plugin.Validate: an OptionError
// at the option it names (or the closest enclosing block written), any
// other error at the block header.
func (l *loader) validateDiagnostic(cd *componentDecl, dec *bodyDecoder, err error) *hcl.Diagnostic {
	diag := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s configuration", cd.c.Kind),
		Detail:   fmt.Sprintf("%s: %s.", cd.c.ID, strings.TrimSuffix(err.Error(), ".")),
		Subject:  cd.c.DeclRange.Ptr(),
	}
	if sdk.IsWarning(err) {
		diag.Severity = hcl.DiagWarning
		diag.Summary = fmt.Sprintf("Questionable %s configuration", cd.c.Kind)
	}
	var fe *sdk.FileError
	if errors.As(err, &fe) {
		if rng, ok := l.fileRange(fe); ok {
			diag.Subject = rng.Ptr()
			diag.Summary = fmt.Sprintf("Invalid content in %s", filepath.Base(fe.Path))
			if diag.Severity == hcl.DiagWarning {
				diag.Summary = fmt.Sprintf("Warning for %s", filepath.Base(fe.Path))
			}
			diag.Detail = fmt.Sprintf("%s: %s.", cd.c.ID, strings.TrimSuffix(fe.Err.Error(), "."))
			return diag
		}
	}
	var oe *sdk.OptionError
	if !errors.As(err, &oe) {
		return diag
	}
	path := normalizeOptionPath(oe.Option)
	diag.Summary = fmt.Sprintf("Invalid value for option %q", displayPath(path))
	if diag.Severity == hcl.DiagWarning {
		diag.Summary = fmt.Sprintf("Check option %q", displayPath(path))
	}
	diag.Detail = fmt.Sprintf("%s: %s.", dec.owner, strings.TrimSuffix(oe.Err.Error(), "."))
	for p := path; p != ""; {
		if rng, ok := dec.ranges[p]; ok {
			diag.Subject = rng.Ptr()
			break
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return diag
}

// normalizeOptionPath turns "rules[1].action" into "rules.1.action".
func normalizeOptionPath(p string) string {
	p = strings.ReplaceAll(p, "[", ".")
	p = strings.ReplaceAll(p, "]", "")
	return strings.Trim(p, ".")
}

// decodeMeta reads the meta-arguments of a component block.
func (l *loader) decodeMeta(cd *componentDecl) {
	c := cd.c
	if c.Kind == sdk.KindInput {
		c.Batch = sdk.DefaultBatchPolicy
	} else {
		c.QueueSize = DefaultQueueSize
	}
	if c.Kind == sdk.KindOutput {
		c.Batch.MaxEvents = DefaultOutputBatchMaxEvents
	}
	for _, attr := range sortedAttributes(cd.body) {
		if !reservedNames(sdk.KindInput)[attr.Name] {
			continue
		}
		valid := metaArguments(c.Kind)
		if !slices.Contains(valid, attr.Name) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("%s is not valid in %s block", attr.Name, withArticle(c.Kind)),
				Detail:   metaMisuse(attr.Name, c.Kind),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		switch attr.Name {
		case MetaInputs:
			cd.inputs = attr
		case MetaQueueSize:
			if n, ok := l.metaInt(cd, attr, 1); ok {
				c.QueueSize = int(n)
			}
		case MetaBatchMaxEvents:
			if n, ok := l.metaInt(cd, attr, 1); ok {
				c.Batch.MaxEvents = int(n)
			}
		case MetaBatchMaxAge:
			if v, ok := l.metaValue(cd, attr, sdk.Option{Name: attr.Name, Type: sdk.TypeDuration}); ok {
				if d := v.(time.Duration); d <= 0 {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid batch_max_age",
						Detail:   `batch_max_age must be more than zero, such as "1s" or "200ms".`,
						Subject:  attr.Expr.Range().Ptr(),
					})
				} else {
					c.Batch.MaxAge = d
				}
			}
		}
	}
	l.decodeMetaBlocks(cd)
}

// decodeMetaBlocks reads an output's buffer and dead_letter blocks.
func (l *loader) decodeMetaBlocks(cd *componentDecl) {
	c := cd.c
	if c.Kind != sdk.KindInput {
		for _, attr := range sortedAttributes(cd.body) {
			if _, ok := metaBlocks[attr.Name]; ok {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Block written as an argument",
					Detail:   fmt.Sprintf("%s is a block: write it as %s { ... }, without an equals sign.", attr.Name, attr.Name),
					Subject:  attr.NameRange.Ptr(),
				})
			}
		}
	}
	seen := map[string]*hclsyntax.Block{}
	for _, blk := range cd.body.Blocks {
		schema, ok := metaBlocks[blk.Type]
		if !ok || c.Kind == sdk.KindInput {
			continue // an input's blocks are its plugin's
		}
		if c.Kind != sdk.KindOutput {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("%s is not valid in %s block", blk.Type, withArticle(c.Kind)),
				Detail:   fmt.Sprintf("A %s block belongs to an output: it holds what that output has not delivered yet, or what its destination refused. Move it into the output blocks that need it.", blk.Type),
				Subject:  blk.TypeRange.Ptr(),
			})
			continue
		}
		if first, dup := seen[blk.Type]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + blk.Type + " block",
				Detail:   fmt.Sprintf("An output takes at most one %s block, and one is already written at %s. Merge the two.", blk.Type, at(first.DefRange())),
				Subject:  blk.TypeRange.Ptr(),
			})
			continue
		}
		seen[blk.Type] = blk
		if len(blk.Labels) > 0 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected block label",
				Detail:   fmt.Sprintf("%s blocks take no labels: write %s { ... }.", blk.Type, blk.Type),
				Subject:  blk.LabelRanges[0].Ptr(),
			})
			continue
		}
		dec := &bodyDecoder{l: l, file: cd.file, owner: fmt.Sprintf("%s %q", c.Kind, c.Type), pluginID: string(c.Kind) + "." + c.Type, ranges: map[string]hcl.Range{}}
		cfg := dec.decode(blk.Body, schema, blk.Type+".", nil, blk.DefRange())
		if dec.errors > 0 {
			continue
		}
		switch blk.Type {
		case MetaBuffer:
			c.Buffer = cfg
		case MetaDeadLetter:
			c.DeadLetter = cfg
		}
	}
}

func metaMisuse(name string, kind sdk.ComponentKind) string {
	switch name {
	case MetaInputs:
		return "Inputs read events from their source; they do not consume other components. Remove inputs here, and list this input in the inputs of the processors or outputs that should receive its events."
	case MetaQueueSize:
		return "queue_size sets the queue in front of a processor or output; an input has none. Use batch_max_events and batch_max_age to shape what an input emits."
	default:
		return fmt.Sprintf("%s shapes the batches an input emits; %s works on the batches it receives. Set it on the inputs upstream instead.", name, withArticle(kind))
	}
}

// metaValue evaluates and converts one meta-argument.
func (l *loader) metaValue(cd *componentDecl, attr *hclsyntax.Attribute, opt sdk.Option) (any, bool) {
	dec := &bodyDecoder{l: l, file: cd.file, owner: fmt.Sprintf("%s %q", cd.c.Kind, cd.c.Type), ranges: map[string]hcl.Range{}}
	val, diags := l.eval(attr.Expr, cd.file)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return nil, false
	}
	return dec.convert(&opt, val, attr.Expr, attr.Name)
}

// metaInt evaluates an integer meta-argument that must be at least min.
func (l *loader) metaInt(cd *componentDecl, attr *hclsyntax.Attribute, min int64) (int64, bool) {
	v, ok := l.metaValue(cd, attr, sdk.Option{Name: attr.Name, Type: sdk.TypeInt})
	if !ok {
		return 0, false
	}
	n := v.(int64)
	if n < min || n > 1<<30 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + attr.Name,
			Detail:   fmt.Sprintf("%s must be a whole number from %d to %d; %d is not.", attr.Name, min, 1<<30, n),
			Subject:  attr.Expr.Range().Ptr(),
		})
		return 0, false
	}
	return n, true
}

// unknownPlugin reports a component whose type no plugin provides.
func (l *loader) unknownPlugin(cd *componentDecl) {
	c := cd.c
	var types []string
	for _, p := range sdk.Plugins() {
		if p.Kind == c.Kind {
			types = append(types, p.Type)
		}
	}
	var detail string
	if s := suggest(c.Type, types); s != "" {
		detail = fmt.Sprintf("There is no %s plugin %q. Did you mean %q?", c.Kind, c.Type, s)
	} else {
		detail = fmt.Sprintf("There is no %s plugin %q.", c.Kind, c.Type)
	}
	for _, other := range []sdk.ComponentKind{sdk.KindInput, sdk.KindProcessor, sdk.KindOutput} {
		if other != c.Kind && sdk.Lookup(other, c.Type) != nil {
			detail += fmt.Sprintf(" %q is %s plugin: write %s %q %q { ... } if that is what you meant.", c.Type, withArticle(other), other, c.Type, c.Name)
		}
	}
	if len(types) == 0 {
		detail += fmt.Sprintf(" This engine has no %s plugins compiled in.", c.Kind)
	} else {
		detail += fmt.Sprintf(" The %s plugins are %s.", c.Kind, joinList(types))
	}
	detail += " Run 'engine plugins' to list every plugin with its options."
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Unknown %s type %q", c.Kind, c.Type),
		Detail:   detail,
		Subject:  cd.block.LabelRanges[0].Ptr(),
	})
}

// withArticle returns "an input", "a processor", "an output".
func withArticle(kind sdk.ComponentKind) string {
	if kind == sdk.KindProcessor {
		return "a processor"
	}
	return "an " + string(kind)
}

// fileRange turns a FileError's place into a range in that file, loading
// the file so that diagnostics can show a snippet of it.
func (l *loader) fileRange(fe *sdk.FileError) (hcl.Range, bool) {
	f, ok := l.files[fe.Path]
	if !ok {
		data, err := os.ReadFile(fe.Path)
		if err != nil {
			return hcl.Range{}, false
		}
		f = &hcl.File{Bytes: data}
		l.files[fe.Path] = f
	}
	src := f.Bytes
	line := max(fe.Line, 1)
	start := 0
	for n := 1; n < line && start < len(src); n++ {
		i := bytes.IndexByte(src[start:], '\n')
		if i < 0 {
			return hcl.Range{}, false
		}
		start += i + 1
	}
	end := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		end = start + i
	}
	from, col := start, 1
	if fe.Column > 0 && start+fe.Column-1 <= end {
		from, col = start+fe.Column-1, fe.Column
	}
	if fe.Line == 0 {
		end = from
	}
	return hcl.Range{
		Filename: fe.Path,
		Start:    hcl.Pos{Line: line, Column: col, Byte: from},
		End:      hcl.Pos{Line: line, Column: col + (end - from), Byte: end},
	}, true
}
