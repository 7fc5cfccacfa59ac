package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/plugins/processors/coalesce"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// Run against the test Kafka (scripts/testenv up):
//
//	go test ./plugins/outputs/kafka -run '^$' -bench VsBare -benchtime 3x
//
// Each iteration sends the first benchEvents events of the replay corpus
// (real audit records coalesced into ECS documents, ~1 KB of JSON each)
// twice, each time to a fresh topic of three partitions:
//
//   - output: through Output.Write, in batches of 1024, each Write waiting
//     for the acknowledgements of its batch as the core would;
//   - bare: with a bare sarama AsyncProducer of the same configuration
//     (acks=all, idempotent, same compression and partitioner), sending the
//     same message bytes (JSON encoded beforehand, event.id header,
//     timestamp) as fast as it takes them, with no batch boundaries.
//
// The two alternate within one run, so that the shared machine's noise hits
// both alike; the benchmark reports both rates and output/bare.

const (
	benchEvents = 50000
	benchBatch  = 1024
)

var (
	benchOnce   sync.Once
	benchCorpus []sdk.Event
)

// corpusEvents returns the first benchEvents events the coalesce processor
// makes of the corpus.
func corpusEvents(b *testing.B) []sdk.Event {
	benchOnce.Do(func() {
		lines := corpus.Lines(b)
		p := coalesce.New(coalesce.Options{})
		sink := sdk.EmitterFunc(func(_ context.Context, batch *sdk.Batch) error {
			for i := range batch.Events {
				if len(benchCorpus) < benchEvents {
					benchCorpus = append(benchCorpus, batch.Events[i].Clone())
				}
			}
			batch.Done()
			return nil
		})
		ctx := context.Background()
		for start := 0; start < len(lines) && len(benchCorpus) < benchEvents; start += 1024 {
			batch := sdk.NewBatch(1024)
			for _, l := range lines[start:min(start+1024, len(lines))] {
				ev := sdk.Event{Fields: sdk.MakeFields(1)}
				ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
				batch.Events = append(batch.Events, ev)
			}
			if err := p.Process(ctx, batch, sink); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Drain(ctx, sink, true); err != nil {
			b.Fatal(err)
		}
	})
	if len(benchCorpus) < benchEvents {
		b.Fatalf("the corpus gave %d events, want %d", len(benchCorpus), benchEvents)
	}
	return benchCorpus
}

func BenchmarkVsBare(b *testing.B) {
	brokers := kafkaBrokers(b)
	events := corpusEvents(b)
	var batches []*sdk.Batch
	for start := 0; start < len(events); start += benchBatch {
		batches = append(batches, batchOf(events[start:min(start+benchBatch, len(events))]...))
	}
	jsonBytes := 0
	for i := range events {
		jsonBytes += len(events[i].AppendJSON(nil))
	}

	for _, codec := range []string{"none", "lz4", "snappy", "zstd", "gzip"} {
		b.Run("compression="+codec, func(b *testing.B) {
			values := map[string]any{"brokers": brokers, "topic": "unused", "compression": codec}
			var outputTime, bareTime, bareBatchedTime time.Duration
			var stored int64
			for b.Loop() {
				topic := uniqueTopic(b)
				createTopic(b, brokers, topic, 3, nil)
				bareTime += runBare(b, brokers, topic+"-bare", values, events, len(events))
				bareBatchedTime += runBare(b, brokers, topic+"-bare-batched", values, events, benchBatch)
				values["topic"] = topic
				outputTime += runOutput(b, brokers, values, batches)
				stored = topicBytes(b, brokers, topic)
			}
			n := float64(b.N * len(events))
			out, bare := n/outputTime.Seconds(), n/bareTime.Seconds()
			b.ReportMetric(out, "output-events/s")
			b.ReportMetric(bare, "bare-events/s")
			b.ReportMetric(n/bareBatchedTime.Seconds(), "bare-batched-events/s")
			b.ReportMetric(out/bare, "output/bare")
			b.ReportMetric(float64(jsonBytes)/float64(len(events)), "B/event")
			b.ReportMetric(float64(stored)/float64(len(events)), "stored-B/event")
		})
	}
}

// topicBytes is the size of topic's log on the brokers: what the messages
// take once compressed and framed.
func topicBytes(b *testing.B, brokers []string, topic string) int64 {
	b.StopTimer()
	defer b.StartTimer()
	admin, err := sarama.NewClusterAdmin(brokers, clientConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	ids := []int32{}
	bs, _, err := admin.DescribeCluster()
	if err != nil {
		b.Fatal(err)
	}
	for _, br := range bs {
		ids = append(ids, br.ID())
	}
	dirs, err := admin.DescribeLogDirs(ids)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, ds := range dirs {
		for _, d := range ds {
			for _, t := range d.Topics {
				if t.Topic == topic {
					for _, p := range t.Partitions {
						size += p.Size
					}
				}
			}
		}
	}
	return size
}

// runOutput writes the batches through a new Output and returns the time
// the writes took. Building the output and connecting are not timed.
func runOutput(b *testing.B, brokers []string, values map[string]any, batches []*sdk.Batch) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	cfg := sdktest.Config(plugin(b), values)
	o, err := newOutput(cfg, sdktest.Env("output.kafka.bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	out := o.(*Output)
	defer out.Close(context.Background())
	ctx := context.Background()
	// Connect and learn the topic's partitions before timing.
	if err := out.Write(ctx, batchOf(batches[0].Events[0])); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, batch := range batches {
		if err := out.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// runBare sends the same messages with a bare AsyncProducer of the same
// configuration and returns the time from the first send to the last
// acknowledgement.
func runBare(b *testing.B, brokers []string, topic string, values map[string]any, events []sdk.Event, batch int) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	createTopic(b, brokers, topic, 3, nil)
	c, _, err := parseConfig(sdktest.Config(plugin(b), values))
	if err != nil {
		b.Fatal(err)
	}
	sc, err := c.saramaConfig()
	if err != nil {
		b.Fatal(err)
	}
	p, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	msgs := make([]sarama.ProducerMessage, len(events))
	for i := range events {
		msgs[i] = sarama.ProducerMessage{
			Topic:     topic,
			Value:     sarama.ByteEncoder(events[i].AppendJSON(nil)),
			Timestamp: events[i].Time,
		}
		if events[i].ID != "" {
			msgs[i].Headers = []sarama.RecordHeader{{Key: []byte(eventIDHeader), Value: []byte(events[i].ID)}}
		}
	}
	// Warm up as the output does: connect and learn the partitions.
	p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("{}")}
	select {
	case <-p.Successes():
	case e := <-p.Errors():
		b.Fatal(e)
	}
	start := time.Now()
	for first := 0; first < len(msgs); first += batch {
		chunk := msgs[first:min(first+batch, len(msgs))]
		acked := make(chan error, 1)
		go func() {
			var firstErr error
			for range chunk {
				select {
				case <-p.Successes():
				case e := <-p.Errors():
					if firstErr == nil {
						firstErr = e
					}
				}
			}
			acked <- firstErr
		}()
		for i := range chunk {
			p.Input() <- &chunk[i]
		}
		if err := <-acked; err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkEncode measures what Write does before sarama takes over:
// building the messages of a batch of 1024 corpus events (JSON value,
// headers, size check). It needs no Kafka.
//
//	go test ./plugins/outputs/kafka -run '^$' -bench Encode -benchmem
func BenchmarkEncode(b *testing.B) {
	events := corpusEvents(b)[:benchBatch]
	c, _, err := parseConfig(testConfig(b, nil))
	if err != nil {
		b.Fatal(err)
	}
	o := &Output{cfg: c, topics: map[string]string{}}
	bytes := 0
	b.ReportAllocs()
	for b.Loop() {
		w := o.newWrite(len(events))
		for i := range events {
			if _, reason := o.message(w, i, &events[i]); reason != "" {
				b.Fatal(reason)
			}
		}
		bytes = len(w.buf)
		o.spare = w
	}
	b.SetBytes(int64(bytes))
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
