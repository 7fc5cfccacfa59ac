// Package fileactor is the "file_actor" processor: it tells who changed a
// file. File integrity events (from the fim input) say what changed; audit
// events (from the audit input, coalesced) say which process and user
// touched which path. When an audit event names the path of a file
// integrity event within a short window, either before or after it, the
// file integrity event gets that audit event's process.* and user.* fields.
package fileactor

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "file_actor",
		Summary: "Add the process and user that changed a file to file integrity events, from audit events on the same path",
		Description: "Give it both streams: the coalesced audit events and the fim input's events. A file integrity " +
			"event waits up to `window` for an audit event naming its path (file.path, or any auditd.paths name, " +
			"relative names resolved against process.working_directory); audit events are remembered for `window` " +
			"in case the file integrity event comes first. A match copies process.* and user.* from the audit event " +
			"and sets file_integrity.actor.matched, file_integrity.actor.audit_sequence and " +
			"file_integrity.actor.audit_action. Unmatched events pass unchanged after the window. Audit events " +
			"always pass unchanged and at once.",
		Options: []sdk.Option{
			{Name: "window", Type: sdk.TypeDuration, Default: 2 * time.Second, Bound: sdk.Positive,
				Doc: "How far apart in arrival an audit event and a file integrity event on the same path may be and still match. A file integrity event is held at most this long."},
			{Name: "max_pending", Type: sdk.TypeInt, Default: int64(10000), Bound: sdk.Positive,
				Doc: "File integrity events held at once waiting for their audit event; beyond it the oldest go on unmatched."},
			{Name: "max_paths", Type: sdk.TypeInt, Default: int64(100000), Bound: sdk.Positive,
				Doc: "Paths of recent audit events remembered at once; beyond it the oldest are forgotten."},
		},
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return New(Options{
				Window:     cfg.Duration("window"),
				MaxPending: int(cfg.Int("max_pending")),
				MaxPaths:   int(cfg.Int("max_paths")),
			}), nil
		},
	})
}

// Options configure a Processor.
type Options struct {
	Window     time.Duration
	MaxPending int
	MaxPaths   int
	// Now returns the time; time.Now when nil.
	Now func() time.Time
}

// actor is what an audit event says about who touched a path.
type actor struct {
	at       time.Time
	fields   []sdk.Field // process.* and user.*
	sequence sdk.Value
	action   string
}

type seen struct {
	path string
	at   time.Time
}

// holder keeps the receipts of an input batch while some of its events
// wait; it is released when the last of them goes on.
type holder struct {
	b    *sdk.Batch
	left int
}

type pending struct {
	ev       sdk.Event
	path     string
	oldPath  string
	deadline time.Time
	hold     *holder
}

// Processor matches file integrity events with audit events.
type Processor struct {
	opt     Options
	recent  map[string]*actor
	order   []seen // recent paths in arrival order, for expiry
	pending []*pending
}

// New returns a Processor.
func New(o Options) *Processor {
	if o.Window <= 0 {
		o.Window = 2 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 10000
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Processor{opt: o, recent: map[string]*actor{}}
}

func module(ev *sdk.Event) string { return ev.Fields.GetString("event.module") }

// Process remembers the paths of audit events, annotates the file integrity
// events it can, and holds the others.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	now := p.opt.Now()
	p.expire(now)
	// Audit events first, so that a file integrity event matches an audit
	// event later in the same batch.
	for i := range in.Events {
		if module(&in.Events[i]) == "auditd" {
			p.remember(&in.Events[i], now)
		}
	}
	var h *holder
	kept := in.Events[:0]
	for i := range in.Events {
		ev := in.Events[i]
		if module(&ev) != "file_integrity" {
			kept = append(kept, ev)
			continue
		}
		path := ev.Fields.GetString("file.path")
		oldPath := ev.Fields.GetString("file.old_path")
		if p.annotate(&ev, path, oldPath) || path == "" {
			kept = append(kept, ev)
			continue
		}
		if h == nil {
			h = &holder{b: sdk.NewBatch(0)}
			h.b.Attach(in)
		}
		h.left++
		p.pending = append(p.pending, &pending{ev: ev, path: path, oldPath: oldPath, deadline: now.Add(p.opt.Window), hold: h})
	}
	clear(in.Events[len(kept):])
	in.Events = kept
	// Events held earlier may match the audit events of this batch.
	released := p.release(func(pe *pending) bool { return p.annotate(&pe.ev, pe.path, pe.oldPath) })
	for len(p.pending) > p.opt.MaxPending {
		released = append(released, p.pending[0])
		p.pending = p.pending[1:]
	}
	if len(released) > 0 {
		for _, pe := range released {
			in.Events = append(in.Events, pe.ev)
		}
		attachReleased(in, released)
	}
	return out.Emit(ctx, in)
}

// attachReleased makes b carry the receipts of released events, and lets
// go of their holders once empty.
func attachReleased(b *sdk.Batch, released []*pending) {
	for _, pe := range released {
		b.Attach(pe.hold.b)
	}
	for _, pe := range released {
		pe.hold.left--
		if pe.hold.left == 0 {
			pe.hold.b.Done()
		}
	}
}

// release removes and returns the pending events for which ok is true.
func (p *Processor) release(ok func(*pending) bool) []*pending {
	var out []*pending
	kept := p.pending[:0]
	for _, pe := range p.pending {
		if ok(pe) {
			out = append(out, pe)
		} else {
			kept = append(kept, pe)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
	return out
}

// remember records who touched the paths an audit event names.
func (p *Processor) remember(ev *sdk.Event, now time.Time) {
	cwd := ev.Fields.GetString("process.working_directory")
	var paths []string
	if fp := ev.Fields.GetString("file.path"); fp != "" {
		paths = append(paths, fp)
	}
	if v, ok := ev.Fields.Get("auditd.paths"); ok {
		for _, o := range v.ObjectList() {
			if o.GetString("nametype") == "PARENT" {
				continue
			}
			if name := o.GetString("name"); name != "" && name != "(null)" {
				paths = append(paths, name)
			}
		}
	}
	if len(paths) == 0 {
		return
	}
	a := &actor{at: now, action: ev.Fields.GetString("event.action")}
	a.sequence, _ = ev.Fields.Get("auditd.sequence")
	for _, f := range ev.Fields.All() {
		if strings.HasPrefix(f.Key, "process.") || strings.HasPrefix(f.Key, "user.") {
			a.fields = append(a.fields, f)
		}
	}
	for _, path := range paths {
		if !filepath.IsAbs(path) {
			if cwd == "" {
				continue
			}
			path = filepath.Join(cwd, path)
		}
		path = filepath.Clean(path)
		p.recent[path] = a
		p.order = append(p.order, seen{path: path, at: now})
	}
	for len(p.order) > p.opt.MaxPaths {
		p.forget(p.order[0])
		p.order = p.order[1:]
	}
}

func (p *Processor) forget(s seen) {
	if a, ok := p.recent[s.path]; ok && !a.at.After(s.at) {
		delete(p.recent, s.path)
	}
}

// expire forgets audit paths older than the window.
func (p *Processor) expire(now time.Time) {
	cut := now.Add(-p.opt.Window)
	i := 0
	for i < len(p.order) && p.order[i].at.Before(cut) {
		p.forget(p.order[i])
		i++
	}
	if i > 0 {
		n := copy(p.order, p.order[i:])
		p.order = p.order[:n]
	}
}

// annotate copies the actor of path (or, for a move, of its old path) into
// ev, and reports whether there was one.
func (p *Processor) annotate(ev *sdk.Event, path, oldPath string) bool {
	a := p.recent[filepath.Clean(path)]
	if a == nil && oldPath != "" {
		a = p.recent[filepath.Clean(oldPath)]
	}
	if a == nil {
		return false
	}
	for _, f := range a.fields {
		ev.Fields.Set(f.Key, f.Value)
	}
	ev.Fields.Set("file_integrity.actor.matched", sdk.Bool(true))
	if !a.sequence.IsNull() {
		ev.Fields.Set("file_integrity.actor.audit_sequence", a.sequence)
	}
	if a.action != "" {
		ev.Fields.Set("file_integrity.actor.audit_action", sdk.String(a.action))
	}
	return true
}

// TickInterval is how often held events are checked for their deadline.
func (p *Processor) TickInterval() time.Duration {
	return max(p.opt.Window/4, 50*time.Millisecond)
}

// Tick sends on the file integrity events whose window has passed.
func (p *Processor) Tick(ctx context.Context, now time.Time, out sdk.Emitter) error {
	p.expire(p.opt.Now())
	due := p.release(func(pe *pending) bool { return !p.opt.Now().Before(pe.deadline) })
	return p.emit(ctx, due, out)
}

// Drain sends on every held event.
func (p *Processor) Drain(ctx context.Context, out sdk.Emitter, final bool) error {
	all := p.pending
	p.pending = nil
	return p.emit(ctx, all, out)
}

func (p *Processor) emit(ctx context.Context, evs []*pending, out sdk.Emitter) error {
	if len(evs) == 0 {
		return nil
	}
	b := sdk.NewBatch(len(evs))
	for _, pe := range evs {
		b.Events = append(b.Events, pe.ev)
	}
	attachReleased(b, evs)
	return out.Emit(ctx, b)
}
