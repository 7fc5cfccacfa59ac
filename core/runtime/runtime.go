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
	"sync"
	"sync/atomic"
	"time"

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
	Batch     sdk.BatchPolicy // inputs
	QueueSize int             // processors, outputs: capacity of the input queue in batches
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
	stopping    atomic.Bool // Stop was called: processors drain to resume later
	startOnce   sync.Once
	stopOnce    sync.Once
}

type node struct {
	spec      ComponentSpec
	component any
	log       *slog.Logger
	metrics   *componentMetrics
	queue     chan *sdk.Batch // input queue (processors, outputs)
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
	p := &Pipeline{opts: opts, log: opts.Logger, byID: map[string]*node{}, done: make(chan struct{}), failed: make(chan struct{})}
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
			n.queue = make(chan *sdk.Batch, size)
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
			if n.spec.Kind != kind || n.component == nil {
				continue
			}
			if c, ok := n.component.(sdk.Closer); ok {
				if err := safeCall(func() error { return c.Close(ctx) }); err != nil {
					n.log.Error("close failed", "error", err)
					errs = append(errs, fmt.Errorf("%s: %w", n.spec.ID, err))
				}
			}
			n.state.Store("stopped")
		}
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
			close(c.queue)
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
	for {
		select {
		case b, ok := <-n.queue:
			if !ok {
				return
			}
			cnt := len(b.Events)
			n.metrics.dequeued(cnt, len(n.queue))
			p.deliver(n, o, b)
		case <-p.hardCtx.Done():
			return
		}
	}
}

// deliver writes a batch, retrying transient errors with exponential backoff
// until it succeeds, fails permanently, or the drain deadline passes.
func (p *Pipeline) deliver(n *node, o sdk.Output, b *sdk.Batch) {
	backoff := newBackoff(p.opts.RetryMin, p.opts.RetryMax)
	cnt := len(b.Events)
	for attempt := 1; ; attempt++ {
		err := safeCall(func() error { return o.Write(p.hardCtx, b) })
		if err == nil {
			n.metrics.sent.Add(float64(cnt))
			if attempt > 1 {
				n.log.Info("delivery recovered", "attempts", attempt)
				n.state.Store("running")
				n.lastErr.Store("")
			}
			b.Done()
			return
		}
		if p.hardCtx.Err() != nil {
			// Abandoned at the drain deadline: not acknowledged, so
			// replayable inputs send it again after a restart.
			n.metrics.discard("shutdown", cnt)
			return
		}
		n.lastErr.Store(err.Error())
		if sdk.IsPermanent(err) {
			n.metrics.error("permanent")
			n.metrics.discard("permanent_error", cnt)
			n.log.Error("output rejected a batch permanently; its events are dropped", "error", err, "events", cnt)
			b.Done()
			return
		}
		n.metrics.error("retryable")
		n.state.Store("retrying")
		wait := backoff.next()
		n.log.Warn("output write failed; retrying", "error", err, "attempt", attempt, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-p.hardCtx.Done():
			n.metrics.discard("shutdown", cnt)
			return
		}
	}
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
