// Package coalesce implements the "coalesce" processor: it reassembles Linux
// audit records into events and writes one ECS document per event, in the
// shape of Auditbeat's auditd module.
package coalesce

import (
	"context"
	"errors"
	"time"

	"github.com/engine-audit/engine/sdk"
)

const (
	defaultTimeout     = 2 * time.Second
	defaultMaxInFlight = 50
)

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "coalesce",
		Summary: "Reassembles audit records into events and writes one ECS document per event",
		Description: "Each incoming event carries one audit record in `message` (audit.log format, " +
			"optionally with a `node=` prefix and an ENRICHED part). Records of one event (same node " +
			"and sequence number) are joined, decoded, named and normalized like go-libaudit's " +
			"aucoalesce, and written in the document shape of Auditbeat's auditd module.",
		Options: []sdk.Option{
			{
				Name:    "timeout",
				Type:    sdk.TypeDuration,
				Default: defaultTimeout,
				Doc: "How long to wait, from an event's first record, for the record that completes " +
					"it (EOE or PROCTITLE) before emitting the event as it is.",
			},
			{
				Name:    "max_in_flight",
				Type:    sdk.TypeInt,
				Default: int64(defaultMaxInFlight),
				Doc: "How many incomplete events to hold at most; beyond that the oldest is emitted " +
					"as it is.",
			},
			{
				Name:    "include_original",
				Type:    sdk.TypeBool,
				Default: false,
				Doc:     "Also write the raw records of each event to event.original.",
			},
		},
		Validate: validate,
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			if err := validate(cfg); err != nil {
				return nil, err
			}
			return New(Options{
				Timeout:         cfg.Duration("timeout"),
				MaxInFlight:     int(cfg.Int("max_in_flight")),
				IncludeOriginal: cfg.Bool("include_original"),
			}), nil
		},
	})
}

func validate(cfg *sdk.Config) error {
	if d := cfg.Duration("timeout"); d <= 0 {
		return sdk.OptionErrorf("timeout", "must be positive, got %v", d)
	}
	if n := cfg.Int("max_in_flight"); n < 1 || n > 1<<20 {
		return sdk.OptionErrorf("max_in_flight", "must be between 1 and 1048576, got %d", n)
	}
	return nil
}

// Options configure a Processor.
type Options struct {
	Timeout         time.Duration
	MaxInFlight     int
	IncludeOriginal bool
}

// Processor is the coalesce processor. It implements sdk.Processor,
// sdk.Ticker and sdk.Drainer; like every processor it is used from one
// goroutine at a time.
type Processor struct {
	opts    Options
	b       *builder
	pending []*pending // incomplete events, oldest first
	free    []*pending
	gen     uint64     // counts input batches
	touched []*pending // events that got records from the current batch
}

// pending is an event whose records are still arriving.
type pending struct {
	node    string
	seq     uint32
	hs      []header
	first   time.Time // when its first record arrived
	holds   []*hold
	gen     uint64 // the batch that last added a record
	live    bool
	lastHld *hold
}

// hold keeps the receipts of an input batch while events built from its
// records are still pending. It is released when the last of them is
// emitted; the emitting batch then carries the receipts.
type hold struct {
	batch *sdk.Batch
	refs  int
}

// New returns a Processor.
func New(o Options) *Processor {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	b := newBuilder()
	b.includeOrig = o.IncludeOriginal
	return &Processor{opts: o, b: b}
}

var errNoMessage = errors.New("event has no message field to read an audit record from")

// Process implements sdk.Processor.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	p.gen++
	now := time.Now()
	ob := sdk.NewBatch(len(in.Events)/4 + 8)
	for i := range in.Events {
		ev := &in.Events[i]
		msg, hasMsg, hasErr := inspect(ev)
		if hasErr {
			ob.Events = append(ob.Events, *ev)
			continue
		}
		if !hasMsg {
			ob.Events = append(ob.Events, errorEvent(ev, "", errNoMessage))
			continue
		}
		h, err := parseHeader(msg)
		if err != nil {
			ob.Events = append(ob.Events, errorEvent(ev, msg, err))
			continue
		}
		p.add(h, now, ob)
	}
	// Events that took records from this batch and are still incomplete
	// hold on to its receipts.
	var hd *hold
	for _, pe := range p.touched {
		if !pe.live || pe.gen != p.gen || pe.lastHld == hd && hd != nil {
			continue
		}
		if hd == nil {
			hd = &hold{batch: sdk.NewBatch(0)}
			hd.batch.Attach(in)
		}
		pe.holds = append(pe.holds, hd)
		pe.lastHld = hd
		hd.refs++
	}
	clear(p.touched)
	p.touched = p.touched[:0]
	p.expire(now, ob)
	if len(ob.Events) == 0 {
		ob.Done()
		in.Done()
		return nil
	}
	ob.Attach(in)
	in.Done()
	return out.Emit(ctx, ob)
}

// inspect finds the message and whether the event already failed upstream.
func inspect(ev *sdk.Event) (msg string, hasMsg, hasErr bool) {
	for _, f := range ev.Fields.All() {
		switch f.Key {
		case sdk.FieldMessage:
			if f.Value.Kind() == sdk.KindString {
				msg, hasMsg = f.Value.Str(), true
			}
		case sdk.FieldErrorMessage:
			hasErr = true
		}
	}
	return msg, hasMsg, hasErr
}

// errorEvent turns an event whose record cannot be read into a pipeline
// error that keeps the raw text.
func errorEvent(ev *sdk.Event, raw string, err error) sdk.Event {
	out := ev.Clone()
	out.Fields.Delete(sdk.FieldMessage)
	out.Fields.Set(sdk.FieldErrorMessage, sdk.String(err.Error()))
	out.Fields.Set(sdk.FieldEventKind, sdk.String("pipeline_error"))
	if raw != "" {
		out.Fields.Set("event.original", sdk.String(raw))
	}
	return out
}

// add routes one record to its event.
func (p *Processor) add(h header, now time.Time, ob *sdk.Batch) {
	pe := p.find(h.node, h.seq)
	if h.typ == typeEOE {
		// The end of an event already emitted (completed by PROCTITLE, or
		// timed out) is dropped rather than becoming an event of its own.
		if pe != nil {
			p.emit(pe, ob)
		}
		return
	}
	if pe == nil {
		pe = p.newPending(h.node, h.seq, now)
	}
	pe.hs = append(pe.hs, h)
	if pe.gen != p.gen {
		pe.gen = p.gen
		p.touched = append(p.touched, pe)
	}
	if h.typ == typeProctitle || h.typ <= lastStandaloneLow || h.typ >= firstStandaloneHigh {
		p.emit(pe, ob)
		return
	}
	for len(p.pending) > p.opts.MaxInFlight {
		p.emit(p.pending[0], ob)
	}
}

func (p *Processor) find(node string, seq uint32) *pending {
	for i := len(p.pending) - 1; i >= 0; i-- {
		if pe := p.pending[i]; pe.seq == seq && pe.node == node {
			return pe
		}
	}
	return nil
}

func (p *Processor) newPending(node string, seq uint32, now time.Time) *pending {
	var pe *pending
	if n := len(p.free); n > 0 {
		pe = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		pe = &pending{}
	}
	pe.node, pe.seq, pe.first, pe.live, pe.gen, pe.lastHld = node, seq, now, true, 0, nil
	p.pending = append(p.pending, pe)
	return pe
}

// emit builds the event of pe into ob and forgets pe.
func (p *Processor) emit(pe *pending, ob *sdk.Batch) {
	ob.Events = append(ob.Events, p.b.build(pe.hs))
	for _, hd := range pe.holds {
		ob.Attach(hd.batch)
		if hd.refs--; hd.refs == 0 {
			hd.batch.Done()
		}
	}
	for i := len(p.pending) - 1; i >= 0; i-- {
		if p.pending[i] == pe {
			copy(p.pending[i:], p.pending[i+1:])
			p.pending[len(p.pending)-1] = nil
			p.pending = p.pending[:len(p.pending)-1]
			break
		}
	}
	clear(pe.hs)
	pe.hs = pe.hs[:0]
	clear(pe.holds)
	pe.holds = pe.holds[:0]
	pe.live, pe.lastHld = false, nil
	p.free = append(p.free, pe)
}

// expire emits the events that waited longer than the timeout.
func (p *Processor) expire(now time.Time, ob *sdk.Batch) {
	for i := 0; i < len(p.pending); {
		if now.Sub(p.pending[i].first) >= p.opts.Timeout {
			p.emit(p.pending[i], ob)
			continue
		}
		i++
	}
}

// TickInterval implements sdk.Ticker.
func (p *Processor) TickInterval() time.Duration {
	return min(max(p.opts.Timeout/4, 10*time.Millisecond), time.Second)
}

// Tick implements sdk.Ticker: it emits the events that timed out.
func (p *Processor) Tick(ctx context.Context, now time.Time, out sdk.Emitter) error {
	if len(p.pending) == 0 {
		return nil
	}
	ob := sdk.NewBatch(len(p.pending))
	p.expire(now, ob)
	if len(ob.Events) == 0 {
		ob.Done()
		return nil
	}
	return out.Emit(ctx, ob)
}

// Drain implements sdk.Drainer: it emits every incomplete event.
func (p *Processor) Drain(ctx context.Context, out sdk.Emitter) error {
	if len(p.pending) == 0 {
		return nil
	}
	ob := sdk.NewBatch(len(p.pending))
	for len(p.pending) > 0 {
		p.emit(p.pending[0], ob)
	}
	return out.Emit(ctx, ob)
}

// Pending returns the number of incomplete events held.
func (p *Processor) Pending() int { return len(p.pending) }
