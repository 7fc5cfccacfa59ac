package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Input reads events from a source and emits them in batches.
//
// Run blocks until ctx ends or the source is exhausted, and returns nil on a
// clean stop. It sizes batches by Env.Batch. An input that can replay its
// source registers Batch.OnDone on each batch it emits and advances its
// checkpoint only from there.
type Input interface {
	Run(ctx context.Context, out Emitter) error
}

// Processor transforms batches. Process is called for one batch at a time,
// never concurrently, and may emit any number of batches, including none
// (events held for later, or dropped). A batch it does not pass on must be
// released with Done, or attached to a batch it emits.
type Processor interface {
	Process(ctx context.Context, in *Batch, out Emitter) error
}

// Ticker is implemented by processors that hold events and must release them
// over time (timeouts). The core calls Tick every TickInterval on the same
// goroutine as Process.
type Ticker interface {
	TickInterval() time.Duration
	Tick(ctx context.Context, now time.Time, out Emitter) error
}

// Drainer is implemented by processors that hold events. The core calls
// Drain once, after the last batch, when the pipeline stops.
//
// final tells why. When true, every input has finished by itself (its source
// is exhausted, or engine run --once): nothing more will ever come, so emit
// everything held. When false, the pipeline is being stopped or reloaded and
// will start again later: a processor may instead save what it holds in
// Env.State and take it up again when it is next built, so that an event
// whose parts straddle the restart is not cut in two. The receipts of what
// was saved must then be released (Done), since the data is now durable.
type Drainer interface {
	Drain(ctx context.Context, out Emitter, final bool) error
}

// Output delivers batches to a destination. Write returns only once the batch
// is durably delivered (nil), or with an error classified by Retryable or
// Permanent; an unclassified error is retried. Retries, backoff, buffering
// and acknowledgement are the core's job, not the output's. Write is never
// called concurrently, unless the output implements ConcurrentOutput. It may
// instead return a *PartialError naming the events to retry and the events
// refused for good.
type Output interface {
	Write(ctx context.Context, b *Batch) error
}

// ConcurrentOutput is implemented by outputs whose Write may run several
// times at once, so that the next batch is on its way while the previous
// one waits for its acknowledgement (Kafka, Elasticsearch). The core then
// runs up to WritesInFlight writes at once, each with its own retries;
// batches may complete out of order (a retried batch lands after a later
// one), and acknowledgements still reach the inputs once each batch is
// delivered.
type ConcurrentOutput interface {
	Output
	// WritesInFlight returns how many Writes may run at once (1 or more).
	WritesInFlight() int
}

// Closer is implemented by components that hold resources. The core calls
// Close once, after the component's last use; Close honours ctx's deadline.
type Closer interface {
	Close(ctx context.Context) error
}

// Env is what the core gives a component when it builds it.
type Env struct {
	// ID names the component in the pipeline, such as "input.logfile.auditd".
	ID string
	// Logger writes structured logs tagged with the component ID.
	Logger *slog.Logger
	// State is the component's persistent key/value store (checkpoints). It
	// survives restarts and reloads; keys are private to the component.
	State StateStore
	// Batch bounds the batches an input emits.
	Batch BatchPolicy
	// Metrics exports the component's own metrics. Never nil when the core
	// builds the component.
	Metrics Metrics
	// DataDir is a directory the component may write files to, private to it.
	DataDir string
	// Once asks an input to stop by itself, returning nil from Run, as soon
	// as it has read everything its source holds now (engine run --once),
	// instead of waiting for more. Inputs whose source has no end (a socket,
	// the kernel) ignore it.
	Once bool
}

// BatchPolicy bounds a batch by count and by age.
type BatchPolicy struct {
	MaxEvents int           // emit when this many events are collected
	MaxAge    time.Duration // emit a non-empty batch at most this long after its first event
}

// DefaultBatchPolicy is used when a pipeline does not set one.
var DefaultBatchPolicy = BatchPolicy{MaxEvents: 1024, MaxAge: time.Second}

// StateStore is a small persistent key/value store.
type StateStore interface {
	// Get returns the value stored under key, or nil if there is none.
	Get(key string) ([]byte, error)
	// Put stores value under key durably before returning.
	Put(key string, value []byte) error
	// Delete removes key.
	Delete(key string) error
	// Keys lists the keys stored, in order.
	Keys() ([]string, error)
}

type classified struct {
	err       error
	permanent bool
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Retryable marks err as transient: the core retries the batch with backoff.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err}
}

// Permanent marks err as final for the batch (or the events it names): the
// core does not retry it and reports the events as dropped.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, permanent: true}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.permanent
}

// Rejection names one event of a batch that the destination refused for
// good, such as a document Elasticsearch cannot map or a message larger than
// the Kafka broker accepts.
type Rejection struct {
	Index  int    // into Batch.Events
	Reason string // the destination's own words, for the dead letter
}

// PartialError is what Output.Write returns when it delivered some events of
// a batch but not all: the core writes the events named in Retry again after
// a backoff, hands the Rejected ones to the output's dead letter (or counts
// them as discarded when it has none), and treats every other event as
// delivered. Indexes are into the Events of the batch Write was given.
type PartialError struct {
	Retry    []int       // transient failures (throttled, unavailable), ascending
	Rejected []Rejection // refused for good
	Err      error       // why the retries are needed; nil when there are none
}

func (e *PartialError) Error() string {
	msg := fmt.Sprintf("%d events to retry, %d rejected", len(e.Retry), len(e.Rejected))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else if len(e.Rejected) > 0 {
		msg += ": " + e.Rejected[0].Reason
	}
	return msg
}

func (e *PartialError) Unwrap() error { return e.Err }

// ConnectionChecker is an optional Plugin hook: `engine validate
// --check-connections` calls it with the decoded config to reach the
// component's destination (or source) once, without moving any data. It
// returns an error that tells an operator what is wrong (address refused,
// authentication failed, TLS mismatch).
type ConnectionChecker func(ctx context.Context, cfg *Config) error
