package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/engine-audit/engine/sdk"
)

// Top-level block types.
const (
	blockVariable = "variable"
	blockLocals   = "locals"
	blockEngine   = "engine"
	blockPlugin   = "plugin"
)

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: string(sdk.KindInput), LabelNames: []string{"type", "name"}},
		{Type: string(sdk.KindProcessor), LabelNames: []string{"type", "name"}},
		{Type: string(sdk.KindOutput), LabelNames: []string{"type", "name"}},
		{Type: blockVariable, LabelNames: []string{"name"}},
		{Type: blockLocals},
		{Type: blockEngine},
		{Type: blockPlugin, LabelNames: []string{"name"}},
	},
}

// loader holds the state of one load.
type loader struct {
	opts  LoadOptions
	env   map[string]string
	files map[string]*hcl.File
	diags hcl.Diagnostics

	variables  map[string]*variableDecl
	varOrder   []*variableDecl
	locals     map[string]*localDecl
	localOrder []*localDecl
	engine     []*hcl.Block
	plugins    []*hcl.Block
	components []*componentDecl
	byID       map[string]*componentDecl

	varValues   map[string]cty.Value
	localValues map[string]cty.Value
	funcs       map[string]map[string]function.Function // by directory
	ctxs        map[string]*hcl.EvalContext             // by file, once locals are known
}

// componentDecl is a component block on its way to becoming a Component.
type componentDecl struct {
	c      *Component
	block  *hcl.Block
	body   *hclsyntax.Body
	file   string
	inputs *hclsyntax.Attribute // the inputs meta-argument, if written
	// refs are the resolved inputs, with where each was written.
	refs []componentRef
}

type componentRef struct {
	target *componentDecl
	rng    hcl.Range
}

func load(srcs []source, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	l := &loader{
		opts:        opts,
		env:         parseEnviron(opts.environ()),
		files:       map[string]*hcl.File{},
		variables:   map[string]*variableDecl{},
		locals:      map[string]*localDecl{},
		byID:        map[string]*componentDecl{},
		varValues:   map[string]cty.Value{},
		localValues: map[string]cty.Value{},
		funcs:       map[string]map[string]function.Function{},
		ctxs:        map[string]*hcl.EvalContext{},
	}
	p := &Pipeline{Files: l.files}

	// Parse every file first, so that all syntax errors are reported at
	// once; a file that does not parse would make every later check guess.
	for _, s := range srcs {
		f, diags := hclsyntax.ParseConfig(s.data, s.name, hcl.InitialPos)
		l.diags = append(l.diags, diags...)
		if f != nil {
			l.files[s.name] = f
		}
	}
	if l.diags.HasErrors() {
		return p, l.diags
	}

	for _, s := range srcs {
		l.collect(s.name, l.files[s.name])
	}
	l.resolveVariables()
	l.evaluateLocals()
	p.Settings = l.decodeSettings()
	l.checkPluginBlocks()
	for _, cd := range l.components {
		l.decodeComponent(cd)
	}
	l.buildGraph(srcs)

	for _, cd := range l.components {
		p.Components = append(p.Components, cd.c)
	}
	return p, l.diags
}

func parseEnviron(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// collect sorts the top-level blocks of one file into declarations.
func (l *loader) collect(filename string, f *hcl.File) {
	content, diags := f.Body.Content(topSchema)
	l.diags = append(l.diags, explainUnsupported(diags, "at the top of a pipeline file", topSchema)...)
	for _, b := range content.Blocks {
		switch b.Type {
		case string(sdk.KindInput), string(sdk.KindProcessor), string(sdk.KindOutput):
			l.declareComponent(filename, b)
		case blockVariable:
			l.declareVariable(filename, b)
		case blockLocals:
			l.declareLocals(filename, b)
		case blockEngine:
			if len(l.engine) > 0 {
				first := l.engine[0].DefRange
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate engine block",
					Detail:   fmt.Sprintf("A pipeline has at most one engine block, and one is already declared at %s. Merge the settings into that block.", at(first)),
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			l.engine = append(l.engine, b)
		case blockPlugin:
			l.plugins = append(l.plugins, b)
		}
	}
}

func (l *loader) declareComponent(filename string, b *hcl.Block) {
	kind := sdk.ComponentKind(b.Type)
	for i, label := range b.Labels {
		if !hclsyntax.ValidIdentifier(label) {
			what := [...]string{"type", "name"}[i]
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid %s %s", kind, what),
				Detail: fmt.Sprintf("%q cannot be used as %s %s, because other components refer to it as %s.TYPE.NAME. "+
					"Use letters, digits, underscores and dashes, starting with a letter.", label, withArticle(kind), what, kind),
				Subject: b.LabelRanges[i].Ptr(),
			})
			return
		}
	}
	c := &Component{
		Kind:      kind,
		Type:      b.Labels[0],
		Name:      b.Labels[1],
		ID:        fmt.Sprintf("%s.%s.%s", kind, b.Labels[0], b.Labels[1]),
		DeclRange: b.DefRange,
	}
	if prev, dup := l.byID[c.ID]; dup {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s %q %q", kind, c.Type, c.Name),
			Detail: fmt.Sprintf("%s is already declared at %s. Each %s of a type needs its own name; rename one of them.",
				c.ID, at(prev.c.DeclRange), kind),
			Subject: hcl.RangeBetween(b.LabelRanges[0], b.LabelRanges[1]).Ptr(),
		})
		return
	}
	body, ok := b.Body.(*hclsyntax.Body)
	if !ok {
		// Every file is parsed with hclsyntax; this cannot happen.
		panic("config: component body is not native HCL syntax")
	}
	cd := &componentDecl{c: c, block: b, body: body, file: filename}
	l.byID[c.ID] = cd
	l.components = append(l.components, cd)
}

// sortedAttributes returns a body's attributes in source order.
func sortedAttributes(body *hclsyntax.Body) []*hclsyntax.Attribute {
	out := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SrcRange.Start.Byte < out[j].SrcRange.Start.Byte })
	return out
}

// sortedHCLAttributes returns attributes in source order.
func sortedHCLAttributes(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Range.Filename != out[j].Range.Filename {
			return out[i].Range.Filename < out[j].Range.Filename
		}
		return out[i].Range.Start.Byte < out[j].Range.Start.Byte
	})
	return out
}

// explainUnsupported adds to HCL's "Unsupported argument" and "Unsupported
// block type" diagnostics the list of what is allowed where they occurred.
func explainUnsupported(diags hcl.Diagnostics, where string, schema *hcl.BodySchema) hcl.Diagnostics {
	for _, d := range diags {
		switch d.Summary {
		case "Unsupported argument":
			names := make([]string, len(schema.Attributes))
			for i, a := range schema.Attributes {
				names[i] = a.Name
			}
			if len(names) == 0 {
				d.Detail += fmt.Sprintf(" No arguments are allowed %s.", where)
			} else {
				d.Detail += fmt.Sprintf(" The arguments allowed %s are %s.", where, joinList(names))
			}
		case "Unsupported block type":
			names := make([]string, len(schema.Blocks))
			for i, b := range schema.Blocks {
				names[i] = b.Type
			}
			if len(names) == 0 {
				d.Detail += fmt.Sprintf(" No blocks are allowed %s.", where)
			} else {
				d.Detail += fmt.Sprintf(" The blocks allowed %s are %s.", where, joinList(names))
			}
		}
	}
	return diags
}
