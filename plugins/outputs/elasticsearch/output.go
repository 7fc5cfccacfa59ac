package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/template"
)

// Output is the elasticsearch output. Up to writes_in_flight Writes run at
// once (sdk.ConcurrentOutput), each with up to bulk_concurrency bulk
// requests in flight.
type Output struct {
	cfg     *config
	client  *es.Client
	log     *slog.Logger
	id      string // the component's id, written into dead-letter documents
	metrics metrics

	bulkPath string // "/_bulk?..." with the query every bulk request carries
	closed   atomic.Bool

	setup sync.Mutex  // held while the template is installed
	ready atomic.Bool // the template is installed (or not wanted)

	writes sync.Pool // of *write, reused across Writes
}

// write is the scratch state of one Write.
type write struct {
	o     *Output
	buf   []byte    // the bulk body
	items []item    // the documents in buf
	state []outcome // per event of the batch
	dead  []byte    // the dead-letter bulk body
	doc   []byte    // one document, for the dead letter
}

// item is one document in the encoded bulk body.
type item struct {
	event      int // index into the batch's Events
	start, end int // the action line and the document, in the body
	doc        int // start of the document (it ends at end-1, before '\n')
	idStart    int // the _id, in the action line
	idEnd      int
}

// outcome is what became of one event in a Write.
type outcome struct {
	kind   outcomeKind
	reason string // for retry and rejected
	errTyp string // Elasticsearch's error type, for the dead-letter document
}

type outcomeKind uint8

const (
	pending      outcomeKind = iota
	created                  // stored now
	duplicate                // stored by an earlier attempt (409)
	retry                    // transient failure
	rejected                 // refused for good
	deadLettered             // refused, and stored in the dead-letter index
)

func newOutput(cfg *sdk.Config, env sdk.Env) (any, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	return open(c, env)
}

func open(c *config, env sdk.Env) (*Output, error) {
	client, err := newClient(c, c.urls)
	if err != nil {
		var oe *sdk.OptionError
		if errors.As(err, &oe) {
			return nil, err
		}
		return nil, &sdk.OptionError{Option: "urls", Err: err}
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var m sdk.Metrics = sdk.NopMetrics{}
	if env.Metrics != nil {
		m = env.Metrics
	}
	o := &Output{
		cfg:     c,
		client:  client,
		log:     log,
		id:      env.ID,
		metrics: newMetrics(m),
	}
	o.ready.Store(!c.tmpl.enabled)
	o.writes.New = func() any { return &write{o: o} }
	q := url.Values{}
	// Only what classification needs comes back: not _index, _id, _shards
	// and friends of every item.
	q.Set("filter_path", "errors,items.*.status,items.*.error,error,status")
	if c.pipeline != "" {
		q.Set("pipeline", c.pipeline)
	}
	o.bulkPath = "/_bulk?" + q.Encode()
	return o, nil
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("elasticsearch output: write after close")

// Close releases the client's connections.
func (o *Output) Close(ctx context.Context) error {
	o.closed.Store(true)
	err := o.client.Close(ctx)
	if errors.Is(err, es.ErrAlreadyClosed) {
		return nil
	}
	return err
}

// Write indexes the batch. It returns nil when every event is stored (now
// or by an earlier attempt), sdk.Retryable when none could be sent, and an
// *sdk.PartialError naming the events to retry and the events rejected.
func (o *Output) Write(ctx context.Context, b *sdk.Batch) error {
	if o.closed.Load() {
		return sdk.Permanent(errClosed)
	}
	if err := ctx.Err(); err != nil {
		return sdk.Retryable(err)
	}
	if len(b.Events) == 0 {
		return nil
	}
	if !o.ready.Load() {
		if err := o.ensureTemplate(ctx); err != nil {
			if errors.Is(err, es.ErrClosed) {
				return sdk.Permanent(errClosed)
			}
			return sdk.Retryable(setupHint(fmt.Errorf("elasticsearch output: %w", err)))
		}
	}

	w := o.writes.Get().(*write)
	defer o.writes.Put(w)
	w.state = resize(w.state, len(b.Events))
	w.buf, w.items = w.encode(b, w.buf[:0], w.items[:0])
	w.send(ctx, w.buf, w.items)
	if o.cfg.deadLetter != nil {
		w.deadLetter(ctx, b)
	}
	return w.result(ctx)
}

// WritesInFlight implements sdk.ConcurrentOutput.
func (o *Output) WritesInFlight() int { return o.cfg.writesInFlight }

// ensureTemplate installs the template once; concurrent Writes wait for the
// first one's attempt.
func (o *Output) ensureTemplate(ctx context.Context) error {
	o.setup.Lock()
	defer o.setup.Unlock()
	if o.ready.Load() {
		return nil
	}
	if _, err := o.installTemplate(ctx); err != nil {
		return err
	}
	o.ready.Store(true)
	return nil
}

func resize(s []outcome, n int) []outcome {
	if cap(s) < n {
		return make([]outcome, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// encode writes the bulk body of the batch: per event a create action with
// its index and _id, then the document. Events whose index cannot be
// rendered are rejected here.
func (w *write) encode(b *sdk.Batch, buf []byte, items []item) ([]byte, []item) {
	for i := range b.Events {
		ev := &b.Events[i]
		start := len(buf)
		buf = append(buf, `{"create":{"_index":"`...)
		var err error
		buf, err = w.o.appendIndex(buf, ev)
		if err != nil {
			buf = buf[:start]
			w.state[i] = outcome{kind: rejected, reason: err.Error(), errTyp: "index_name"}
			continue
		}
		buf = append(buf, `","_id":"`...)
		idStart := len(buf)
		hashDoc := false
		switch {
		case ev.ID == "":
			hashDoc = true
			buf = append(buf, zeroID[:]...)
		case plainID(ev.ID):
			buf = append(buf, ev.ID...)
		default:
			buf = appendHashID(buf, []byte(ev.ID))
		}
		idEnd := len(buf)
		buf = append(buf, "\"}}\n"...)
		doc := len(buf)
		buf = ev.AppendJSON(buf)
		if hashDoc {
			sum := sha256.Sum256(buf[doc:])
			hex.Encode(buf[idStart:idEnd], sum[:16])
		}
		buf = append(buf, '\n')
		items = append(items, item{event: i, start: start, end: len(buf), doc: doc, idStart: idStart, idEnd: idEnd})
	}
	return buf, items
}

// zeroID reserves room for a 128-bit hash in hex.
var zeroID [32]byte

// appendIndex renders the event's index (or writes the data stream's name).
func (o *Output) appendIndex(buf []byte, ev *sdk.Event) ([]byte, error) {
	if o.cfg.dataStream != "" {
		return append(buf, o.cfg.dataStream...), nil
	}
	return appendTarget(buf, o.cfg.index, ev)
}

// appendTarget renders an index name template: lower case, since
// Elasticsearch refuses upper case, and without characters that would break
// the action line's JSON.
func appendTarget(buf []byte, t *template.Template, ev *sdk.Event) ([]byte, error) {
	start := len(buf)
	buf, err := t.Append(buf, ev)
	if err != nil {
		return buf, fmt.Errorf("cannot name the index: %w", err)
	}
	name := buf[start:]
	for i, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			name[i] = c + 'a' - 'A'
		case c < 0x20 || c == '"' || c == '\\':
			return buf, fmt.Errorf("cannot name the index: template %q gives %q, which is not an index name", t.String(), name)
		}
	}
	if len(name) == 0 {
		return buf, fmt.Errorf("cannot name the index: template %q gives an empty name", t.String())
	}
	return buf, nil
}

// plainID reports whether id can be written into the action line as it is
// and is a valid _id (at most 512 bytes).
func plainID(id string) bool {
	if len(id) > 512 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendHashID appends the first 128 bits of the SHA-256 of p in hex. A
// cryptographic hash, because documents are partly chosen by users: a
// crafted collision must not let one event pass for another.
func appendHashID(buf, p []byte) []byte {
	sum := sha256.Sum256(p)
	return hex.AppendEncode(buf, sum[:16])
}

// chunk is a run of items sent as one bulk request.
type chunk struct {
	items []item
	body  []byte
}

// send sends the items in bulk requests of at most bulk_max_events and
// bulk_max_bytes, up to bulk_concurrency at a time, and records each
// event's outcome.
func (w *write) send(ctx context.Context, buf []byte, items []item) {
	chunks := w.split(buf, items)
	if len(chunks) == 1 || w.o.cfg.concurrency == 1 {
		for _, ch := range chunks {
			w.sendChunk(ctx, ch)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan chunk)
	for range min(w.o.cfg.concurrency, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range next {
				w.sendChunk(ctx, ch)
			}
		}()
	}
	for _, ch := range chunks {
		next <- ch
	}
	close(next)
	wg.Wait()
}

// minPerRequest is the fewest documents worth a request of their own when a
// batch is cut for concurrency.
const minPerRequest = 64

// split cuts items into chunks. With bulk_concurrency above 1, a batch is
// cut into that many requests when it is large enough, so that the
// requests of one Write overlap.
func (w *write) split(buf []byte, items []item) []chunk {
	if len(items) == 0 {
		return nil
	}
	per := w.o.cfg.maxEvents
	if w.o.cfg.concurrency > 1 {
		per = min(per, max(minPerRequest, (len(items)+w.o.cfg.concurrency-1)/w.o.cfg.concurrency))
	}
	var chunks []chunk
	first := 0
	for i := 1; i <= len(items); i++ {
		if i < len(items) && i-first < per && items[i].end-items[first].start <= w.o.cfg.maxBytes {
			continue
		}
		chunks = append(chunks, chunk{items: items[first:i], body: buf[items[first].start:items[i-1].end]})
		first = i
	}
	return chunks
}

// sendChunk sends one bulk request and records the outcome of its items. A
// request the cluster finds too large (413) is halved and sent again; a
// single document too large is rejected.
func (w *write) sendChunk(ctx context.Context, ch chunk) {
	res, err := w.o.bulk(ctx, ch.body)
	var se *statusError
	switch {
	case errors.As(err, &se) && se.status == http.StatusRequestEntityTooLarge:
		if len(ch.items) == 1 {
			w.state[ch.items[0].event] = outcome{kind: rejected, errTyp: "request_entity_too_large",
				reason: fmt.Sprintf("the document (%d bytes) is larger than the cluster accepts in a request (413; http.max_content_length)", ch.items[0].end-ch.items[0].doc)}
			return
		}
		half := len(ch.items) / 2
		base := ch.items[0].start
		w.sendChunk(ctx, chunk{items: ch.items[:half], body: ch.body[:ch.items[half-1].end-base]})
		w.sendChunk(ctx, chunk{items: ch.items[half:], body: ch.body[ch.items[half].start-base:]})
		return
	case err != nil:
		reason := err.Error()
		for _, it := range ch.items {
			w.state[it.event] = outcome{kind: retry, reason: reason}
		}
		return
	}
	if len(res.Items) != len(ch.items) {
		reason := fmt.Sprintf("the bulk response has %d items for %d documents", len(res.Items), len(ch.items))
		for _, it := range ch.items {
			w.state[it.event] = outcome{kind: retry, reason: reason}
		}
		return
	}
	if !res.Errors {
		for _, it := range ch.items {
			w.state[it.event] = outcome{kind: created}
		}
		return
	}
	for k, it := range ch.items {
		w.state[it.event] = classifyItem(res.Items[k].result())
	}
}

// bulkResponse is a bulk answer as filter_path leaves it.
type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"items"`
}

// bulkItem holds the result under the action's name; only create is sent.
type bulkItem struct {
	Create *itemResult `json:"create"`
	Index  *itemResult `json:"index"`
}

func (b *bulkItem) result() itemResult {
	switch {
	case b.Create != nil:
		return *b.Create
	case b.Index != nil:
		return *b.Index
	}
	return itemResult{}
}

type itemResult struct {
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// bulk sends one bulk request. A request that fails to connect goes to the
// next node, once per node, since it certainly did not reach the cluster.
func (o *Output) bulk(ctx context.Context, body []byte) (*bulkResponse, error) {
	o.metrics.bulkBytes.Add(float64(len(body)))
	wire := body
	if o.cfg.compression {
		z := getCompressor()
		defer putCompressor(z)
		wire = z.compress(body)
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.timeout)
	defer cancel()
	var (
		res *http.Response
		err error
	)
	for attempt := 0; attempt < len(o.cfg.urls); attempt++ {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, o.bulkPath, bytes.NewReader(wire))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		if o.cfg.compression {
			req.Header.Set("Content-Encoding", "gzip")
		}
		res, err = o.client.Perform(req)
		if err == nil || !isDialError(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		o.metrics.requestsFailed.Add(1)
		return nil, o.transportError(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		o.metrics.requestsFailed.Add(1)
		return nil, o.transportError(err)
	}
	if res.StatusCode != http.StatusOK {
		o.metrics.requestsFailed.Add(1)
		return nil, &statusError{what: "bulk request", status: res.StatusCode, body: errorBody(data)}
	}
	var r bulkResponse
	if err := json.Unmarshal(data, &r); err != nil {
		o.metrics.requestsFailed.Add(1)
		return nil, fmt.Errorf("bulk request: cannot read the answer: %w", err)
	}
	o.metrics.requestsOK.Add(1)
	return &r, nil
}

// transportError explains an error that came before any answer.
func (o *Output) transportError(err error) error {
	if errors.Is(err, es.ErrClosed) {
		return err
	}
	where := strings.Join(o.cfg.urls, ", ")
	return &errTransport{url: where, err: err}
}

// destinationErrors are per-document errors that say nothing about the
// document: the index or the cluster is not ready to take it. They are
// retried, so that an operator can fix the cause without losing events.
var destinationErrors = map[string]bool{
	"es_rejected_execution_exception":         true,
	"circuit_breaking_exception":              true,
	"cluster_block_exception":                 true,
	"index_closed_exception":                  true,
	"index_not_found_exception":               true,
	"security_exception":                      true,
	"unavailable_shards_exception":            true,
	"no_shard_available_action_exception":     true,
	"process_cluster_event_timeout_exception": true,
	"node_closed_exception":                   true,
	"shard_not_found_exception":               true,
	"primary_missing_action_exception":        true,
	"timeout_exception":                       true,
	"receive_timeout_transport_exception":     true,
	"node_not_connected_exception":            true,
	"connect_transport_exception":             true,
	"status_exception":                        true,
}

// classifyItem sorts one bulk item's result.
func classifyItem(r itemResult) outcome {
	switch {
	case r.Status >= 200 && r.Status < 300:
		return outcome{kind: created}
	case r.Status == http.StatusConflict && r.Error != nil && r.Error.Type == "version_conflict_engine_exception":
		// create with this _id found a document: an earlier attempt stored it.
		return outcome{kind: duplicate}
	}
	reason := fmt.Sprintf("status %d", r.Status)
	typ := ""
	if r.Error != nil {
		reason = r.Error.String()
		typ = r.Error.Type
	}
	switch {
	case r.Status == http.StatusTooManyRequests || r.Status >= 500,
		r.Status == http.StatusUnauthorized, r.Status == http.StatusForbidden,
		r.Status == http.StatusNotFound, r.Status == http.StatusConflict,
		destinationErrors[typ], missingPipeline(r.Error):
		return outcome{kind: retry, reason: reason, errTyp: typ}
	}
	return outcome{kind: rejected, reason: reason, errTyp: typ}
}

// missingPipeline reports the error of a document sent to an ingest
// pipeline that does not exist: the pipeline's fault, not the document's.
func missingPipeline(e *esError) bool {
	return e != nil && e.Type == "illegal_argument_exception" &&
		strings.HasPrefix(e.Reason, "pipeline with id [") && strings.HasSuffix(e.Reason, "] does not exist")
}

// deadLetter writes the rejected events into the dead-letter index, each
// under its own _id, as a document that holds the original as a string.
func (w *write) deadLetter(ctx context.Context, b *sdk.Batch) {
	var items []item
	buf := w.dead[:0]
	now := time.Now().UTC()
	doc := w.doc[:0]
	for i := range w.state {
		st := &w.state[i]
		if st.kind != rejected {
			continue
		}
		ev := &b.Events[i]
		start := len(buf)
		buf = append(buf, `{"create":{"_index":"`...)
		var err error
		buf, err = appendTarget(buf, w.o.cfg.deadLetter, ev)
		if err != nil {
			buf = buf[:start]
			st.reason += "; dead_letter_index: " + err.Error()
			continue
		}
		buf = append(buf, `","_id":"`...)
		idStart := len(buf)
		doc = ev.AppendJSON(doc[:0])
		switch {
		case ev.ID == "":
			buf = appendHashID(buf, doc)
		case plainID(ev.ID):
			buf = append(buf, ev.ID...)
		default:
			buf = appendHashID(buf, []byte(ev.ID))
		}
		idEnd := len(buf)
		buf = append(buf, "\"}}\n"...)
		dl := sdk.Event{Time: ev.Time, Fields: sdk.MakeFields(6)}
		if dl.Time.IsZero() {
			dl.Time = now
		}
		index := w.o.targetName(ev)
		dl.Fields.Append("engine.component.id", sdk.String(w.o.id))
		dl.Fields.Append("engine.dead_letter.index", sdk.String(index))
		dl.Fields.Append("error.message", sdk.String(st.reason))
		dl.Fields.Append("error.type", sdk.String(st.errTyp))
		dl.Fields.Append("event.original", sdk.String(string(doc)))
		docStart := len(buf)
		buf = dl.AppendJSON(buf)
		buf = append(buf, '\n')
		items = append(items, item{event: i, start: start, end: len(buf), doc: docStart, idStart: idStart, idEnd: idEnd})
	}
	w.dead, w.doc = buf, doc
	if len(items) == 0 {
		return
	}
	// The dead-letter request's outcomes replace the rejections: keep the
	// original reasons to pass on if the dead-letter index refuses too.
	orig := make(map[int]outcome, len(items))
	for _, it := range items {
		orig[it.event] = w.state[it.event]
	}
	w.send(ctx, buf, items)
	for _, it := range items {
		st := &w.state[it.event]
		was := orig[it.event]
		switch st.kind {
		case created, duplicate:
			*st = outcome{kind: deadLettered}
		case retry:
			// Sent again, the event is rejected again and then dead-lettered.
			st.reason = "dead_letter_index: " + st.reason
		case rejected:
			*st = outcome{kind: rejected, errTyp: was.errTyp,
				reason: was.reason + "; the dead_letter_index refused it too: " + st.reason}
		}
	}
}

// targetName is the index an event was meant for, for dead-letter
// documents.
func (o *Output) targetName(ev *sdk.Event) string {
	b, err := o.appendIndex(nil, ev)
	if err != nil {
		return ""
	}
	return string(b)
}

// result turns the outcomes into Write's answer and counts them.
func (w *write) result(ctx context.Context) error {
	var (
		counts   [deadLettered + 1]int
		retries  []int
		rejects  []sdk.Rejection
		firstErr string
	)
	for i, st := range w.state {
		counts[st.kind]++
		switch st.kind {
		case retry:
			retries = append(retries, i)
			if firstErr == "" {
				firstErr = st.reason
			}
		case rejected:
			rejects = append(rejects, sdk.Rejection{Index: i, Reason: st.reason})
		}
	}
	w.o.metrics.count(counts)
	if len(retries) == 0 && len(rejects) == 0 {
		return nil
	}
	var err error
	if len(retries) > 0 {
		err = errors.New("elasticsearch output: " + firstErr)
		if ctx.Err() != nil {
			err = fmt.Errorf("elasticsearch output: %w", ctx.Err())
		}
	}
	if len(rejects) == 0 && len(retries) == len(w.state) {
		return sdk.Retryable(err)
	}
	if len(rejects) > 0 {
		w.o.log.Warn("elasticsearch output: documents rejected", "count", len(rejects), "first", rejects[0].Reason)
	}
	return &sdk.PartialError{Retry: retries, Rejected: rejects, Err: err}
}
