package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/core/deadletter"
	"github.com/engine-audit/engine/sdk"
)

var pluginKinds = []sdk.ComponentKind{sdk.KindInput, sdk.KindProcessor, sdk.KindOutput}

func newPluginsCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "plugins [flags] [KIND.TYPE | TYPE | KIND]",
		Short: "List the plugins compiled in, or document one",
		Long: `Plugins lists every input, processor and output this engine can run, with a
one-line summary. Given a plugin (input.logfile, or just logfile), it shows the
plugin's documentation and every option it takes: type, default or whether it
is required, allowed values, and what it does. Given a kind (input, processor,
output), it lists only the plugins of that kind. --json prints the same
information for programs.`,
		Example: `  engine plugins
  engine plugins input.logfile
  engine plugins --json > plugins.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			all := sdk.Plugins()
			selected := all
			single := false
			if len(args) == 1 {
				var err error
				selected, single, err = selectPlugins(all, args[0])
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			if jsonOut {
				return writePluginsJSON(out, selected)
			}
			if single {
				for i, p := range selected {
					if i > 0 {
						fmt.Fprintln(out)
					}
					writePluginDoc(out, p)
				}
				return nil
			}
			writePluginList(out, selected)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print plugins, their options and their documentation as JSON")
	return cmd
}

// selectPlugins finds the plugins an argument names: "input.logfile", a type
// ("logfile", which may exist for several kinds) or a kind ("input",
// "inputs"). single reports whether the argument named plugins rather than a
// kind.
func selectPlugins(all []*sdk.Plugin, arg string) (selected []*sdk.Plugin, single bool, err error) {
	for _, p := range all {
		if p.ID() == arg || p.Type == arg {
			selected = append(selected, p)
		}
	}
	if len(selected) > 0 {
		return selected, true, nil
	}
	for _, k := range pluginKinds {
		if arg == string(k) || arg == string(k)+"s" {
			for _, p := range all {
				if p.Kind == k {
					selected = append(selected, p)
				}
			}
			return selected, false, nil
		}
	}
	names := make([]string, 0, 2*len(all))
	for _, p := range all {
		names = append(names, p.ID(), p.Type)
	}
	msg := fmt.Sprintf("no plugin named %q", arg)
	if s := closest(arg, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, false, fmt.Errorf("%s. Run 'engine plugins' to list them all", msg)
}

// closest returns the name nearest to s by edit distance, if it is near
// enough to be a typo.
func closest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func writePluginList(w io.Writer, plugins []*sdk.Plugin) {
	if len(plugins) == 0 {
		fmt.Fprintln(w, "No plugins are compiled in.")
		return
	}
	width := 0
	for _, p := range plugins {
		width = max(width, len(p.Type))
	}
	for _, k := range pluginKinds {
		var of []*sdk.Plugin
		for _, p := range plugins {
			if p.Kind == k {
				of = append(of, p)
			}
		}
		if len(of) == 0 {
			continue
		}
		fmt.Fprintf(w, "%ss:\n", capitalizeWord(string(k)))
		for _, p := range of {
			summary := p.Summary
			if len(p.Platforms) > 0 {
				summary += fmt.Sprintf(" (%s only)", strings.Join(p.Platforms, ", "))
			}
			fmt.Fprintf(w, "  %-*s   %s\n", width, p.Type, summary)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Run 'engine plugins KIND.TYPE' (such as 'engine plugins %s') for a plugin's options.\n", plugins[0].ID())
}

func writePluginDoc(w io.Writer, p *sdk.Plugin) {
	fmt.Fprintf(w, "%s %q (%s)\n", p.Kind, p.Type, p.ID())
	if p.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", p.Summary)
	}
	if d := strings.TrimSpace(p.Description); d != "" {
		fmt.Fprintf(w, "\n%s\n", d)
	}
	if len(p.Platforms) > 0 {
		fmt.Fprintf(w, "\nRuns on: %s\n", strings.Join(p.Platforms, ", "))
	}

	fmt.Fprintln(w, "\nOptions:")
	if len(p.Options) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tALLOWED\tDESCRIPTION")
		writeOptionRows(tw, p.Options, "  ")
		tw.Flush()
	}

	fmt.Fprintln(w, "\nCore arguments (any "+string(p.Kind)+"):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range metaOptions(p.Kind) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t\t%s\n", m.Name, metaTypeName(m), requiredOrDefault(m), m.Doc)
		if len(m.Options) > 0 {
			writeOptionRows(tw, m.Options, "    ")
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nExample:\n%s", exampleBlock(p))
}

func writeOptionRows(tw *tabwriter.Writer, opts []sdk.Option, indent string) {
	for _, o := range opts {
		allowed := strings.Join(o.Enum, ", ")
		for _, extra := range []string{string(o.Format), string(o.Bound)} {
			if extra == "" {
				continue
			}
			if allowed != "" {
				allowed += "; "
			}
			allowed += extra
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\n", indent, o.Name, o.Type, requiredOrDefault(o), allowed, oneLine(o.Doc))
		if len(o.Options) > 0 {
			writeOptionRows(tw, o.Options, indent+"  ")
		}
	}
}

func requiredOrDefault(o sdk.Option) string {
	switch {
	case o.Required:
		return "required"
	case o.Default != nil:
		return config.FormatValue(o.Type, o.Default)
	}
	return "-"
}

// metaOptions describes the core's meta-arguments as options, for display.
func metaOptions(kind sdk.ComponentKind) []sdk.Option {
	if kind == sdk.KindInput {
		return []sdk.Option{
			{Name: config.MetaBatchMaxEvents, Type: sdk.TypeInt, Default: int64(sdk.DefaultBatchPolicy.MaxEvents), Doc: "Emit a batch once it holds this many events."},
			{Name: config.MetaBatchMaxAge, Type: sdk.TypeDuration, Default: sdk.DefaultBatchPolicy.MaxAge, Doc: "Emit a non-empty batch at most this long after its first event."},
		}
	}
	meta := []sdk.Option{
		{Name: config.MetaInputs, Type: sdk.TypeStringList, Required: true, Doc: "The inputs and processors whose events this consumes, as references: [input.TYPE.NAME, processor.TYPE.NAME]."},
		{Name: config.MetaQueueSize, Type: sdk.TypeInt, Default: int64(config.DefaultQueueSize), Doc: "Capacity, in batches, of the queue in front of this component."},
	}
	if kind == sdk.KindOutput {
		meta = append(meta,
			sdk.Option{Name: config.MetaBatchMaxEvents, Type: sdk.TypeInt, Default: int64(config.DefaultOutputBatchMaxEvents), Doc: "Merge the batches waiting in the buffer into writes of up to about this many events (the core never waits to fill a write)."},
			sdk.Option{Name: config.MetaBuffer, Type: sdk.TypeBlock, Options: buffer.Options, Doc: "What the output has not delivered yet: in memory (default) or on disk, and what to do when it is full."},
			sdk.Option{Name: config.MetaDeadLetter, Type: sdk.TypeBlock, Options: deadletter.Options, Doc: "A file for the events the destination refused for good, each with the reason. Without it they are counted as discarded and logged."},
		)
	}
	return meta
}

// metaTypeName names the type of a meta-argument: inputs holds references,
// not strings.
func metaTypeName(o sdk.Option) string {
	if o.Name == config.MetaInputs {
		return "list(reference)"
	}
	return o.Type.String()
}

// exampleBlock writes a minimal block for the plugin: its required options
// with placeholder values.
func exampleBlock(p *sdk.Plugin) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %q %q {\n", p.Kind, p.Type, "NAME")
	if p.Kind != sdk.KindInput {
		sb.WriteString("inputs = [input.TYPE.NAME]\n")
	}
	writeExampleOptions(&sb, p.Options, "")
	sb.WriteString("}\n")
	formatted := hclwrite.Format([]byte(sb.String()))
	var indented strings.Builder
	for _, line := range strings.SplitAfter(string(formatted), "\n") {
		if line != "" {
			indented.WriteString("  " + line)
		}
	}
	return indented.String()
}

func writeExampleOptions(sb *strings.Builder, opts []sdk.Option, indent string) {
	for _, o := range opts {
		if !o.Required {
			continue
		}
		switch o.Type {
		case sdk.TypeBlock, sdk.TypeBlockList:
			fmt.Fprintf(sb, "%s%s {\n", indent, o.Name)
			writeExampleOptions(sb, o.Options, indent+"  ")
			fmt.Fprintf(sb, "%s}\n", indent)
		default:
			fmt.Fprintf(sb, "%s%s = %s\n", indent, o.Name, config.ExampleValue(o))
		}
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func capitalizeWord(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pluginJSON is the machine-readable description of a plugin.
type pluginJSON struct {
	ID            string       `json:"id"`
	Kind          string       `json:"kind"`
	Type          string       `json:"type"`
	Summary       string       `json:"summary"`
	Description   string       `json:"description,omitempty"`
	Platforms     []string     `json:"platforms,omitempty"`
	Options       []optionJSON `json:"options"`
	MetaArguments []optionJSON `json:"meta_arguments"`
}

type optionJSON struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"`
	Doc      string       `json:"doc,omitempty"`
	Required bool         `json:"required"`
	Default  any          `json:"default,omitempty"`
	Enum     []string     `json:"enum,omitempty"`
	Format   string       `json:"format,omitempty"`
	Bound    string       `json:"bound,omitempty"`
	Options  []optionJSON `json:"options,omitempty"`
}

func writePluginsJSON(w io.Writer, plugins []*sdk.Plugin) error {
	out := struct {
		Plugins []pluginJSON `json:"plugins"`
	}{Plugins: []pluginJSON{}}
	for _, p := range plugins {
		out.Plugins = append(out.Plugins, pluginJSON{
			ID:            p.ID(),
			Kind:          string(p.Kind),
			Type:          p.Type,
			Summary:       p.Summary,
			Description:   p.Description,
			Platforms:     slices.Clone(p.Platforms),
			Options:       optionsJSON(p.Options),
			MetaArguments: metaJSON(p.Kind),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func metaJSON(kind sdk.ComponentKind) []optionJSON {
	metas := metaOptions(kind)
	out := optionsJSON(metas)
	for i := range out {
		out[i].Type = metaTypeName(metas[i])
	}
	return out
}

func optionsJSON(opts []sdk.Option) []optionJSON {
	out := make([]optionJSON, 0, len(opts))
	for _, o := range opts {
		oj := optionJSON{
			Name:     o.Name,
			Type:     o.Type.String(),
			Doc:      oneLine(o.Doc),
			Required: o.Required,
			Enum:     o.Enum,
			Format:   string(o.Format),
			Bound:    string(o.Bound),
		}
		switch d := o.Default.(type) {
		case nil:
		case time.Duration:
			oj.Default = config.FormatDuration(d) // as written in HCL
		default:
			oj.Default = d // sizes in bytes
		}
		if len(o.Options) > 0 {
			oj.Options = optionsJSON(o.Options)
		}
		out = append(out, oj)
	}
	return out
}
