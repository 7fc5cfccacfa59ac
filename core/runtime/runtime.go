// Package runtime runs a pipeline: it builds each component from its plugin,
// wires them into a DAG of bounded queues, moves batches through it with
// backpressure, retries output writes, carries acknowledgements back to the
// inputs and drains everything in flight on shutdown.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/core/deadletter"
	"github.com/engine-audit/engine/sdk"
)

// ComponentSpec is one component as the configuration describes it.
type ComponentSpec struct {
	ID        string // "processor.coalesce.events"
	Kind      sdk.ComponentKind
	Type      string
	Plugin    *sdk.Plugin
	Config    *sdk.Config
	Inputs    []string        // IDs of upstream components (processors, outputs)
	Batch     sdk.BatchPolicy // inputs; outputs: MaxEvents bounds merged writes
	QueueSize int             // processors, outputs: capacity of the input queue in batches
	// Buffer is an output's buffer (a memory buffer of QueueSize batches
	// when its Type is empty).
	Buffer buffer.Config
	// DeadLetter, if set, receives the events an output's destination
	// refused for good.
	DeadLetter *deadletter.Config
}

// Options are the process-wide services a pipeline uses.
type Options struct {
	Logger *slog.Logger
	// State returns the persistent store of a component.
	State func(componentID string) sdk.StateStore
	// DataDir is the root under which each component gets a private directory.
	DataDir string
	Metrics *Metrics
	// RetryMin and RetryMax bound the backoff between output retries.
	RetryMin, RetryMax time.Duration
	// Once asks inputs to finish when they have read what their source
	// holds now (see sdk.Env.Once).
	Once bool
}

// Pipeline is a built pipeline, ready to Start.
type Pipeline struct {
	opts  Options
	log   *slog.Logger
	nodes []*node
	byID  map[string]*node

	inputCtx    context.Context // cancelled to stop the inputs
	stopInputs  context.CancelFunc
	hardCtx     context.Context // cancelled when the drain deadline passes
	hardCancel  context.CancelFunc
	wg          sync.WaitGroup // node goroutines
	done        chan struct{}  // closed when every node has finished
	failed      chan struct{}  // closed when a component failed for good
	failOnce    sync.Once
	failErr     error
	inputsAlive atomic.Int32
	stopping    atomic.Bool   // Stop was called: processors drain to resume later
	stopCh      chan struct{} // closed when Stop is called
	startOnce   sync.Once
	stopOnce    sync.Once
}

type node struct {
	spec      ComponentSpec
	component any
	log       *slog.Logger
	metrics   *componentMetrics
	queue     chan *sdk.Batch // input queue (processors)
	buf       buffer.Queue    // input buffer (outputs)
	dead      *deadletter.Writer
	consumers []*node
	producers atomic.Int32 // upstream nodes still running
	state     atomic.Value // string: "starting", "running", "retrying", "failed", "stopped"
	lastErr   atomic.Value // string
}

// Build constructs every component and wires the graph. It fails if a
// component cannot be built or the graph is malformed (the config loader has
// already checked it; this is a second line of defence).
func Build(specs []ComponentSpec, opts Options) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Second
	}
	p := &Pipeline{opts: opts, log: opts.Logger, byID: map[string]*node{}, done: make(chan struct{}), failed: make(chan struct{}), stopCh: make(chan struct{})}
	for _, s := range specs {
		if _, dup := p.byID[s.ID]; dup {
			return nil, fmt.Errorf("component %s is defined twice", s.ID)
		}
		n := &node{spec: s, log: opts.Logger.With("component", s.ID)}
		n.metrics = opts.Metrics.component(s.ID, string(s.Kind), s.Type)
		n.state.Store("starting")
		n.lastErr.Store("")
		if s.Kind != sdk.KindInput {
			size := s.QueueSize
			if size <= 0 {
				size = 4
			}
			if s.Kind == sdk.KindProcessor {
				n.queue = make(chan *sdk.Batch, size)
			}
			opts.Metrics.queueCap.WithLabelValues(n.metrics.labels...).Set(float64(size))
		}
		p.nodes = append(p.nodes, n)
		p.byID[s.ID] = n
	}
	for _, n := range p.nodes {
		if n.spec.Kind == sdk.KindInput && len(n.spec.Inputs) > 0 {
			return nil, fmt.Errorf("input %s cannot have inputs", n.spec.ID)
		}
		if n.spec.Kind != sdk.KindInput && len(n.spec.Inputs) == 0 {
			return nil, fmt.Errorf("%s has no inputs", n.spec.ID)
		}
		for _, in := range n.spec.Inputs {
			up, ok := p.byID[in]
			if !ok {
				return nil, fmt.Errorf("%s reads from unknown component %s", n.spec.ID, in)
			}
			if up.spec.Kind == sdk.KindOutput {
				return nil, fmt.Errorf("%s reads from output %s, which produces nothing", n.spec.ID, in)
			}
			up.consumers = append(up.consumers, n)
			n.producers.Add(1)
		}
	}
	if err := checkAcyclic(p.nodes); err != nil {
		return nil, err
	}
	// Construct components; on failure close what was built.
	for _, n := range p.nodes {
		env := sdk.Env{
			ID:      n.spec.ID,
			Logger:  n.log,
			Batch:   n.spec.Batch,
			DataDir: filepath.Join(opts.DataDir, n.spec.ID),
			Once:    opts.Once,
			Metrics: opts.Metrics.forComponent(n.metrics),
		}
		if env.Batch.MaxEvents <= 0 {
			env.Batch.MaxEvents = sdk.DefaultBatchPolicy.MaxEvents
		}
		if env.Batch.MaxAge <= 0 {
			env.Batch.MaxAge = sdk.DefaultBatchPolicy.MaxAge
		}
		if opts.State != nil {
			env.State = opts.State(n.spec.ID)
		}
		if n.spec.Kind == sdk.KindOutput {
			if err := p.openOutputStores(n, env.DataDir); err != nil {
				p.closeComponents(context.Background())
				return nil, fmt.Errorf("%s: %w", n.spec.ID, err)
			}
		}
		c, err := n.spec.Plugin.New(n.spec.Config, env)
		if err == nil {
			err = checkImplements(n.spec.Kind, c)
		}
		if err != nil {
			p.closeComponents(context.Background())
			return nil, fmt.Errorf("%s: %w", n.spec.ID, err)
		}
		n.component = c
	}
	return p, nil
}

// openOutputStores opens an output's buffer and dead letter.
func (p *Pipeline) openOutputStores(n *node, dataDir string) error {
	cfg := n.spec.Buffer
	if cfg.Type == "" {
		cfg.Type = buffer.TypeMemory
	}
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = max(n.spec.QueueSize, 1)
		if n.spec.QueueSize <= 0 {
			cfg.MaxBatches = 4
		}
	}
	buf, err := buffer.Open(cfg, buffer.Env{
		Component: n.spec.ID,
		Dir:       filepath.Join(dataDir, "buffer"),
		OnDrop:    func(events int) { n.metrics.discard("buffer_full", events) },
	})
	if err != nil {
		return err
	}
	n.buf = buf
	n.metrics.buffered(buf.Stats())
	if n.spec.DeadLetter != nil {
		w, err := deadletter.Open(*n.spec.DeadLetter, n.spec.ID)
		if err != nil {
			return err
		}
		n.dead = w
	}
	return nil
}

func checkImplements(kind sdk.ComponentKind, c any) error {
	ok := false
	switch kind {
	case sdk.KindInput:
		_, ok = c.(sdk.Input)
	case sdk.KindProcessor:
		_, ok = c.(sdk.Processor)
	case sdk.KindOutput:
		_, ok = c.(sdk.Output)
	}
	if !ok {
		return fmt.Errorf("plugin returned %T, which does not implement sdk.%s", c, kind)
	}
	return nil
}

func checkAcyclic(nodes []*node) error {
	const (
		white = iota
		grey
		black
	)
	color := map[*node]int{}
	var visit func(n *node, path []string) error
	visit = func(n *node, path []string) error {
		color[n] = grey
		for _, c := range n.consumers {
			switch color[c] {
			case grey:
				return fmt.Errorf("pipeline has a cycle: %v -> %s", append(path, n.spec.ID), c.spec.ID)
			case white:
				if err := visit(c, append(path, n.spec.ID)); err != nil {
					return err
				}
			}
		}
		color[n] = black
		return nil
	}
	for _, n := range nodes {
		if color[n] == white {
			if err := visit(n, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Start runs every component. It returns at once.
func (p *Pipeline) Start() {
	p.startOnce.Do(func() {
		p.inputCtx, p.stopInputs = context.WithCancel(context.Background())
		p.hardCtx, p.hardCancel = context.WithCancel(context.Background())
		for _, n := range p.nodes {
			n.state.Store("running")
			p.wg.Add(1)
			switch n.spec.Kind {
			case sdk.KindInput:
				p.inputsAlive.Add(1)
				go p.runInput(n)
			case sdk.KindProcessor:
				go p.runProcessor(n)
			case sdk.KindOutput:
				go p.runOutput(n)
			}
		}
		go func() {
			p.wg.Wait()
			close(p.done)
		}()
	})
}

// Done is closed when every component has finished: after Stop, or when all
// inputs ended by themselves and everything they produced was delivered.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

// Failed is closed when a component failed in a way retrying cannot fix (it
// returned an error marked sdk.Permanent): the pipeline cannot do its job.
// Err then says why.
func (p *Pipeline) Failed() <-chan struct{} { return p.failed }

// Err returns the error that closed Failed, or nil.
func (p *Pipeline) Err() error {
	select {
	case <-p.failed:
		return p.failErr
	default:
		return nil
	}
}

func (p *Pipeline) fail(n *node, err error) {
	p.failOnce.Do(func() {
		p.failErr = fmt.Errorf("%s: %w", n.spec.ID, err)
		close(p.failed)
	})
}

// Stop stops the inputs, lets every batch in flight reach the outputs, and
// closes all components. If ctx ends first, writes still in progress are
// abandoned: their input data is not acknowledged, so inputs that can replay
// will read it again after a restart. Stop returns ctx's error in that case.
func (p *Pipeline) Stop(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		p.Start() // a pipeline that never started still closes cleanly
		p.stopping.Store(true)
		close(p.stopCh)
		p.stopInputs()
		select {
		case <-p.done:
		case <-ctx.Done():
			err = fmt.Errorf("drain did not finish in time: %w", ctx.Err())
			p.log.Warn("shutdown deadline passed; abandoning batches still in flight (unacknowledged input data will be read again)")
			p.hardCancel()
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				p.log.Error("components did not stop after the deadline")
			}
		}
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := p.closeComponents(closeCtx); cerr != nil && err == nil {
			err = cerr
		}
		p.hardCancel()
	})
	return err
}

// closeComponents closes outputs first, then processors, then inputs: an
// input's final checkpoint depends on acknowledgements from downstream.
func (p *Pipeline) closeComponents(ctx context.Context) error {
	var errs []error
	for _, kind := range []sdk.ComponentKind{sdk.KindOutput, sdk.KindProcessor, sdk.KindInput} {
		for _, n := range p.nodes {
			if n.spec.Kind != kind {
				continue
			}
			if n.component == nil {
				n.closeStores() // built before a later component failed
				continue
			}
			if c, ok := n.component.(sdk.Closer); ok {
				if err := safeCall(func() error { return c.Close(ctx) }); err != nil {
					n.log.Error("close failed", "error", err)
					errs = append(errs, fmt.Errorf("%s: %w", n.spec.ID, err))
				}
			}
			if err := n.closeStores(); err != nil {
				n.log.Error("closing the buffer failed", "error", err)
				errs = append(errs, fmt.Errorf("%s: %w", n.spec.ID, err))
			}
			n.state.Store("stopped")
		}
	}
	return errors.Join(errs...)
}

// closeStores closes an output's buffer and dead letter, once.
func (n *node) closeStores() error {
	var errs []error
	if n.buf != nil {
		errs = append(errs, n.buf.Close())
		n.buf = nil
	}
	if n.dead != nil {
		errs = append(errs, n.dead.Close())
		n.dead = nil
	}
	return errors.Join(errs...)
}

// Health reports each component's state.
func (p *Pipeline) Health() map[string]ComponentHealth {
	out := make(map[string]ComponentHealth, len(p.nodes))
	for _, n := range p.nodes {
		h := ComponentHealth{State: n.state.Load().(string), LastError: n.lastErr.Load().(string)}
		if n.queue != nil {
			h.QueueBatches = len(n.queue)
			h.QueueCapacity = cap(n.queue)
		}
		if buf := n.buf; buf != nil {
			st := buf.Stats()
			h.QueueBatches = int(st.Batches)
			h.QueueCapacity = n.spec.QueueSize
			h.Buffer = n.spec.Buffer.Type
			h.BufferEvents = st.Events
			h.BufferBytes = st.Bytes
		}
		out[n.spec.ID] = h
	}
	return out
}

// ComponentHealth is one component's state as /healthz shows it.
type ComponentHealth struct {
	State         string `json:"state"`
	LastError     string `json:"last_error,omitempty"`
	QueueBatches  int    `json:"queue_batches,omitempty"`
	QueueCapacity int    `json:"queue_capacity,omitempty"`
	Buffer        string `json:"buffer,omitempty"` // outputs: "memory" or "disk"
	BufferEvents  int64  `json:"buffer_events,omitempty"`
	BufferBytes   int64  `json:"buffer_bytes,omitempty"`
}

// Healthy reports whether every component is running (or retrying a
// transient error, which is not a fault of the pipeline).
func (p *Pipeline) Healthy() bool {
	for _, n := range p.nodes {
		if s := n.state.Load().(string); s == "failed" {
			return false
		}
	}
	return true
}

// emitter fans a node's batches out to its consumers' queues.
type emitter struct {
	p    *Pipeline
	from *node
	ctx  context.Context // emits give up when it ends
}

func (e *emitter) Emit(ctx context.Context, b *sdk.Batch) error {
	n := len(b.Events)
	if n == 0 {
		b.Done()
		return nil
	}
	consumers := e.from.consumers
	if len(consumers) == 0 {
		// Validation warns about unconsumed components; nothing reads this.
		e.from.metrics.discard("no_consumer", n)
		b.Done()
		return nil
	}
	for i, c := range consumers {
		out := b
		if i < len(consumers)-1 {
			out = b.Clone()
		}
		if c.buf != nil {
			if err := c.buf.Push(ctx, e.ctx.Done(), out); err != nil {
				if out != b {
					out.Done()
				}
				return err
			}
			c.metrics.buffered(c.buf.Stats())
			continue
		}
		select {
		case c.queue <- out:
			c.metrics.enqueued(n, len(c.queue))
		case <-ctx.Done():
			if out != b {
				out.Done()
			}
			return ctx.Err()
		case <-e.ctx.Done():
			if out != b {
				out.Done()
			}
			return e.ctx.Err()
		}
	}
	e.from.metrics.sent.Add(float64(n))
	return nil
}

// finish tells n's consumers that n will send nothing more.
func (p *Pipeline) finish(n *node) {
	for _, c := range n.consumers {
		if c.producers.Add(-1) == 0 {
			if c.buf != nil {
				c.buf.CloseInput(!p.stopping.Load())
			} else {
				close(c.queue)
			}
		}
	}
}

func (p *Pipeline) runInput(n *node) {
	defer p.wg.Done()
	defer p.finish(n)
	defer p.inputsAlive.Add(-1)
	in := n.component.(sdk.Input)
	out := &emitter{p: p, from: n, ctx: p.inputCtx}
	backoff := newBackoff(time.Second, time.Minute)
	for {
		err := safeCall(func() error { return in.Run(p.inputCtx, out) })
		if p.inputCtx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				n.log.Warn("input stopped with an error", "error", err)
			}
			return
		}
		if err == nil {
			n.log.Info("input finished: its source is exhausted")
			n.state.Store("finished")
			return
		}
		n.metrics.error("run")
		if sdk.IsPermanent(err) {
			n.lastErr.Store(err.Error())
			n.state.Store("failed")
			n.log.Error("input failed and cannot recover by retrying", "error", err)
			p.fail(n, err)
			return
		}
		n.lastErr.Store(err.Error())
		n.state.Store("retrying")
		wait := backoff.next()
		n.log.Error("input failed; restarting it", "error", err, "retry_in", wait)
		select {
		case <-time.After(wait):
			n.state.Store("running")
		case <-p.inputCtx.Done():
			return
		}
	}
}

func (p *Pipeline) runProcessor(n *node) {
	defer p.wg.Done()
	defer p.finish(n)
	proc := n.component.(sdk.Processor)
	out := &emitter{p: p, from: n, ctx: p.hardCtx}
	var tick <-chan time.Time
	ticker, hasTicker := proc.(sdk.Ticker)
	if hasTicker && ticker.TickInterval() > 0 {
		t := time.NewTicker(ticker.TickInterval())
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b, ok := <-n.queue:
			if !ok {
				if d, ok := proc.(sdk.Drainer); ok {
					final := !p.stopping.Load()
					if err := safeCall(func() error { return d.Drain(p.hardCtx, out, final) }); err != nil {
						n.metrics.error("processing")
						n.log.Error("drain failed", "error", err)
					}
				}
				return
			}
			cnt := len(b.Events)
			n.metrics.dequeued(cnt, len(n.queue))
			if err := safeCall(func() error { return proc.Process(p.hardCtx, b, out) }); err != nil {
				if p.hardCtx.Err() != nil {
					return
				}
				n.metrics.error("processing")
				n.lastErr.Store(err.Error())
				n.log.Error("processing a batch failed", "error", err, "events", cnt)
			}
		case now := <-tick:
			if err := safeCall(func() error { return ticker.Tick(p.hardCtx, now, out) }); err != nil && p.hardCtx.Err() == nil {
				n.metrics.error("processing")
				n.log.Error("periodic flush failed", "error", err)
			}
		case <-p.hardCtx.Done():
			return
		}
	}
}

func (p *Pipeline) runOutput(n *node) {
	defer p.wg.Done()
	o := n.component.(sdk.Output)
	workers := 1
	if c, ok := o.(sdk.ConcurrentOutput); ok {
		workers = max(1, c.WritesInFlight())
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.outputWorker(n, o)
		}()
	}
	wg.Wait()
}

// outputWorker takes batches from the output's buffer and delivers them,
// until the buffer has nothing more to give.
func (p *Pipeline) outputWorker(n *node, o sdk.Output) {
	buf := n.buf
	limit := n.spec.Batch.MaxEvents
	for {
		b, ok := buf.Pop(p.hardCtx)
		if !ok {
			return
		}
		// Merge what else is waiting, up to the output's batch size: small
		// batches (a quiet input, a selective processor) make one write.
		for len(b.Events) < limit {
			more, ok := buf.TryPop()
			if !ok {
				break
			}
			b.Events = append(b.Events, more.Events...)
			b.Attach(more)
			more.Done()
		}
		n.metrics.received.Add(float64(len(b.Events)))
		n.metrics.buffered(buf.Stats())
		p.deliver(n, o, b)
		n.metrics.buffered(buf.Stats())
	}
}

// deliver writes a batch, retrying transient errors with exponential backoff
// until it succeeds, fails permanently, or the drain deadline passes. Events
// the destination refused for good go to the dead letter. With a disk
// buffer, a stop abandons the retries at once: the batch stays on disk and
// is delivered by the next run.
func (p *Pipeline) deliver(n *node, o sdk.Output, b *sdk.Batch) {
	backoff := newBackoff(p.opts.RetryMin, p.opts.RetryMax)
	var stop <-chan struct{}
	if n.spec.Buffer.Durable() {
		stop = p.stopCh
	}
	for attempt := 1; ; attempt++ {
		cnt := len(b.Events)
		err := safeCall(func() error { return o.Write(p.hardCtx, b) })
		if err == nil {
			n.metrics.sent.Add(float64(cnt))
			p.recovered(n, attempt)
			b.Done()
			return
		}
		if p.hardCtx.Err() != nil {
			// Abandoned at the drain deadline: not acknowledged, so
			// replayable inputs send it again after a restart.
			n.metrics.discard("shutdown", cnt)
			return
		}
		var partial *sdk.PartialError
		switch {
		case errors.As(err, &partial):
			retry, rejected := checkPartial(partial, cnt)
			if len(rejected) > 0 {
				n.metrics.error("permanent")
				p.reject(n, b, rejected)
			}
			n.metrics.sent.Add(float64(cnt - len(retry) - len(rejected)))
			if len(retry) == 0 {
				p.recovered(n, attempt)
				b.Done()
				return
			}
			keepOnly(b, retry)
			if partial.Err != nil {
				err = partial.Err
			} else {
				err = fmt.Errorf("%d of %d events not delivered", len(retry), cnt)
			}
		case sdk.IsPermanent(err):
			n.lastErr.Store(err.Error())
			n.metrics.error("permanent")
			all := make([]sdk.Rejection, cnt)
			for i := range all {
				all[i] = sdk.Rejection{Index: i, Reason: err.Error()}
			}
			p.reject(n, b, all)
			b.Done()
			return
		}
		n.lastErr.Store(err.Error())
		n.metrics.error("retryable")
		n.state.Store("retrying")
		wait := backoff.next()
		n.log.Warn("output write failed; retrying", "error", err, "events", len(b.Events), "attempt", attempt, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-p.hardCtx.Done():
			n.metrics.discard("shutdown", len(b.Events))
			return
		case <-stop:
			// Kept in the disk buffer for the next run.
			return
		}
	}
}

func (p *Pipeline) recovered(n *node, attempt int) {
	if attempt > 1 {
		n.log.Info("delivery recovered", "attempts", attempt)
		n.state.Store("running")
		n.lastErr.Store("")
	}
}

// reject hands refused events to the output's dead letter, or counts them
// as discarded when it has none.
func (p *Pipeline) reject(n *node, b *sdk.Batch, rejected []sdk.Rejection) {
	if n.dead != nil {
		entries := make([]deadletter.Entry, len(rejected))
		for i, r := range rejected {
			entries[i] = deadletter.Entry{Event: &b.Events[r.Index], Reason: r.Reason}
		}
		err := n.dead.Write(entries)
		if err == nil {
			n.metrics.discard("dead_letter", len(rejected))
			n.log.Warn("the destination refused events for good; they are in the dead letter",
				"events", len(rejected), "reason", rejected[0].Reason, "dead_letter", n.spec.DeadLetter.Path)
			return
		}
		n.log.Error("writing the dead letter failed; the refused events are lost", "error", err, "events", len(rejected))
	} else {
		n.log.Error("the destination refused events for good and they are dropped; add a dead_letter block to the output to keep them",
			"events", len(rejected), "reason", rejected[0].Reason)
	}
	n.metrics.discard("rejected", len(rejected))
}

// checkPartial validates the indexes an output returned: in range, each
// event in at most one list, ascending. A faulty plugin's extra or
// repeated indexes are ignored rather than trusted.
func checkPartial(pe *sdk.PartialError, n int) (retry []int, rejected []sdk.Rejection) {
	seen := make(map[int]bool, len(pe.Retry)+len(pe.Rejected))
	for _, r := range pe.Rejected {
		if r.Index >= 0 && r.Index < n && !seen[r.Index] {
			seen[r.Index] = true
			rejected = append(rejected, r)
		}
	}
	for _, i := range pe.Retry {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			retry = append(retry, i)
		}
	}
	slices.Sort(retry)
	slices.SortFunc(rejected, func(a, b sdk.Rejection) int { return a.Index - b.Index })
	return retry, rejected
}

// keepOnly keeps the events at the given ascending indexes.
func keepOnly(b *sdk.Batch, idx []int) {
	for j, i := range idx {
		b.Events[j] = b.Events[i]
	}
	clear(b.Events[len(idx):])
	b.Events = b.Events[:len(idx)]
}

// safeCall runs fn and turns a panic into an error, so that one faulty
// plugin cannot bring the engine down after startup.
func safeCall(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return fn()
}
