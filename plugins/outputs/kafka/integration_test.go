package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk"
)

func header(m *sarama.ConsumerMessage, key string) (string, bool) {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestProduceAndConsume writes a batch and reads it back with an
// independent consumer: every event once, its JSON as the value, its id in
// the event.id header, the key, the static headers and the event's time.
func TestProduceAndConsume(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 3, nil)
	o := startOutput(t, brokers, map[string]any{
		"topic":   topic,
		"key":     "{{ host.name }}",
		"headers": map[string]string{"source": "engine", "site": "par1"},
	})

	hosts := []string{"web-1", "web-2", "db-1", "db-2", "cache-1"}
	b := sdk.NewBatch(500)
	for i := range 500 {
		ev := testEvent(i, hosts[i%len(hosts)])
		if i%50 == 7 {
			ev.ID = "" // an event without id gets no event.id header
		}
		b.Events = append(b.Events, ev)
	}
	want := map[string]sdk.Event{} // by JSON value
	for i := range b.Events {
		want[string(b.Events[i].AppendJSON(nil))] = b.Events[i].Clone()
	}
	if err := write(t, o, b); err != nil {
		t.Fatalf("Write: %v", err)
	}

	msgs := consume(t, brokers, topic, 500)
	partitionOfHost := map[string]int32{}
	for _, m := range msgs {
		ev, ok := want[string(m.Value)]
		if !ok {
			t.Fatalf("message %s/%d is not the JSON of an event written: %s", topic, m.Offset, m.Value)
		}
		delete(want, string(m.Value))
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("value is not JSON: %v: %s", err, m.Value)
		}
		if doc["@timestamp"] == nil {
			t.Errorf("document without @timestamp: %s", m.Value)
		}
		id, has := header(m, "event.id")
		switch {
		case ev.ID == "" && has:
			t.Errorf("event without id has event.id header %q", id)
		case ev.ID != "" && id != ev.ID:
			t.Errorf("event.id header = %q (present %v), want %q", id, has, ev.ID)
		}
		if s, _ := header(m, "source"); s != "engine" {
			t.Errorf("header source = %q", s)
		}
		if s, _ := header(m, "site"); s != "par1" {
			t.Errorf("header site = %q", s)
		}
		host, _ := ev.Fields.Get("host.name")
		if string(m.Key) != host.Text() {
			t.Errorf("key = %q, want %q", m.Key, host.Text())
		}
		if !m.Timestamp.Equal(ev.Time) {
			t.Errorf("timestamp = %v, want the event's time %v", m.Timestamp, ev.Time)
		}
		if p, seen := partitionOfHost[string(m.Key)]; seen && p != m.Partition {
			t.Errorf("key %q in partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOfHost[string(m.Key)] = m.Partition
	}
	if len(want) != 0 {
		t.Errorf("%d events never arrived", len(want))
	}
}

// TestKeylessSpreadsOverPartitions: without key, messages are not all in one
// partition.
func TestKeylessSpreadsOverPartitions(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 3, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic})
	for round := range 6 {
		b := sdk.NewBatch(100)
		for i := range 100 {
			b.Events = append(b.Events, testEvent(round*100+i, "web-1"))
		}
		if err := write(t, o, b); err != nil {
			t.Fatal(err)
		}
	}
	used := map[int32]int{}
	for _, m := range consume(t, brokers, topic, 600) {
		if m.Key != nil {
			t.Fatalf("message has key %q", m.Key)
		}
		used[m.Partition]++
	}
	if len(used) < 2 {
		t.Errorf("600 messages without key all went to partitions %v", used)
	}
}

// TestTemplatedTopic: the topic comes from each event; an event without the
// field is rejected with the reason, and the others are delivered.
func TestTemplatedTopic(t *testing.T) {
	brokers := kafkaBrokers(t)
	prefix := uniqueTopic(t)
	o := startOutput(t, brokers, map[string]any{"topic": prefix + "-{{ event.module }}"})
	var events []sdk.Event
	for i := range 30 {
		ev := testEvent(i, "web-1")
		ev.Fields.Set("event.module", sdk.String([]string{"auditd", "fim"}[i%2]))
		events = append(events, ev)
	}
	events[11].Fields.Delete("event.module")
	events[17].Fields.Set("event.module", sdk.String("bad/name"))
	err := write(t, o, batchOf(events...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Write = %v; want a PartialError", err)
	}
	if len(pe.Retry) != 0 || len(pe.Rejected) != 2 {
		t.Fatalf("Write = %+v; want two events rejected and none to retry", pe)
	}
	if r := pe.Rejected[0]; r.Index != 11 || !strings.Contains(r.Reason, "event.module") {
		t.Errorf("first rejection = %+v; want event 11, naming the missing field", r)
	}
	if r := pe.Rejected[1]; r.Index != 17 || !strings.Contains(r.Reason, "bad/name") || !strings.Contains(r.Reason, "'/'") {
		t.Errorf("second rejection = %+v; want event 17, naming the invalid topic", r)
	}
	// 15 auditd events less none, 15 fim events less #11 (odd) and #17 (odd).
	if n := len(consume(t, brokers, prefix+"-auditd", 15)); n != 15 {
		t.Errorf("auditd topic has %d messages", n)
	}
	if n := len(consume(t, brokers, prefix+"-fim", 13)); n != 13 {
		t.Errorf("fim topic has %d messages", n)
	}
}

// TestMissingKeyField: an event without the key's field is delivered
// without key; the others keep theirs.
func TestMissingKeyField(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 1, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic, "key": "{{ host.name }}"})
	events := []sdk.Event{testEvent(0, "a"), testEvent(1, "b"), testEvent(2, "c")}
	events[1].Fields.Delete("host.name")
	if err := write(t, o, batchOf(events...)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	msgs := consume(t, brokers, topic, 3)
	for i, want := range []string{"a", "", "c"} {
		if string(msgs[i].Key) != want || (want == "") != (msgs[i].Key == nil) {
			t.Errorf("message %d has key %q (nil %v), want %q", i, msgs[i].Key, msgs[i].Key == nil, want)
		}
	}
}

// bigEvent is an event whose JSON is about size bytes.
func bigEvent(i, size int) sdk.Event {
	ev := testEvent(i, "web-1")
	ev.Fields.Set("message", sdk.String(strings.Repeat("x", size)))
	return ev
}

// TestOversizeRejectedBeforeSending: an event larger than max_message_bytes
// is rejected with the reason, the others of the batch are delivered.
func TestOversizeRejectedBeforeSending(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 3, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic, "max_message_bytes": int64(64 << 10)})
	events := make([]sdk.Event, 10)
	for i := range events {
		events[i] = testEvent(i, "web-1")
	}
	events[3] = bigEvent(3, 100<<10)
	events[8] = bigEvent(8, 60<<10) // fits
	err := write(t, o, batchOf(events...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Write = %v; want a PartialError", err)
	}
	if len(pe.Retry) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 3 ||
		!strings.Contains(pe.Rejected[0].Reason, "larger than max_message_bytes (65536)") {
		t.Fatalf("Write = %+v; want event 3 rejected as larger than max_message_bytes", pe)
	}
	msgs := consume(t, brokers, topic, 9)
	for _, m := range msgs {
		if id, _ := header(m, "event.id"); id == events[3].ID {
			t.Errorf("the rejected event was sent")
		}
	}
}

// TestOversizeRefusedByBroker: the topic allows smaller messages than
// max_message_bytes. The broker refuses the batch holding the large event;
// the large event is rejected with the broker's reason and the others go
// through, on the first write or on the retry of the events it names.
func TestOversizeRefusedByBroker(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	limit := "16384"
	createTopic(t, brokers, topic, 1, map[string]*string{"max.message.bytes": &limit})
	o := startOutput(t, brokers, map[string]any{"topic": topic, "compression": "none"})
	events := make([]sdk.Event, 6)
	for i := range events {
		events[i] = testEvent(i, "web-1")
	}
	events[2] = bigEvent(2, 40<<10)
	err := write(t, o, batchOf(events...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Write = %v; want a PartialError", err)
	}
	t.Logf("first write: %v (retry %v)", pe, pe.Retry)
	if len(pe.Rejected) != 1 || pe.Rejected[0].Index != 2 || !strings.Contains(pe.Rejected[0].Reason, "MESSAGE_TOO_LARGE") {
		t.Fatalf("Write = %+v; want event 2 rejected by the broker as MESSAGE_TOO_LARGE", pe)
	}
	// What the core would do: write the events to retry again.
	var again []sdk.Event
	for _, i := range pe.Retry {
		if i == 2 {
			t.Fatal("the rejected event is also to be retried")
		}
		again = append(again, events[i])
	}
	if len(again) > 0 {
		if err := write(t, o, batchOf(again...)); err != nil {
			t.Fatalf("retry of %v: %v", pe.Retry, err)
		}
	}
	consume(t, brokers, topic, 5)
}

// TestCompression: each codec round-trips, and the record batches in the
// log are really compressed with it.
func TestCompression(t *testing.T) {
	brokers := kafkaBrokers(t)
	for _, tc := range []struct {
		codec string
		level int64
		want  sarama.CompressionCodec
	}{
		{"none", 0, sarama.CompressionNone},
		{"gzip", 0, sarama.CompressionGZIP},
		{"gzip", 9, sarama.CompressionGZIP},
		{"snappy", 0, sarama.CompressionSnappy},
		{"lz4", 0, sarama.CompressionLZ4},
		{"zstd", 0, sarama.CompressionZSTD},
		{"zstd", 10, sarama.CompressionZSTD},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.codec, tc.level), func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, brokers, topic, 1, nil)
			o := startOutput(t, brokers, map[string]any{"topic": topic, "compression": tc.codec, "compression_level": tc.level})
			b := sdk.NewBatch(200)
			var values [][]byte
			for i := range 200 {
				b.Events = append(b.Events, testEvent(i, "web-1"))
				values = append(values, b.Events[i].AppendJSON(nil))
			}
			if err := write(t, o, b); err != nil {
				t.Fatal(err)
			}
			for i, m := range consume(t, brokers, topic, 200) {
				// One partition: the order is the batch's.
				if !bytes.Equal(m.Value, values[i]) {
					t.Fatalf("message %d = %s, want %s", i, m.Value, values[i])
				}
			}
			for _, rb := range recordBatches(t, brokers, topic) {
				if rb.Codec != tc.want {
					t.Errorf("record batch compressed with %v, want %v", rb.Codec, tc.want)
				}
			}
		})
	}
}

// TestIdempotent: with idempotent = true (the default) the record batches
// carry a producer id and sequence numbers, so that the broker drops the
// duplicates of a retried request; with false they do not.
func TestIdempotent(t *testing.T) {
	brokers := kafkaBrokers(t)
	for _, idempotent := range []bool{true, false} {
		t.Run(fmt.Sprint(idempotent), func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, brokers, topic, 1, nil)
			o := startOutput(t, brokers, map[string]any{"topic": topic, "idempotent": idempotent})
			for round := range 3 {
				b := sdk.NewBatch(50)
				for i := range 50 {
					b.Events = append(b.Events, testEvent(round*50+i, "web-1"))
				}
				if err := write(t, o, b); err != nil {
					t.Fatal(err)
				}
			}
			consume(t, brokers, topic, 150)
			batches := recordBatches(t, brokers, topic)
			if len(batches) == 0 {
				t.Fatal("no record batches")
			}
			next := int32(0)
			for _, rb := range batches {
				if idempotent {
					if rb.ProducerID < 0 {
						t.Fatalf("record batch without producer id: %+v", rb)
					}
					if rb.FirstSequence != next {
						t.Errorf("record batch starts at sequence %d, want %d", rb.FirstSequence, next)
					}
					next = rb.FirstSequence + rb.LastOffsetDelta + 1
				} else if rb.ProducerID != -1 {
					t.Errorf("idempotent = false, but the record batch has producer id %d", rb.ProducerID)
				}
			}
		})
	}
}

// TestAcksLeader: the output works with required_acks = "leader".
func TestAcksLeader(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 1, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic, "required_acks": "leader", "idempotent": false})
	if err := write(t, o, batchOf(testEvent(0, "a"), testEvent(1, "b"))); err != nil {
		t.Fatal(err)
	}
	consume(t, brokers, topic, 2)
}

// TestVersions: the default protocol version and the newest one sarama
// knows both work against the test broker.
func TestVersions(t *testing.T) {
	brokers := kafkaBrokers(t)
	for _, v := range []string{defaultVersion, "3.9.0", sarama.MaxVersion.String()} {
		t.Run(v, func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, brokers, topic, 1, nil)
			o := startOutput(t, brokers, map[string]any{"topic": topic, "version": v, "compression": "zstd"})
			if err := write(t, o, batchOf(testEvent(0, "a"), testEvent(1, "b"))); err != nil {
				t.Fatal(err)
			}
			consume(t, brokers, topic, 2)
		})
	}
}

// TestCloseFlushesAndRefusesWrites: Close returns once the producer is
// closed; a Write after Close is a permanent error.
func TestCloseFlushesAndRefusesWrites(t *testing.T) {
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 1, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic})
	if err := write(t, o, batchOf(testEvent(0, "a"))); err != nil {
		t.Fatal(err)
	}
	c := o.conn
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-c.collected:
	default:
		t.Error("Close returned before the producer's results were drained")
	}
	if err := o.Write(ctx, batchOf(testEvent(1, "a"))); !sdk.IsPermanent(err) {
		t.Errorf("Write after Close = %v; want a permanent error", err)
	}
	if err := o.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestBrokerRefused: nothing listens at the broker address. Write fails
// retryably for the whole batch, naming the cause; it is not a partial or
// permanent error.
func TestBrokerRefused(t *testing.T) {
	addr := testservers.ClosedAddr(t)
	o := startOutput(t, []string{addr}, map[string]any{"topic": "engine-test", "timeout": 2 * time.Second})
	err := write(t, o, batchOf(testEvent(0, "a"), testEvent(1, "b")))
	var pe *sdk.PartialError
	if err == nil || sdk.IsPermanent(err) || errors.As(err, &pe) {
		t.Fatalf("Write = %v; want a retryable error for the whole batch", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not name the broker and the cause", err)
	}
}

// TestWriteReturnsWhenContextEnds: a broker that accepts the connection
// and never answers does not hold Write past its context.
func TestWriteReturnsWhenContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // read nothing, answer nothing
		}
	}()
	o := startOutput(t, []string{l.Addr().String()}, map[string]any{"topic": "engine-test", "timeout": time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Write(ctx, batchOf(testEvent(0, "a"))) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Write = %v; want the context's error", err)
		}
	case <-time.After(30 * time.Second): // far below the one-minute timeout the output waits for the broker
		t.Fatal("Write did not return when its context ended")
	}
	// Close must not wait for the silent broker either.
	cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer ccancel()
	closed := make(chan struct{})
	go func() { o.Close(cctx); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return when its context ended")
	}
}

// TestCheckConnection: a reachable cluster passes; a refused address, TLS
// against a plain listener and a missing topic with auto-creation on are
// told apart.
func TestCheckConnection(t *testing.T) {
	brokers := kafkaBrokers(t)
	check := func(values map[string]any) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		return plugin(t).CheckConnection(ctx, testConfig(t, values))
	}
	existing := uniqueTopic(t)
	createTopic(t, brokers, existing, 1, nil)

	if err := check(map[string]any{"brokers": brokers, "topic": existing}); err != nil {
		t.Errorf("existing topic: %v", err)
	}
	// The test broker creates topics automatically: a missing one is fine.
	missing := uniqueTopic(t)
	if err := check(map[string]any{"brokers": brokers, "topic": missing}); err != nil {
		t.Errorf("missing topic with auto-creation on: %v", err)
	}
	if err := check(map[string]any{"brokers": brokers, "topic": "audit-{{ event.module }}"}); err != nil {
		t.Errorf("templated topic: %v", err)
	}
	// The check must not have created the missing topic.
	client, err := sarama.NewClient(brokers, clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	topics, _ := client.Topics()
	client.Close()
	for _, tp := range topics {
		if tp == missing {
			t.Errorf("CheckConnection created topic %s", missing)
		}
	}

	addr := testservers.ClosedAddr(t)
	err = check(map[string]any{"brokers": []string{addr}, "timeout": 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), "nothing listens there") {
		t.Errorf("refused: %v", err)
	}

	err = check(map[string]any{"brokers": brokers, "timeout": 2 * time.Second, "tls": block(tlsOptions, nil)})
	if err == nil || !strings.Contains(err.Error(), "TLS listener") {
		t.Errorf("TLS against a plain listener: %v", err)
	}

	err = check(map[string]any{"brokers": brokers, "timeout": 2 * time.Second,
		"sasl": block(saslOptions, map[string]any{"mechanism": "SCRAM-SHA-512", "username": "engine", "password": "secret"})})
	if err == nil || !strings.Contains(err.Error(), "SASL listener") {
		t.Errorf("SASL against a listener without SASL: %v", err)
	}
}

// TestBrokerDown stops Kafka: Write fails retryably for the whole batch
// (nothing went through) and returns; once Kafka is back, the same output
// delivers the batch.
func TestBrokerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts Kafka")
	}
	testservers.Lock(t)
	brokers := kafkaBrokers(t)
	topic := uniqueTopic(t)
	createTopic(t, brokers, topic, 1, nil)
	o := startOutput(t, brokers, map[string]any{"topic": topic, "timeout": 3 * time.Second})
	if err := write(t, o, batchOf(testEvent(0, "a"))); err != nil {
		t.Fatal(err)
	}

	testservers.Stop(t, "kafka")
	b := batchOf(testEvent(1, "a"), testEvent(2, "a"), testEvent(3, "a"))
	start := time.Now()
	err := write(t, o, b)
	t.Logf("Write with Kafka down returned after %v", time.Since(start))
	var pe *sdk.PartialError
	if err == nil || sdk.IsPermanent(err) || errors.As(err, &pe) {
		t.Fatalf("Write with Kafka down = %v; want a retryable error for the whole batch", err)
	}
	t.Logf("Kafka down: %v", err)
	if !strings.Contains(err.Error(), "check that Kafka runs") {
		t.Errorf("the error %q has no hint", err)
	}

	testservers.Start(t, "kafka")
	deadline := time.Now().Add(waitFor)
	for {
		err := write(t, o, b)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Write after Kafka came back: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // the core's backoff
	}
	// A write that failed part-way may have delivered some events before
	// the one that succeeded: at least once, not exactly once.
	seen := map[string]bool{}
	for _, m := range consumeAtLeast(t, brokers, topic, 4) {
		id, _ := header(m, "event.id")
		seen[id] = true
	}
	for i := range 4 {
		if id := testEvent(i, "a").ID; !seen[id] {
			t.Errorf("event %s never arrived", id)
		}
	}
}
