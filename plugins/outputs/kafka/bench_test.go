package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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
//	go test ./plugins/outputs/kafka -run '^$' -bench VsBare -benchtime 5x
//
// Each iteration sends the first benchEvents events of the replay corpus
// (real audit records coalesced into ECS documents, ~1.2 KB of JSON each)
// twice, each time to a fresh topic of three partitions:
//
//   - output: through Output.Write, in batches (1024 unless the name says
//     otherwise), from as many goroutines as writes_in_flight, each taking
//     the next batch and waiting for its acknowledgements, as the core's
//     delivery workers do;
//   - bare: a bare sarama AsyncProducer of the same configuration (acks=all,
//     idempotent, same compression and partitioner; sarama's default flush)
//     sending the same message bytes (JSON encoded beforehand, event.id
//     header, timestamp) as one continuous stream, with no batch boundaries.
//
// The two alternate within one run, so that the shared machine's noise hits
// them alike; the benchmark reports both rates, output/bare, the CPU time of
// each per event, the produce requests per Write, and the bytes per event in
// the topic's log.

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
	jsonBytes := 0
	for i := range events {
		jsonBytes += len(events[i].AppendJSON(nil))
	}
	type benchCase struct {
		codec    string
		batch    int
		inFlight int
	}
	cases := []benchCase{
		{"none", benchBatch, defaultWritesInFlight},
		{"lz4", benchBatch, defaultWritesInFlight},
		{"snappy", benchBatch, defaultWritesInFlight},
		{"zstd", benchBatch, defaultWritesInFlight},
		{"gzip", benchBatch, defaultWritesInFlight},
		{"lz4", 2 * benchBatch, defaultWritesInFlight}, // the core's default batch_max_events for outputs
	}
	for _, n := range []int{1, 2, 8} { // the choice of the default
		cases = append(cases, benchCase{"lz4", benchBatch, n})
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("compression=%s/batch=%d/in_flight=%d", tc.codec, tc.batch, tc.inFlight), func(b *testing.B) {
			batches := splitBatches(events, tc.batch)
			values := map[string]any{"brokers": brokers, "topic": "unused", "compression": tc.codec, "writes_in_flight": int64(tc.inFlight)}
			var outputTime, bareTime, outputCPU, bareCPU time.Duration
			var stored int64
			var requests int64
			for b.Loop() {
				topic := uniqueTopic(b)
				createTopic(b, brokers, topic, 3, nil)
				d, cpu := runBare(b, brokers, topic+"-bare", values, events)
				bareTime, bareCPU = bareTime+d, bareCPU+cpu
				values["topic"] = topic
				d, n, cpu := runOutput(b, brokers, values, batches)
				outputCPU += cpu
				outputTime += d
				requests += n
				stored = topicBytes(b, brokers, topic)
			}
			n := float64(b.N * len(events))
			out, bare := n/outputTime.Seconds(), n/bareTime.Seconds()
			b.ReportMetric(out, "output-events/s")
			b.ReportMetric(bare, "bare-events/s")
			b.ReportMetric(out/bare, "output/bare")
			b.ReportMetric(float64(outputCPU.Microseconds())/n, "output-cpu-µs/event")
			b.ReportMetric(float64(bareCPU.Microseconds())/n, "bare-cpu-µs/event")
			b.ReportMetric(float64(requests)/float64(b.N*len(batches)), "requests/write")
			b.ReportMetric(float64(jsonBytes)/float64(len(events)), "B/event")
			b.ReportMetric(float64(stored)/float64(len(events)), "stored-B/event")
		})
	}
}

// cpuTime is the CPU time this process used so far (user and system): the
// engine's side of the work, without the broker's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
// the writes took and the number of produce requests they needed. Building
// the output and connecting are not timed.
func runOutput(b *testing.B, brokers []string, values map[string]any, batches []*sdk.Batch) (wall time.Duration, requests int64, cpu time.Duration) {
	b.StopTimer()
	defer b.StartTimer()
	cfg := sdktest.Config(plugin(b), values)
	o, err := newOutput(cfg, sdktest.Env("output.kafka.bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	out := o.(*Output)
	defer out.Close(context.Background())
	before, cpuBefore := requestCount(out.sc), cpuTime()
	wall = runOutputWith(b, out, batches)
	return wall, requestCount(out.sc) - before, cpuTime() - cpuBefore
}

// requestCount is the number of produce requests sarama has sent with sc.
func requestCount(sc *sarama.Config) int64 {
	if h, ok := sc.MetricRegistry.Get("records-per-request").(interface{ Count() int64 }); ok {
		return h.Count()
	}
	return 0
}

func splitBatches(events []sdk.Event, size int) []*sdk.Batch {
	var batches []*sdk.Batch
	for start := 0; start < len(events); start += size {
		batches = append(batches, batchOf(events[start:min(start+size, len(events))]...))
	}
	return batches
}

// runOutputWith writes the batches through out from WritesInFlight
// goroutines, each taking the next batch and writing it, as the core's
// delivery workers do, and returns the time until the last was acknowledged.
func runOutputWith(b *testing.B, out *Output, batches []*sdk.Batch) time.Duration {
	ctx := context.Background()
	// Connect and learn the topic's partitions before timing.
	if err := out.Write(ctx, batchOf(batches[0].Events[0])); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, out.WritesInFlight())
	start := time.Now()
	for range out.WritesInFlight() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(batches)); i = next.Add(1) - 1 {
				if err := out.Write(ctx, batches[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return d
}

// runBare sends the same messages with a bare AsyncProducer of the same
// configuration, as one continuous stream, and returns the time from the
// first send to the last acknowledgement and the CPU time it took.
func runBare(b *testing.B, brokers []string, topic string, values map[string]any, events []sdk.Event) (time.Duration, time.Duration) {
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
	// sarama's default flush (send as soon as the previous request is
	// answered) suits a continuous stream best; the output's flush setting
	// is tuned for batches that end.
	sc.Producer.Flush = sarama.NewConfig().Producer.Flush
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
	start, cpuStart := time.Now(), cpuTime()
	acked := make(chan error, 1)
	go func() {
		var firstErr error
		for range msgs {
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
	for i := range msgs {
		p.Input() <- &msgs[i]
	}
	if err := <-acked; err != nil {
		b.Fatal(err)
	}
	return time.Since(start), cpuTime() - cpuStart
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
	o := &Output{cfg: c, spares: make(chan *writeState, 1)}
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
		o.reuse(w)
	}
	b.SetBytes(int64(bytes))
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
