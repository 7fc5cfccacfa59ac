package kafka

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/internal/corpus/coalesced"
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
	benchOnce.Do(func() { benchCorpus = coalesced.Corpus(b, benchEvents) })
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
	for _, n := range []int{1, 2, 8, 16} { // the choice of the default
		cases = append(cases, benchCase{"lz4", benchBatch, n})
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("compression=%s/batch=%d/in_flight=%d", tc.codec, tc.batch, tc.inFlight), func(b *testing.B) {
			batches := splitBatches(events, tc.batch)
			values := map[string]any{"brokers": brokers, "topic": "unused", "compression": tc.codec, "writes_in_flight": int64(tc.inFlight)}
			var output, bare, bareEncoding runStats
			var stored int64
			for b.Loop() {
				topic := uniqueTopic(b)
				createTopic(b, brokers, topic, 3, nil)
				// The labels tell the two apart in a CPU profile
				// (go tool pprof -tagfocus run=output); sarama's
				// goroutines inherit them from the producer's creator.
				pprof.Do(context.Background(), pprof.Labels("run", "bare"), func(context.Context) {
					r := runBare(b, brokers, topic+"-bare", values, events, false)
					bare.add(r)
				})
				pprof.Do(context.Background(), pprof.Labels("run", "bare-encoding"), func(context.Context) {
					r := runBare(b, brokers, topic+"-bare-encoding", values, events, true)
					bareEncoding.add(r)
				})
				values["topic"] = topic
				pprof.Do(context.Background(), pprof.Labels("run", "output"), func(context.Context) {
					r := runOutput(b, brokers, values, batches)
					output.add(r)
				})
				stored = topicBytes(b, brokers, topic)
			}
			n := float64(b.N * len(events))
			out := n / output.wall.Seconds()
			b.ReportMetric(out, "output-events/s")
			b.ReportMetric(n/bare.wall.Seconds(), "bare-events/s")
			b.ReportMetric(n/bareEncoding.wall.Seconds(), "bare-encoding-events/s")
			b.ReportMetric(out/(n/bare.wall.Seconds()), "output/bare")
			b.ReportMetric(out/(n/bareEncoding.wall.Seconds()), "output/bare-encoding")
			b.ReportMetric(float64(output.cpu.Microseconds())/n, "output-cpu-µs/event")
			b.ReportMetric(float64(bare.cpu.Microseconds())/n, "bare-cpu-µs/event")
			b.ReportMetric(float64(bareEncoding.cpu.Microseconds())/n, "bare-encoding-cpu-µs/event")
			if output.broker > 0 {
				b.ReportMetric(float64(output.broker.Microseconds())/n, "output-broker-cpu-µs/event")
				b.ReportMetric(float64(bare.broker.Microseconds())/n, "bare-broker-cpu-µs/event")
			}
			b.ReportMetric(output.machineBusy(), "output-machine-busy")
			b.ReportMetric(bare.machineBusy(), "bare-machine-busy")
			b.ReportMetric(float64(output.requests)/float64(b.N*len(batches)), "requests/write")
			b.ReportMetric(float64(bare.requests)/float64(b.N*len(batches)), "bare-requests/batch")
			b.ReportMetric(float64(jsonBytes)/float64(len(events)), "B/event")
			b.ReportMetric(float64(stored)/float64(len(events)), "stored-B/event")
		})
	}
}

// runStats adds up the runs of one producer.
type runStats struct {
	wall, cpu time.Duration // elapsed, and CPU time of this process
	busy, all uint64        // the whole machine's busy and total CPU ticks
	broker    time.Duration // CPU time of the broker's process, when known
	requests  int64         // produce requests sent
}

func (s *runStats) add(r runStats) {
	s.wall += r.wall
	s.cpu += r.cpu
	s.busy += r.busy
	s.all += r.all
	s.broker += r.broker
	s.requests += r.requests
}

// machineBusy is the fraction of the machine's CPU (all cores, the broker's
// and everything else's included) that was busy during the runs: near 1,
// the producer waits for CPU rather than for the broker.
func (s *runStats) machineBusy() float64 {
	if s.all == 0 {
		return 0
	}
	return float64(s.busy) / float64(s.all)
}

// machineTicks reads the machine's busy and total CPU ticks from /proc/stat
// (zero where there is none).
func machineTicks() (busy, all uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all
}

// brokerCPU is the CPU time the broker's process has used, when
// ENGINE_BENCH_BROKER_PID names it (on the same machine):
//
//	ENGINE_BENCH_BROKER_PID=$(cat .cache/testenv/run/kafka/kafka.pid) go test ...
func brokerCPU() time.Duration {
	pid := os.Getenv("ENGINE_BENCH_BROKER_PID")
	if pid == "" {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command in parentheses may hold spaces; utime and stime are the
	// 12th and 13th fields after it, in ticks of 1/100 s.
	_, rest, _ := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// measure runs f and returns its wall and CPU time, the machine's ticks and
// the broker's CPU time meanwhile.
func measure(f func()) runStats {
	busy, all := machineTicks()
	broker := brokerCPU()
	start, cpu := time.Now(), cpuTime()
	f()
	r := runStats{wall: time.Since(start), cpu: cpuTime() - cpu, broker: brokerCPU() - broker}
	busy2, all2 := machineTicks()
	r.busy, r.all = busy2-busy, all2-all
	return r
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

// runOutput writes the batches through a new Output, as runOutputWith
// does. Building the output and connecting are not timed.
func runOutput(b *testing.B, brokers []string, values map[string]any, batches []*sdk.Batch) runStats {
	b.StopTimer()
	defer b.StartTimer()
	cfg := sdktest.Config(plugin(b), values)
	o, err := newOutput(cfg, sdktest.Env("output.kafka.bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	out := o.(*Output)
	defer out.Close(context.Background())
	// Connect and learn the topic's partitions before timing.
	if err := out.Write(context.Background(), batchOf(batches[0].Events[0])); err != nil {
		b.Fatal(err)
	}
	before := requestCount(out.sc)
	r := measure(func() { runOutputWith(b, out, batches) })
	r.requests = requestCount(out.sc) - before
	return r
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
// delivery workers do, until the last is acknowledged.
func runOutputWith(b *testing.B, out *Output, batches []*sdk.Batch) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, out.WritesInFlight())
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
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// runBare sends the same messages with a bare AsyncProducer of the same
// configuration, as one continuous stream, from the first send to the last
// acknowledgement. With encode, each event's JSON is encoded just before it
// is sent, by the one goroutine that sends (as a producer that encodes must);
// without, all were encoded beforehand, off the clock.
func runBare(b *testing.B, brokers []string, topic string, values map[string]any, events []sdk.Event, encode bool) runStats {
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
	size := 0
	for i := range events {
		msgs[i] = sarama.ProducerMessage{Topic: topic, Timestamp: events[i].Time}
		if events[i].ID != "" {
			msgs[i].Headers = []sarama.RecordHeader{{Key: []byte(eventIDHeader), Value: []byte(events[i].ID)}}
		}
		size += len(events[i].AppendJSON(nil))
	}
	// The values go into one buffer allocated beforehand, as the output's
	// reused buffers: encoding then costs no allocation in either.
	arena := make([]byte, 0, size)
	encodeValue := func(i int) *sarama.ProducerMessage {
		start := len(arena)
		arena = events[i].AppendJSON(arena)
		msgs[i].Value = sarama.ByteEncoder(arena[start:len(arena):len(arena)])
		return &msgs[i]
	}
	if !encode {
		for i := range events {
			encodeValue(i)
		}
	}
	// Warm up as the output does: connect and learn the partitions.
	p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("{}")}
	select {
	case <-p.Successes():
	case e := <-p.Errors():
		b.Fatal(e)
	}
	before := requestCount(sc)
	r := measure(func() {
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
			if encode {
				p.Input() <- encodeValue(i)
			} else {
				p.Input() <- &msgs[i]
			}
		}
		if err := <-acked; err != nil {
			b.Fatal(err)
		}
	})
	r.requests = requestCount(sc) - before
	return r
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
