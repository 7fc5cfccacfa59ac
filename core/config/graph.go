package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/engine-audit/engine/sdk"
)

// buildGraph resolves the inputs of every processor and output and checks
// the graph they form: dangling references, outputs used as sources,
// cycles, and components whose events nothing consumes.
func (l *loader) buildGraph(srcs []source) {
	consumed := map[*componentDecl]bool{}
	for _, cd := range l.components {
		if cd.c.Kind == sdk.KindInput {
			continue
		}
		l.resolveInputs(cd)
		for _, r := range cd.refs {
			consumed[r.target] = true
		}
	}
	l.checkCycles()

	var nIn, nOut int
	for _, cd := range l.components {
		switch cd.c.Kind {
		case sdk.KindInput:
			nIn++
		case sdk.KindOutput:
			nOut++
			continue
		}
		if !consumed[cd] {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  fmt.Sprintf("Events of %s go nowhere", cd.c.ID),
				Detail: fmt.Sprintf("No processor or output lists %s in its inputs, so the events it produces are dropped. "+
					"Add it to the inputs of an output or processor, or remove this block.", cd.c.ID),
				Subject: cd.c.DeclRange.Ptr(),
			})
		}
	}

	if nIn > 0 && nOut > 0 {
		return
	}
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.name
	}
	var summary, missing string
	switch {
	case len(l.components) == 0:
		summary, missing = "Empty pipeline", "no components"
	case nIn == 0:
		summary, missing = "Pipeline has no input", "no input block"
	default:
		summary, missing = "Pipeline has no output", "no output block"
	}
	detail := "A pipeline needs at least one input and one output"
	if len(names) > 0 {
		verb := "declare"
		if len(names) == 1 {
			verb = "declares"
		}
		detail += fmt.Sprintf(", and %s %s %s", joinList(names), verb, missing)
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail + ". Run 'engine plugins' to see the components available.",
	})
}

// resolveInputs reads the inputs meta-argument of a processor or output.
func (l *loader) resolveInputs(cd *componentDecl) {
	c := cd.c
	if cd.inputs == nil {
		for name := range cd.body.Attributes {
			if name != MetaInputs && suggest(name, []string{MetaInputs}) != "" {
				// A misspelt inputs is already reported, with a suggestion.
				return
			}
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing inputs",
			Detail: fmt.Sprintf("%s %q %q names no inputs, so it would never receive an event. "+
				"Add inputs = [input.TYPE.NAME] listing the components whose events it consumes.", c.Kind, c.Type, c.Name),
			Subject: c.DeclRange.Ptr(),
		})
		return
	}
	exprs, diags := hcl.ExprList(cd.inputs.Expr)
	if diags.HasErrors() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid inputs",
			Detail:   "inputs must be a list of component references written in brackets, such as [input.logfile.auditd, processor.coalesce.events].",
			Subject:  cd.inputs.Expr.Range().Ptr(),
		})
		return
	}
	if len(exprs) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty inputs",
			Detail:   fmt.Sprintf("%s consumes nothing. List at least one input or processor, such as inputs = [input.logfile.auditd].", c.ID),
			Subject:  cd.inputs.Expr.Range().Ptr(),
		})
		return
	}
	seen := map[string]hcl.Range{}
	for _, e := range exprs {
		target := l.resolveRef(cd, e)
		if target == nil {
			continue
		}
		if first, dup := seen[target.c.ID]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate input",
				Detail:   fmt.Sprintf("%s is already listed at %s; listing it twice would deliver each of its events twice. Remove one.", target.c.ID, at(first)),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		seen[target.c.ID] = e.Range()
		cd.refs = append(cd.refs, componentRef{target: target, rng: e.Range()})
		c.Inputs = append(c.Inputs, target.c.ID)
	}
}

// resolveRef resolves one element of an inputs list, or reports why it
// cannot.
func (l *loader) resolveRef(consumer *componentDecl, e hcl.Expression) *componentDecl {
	invalid := func(detail string) *componentDecl {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference in inputs",
			Detail:   detail,
			Subject:  e.Range().Ptr(),
		})
		return nil
	}
	const form = "Each element of inputs names a component as KIND.TYPE.NAME, such as input.logfile.auditd or processor.coalesce.events"
	if tmpl, ok := e.(*hclsyntax.TemplateExpr); ok && tmpl.IsStringLiteral() {
		v, _ := tmpl.Value(nil)
		return invalid(fmt.Sprintf("%s, without quotes: write %s rather than %q.", form, v.AsString(), v.AsString()))
	}
	trav, diags := hcl.AbsTraversalForExpr(e)
	if diags.HasErrors() {
		return invalid(form + ".")
	}
	parts := make([]string, 0, 3)
	for _, step := range trav {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		default:
			return invalid(fmt.Sprintf("%s; %s is not of that form.", form, traversalString(trav)))
		}
	}
	switch parts[0] {
	case "input", "processor", "output":
	case "var", "local":
		return invalid(fmt.Sprintf("%s. inputs are references resolved before any value is computed, so they cannot come from %s.", form, traversalString(trav)))
	default:
		return invalid(fmt.Sprintf("%s; %s does not start with input, processor or output.", form, traversalString(trav)))
	}
	if len(parts) != 3 {
		return invalid(fmt.Sprintf("%s; %s has %d parts instead of 3.", form, traversalString(trav), len(parts)))
	}
	id := strings.Join(parts, ".")
	target, ok := l.byID[id]
	if !ok {
		var candidates []string
		for _, cd := range l.components {
			if cd.c.Kind != sdk.KindOutput && cd != consumer {
				candidates = append(candidates, cd.c.ID)
			}
		}
		detail := fmt.Sprintf("There is no component %s in this pipeline.", id)
		if s := suggest(id, candidates); s != "" {
			detail += fmt.Sprintf(" Did you mean %s?", s)
		}
		if len(candidates) > 0 && len(candidates) <= 12 {
			detail += fmt.Sprintf(" Components that can be consumed: %s.", joinList(candidates))
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared component",
			Detail:   detail,
			Subject:  e.Range().Ptr(),
		})
		return nil
	}
	if target.c.Kind == sdk.KindOutput {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Output used as an input",
			Detail: fmt.Sprintf("%s is an output: outputs deliver events and produce none, so nothing can consume them. "+
				"Refer to the input or processor that feeds it instead.", id),
			Subject: e.Range().Ptr(),
		})
		return nil
	}
	return target
}

// checkCycles reports every loop in the graph found by a depth-first walk
// from each component in declaration order, at the reference that closes
// it.
func (l *loader) checkCycles() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*componentDecl]int{}
	var stack []*componentDecl
	var visit func(cd *componentDecl)
	visit = func(cd *componentDecl) {
		state[cd] = visiting
		stack = append(stack, cd)
		for _, r := range cd.refs {
			switch state[r.target] {
			case unvisited:
				visit(r.target)
			case visiting:
				// stack[i] consumes stack[i+1]; cd consumes r.target, which
				// is on the stack. Events flow the other way round.
				start := slices.Index(stack, r.target)
				loop := stack[start:]
				path := []string{r.target.c.ID}
				for i := len(loop) - 1; i >= 0; i-- {
					path = append(path, loop[i].c.ID)
				}
				detail := fmt.Sprintf("Events would flow in a circle: %s. ", strings.Join(path, " → "))
				if len(loop) == 1 {
					detail = fmt.Sprintf("%s lists itself in its inputs. ", cd.c.ID)
				}
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cycle in the pipeline graph",
					Detail:   detail + "Every component must be fed by inputs through a path without loops; remove one of these references.",
					Subject:  r.rng.Ptr(),
				})
			}
		}
		stack = stack[:len(stack)-1]
		state[cd] = done
	}
	for _, cd := range l.components {
		if state[cd] == unvisited {
			visit(cd)
		}
	}
}
