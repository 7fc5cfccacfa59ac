package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
)

// Output is the kafka output. Up to cfg.writesInFlight Writes run at once
// (sdk.ConcurrentOutput), each encoding its batch on its own and handing it
// to one shared producer; the producer's results come back on a goroutine of
// their own (collect), which routes each to the write it belongs to.
type Output struct {
	cfg     config
	sc      *sarama.Config
	log     *slog.Logger
	metrics metrics

	closed atomic.Bool // set (under mu) by Close; Write refuses from then on

	mu sync.Mutex
	// connecting is the connection attempt in flight, or one that failed
	// and whose error no Write has reported yet; nil when neither.
	connecting *attempt
	conn       *conn // the producer; nil until connected, and after Close

	// spares holds the buffers of writes whose messages have all come back,
	// for reuse; one per write that can be in flight.
	spares chan *writeState
}

// attempt is one try at creating the producer.
type attempt struct {
	done chan struct{} // closed once err and conn are set
	err  error
	conn *conn // what the attempt made after Close, for Close to wait on
}

// conn is one producer and the Writes handing it messages.
type conn struct {
	p         sarama.AsyncProducer
	collected chan struct{} // closed once collect has seen the producer's channels close
	retired   chan struct{} // closed when the producer is to be closed: Writes stop handing it messages
	senders   sync.WaitGroup
}

func newConn(p sarama.AsyncProducer) *conn {
	c := &conn{p: p, collected: make(chan struct{}), retired: make(chan struct{})}
	go collect(p, c.collected)
	return c
}

// retire closes c's producer once no Write hands it messages any more; the
// Writes sending to it stop at once. Callers hold o.mu and have taken c out
// of o.conn, so that no Write starts sending to it again.
func (c *conn) retire() {
	close(c.retired)
	go func() {
		c.senders.Wait()
		// AsyncClose sends what is buffered, waits for the answers to what
		// is in flight and then closes Successes and Errors, which collect
		// drains: every Write still waiting gets its answers.
		c.p.AsyncClose()
	}()
}

func newOutput(cfg *sdk.Config, env sdk.Env) (any, error) {
	c, _, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	if c.sasl != nil && c.sasl.String("password") == "" {
		return nil, sdk.OptionErrorf("sasl.password", "is empty; set the variable it is read from")
	}
	sc, err := c.saramaConfig()
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var m sdk.Metrics = sdk.NopMetrics{}
	if env.Metrics != nil {
		m = env.Metrics
	}
	o := &Output{cfg: c, sc: sc, log: log, metrics: newMetrics(m), spares: make(chan *writeState, c.writesInFlight)}
	// Connect in the background: the engine starts (and buffers) even when
	// Kafka is down, and the first Write finds the producer ready when it is up.
	o.mu.Lock()
	o.connect()
	o.mu.Unlock()
	return o, nil
}

// WritesInFlight is sdk.ConcurrentOutput: how many Writes the core may run
// at once.
func (o *Output) WritesInFlight() int { return o.cfg.writesInFlight }

// connect starts creating the producer; o.mu is held. sarama connects to a
// broker then (the idempotent producer asks for its producer id), which can
// take up to the dial timeout per attempt, so it runs on its own goroutine.
func (o *Output) connect() *attempt {
	a := &attempt{done: make(chan struct{})}
	o.connecting = a
	brokers, sc := o.cfg.brokers, o.sc
	go func() {
		p, err := sarama.NewAsyncProducer(brokers, sc)
		o.mu.Lock()
		defer o.mu.Unlock()
		a.err = err
		if err == nil {
			c := newConn(p)
			if o.closed.Load() {
				// Close came first: close what the attempt made.
				a.conn = c
				c.retire()
			} else {
				o.conn = c
			}
			o.connecting = nil
		}
		// A failed attempt stays in o.connecting until a Write has
		// reported its error; the Write after that tries again.
		close(a.done)
	}()
	return a
}

// acquire returns the producer, waiting for the connection attempt in
// flight until ctx ends, and counts the caller among its senders: the
// caller calls c.senders.Done once it has handed over its messages.
func (o *Output) acquire(ctx context.Context) (*conn, error) {
	o.mu.Lock()
	for {
		if o.closed.Load() {
			o.mu.Unlock()
			return nil, errClosed
		}
		if c := o.conn; c != nil {
			c.senders.Add(1)
			o.mu.Unlock()
			return c, nil
		}
		a := o.connecting
		if a == nil {
			a = o.connect()
		}
		o.mu.Unlock()
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("kafka output: still connecting to %s: %w", strings.Join(o.cfg.brokers, ", "), ctx.Err())
		}
		o.mu.Lock()
		if a.err != nil {
			if o.connecting == a {
				o.connecting = nil // reported: the next Write tries again
			}
			o.mu.Unlock()
			return nil, sdk.Retryable(fmt.Errorf("kafka output: connecting to %s: %w%s",
				strings.Join(o.cfg.brokers, ", "), a.err, hint(a.err, o.cfg.topic.String())))
		}
		// Connected (or closed, or dropped again meanwhile): look again.
	}
}

var errClosed = sdk.Permanent(errors.New("kafka output: write after close"))

// collect hands each result of the producer to the write its message
// belongs to, until the producer is closed.
func collect(p sarama.AsyncProducer, done chan<- struct{}) {
	defer close(done)
	successes, errs := p.Successes(), p.Errors()
	for successes != nil || errs != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			if r, ok := m.Metadata.(*msgRef); ok {
				r.w.finish(r.i, nil)
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if r, ok := e.Msg.Metadata.(*msgRef); ok {
				r.w.finish(r.i, e.Err)
			}
		}
	}
}

// writeState is one Write: its messages and their outcomes. Its buffers are
// reused by the next Write once every message has come back, since sarama
// holds on to them until then.
type writeState struct {
	msgs    []sarama.ProducerMessage
	refs    []msgRef
	keys    []bytesEncoder
	values  []bytesEncoder
	headers []sarama.RecordHeader
	buf     []byte  // JSON values, keys and event ids
	errs    []error // per event: nil once delivered
	ready   []*sarama.ProducerMessage

	// Rendered topic names, so that each is allocated once per writeState
	// rather than once per message, and scratch to render one in. Kept
	// per write so that concurrent writes share nothing.
	topics map[string]string
	name   []byte

	pending atomic.Int64 // messages not back yet, plus one while Write sends
	done    chan struct{}
}

// msgRef is a message's sarama Metadata: which write and which event.
type msgRef struct {
	w *writeState
	i int
}

func (w *writeState) finish(i int, err error) {
	w.errs[i] = err
	w.release()
}

// release counts one message (or Write's own hold) as back.
func (w *writeState) release() {
	if w.pending.Add(-1) == 0 {
		close(w.done)
	}
}

// bytesEncoder is sarama's Encoder over a byte slice. Keeping them in a
// slice per write, and handing sarama pointers into it, avoids an
// allocation per message that sarama.ByteEncoder (a slice in an interface)
// costs.
type bytesEncoder struct{ b []byte }

func (e *bytesEncoder) Encode() ([]byte, error) { return e.b, nil }
func (e *bytesEncoder) Length() int             { return len(e.b) }

// newWrite returns a writeState for n events, reusing the buffers of a
// write that has completed when there is one.
func (o *Output) newWrite(n int) *writeState {
	var w *writeState
	select {
	case w = <-o.spares:
	default:
		w = &writeState{}
	}
	if cap(w.msgs) < n {
		w.msgs = make([]sarama.ProducerMessage, n)
		w.refs = make([]msgRef, n)
		w.keys = make([]bytesEncoder, n)
		w.values = make([]bytesEncoder, n)
		w.errs = make([]error, n)
	}
	w.msgs, w.refs, w.keys, w.values, w.errs = w.msgs[:n], w.refs[:n], w.keys[:n], w.values[:n], w.errs[:n]
	clear(w.errs)
	w.headers = w.headers[:0]
	w.buf = w.buf[:0]
	w.pending.Store(1)
	w.done = make(chan struct{})
	return w
}

// reuse keeps w for a later write. Only a write whose messages have all come
// back may be reused: sarama holds on to them until then.
func (o *Output) reuse(w *writeState) {
	select {
	case o.spares <- w:
	default:
	}
}

// Write produces every event of b and waits until the brokers have
// acknowledged each message (or refused it), or until ctx ends. It returns
// nil when all were delivered, and otherwise a PartialError naming the
// events to retry and the ones Kafka refuses for good, or a Retryable error
// when nothing went through. Several Writes may run at once.
func (o *Output) Write(ctx context.Context, b *sdk.Batch) error {
	if o.closed.Load() {
		return errClosed
	}
	if len(b.Events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := o.newWrite(len(b.Events))
	var rejected []sdk.Rejection
	// Encode the whole batch first, then hand it over in one go: sarama
	// then packs it into few large requests, instead of sending each few
	// messages that are ready while the rest are still being encoded.
	// Encoding holds no lock, so that concurrent writes encode in parallel
	// (and while the first connection is being made).
	msgs := w.ready[:0]
	var bytes int
	for i := range b.Events {
		m, reason := o.message(w, i, &b.Events[i])
		if reason != "" {
			rejected = append(rejected, sdk.Rejection{Index: i, Reason: reason})
			w.errs[i] = errRejected
			continue
		}
		bytes += m.Value.Length()
		msgs = append(msgs, m)
	}
	w.ready = msgs
	if len(msgs) == 0 {
		// Every event was refused before sending: nothing for Kafka.
		o.reuse(w)
		return o.classify(w, rejected)
	}
	c, err := o.acquire(ctx)
	if err != nil {
		o.reuse(w)
		return err
	}
	in := c.p.Input()
	w.pending.Add(int64(len(msgs)))
	for k, m := range msgs {
		// Most sends find room in the producer's input buffer: try that
		// first, which costs less than the full select below.
		select {
		case in <- m:
			continue
		default:
		}
		select {
		case in <- m:
			continue
		case <-ctx.Done():
			err = fmt.Errorf("kafka output: stopped while producing: %w", ctx.Err())
		case <-c.retired:
			err = sdk.Retryable(errors.New("kafka output: the producer was closed while this batch was being handed to it"))
		}
		// The messages already handed over may still be delivered; the
		// core writes the whole batch again (at least once).
		c.senders.Done()
		w.pending.Add(-int64(len(msgs) - k))
		w.release()
		return err
	}
	c.senders.Done()
	w.release()
	o.metrics.bytes.Add(float64(bytes))
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("kafka output: stopped while waiting for the brokers' acknowledgements: %w", ctx.Err())
	}
	err = o.classify(w, rejected)
	o.reuse(w)
	if c.p.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
		// The idempotent producer cannot go on (its producer id was
		// refused); the next Write starts a new one.
		o.dropProducer(c, err)
	}
	return err
}

// dropProducer closes c's producer in the background, unless another Write
// did already; the next Write connects again.
func (o *Output) dropProducer(c *conn, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn != c {
		return
	}
	o.log.Warn("kafka output: the producer is in a fatal state; reconnecting", "error", err)
	o.conn = nil
	c.retire() // its collect goroutine ends when the producer has closed
}

// errRejected marks, in writeState.errs, an event that was never sent.
var errRejected = errors.New("rejected before sending")

// message fills in the message for event i, or returns why the event cannot
// be sent at all.
func (o *Output) message(w *writeState, i int, ev *sdk.Event) (*sarama.ProducerMessage, string) {
	topic, reason := o.renderTopic(w, ev)
	if reason != "" {
		return nil, reason
	}
	m := &w.msgs[i]
	*m = sarama.ProducerMessage{Topic: topic, Timestamp: ev.Time, Metadata: &w.refs[i]}
	w.refs[i] = msgRef{w: w, i: i}

	if o.cfg.key != nil {
		start := len(w.buf)
		buf, err := o.cfg.key.Append(w.buf, ev)
		if err != nil {
			// No field to key by: the message goes without key, as a
			// message of a pipeline without key would. Holding back a good
			// event for want of a partitioning hint would lose it.
			w.buf = buf[:start]
			o.metrics.unkeyed.Add(1)
		} else {
			w.buf = buf
			w.keys[i].b = buf[start:len(buf):len(buf)]
			m.Key = &w.keys[i]
		}
	}

	start := len(w.buf)
	w.buf = ev.AppendJSON(w.buf)
	w.values[i].b = w.buf[start:len(w.buf):len(w.buf)]
	m.Value = &w.values[i]

	if ev.ID != "" || len(o.cfg.headers) > 0 {
		h := len(w.headers)
		w.headers = append(w.headers, o.cfg.headers...)
		if ev.ID != "" {
			start := len(w.buf)
			w.buf = append(w.buf, ev.ID...)
			w.headers = append(w.headers, sarama.RecordHeader{Key: eventIDKey, Value: w.buf[start:len(w.buf):len(w.buf)]})
		}
		m.Headers = w.headers[h:len(w.headers):len(w.headers)]
	}

	// The same size check sarama makes (it would fail the message with a
	// ConfigurationError), done here so that the reason is one for the
	// dead letter.
	if size := m.ByteSize(2); size > o.cfg.maxMessageBytes {
		return nil, fmt.Sprintf("message of %d bytes (event JSON, key and headers) is larger than max_message_bytes (%d)", size, o.cfg.maxMessageBytes)
	}
	return m, ""
}

var eventIDKey = []byte(eventIDHeader)

// renderTopic returns the topic of ev, or why it has none.
func (o *Output) renderTopic(w *writeState, ev *sdk.Event) (string, string) {
	t := o.cfg.topic
	if t.Static() {
		return t.String(), ""
	}
	name, err := t.Append(w.name[:0], ev)
	w.name = name
	if err != nil {
		return "", "topic: " + err.Error()
	}
	if s, ok := w.topics[string(name)]; ok {
		return s, ""
	}
	if err := checkTopic(string(name)); err != nil {
		return "", fmt.Sprintf("topic template %q: %v", t.String(), err)
	}
	s := string(name)
	switch {
	case w.topics == nil:
		w.topics = map[string]string{}
	case len(w.topics) > 10000:
		clear(w.topics) // a template over a field with unbounded values
	}
	w.topics[s] = s
	return s, ""
}

// classify turns the outcomes of a write into the error Write returns.
func (o *Output) classify(w *writeState, rejected []sdk.Rejection) error {
	var retry []int
	var firstErr error
	delivered := 0
	var tooLarge map[partitionKey][]int
	for i, err := range w.errs {
		switch {
		case err == nil:
			delivered++
		case err == errRejected:
		default:
			o.metrics.countError(err)
			if errors.Is(err, sarama.ErrMessageSizeTooLarge) {
				if tooLarge == nil {
					tooLarge = map[partitionKey][]int{}
				}
				k := partitionKey{w.msgs[i].Topic, w.msgs[i].Partition}
				tooLarge[k] = append(tooLarge[k], i)
				continue
			}
			if reason, permanent := refused(err); permanent {
				rejected = append(rejected, sdk.Rejection{Index: i, Reason: reason})
				continue
			}
			retry = append(retry, i)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	for _, idx := range tooLarge {
		// The broker refuses a whole record batch when it is larger than
		// the topic allows, so a refusal names every message of the batch.
		// Only the largest is given up; the others are retried, and go
		// out in a batch without it.
		largest := idx[0]
		for _, i := range idx[1:] {
			if w.values[i].Length() > w.values[largest].Length() {
				largest = i
			}
		}
		reason := fmt.Sprintf("the broker refused the message as too large (MESSAGE_TOO_LARGE): %d bytes of JSON, more than the topic's max.message.bytes allows; "+
			"set max_message_bytes at or below it so that such events are rejected before they are sent", w.values[largest].Length())
		rejected = append(rejected, sdk.Rejection{Index: largest, Reason: reason})
		for _, i := range idx {
			if i != largest {
				retry = append(retry, i)
				if firstErr == nil {
					firstErr = w.errs[i]
				}
			}
		}
	}
	if len(retry) == 0 && len(rejected) == 0 {
		return nil
	}
	slices.Sort(retry)
	slices.SortFunc(rejected, func(a, b sdk.Rejection) int { return a.Index - b.Index })
	var err error
	if firstErr != nil {
		err = fmt.Errorf("kafka output: %d of %d events not acknowledged: %w%s",
			len(retry), len(w.errs), firstErr, hint(firstErr, o.cfg.topic.String()))
		if delivered == 0 && len(rejected) == 0 {
			return sdk.Retryable(err)
		}
	}
	return &sdk.PartialError{Retry: retry, Rejected: rejected, Err: err}
}

type partitionKey struct {
	topic     string
	partition int32
}

// refused reports whether err means Kafka will never accept the message as
// it is, with the reason for the dead letter.
func refused(err error) (string, bool) {
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return "", false
	}
	switch kerr {
	case sarama.ErrInvalidTimestamp:
		return "the broker refused the message's timestamp (INVALID_TIMESTAMP): the event's time is further from now than the topic's message.timestamp difference limits allow", true
	case sarama.ErrInvalidRecord:
		return "the broker refused the record (INVALID_RECORD), for example a message without key on a compacted topic", true
	case sarama.ErrInvalidTopic:
		return "the broker refused the topic name (INVALID_TOPIC_EXCEPTION)", true
	}
	return "", false
}

// hint adds what an operator can do about err.
func hint(err error, topic string) string {
	var kerr sarama.KError
	switch {
	case errors.Is(err, sarama.ErrOutOfBrokers):
		return "; no broker could be reached: check that Kafka runs and that brokers (and each broker's advertised.listeners) are reachable from this host"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, sarama.ErrNotConnected):
		return "; lost the connection to the broker: check that Kafka runs and is reachable from this host"
	case errors.As(err, &kerr):
		switch kerr {
		case sarama.ErrUnknownTopicOrPartition:
			return fmt.Sprintf("; the topic (%s) does not exist and the brokers do not create topics (auto.create.topics.enable=false): create it", topic)
		case sarama.ErrTopicAuthorizationFailed:
			return "; the principal may not write to the topic: grant it WRITE (and DESCRIBE) on the topic"
		case sarama.ErrClusterAuthorizationFailed:
			return "; with idempotent = true the principal needs IDEMPOTENT_WRITE on the cluster (or WRITE on the topic on Kafka 3.0 and later)"
		case sarama.ErrSASLAuthenticationFailed:
			return "; check the sasl username, password and mechanism"
		case sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend:
			return "; fewer in-sync replicas than the topic's min.insync.replicas are up"
		}
	}
	return ""
}

// Close closes the producer once the Writes handing it messages have
// stopped (at once: they give up handing over the rest), after it has sent
// what it holds and received the answers, until ctx ends. Writes still
// waiting for acknowledgements get them. Calling it again does nothing.
func (o *Output) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closed.Load() {
		o.mu.Unlock()
		return nil
	}
	o.closed.Store(true)
	a, c := o.connecting, o.conn
	o.conn = nil
	if c != nil {
		c.retire()
	}
	o.mu.Unlock()
	if c == nil && a != nil {
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil // the attempt closes what it makes
		}
		c = a.conn // set (and retired) only when it succeeded after Close began
	}
	if c == nil {
		return nil
	}
	select {
	case <-c.collected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka output: closing the producer: %w (messages still in flight are abandoned)", ctx.Err())
	}
}

var (
	_ sdk.ConcurrentOutput = (*Output)(nil)
	_ sdk.Closer           = (*Output)(nil)
)
