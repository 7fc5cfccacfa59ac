package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk"
)

// TestConcurrentWrites calls Write from WritesInFlight goroutines at once,
// as the core's delivery workers do, from the moment the output is built
// (so that they also wait together for the first connection), with a
// templated topic, a key and static headers. Every event arrives exactly
// once, in its module's topic, with its own id, its host as key and the
// headers.
func TestConcurrentWrites(t *testing.T) {
	brokers := kafkaBrokers(t)
	prefix := uniqueTopic(t)
	modules := []string{"auditd", "fim"}
	for _, m := range modules {
		createTopic(t, brokers, prefix+"-"+m, 3, nil)
	}
	o := startOutput(t, brokers, map[string]any{
		"topic":            prefix + "-{{ event.module }}",
		"key":              "{{ host.name }}",
		"headers":          map[string]string{"source": "engine"},
		"writes_in_flight": int64(4),
	})
	hosts := []string{"web-1", "web-2", "db-1", "db-2", "cache-1"}
	writers := o.WritesInFlight()
	const batches, perBatch = 5, 300
	total := writers * batches * perBatch

	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for wr := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bn := range batches {
				b := sdk.NewBatch(perBatch)
				for i := range perBatch {
					n := (wr*batches+bn)*perBatch + i
					ev := testEvent(n, hosts[n%len(hosts)])
					ev.Fields.Set("event.module", sdk.String(modules[n%len(modules)]))
					b.Events = append(b.Events, ev)
				}
				if err := write(t, o, b); err != nil {
					errs <- fmt.Errorf("writer %d, batch %d: %w", wr, bn, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	seen := map[string]bool{}
	for _, module := range modules {
		for _, m := range consume(t, brokers, prefix+"-"+module, total/len(modules)) {
			var doc struct {
				Event struct {
					Module string `json:"module"`
				} `json:"event"`
				Auditd struct {
					Sequence int `json:"sequence"`
				} `json:"auditd"`
			}
			if err := json.Unmarshal(m.Value, &doc); err != nil {
				t.Fatalf("value is not JSON: %v: %s", err, m.Value)
			}
			n := doc.Auditd.Sequence - 1000
			want := testEvent(n, hosts[n%len(hosts)])
			id, _ := header(m, "event.id")
			switch {
			case n < 0 || n >= total:
				t.Errorf("message of an event never written: %s", m.Value)
			case doc.Event.Module != module:
				t.Errorf("event %d of module %q in the topic of %q", n, doc.Event.Module, module)
			case id != want.ID:
				t.Errorf("event %d has event.id %q, want %q: headers of another message?", n, id, want.ID)
			case seen[id]:
				t.Errorf("event %s arrived twice", id)
			}
			seen[id] = true
			if host := hosts[n%len(hosts)]; string(m.Key) != host {
				t.Errorf("event %d has key %q, want %q", n, m.Key, host)
			}
			if s, _ := header(m, "source"); s != "engine" {
				t.Errorf("event %d has header source = %q", n, s)
			}
			if !m.Timestamp.Equal(want.Time) {
				t.Errorf("event %d has timestamp %v, want %v", n, m.Timestamp, want.Time)
			}
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct events arrived, want %d", len(seen), total)
	}
}

// TestCloseWhileWriting calls Close while several Writes are encoding,
// handing over their batches and waiting for acknowledgements. Close
// returns, every Write returns (those that had handed over their batch with
// its acknowledgements), later Writes are refused, nothing panics, and
// every event of a Write that returned nil is in the topic.
func TestCloseWhileWriting(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 3, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic, "writes_in_flight": int64(4)})
	if err := write(t, o, batchOf(testEvent(0, "a"))); err != nil {
		t.Fatal(err)
	}

	const perBatch = 1000
	type result struct {
		delivered []string // ids of the events of Writes that returned nil
		last      error    // the error that stopped the writer
	}
	results := make([]result, o.WritesInFlight())
	wrote := make(chan struct{}, len(results))
	var wg sync.WaitGroup
	for wr := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bn := 0; ; bn++ {
				b := sdk.NewBatch(perBatch)
				for i := range perBatch {
					b.Events = append(b.Events, testEvent(1+((wr*1000+bn)*perBatch+i), "a"))
				}
				err := write(t, o, b)
				if err != nil {
					results[wr].last = err
					return
				}
				for i := range b.Events {
					results[wr].delivered = append(results[wr].delivered, b.Events[i].ID)
				}
				if bn == 0 {
					wrote <- struct{}{}
				}
			}
		}()
	}
	// Close once every writer has had a batch through, so that the others
	// are on their way.
	for range results {
		<-wrote
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Errorf("Close while writing: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Writes did not return after Close")
	}

	delivered := 1
	for wr, r := range results {
		if !sdk.IsPermanent(r.last) && !strings.Contains(r.last.Error(), "producer was closed") {
			t.Errorf("writer %d stopped with %v; want the refusal of a write after Close, or the producer closed while handing over", wr, r.last)
		}
		delivered += len(r.delivered)
		t.Logf("writer %d: %d events acknowledged, then %v", wr, len(r.delivered), r.last)
	}
	if err := o.Write(ctx, batchOf(testEvent(0, "a"))); !errors.Is(err, errClosed) {
		t.Errorf("Write after Close = %v; want %v", err, errClosed)
	}
	seen := map[string]bool{}
	for _, m := range consumeAtLeast(t, brokers, topic, delivered) {
		id, _ := header(m, "event.id")
		seen[id] = true
	}
	for wr, r := range results {
		for _, id := range r.delivered {
			if !seen[id] {
				t.Fatalf("writer %d: event %s was acknowledged but is not in the topic", wr, id)
			}
		}
	}
	t.Logf("%d events acknowledged before Close", delivered)
}

// TestBrokerRefusedConcurrently: Writes waiting together for a connection
// that fails all return a retryable error naming the cause, and the next
// Write tries again.
func TestBrokerRefusedConcurrently(t *testing.T) {
	addr := testservers.ClosedAddr(t)
	o := startOutput(t, []string{addr}, map[string]any{"topic": "engine-test", "timeout": 2 * time.Second})
	for round := range 2 {
		errs := make([]error, o.WritesInFlight())
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = write(t, o, batchOf(testEvent(i, "a")))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			var pe *sdk.PartialError
			if err == nil || sdk.IsPermanent(err) || errors.As(err, &pe) || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("round %d, write %d = %v; want a retryable error for the whole batch naming the cause", round, i, err)
			}
		}
	}
}
