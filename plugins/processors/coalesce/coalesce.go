// Package coalesce implements the "coalesce" processor: it reassembles Linux
// audit records into events and writes one ECS document per event, in the
// shape of Auditbeat's auditd module.
package coalesce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
				Bound:   sdk.Positive,
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
			p := New(Options{
				Timeout:         cfg.Duration("timeout"),
				MaxInFlight:     int(cfg.Int("max_in_flight")),
				IncludeOriginal: cfg.Bool("include_original"),
				State:           env.State,
				Logger:          env.Logger,
			})
			if err := p.restore(); err != nil {
				return nil, err
			}
			return p, nil
		},
	})
}

func validate(cfg *sdk.Config) error {
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
	// State, if set, keeps the records of incomplete events across a
	// restart (see Drain); without it they are emitted as they are.
	State  sdk.StateStore
	Logger *slog.Logger
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

	restored []restoredSet // records saved by an earlier run, fed on the first Process
}

// restoredSet is one saved set of incomplete events: its records, and the
// state key to delete once the events built from them are delivered.
type restoredSet struct {
	key   string
	lines []string
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := newBuilder()
	b.includeOrig = o.IncludeOriginal
	return &Processor{opts: o, b: b}
}

// pendingKeyPrefix names the state keys that hold saved incomplete events.
const pendingKeyPrefix = "pending/"

// restore loads the incomplete events saved by the last stop; they rejoin
// reassembly on the first Process, so that records arriving after the
// restart complete them.
func (p *Processor) restore() error {
	if p.opts.State == nil {
		return nil
	}
	keys, err := p.opts.State.Keys()
	if err != nil {
		return fmt.Errorf("coalesce: read saved incomplete events: %w", err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, pendingKeyPrefix) {
			continue
		}
		data, err := p.opts.State.Get(k)
		if err != nil {
			return fmt.Errorf("coalesce: read saved incomplete events: %w", err)
		}
		b, err := sdk.DecodeBatch(data)
		if err != nil {
			// A damaged entry cannot be completed; keep the rest going.
			p.opts.Logger.Error("dropping unreadable saved incomplete events", "key", k, "error", err)
			_ = p.opts.State.Delete(k)
			continue
		}
		set := restoredSet{key: k}
		for i := range b.Events {
			set.lines = append(set.lines, b.Events[i].Fields.GetString(sdk.FieldMessage))
		}
		p.restored = append(p.restored, set)
	}
	return nil
}

// feedRestored puts the saved records back into reassembly. Each set holds
// its state key until every event built from it has been delivered.
func (p *Processor) feedRestored(now time.Time, ob *sdk.Batch) {
	sets := p.restored
	p.restored = nil
	for _, set := range sets {
		st, key := p.opts.State, set.key
		hb := sdk.NewBatch(0)
		hb.OnDone(func() { _ = st.Delete(key) })
		hd := &hold{batch: hb}
		p.gen++
		for _, line := range set.lines {
			h, err := parseHeader(line)
			if err != nil {
				continue // it parsed when it was saved
			}
			p.add(h, now, ob)
		}
		for _, pe := range p.touched {
			if pe.live && pe.gen == p.gen {
				pe.holds = append(pe.holds, hd)
				hd.refs++
			}
		}
		clear(p.touched)
		p.touched = p.touched[:0]
		if hd.refs == 0 {
			// Every saved event completed or expired at once; the batch
			// they were emitted in carries the key's receipt.
			ob.Attach(hb)
			hb.Done()
		}
		p.opts.Logger.Info("resumed incomplete events saved at the last stop", "records", len(set.lines))
	}
}

var errNoMessage = errors.New("event has no message field to read an audit record from")

// Process implements sdk.Processor.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	now := time.Now()
	ob := sdk.NewBatch(len(in.Events)/4 + 8)
	if p.restored != nil {
		p.feedRestored(now, ob)
	}
	p.gen++
	for i := range in.Events {
		ev := &in.Events[i]
		msg, hasMsg, passThrough := inspect(ev)
		if passThrough {
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

// inspect finds the message, and whether the event is not a record to
// coalesce: it already failed upstream (error.message), or it is a finished
// event of its own (event.kind set — an input's loss report or alert).
func inspect(ev *sdk.Event) (msg string, hasMsg, passThrough bool) {
	for _, f := range ev.Fields.All() {
		switch f.Key {
		case sdk.FieldMessage:
			if f.Value.Kind() == sdk.KindString {
				msg, hasMsg = f.Value.Str(), true
			}
		case sdk.FieldErrorMessage, sdk.FieldEventKind:
			passThrough = true
		}
	}
	return msg, hasMsg, passThrough
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
	pe := p.find(&h, ob)
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

// find returns the pending event a record belongs to. Records of one event
// share node, sequence and timestamp; a pending event with the same sequence
// but another timestamp is a different event (sequence numbers restart at
// boot), which can no longer be completed: it is emitted as it is.
func (p *Processor) find(h *header, ob *sdk.Batch) *pending {
	for i := len(p.pending) - 1; i >= 0; i-- {
		if pe := p.pending[i]; pe.seq == h.seq && pe.node == h.node {
			if first := &pe.hs[0]; first.sec != h.sec || first.msec != h.msec {
				p.emit(pe, ob)
				return nil
			}
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
	}
	for i := len(p.pending) - 1; i >= 0; i-- {
		if p.pending[i] == pe {
			copy(p.pending[i:], p.pending[i+1:])
			p.pending[len(p.pending)-1] = nil
			p.pending = p.pending[:len(p.pending)-1]
			break
		}
	}
	p.recycle(pe)
}

// recycle releases pe's holds on the input batches its records came from
// (emit has attached them to the batch carrying the event; save has made
// the records durable) and keeps pe for reuse. The caller takes pe out of
// p.pending.
func (p *Processor) recycle(pe *pending) {
	for _, hd := range pe.holds {
		if hd.refs--; hd.refs == 0 {
			hd.batch.Done()
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

// Drain implements sdk.Drainer. When the inputs have finished (final), or
// there is no state store, it emits every incomplete event as it is.
// Otherwise the pipeline stops only for now (shutdown, reload): it saves the
// records of the incomplete events and releases their receipts, so that the
// input's checkpoint moves past them and their remaining records, read after
// the restart, complete them instead of forming a second, partial event.
func (p *Processor) Drain(ctx context.Context, out sdk.Emitter, final bool) error {
	ob := sdk.NewBatch(len(p.pending))
	if p.restored != nil {
		p.feedRestored(time.Now(), ob)
	}
	if len(p.pending) > 0 && !final && p.opts.State != nil {
		if err := p.save(); err != nil {
			p.opts.Logger.Error("cannot save incomplete events; emitting them as they are", "error", err)
		} else {
			if len(ob.Events) == 0 {
				ob.Done()
				return nil
			}
			return out.Emit(ctx, ob)
		}
	}
	for len(p.pending) > 0 {
		p.emit(p.pending[0], ob)
	}
	if len(ob.Events) == 0 {
		ob.Done()
		return nil
	}
	return out.Emit(ctx, ob)
}

// save writes the records of every incomplete event to the state store and
// then forgets the events, releasing the receipts they held.
func (p *Processor) save() error {
	sb := sdk.NewBatch(0)
	for _, pe := range p.pending {
		for i := range pe.hs {
			var e sdk.Event
			e.Fields.Set(sdk.FieldMessage, sdk.String(pe.hs[i].line))
			sb.Events = append(sb.Events, e)
		}
	}
	key := pendingKeyPrefix + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := p.opts.State.Put(key, sb.AppendBinary(nil)); err != nil {
		return err
	}
	n := len(p.pending)
	for _, pe := range p.pending {
		p.recycle(pe)
	}
	clear(p.pending)
	p.pending = p.pending[:0]
	p.opts.Logger.Info("saved incomplete events to complete them after the restart", "events", n, "records", sb.Len())
	return nil
}

// Pending returns the number of incomplete events held.
func (p *Processor) Pending() int { return len(p.pending) }
