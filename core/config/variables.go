package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix prefixes the environment variables that set pipeline
// variables: ENGINE_VAR_region sets var.region.
const EnvVarPrefix = "ENGINE_VAR_"

type variableDecl struct {
	name        string
	file        string
	block       *hcl.Block
	typ         cty.Type // cty.DynamicPseudoType when no type is given
	typed       bool
	def         *hcl.Attribute
	description string
}

type localDecl struct {
	name string
	file string
	attr *hcl.Attribute
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "type"}, {Name: "description"}},
}

func (l *loader) declareVariable(filename string, b *hcl.Block) {
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q cannot be a variable name, because it is referred to as var.NAME. Use letters, digits, underscores and dashes, starting with a letter.", name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return
	}
	if prev, dup := l.variables[name]; dup {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable declaration",
			Detail:   fmt.Sprintf("A variable named %q is already declared at %s. Variable names are shared by all files of a pipeline; remove or rename one of them.", name, at(prev.block.DefRange)),
			Subject:  b.DefRange.Ptr(),
		})
		return
	}
	v := &variableDecl{name: name, file: filename, block: b, typ: cty.DynamicPseudoType}
	l.variables[name] = v
	l.varOrder = append(l.varOrder, v)

	content, diags := b.Body.Content(variableSchema)
	l.diags = append(l.diags, explainUnsupported(diags, "in a variable block", variableSchema)...)
	if attr, ok := content.Attributes["type"]; ok {
		ty, diags := typeexpr.TypeConstraint(attr.Expr)
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			v.typ, v.typed = ty, true
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		val, diags := attr.Expr.Value(nil)
		if !diags.HasErrors() {
			val, err := convert.Convert(val, cty.String)
			if err != nil || val.IsNull() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid variable description",
					Detail:   "A variable's description must be a literal string.",
					Subject:  attr.Expr.Range().Ptr(),
				})
			} else {
				v.description = val.AsString()
			}
		}
		l.diags = append(l.diags, diags...)
	}
	v.def = content.Attributes["default"]
}

// resolveVariables gives every declared variable its value: --var first,
// then ENGINE_VAR_<name>, then the default.
func (l *loader) resolveVariables() {
	var undeclared []string
	for name := range l.opts.Vars {
		if _, ok := l.variables[name]; !ok {
			undeclared = append(undeclared, name)
		}
	}
	sort.Strings(undeclared)
	for _, name := range undeclared {
		detail := fmt.Sprintf("--var %s=... was given, but the pipeline declares no variable %q.", name, name)
		if s := suggest(name, keys(l.variables)); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		detail += fmt.Sprintf(` Declare it with variable %q {} or drop the --var.`, name)
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value for undeclared variable",
			Detail:   detail,
		})
	}

	for _, v := range l.varOrder {
		l.varValues[v.name] = l.variableValue(v)
	}
}

func (l *loader) variableValue(v *variableDecl) cty.Value {
	if raw, ok := l.opts.Vars[v.name]; ok {
		return l.parseVariableValue(v, raw, "--var "+v.name)
	}
	if raw, ok := l.env[EnvVarPrefix+v.name]; ok {
		return l.parseVariableValue(v, raw, "the environment variable "+EnvVarPrefix+v.name)
	}
	if v.def == nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No value for required variable",
			Detail: fmt.Sprintf("Variable %q has no default, so it must be set: pass --var %s=VALUE on the command line, "+
				"set the environment variable %s%s=VALUE, or give it a default in its block.", v.name, v.name, EnvVarPrefix, v.name),
			Subject: v.block.DefRange.Ptr(),
		})
		return cty.DynamicVal
	}
	// A default is a constant: it may call functions but not refer to
	// other variables or locals, whose values may depend on it.
	for _, t := range v.def.Expr.Variables() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference in variable default",
			Detail:   fmt.Sprintf("The default of variable %q refers to %s. A default must be a constant value; compute derived values in a locals block instead.", v.name, traversalString(t)),
			Subject:  t.SourceRange().Ptr(),
		})
		return cty.DynamicVal
	}
	val, diags := v.def.Expr.Value(&hcl.EvalContext{Functions: l.functions(v.file)})
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.DynamicVal
	}
	conv, err := convert.Convert(val, v.typ)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid default value for variable",
			Detail:   fmt.Sprintf("The default of variable %q does not match its type %s: %s.", v.name, typeexpr.TypeString(v.typ), describeConvertError(err)),
			Subject:  v.def.Expr.Range().Ptr(),
		})
		return cty.DynamicVal
	}
	return conv
}

// parseVariableValue reads a value given as text. String (and untyped)
// variables take the text as it is; others parse it as an HCL literal, such
// as 42, true or ["a", "b"].
func (l *loader) parseVariableValue(v *variableDecl, raw, from string) cty.Value {
	fail := func(reason string) cty.Value {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("Variable %q has type %s, but the value %q given by %s is not one: %s. "+
				"Values of variables that are not strings are written in HCL syntax, such as 42, true, [\"a\", \"b\"] or {key = \"value\"}.",
				v.name, typeexpr.TypeString(v.typ), raw, from, reason),
			Subject: v.block.DefRange.Ptr(),
		})
		return cty.DynamicVal
	}
	if !v.typed || v.typ == cty.String {
		return cty.StringVal(raw)
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), from, hcl.InitialPos)
	if diags.HasErrors() {
		return fail(diags[0].Summary + ": " + strings.TrimSuffix(diags[0].Detail, "."))
	}
	if len(expr.Variables()) > 0 {
		return fail("it is not a literal value (strings inside lists and maps need double quotes)")
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return fail(diags[0].Summary + ": " + strings.TrimSuffix(diags[0].Detail, "."))
	}
	conv, err := convert.Convert(val, v.typ)
	if err != nil {
		return fail(describeConvertError(err))
	}
	return conv
}

func (l *loader) declareLocals(filename string, b *hcl.Block) {
	attrs, diags := b.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	for _, attr := range sortedHCLAttributes(attrs) {
		if prev, dup := l.locals[attr.Name]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate local value",
				Detail:   fmt.Sprintf("A local value named %q is already defined at %s. Local names are shared by all locals blocks and files of a pipeline; remove or rename one of them.", attr.Name, at(prev.attr.NameRange)),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		ld := &localDecl{name: attr.Name, file: filename, attr: attr}
		l.locals[attr.Name] = ld
		l.localOrder = append(l.localOrder, ld)
	}
}

// evaluateLocals evaluates every local value after those it refers to. A
// local that cannot be evaluated becomes unknown, which silences the errors
// it would cause further on: its own error has been reported.
func (l *loader) evaluateLocals() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []*localDecl
	failed := map[string]bool{}

	deps := func(ld *localDecl) []*localDecl {
		var out []*localDecl
		for _, t := range ld.attr.Expr.Variables() {
			if t.RootName() != "local" || len(t) < 2 {
				continue
			}
			if step, ok := t[1].(hcl.TraverseAttr); ok {
				if dep, ok := l.locals[step.Name]; ok {
					out = append(out, dep)
				}
			}
		}
		return out
	}

	var visit func(ld *localDecl)
	visit = func(ld *localDecl) {
		state[ld.name] = visiting
		stack = append(stack, ld)
		for _, dep := range deps(ld) {
			switch state[dep.name] {
			case unvisited:
				visit(dep)
			case visiting:
				// dep is on the stack: the locals from dep to here form a cycle.
				start := 0
				for i, s := range stack {
					if s == dep {
						start = i
					}
				}
				cycle := stack[start:]
				names := make([]string, 0, len(cycle)+1)
				for _, c := range cycle {
					names = append(names, "local."+c.name)
					failed[c.name] = true
				}
				names = append(names, "local."+dep.name)
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cycle in local values",
					Detail: fmt.Sprintf("These local values refer to each other in a loop, so none of them can be computed: %s. "+
						"Change one of them so that it does not depend on the others.", strings.Join(names, " → ")),
					Subject: dep.attr.NameRange.Ptr(),
				})
			}
		}
		stack = stack[:len(stack)-1]
		state[ld.name] = done
		if failed[ld.name] {
			l.localValues[ld.name] = cty.DynamicVal
			return
		}
		val, diags := l.eval(ld.attr.Expr, ld.file)
		l.diags = append(l.diags, diags...)
		l.localValues[ld.name] = val
	}
	for _, ld := range l.localOrder {
		if state[ld.name] == unvisited {
			visit(ld)
		}
	}
}

// evalContext returns the context expressions of a file are evaluated in.
func (l *loader) evalContext(filename string) *hcl.EvalContext {
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(l.varValues),
			"local": cty.ObjectVal(l.localValues),
		},
		Functions: l.functions(filename),
	}
}

// eval checks an expression's references and evaluates it in the context
// of its file. An expression that fails yields cty.DynamicVal.
func (l *loader) eval(expr hcl.Expression, filename string) (cty.Value, hcl.Diagnostics) {
	if diags := l.checkReferences(expr); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, diags := expr.Value(l.evalContext(filename))
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return val, diags
}

// checkReferences reports references to things that do not exist, with
// a suggestion, before evaluation would report them less helpfully.
func (l *loader) checkReferences(expr hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		root := t.RootName()
		var name string
		if len(t) >= 2 {
			if step, ok := t[1].(hcl.TraverseAttr); ok {
				name = step.Name
			}
		}
		switch root {
		case "var", "local":
			if name == "" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference",
					Detail:   fmt.Sprintf("Write %s.NAME to refer to a %s by name.", root, map[string]string{"var": "variable", "local": "local value"}[root]),
					Subject:  t.SourceRange().Ptr(),
				})
				continue
			}
			if root == "var" {
				if _, ok := l.variables[name]; !ok {
					detail := fmt.Sprintf("There is no variable named %q.", name)
					if s := suggest(name, keys(l.variables)); s != "" {
						detail += fmt.Sprintf(" Did you mean var.%s?", s)
					}
					detail += fmt.Sprintf(` Declare it with variable %q { default = ... }.`, name)
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to undeclared variable",
						Detail:   detail,
						Subject:  t.SourceRange().Ptr(),
					})
				}
			} else if _, ok := l.locals[name]; !ok {
				detail := fmt.Sprintf("There is no local value named %q.", name)
				if s := suggest(name, keys(l.locals)); s != "" {
					detail += fmt.Sprintf(" Did you mean local.%s?", s)
				}
				detail += fmt.Sprintf(" Define it in a locals block: locals { %s = ... }.", name)
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared local value",
					Detail:   detail,
					Subject:  t.SourceRange().Ptr(),
				})
			}
		case "input", "processor", "output":
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Component reference outside inputs",
				Detail: fmt.Sprintf("%s names a component. Components can only be referred to in the inputs list of a processor or output, "+
					"such as inputs = [%s]; they have no value to use here.", traversalString(t), traversalString(t)),
				Subject: t.SourceRange().Ptr(),
			})
		default:
			detail := fmt.Sprintf("There is no variable named %q. Values come from var.NAME (variables), local.NAME (locals) and function calls such as env(\"NAME\").", root)
			if s := suggest(root, []string{"var", "local"}); s != "" {
				detail = fmt.Sprintf("There is no variable named %q. Did you mean %s.%s?", root, s, name)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown variable",
				Detail:   detail,
				Subject:  t.SourceRange().Ptr(),
			})
		}
	}
	return diags
}

// traversalString renders a traversal as written: var.region,
// input.logfile.auditd.
func traversalString(t hcl.Traversal) string {
	var sb strings.Builder
	for i, step := range t {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			sb.WriteString(s.Name)
		case hcl.TraverseAttr:
			sb.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&sb, "[%q]", s.Key.AsString())
			} else if s.Key.Type() == cty.Number {
				fmt.Fprintf(&sb, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			} else {
				sb.WriteString("[...]")
			}
		default:
			if i > 0 {
				sb.WriteString("...")
			}
		}
	}
	return sb.String()
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
