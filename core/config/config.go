// Package config loads pipeline files written in HCL and turns them into a
// decoded, checked Pipeline: every component's block is decoded against its
// plugin's schema, references between components are resolved into a graph,
// and every problem is reported as an hcl.Diagnostic with file, line and
// column. The language is described in README.md next to this file.
package config

import (
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/engine-audit/engine/sdk"
)

// LoadOptions are the inputs to a load that do not come from the files.
type LoadOptions struct {
	// Vars are variable values given on the command line (--var name=value).
	// They take precedence over ENGINE_VAR_<name> and over defaults.
	Vars map[string]string
	// Environ is the environment seen by ENGINE_VAR_<name> and env(), as
	// "KEY=value" strings. nil means os.Environ().
	Environ []string
	// GOOS is the platform plugin.Platforms is checked against. "" means
	// runtime.GOOS.
	GOOS string
}

// Pipeline is a loaded pipeline.
//
// Load and LoadSource always return a non-nil Pipeline whose Files hold every
// file that could be read, so that diagnostics can be rendered with source
// snippets. When the diagnostics contain errors, the rest of the Pipeline is
// incomplete and must not be run.
type Pipeline struct {
	Settings Settings
	// Components are in declaration order (files in load order, blocks in
	// file order).
	Components []*Component
	// Files maps each file name to its parsed file, for WriteText and
	// WriteJSON.
	Files map[string]*hcl.File
}

// Settings are the engine-wide settings of the optional top-level
// `engine { ... }` block.
type Settings struct {
	StateDir        string        // state_dir
	HTTPAddress     string        // http_address for /metrics and /healthz; "" = off
	ShutdownTimeout time.Duration // shutdown_timeout, default 30s
	LogLevel        string        // log_level: debug, info, warn or error; default info
	// Set records which settings the pipeline wrote explicitly, by HCL name
	// ("state_dir"), so that command-line flags can tell a default from a
	// choice.
	Set map[string]bool
}

// Defaults of the engine block.
const (
	DefaultShutdownTimeout = 30 * time.Second
	DefaultLogLevel        = "info"
	DefaultQueueSize       = 4
	// DefaultOutputBatchMaxEvents bounds the batches the core merges from
	// an output's buffer into one write.
	DefaultOutputBatchMaxEvents = 2048
)

// LogLevels are the accepted values of engine.log_level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Component is one input, processor or output block.
type Component struct {
	Kind sdk.ComponentKind
	Type string // first label, "logfile"
	Name string // second label, "auditd"
	ID   string // "input.logfile.auditd"
	// Plugin is the registered plugin for Kind and Type (nil only when the
	// load failed).
	Plugin *sdk.Plugin
	// Config is the block decoded against Plugin.Options, defaults applied.
	Config *sdk.Config
	// Inputs are the IDs of the components whose events this one consumes,
	// in the order written (processors and outputs only).
	Inputs []string
	// Batch bounds the batches an input emits (inputs) or an output writes
	// at once (outputs: MaxEvents only).
	Batch sdk.BatchPolicy
	// QueueSize is the capacity, in batches, of the queue in front of a
	// processor or output.
	QueueSize int
	// Buffer and DeadLetter are an output's buffer and dead_letter blocks,
	// decoded against buffer.Options and deadletter.Options; nil when not
	// written.
	Buffer, DeadLetter *sdk.Config
	// DeclRange is the block header (`input "logfile" "auditd"`).
	DeclRange hcl.Range
}

// Counts returns the number of inputs, processors and outputs.
func (p *Pipeline) Counts() (inputs, processors, outputs int) {
	for _, c := range p.Components {
		switch c.Kind {
		case sdk.KindInput:
			inputs++
		case sdk.KindProcessor:
			processors++
		case sdk.KindOutput:
			outputs++
		}
	}
	return inputs, processors, outputs
}

// Component returns the component with the given ID, or nil.
func (p *Pipeline) Component(id string) *Component {
	for _, c := range p.Components {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Load reads pipeline files and directories (every *.hcl file directly in a
// directory, in name order) and loads them as one pipeline.
func Load(paths []string, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	srcs, diags := readPaths(paths)
	p, more := load(srcs, opts)
	return p, sortDiagnostics(append(diags, more...), srcs)
}

// LoadSource loads a pipeline from files held in memory, keyed by file name.
// Files are taken in name order. file() reads relative to the directory part
// of the calling file's name, on the real filesystem.
func LoadSource(files map[string][]byte, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	srcs := make([]source, 0, len(names))
	for _, name := range names {
		srcs = append(srcs, source{name: name, data: files[name]})
	}
	p, diags := load(srcs, opts)
	return p, sortDiagnostics(diags, srcs)
}

// source is one pipeline file's name and content.
type source struct {
	name string
	data []byte
}

func (o LoadOptions) environ() []string {
	if o.Environ == nil {
		return os.Environ()
	}
	return o.Environ
}

func (o LoadOptions) goos() string {
	if o.GOOS == "" {
		return runtime.GOOS
	}
	return o.GOOS
}

// sortDiagnostics orders diagnostics by file (in load order) and position;
// diagnostics without a place come last, in the order they were found.
func sortDiagnostics(diags hcl.Diagnostics, srcs []source) hcl.Diagnostics {
	order := make(map[string]int, len(srcs))
	for i, s := range srcs {
		order[s.name] = i
	}
	rank := func(d *hcl.Diagnostic) (bool, int, int) {
		if d.Subject == nil {
			return false, 0, 0
		}
		fi, ok := order[d.Subject.Filename]
		if !ok {
			fi = len(srcs)
		}
		return true, fi, d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		hi, fi, bi := rank(diags[i])
		hj, fj, bj := rank(diags[j])
		if hi != hj {
			return hi
		}
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
	return diags
}
