package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// TextWidth is the column at which WriteText wraps diagnostic details.
const TextWidth = 78

// WriteText renders diagnostics as text with source snippets, the way HCL
// tools do. color adds ANSI colors and highlighting for terminals.
func WriteText(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	return hcl.NewDiagnosticTextWriter(w, files, TextWidth, color).WriteDiagnostics(diags)
}

// JSONReport is the machine-readable result of a validation, in the shape
// of `terraform validate -json` (format version 1.0).
type JSONReport struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []JSONDiagnostic `json:"diagnostics"`
}

// JSONDiagnostic is one diagnostic of a JSONReport.
type JSONDiagnostic struct {
	Severity string       `json:"severity"` // "error" or "warning"
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *JSONRange   `json:"range,omitempty"`
	Snippet  *JSONSnippet `json:"snippet,omitempty"`
}

// JSONRange is a span of a file.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a file: 1-based line and column (in characters),
// 0-based byte offset.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONSnippet is the source around a diagnostic.
type JSONSnippet struct {
	// Context names the enclosing block, such as `input "logfile" "auditd"`.
	Context *string `json:"context"`
	// Code is the whole lines of source the diagnostic covers.
	Code      string `json:"code"`
	StartLine int    `json:"start_line"`
	// HighlightStartOffset and HighlightEndOffset are byte offsets into
	// Code of the part the diagnostic is about.
	HighlightStartOffset int                   `json:"highlight_start_offset"`
	HighlightEndOffset   int                   `json:"highlight_end_offset"`
	Values               []JSONExpressionValue `json:"values"`
}

// JSONExpressionValue tells the value of a reference in the expression a
// diagnostic is about.
type JSONExpressionValue struct {
	Traversal string `json:"traversal"`
	Statement string `json:"statement"`
}

// NewJSONReport builds the report for diags. files supply the snippets.
func NewJSONReport(files map[string]*hcl.File, diags hcl.Diagnostics) *JSONReport {
	r := &JSONReport{FormatVersion: "1.0", Diagnostics: []JSONDiagnostic{}}
	for _, d := range diags {
		jd := JSONDiagnostic{Summary: d.Summary, Detail: d.Detail}
		switch d.Severity {
		case hcl.DiagError:
			jd.Severity = "error"
			r.ErrorCount++
		case hcl.DiagWarning:
			jd.Severity = "warning"
			r.WarningCount++
		default:
			continue
		}
		if d.Subject != nil {
			jd.Range = &JSONRange{
				Filename: d.Subject.Filename,
				Start:    JSONPos{Line: d.Subject.Start.Line, Column: d.Subject.Start.Column, Byte: d.Subject.Start.Byte},
				End:      JSONPos{Line: d.Subject.End.Line, Column: d.Subject.End.Column, Byte: d.Subject.End.Byte},
			}
			if f := files[d.Subject.Filename]; f != nil && f.Bytes != nil {
				jd.Snippet = newSnippet(f, d)
			}
		}
		r.Diagnostics = append(r.Diagnostics, jd)
	}
	r.Valid = r.ErrorCount == 0
	return r
}

// WriteJSON writes diags as a JSONReport, indented, followed by a newline.
// files supply the source snippets; without them (nil) the report has none.
func WriteJSON(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	return NewJSONReport(files, diags).Write(w)
}

// Write encodes the report as indented JSON.
func (r *JSONReport) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func newSnippet(f *hcl.File, d *hcl.Diagnostic) *JSONSnippet {
	src := f.Bytes
	subject := *d.Subject
	span := subject
	if d.Context != nil && d.Context.Filename == subject.Filename {
		span = hcl.RangeOver(span, *d.Context)
	}
	start := clamp(span.Start.Byte, 0, len(src))
	end := clamp(span.End.Byte, start, len(src))
	// Widen to whole lines.
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[end:], '\n'); i >= 0 {
		lineEnd = end + i
	}
	if end > start && src[end-1] == '\n' {
		// A range ending just after a newline ends on the line before.
		lineEnd = end - 1
	}
	lineEnd = max(lineEnd, lineStart)
	code := strings.TrimSuffix(string(src[lineStart:lineEnd]), "\r")

	hs := clamp(subject.Start.Byte-lineStart, 0, len(code))
	he := clamp(subject.End.Byte-lineStart, hs, len(code))
	s := &JSONSnippet{
		Code:                 code,
		StartLine:            span.Start.Line - bytes.Count(src[lineStart:start], []byte("\n")),
		HighlightStartOffset: hs,
		HighlightEndOffset:   he,
		Values:               expressionValues(d),
	}
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		if c := cs.ContextString(subject.Start.Byte); c != "" {
			s.Context = &c
		}
	}
	return s
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

// expressionValues describes the values of the references in the
// expression a diagnostic is about, as the text writer does.
func expressionValues(d *hcl.Diagnostic) []JSONExpressionValue {
	out := []JSONExpressionValue{}
	if d.Expression == nil || d.EvalContext == nil {
		return out
	}
	seen := map[string]bool{}
	for _, t := range d.Expression.Variables() {
		val, diags := t.TraverseAbs(d.EvalContext)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			continue
		}
		name := traversalString(t)
		if seen[name] {
			continue
		}
		seen[name] = true
		stmt := "is null"
		if !val.IsNull() {
			stmt = "is " + describeValue(val)
		}
		out = append(out, JSONExpressionValue{Traversal: name, Statement: stmt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Traversal < out[j].Traversal })
	return out
}

// describeValue renders a value briefly: strings and numbers in full,
// collections by their size.
func describeValue(v cty.Value) string {
	ty := v.Type()
	switch {
	case ty == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case ty == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case ty == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType():
		n := v.LengthInt()
		if n == 1 {
			return ty.FriendlyName() + " with 1 element"
		}
		return fmt.Sprintf("%s with %d elements", ty.FriendlyName(), n)
	case ty.IsObjectType():
		return "object with " + fmt.Sprint(len(ty.AttributeTypes())) + " attributes"
	}
	return ty.FriendlyName()
}
