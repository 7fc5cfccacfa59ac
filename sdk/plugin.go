package sdk

import (
	"fmt"
	"sort"
	"sync"
)

// ComponentKind is the role of a component in a pipeline.
type ComponentKind string

// The three component kinds; they are also the HCL block types.
const (
	KindInput     ComponentKind = "input"
	KindProcessor ComponentKind = "processor"
	KindOutput    ComponentKind = "output"
)

// Plugin describes one component type: its documentation, its config schema
// and its constructor.
type Plugin struct {
	Kind ComponentKind
	// Type is the block's first label, such as "logfile" in
	// input "logfile" "auditd" {}.
	Type string
	// Summary is one line shown by `engine plugins`.
	Summary string
	// Description is longer documentation, in Markdown.
	Description string
	// Options is the config schema of the block.
	Options []Option
	// Platforms, if set, lists the GOOS values the plugin runs on;
	// validation fails on others.
	Platforms []string
	// Validate, if set, checks a decoded config beyond what the schema says
	// (option combinations, say). It must not touch the system: it runs in
	// `engine validate`. Return OptionError to point at one option.
	Validate func(cfg *Config) error
	// New builds the component: an Input, Processor or Output according to
	// Kind. Errors that concern one option should be OptionError.
	New func(cfg *Config, env Env) (any, error)
	// CheckConnection, if set, reaches the component's destination or
	// source once for `engine validate --check-connections`.
	CheckConnection ConnectionChecker
}

// ID returns "kind.type", such as "input.logfile".
func (p *Plugin) ID() string { return string(p.Kind) + "." + p.Type }

var registry = struct {
	sync.RWMutex
	plugins map[string]*Plugin
}{plugins: map[string]*Plugin{}}

// Register makes a plugin available to pipelines. Built-in plugins call it
// from init. Registering the same kind and type twice panics.
func Register(p Plugin) {
	if p.Type == "" || p.New == nil {
		panic("sdk: Register needs a Type and a New function")
	}
	switch p.Kind {
	case KindInput, KindProcessor, KindOutput:
	default:
		panic(fmt.Sprintf("sdk: plugin %q has unknown kind %q", p.Type, p.Kind))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.plugins[p.ID()]; dup {
		panic("sdk: plugin registered twice: " + p.ID())
	}
	registry.plugins[p.ID()] = &p
}

// Lookup returns the plugin registered for kind and type, or nil.
func Lookup(kind ComponentKind, typ string) *Plugin {
	registry.RLock()
	defer registry.RUnlock()
	return registry.plugins[string(kind)+"."+typ]
}

// Plugins returns every registered plugin, sorted by kind and type.
func Plugins() []*Plugin {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]*Plugin, 0, len(registry.plugins))
	for _, p := range registry.plugins {
		out = append(out, p)
	}
	kindOrder := map[ComponentKind]int{KindInput: 0, KindProcessor: 1, KindOutput: 2}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder[out[i].Kind] < kindOrder[out[j].Kind]
		}
		return out[i].Type < out[j].Type
	})
	return out
}
