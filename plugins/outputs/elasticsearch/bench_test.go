package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/engine-audit/engine/internal/corpus/coalesced"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// Run against the real Elasticsearch (scripts/testenv up):
//
//	go test ./plugins/outputs/elasticsearch -run '^$' -bench Replay -benchtime 1x -replay.rounds 5
//
// Each variant replays the same 50,000 coalesced corpus events into a fresh
// index; the variants take turns, round after round, so that drift in the
// cluster (merges, caches, the other tenants of the machine) spreads over
// all of them. The median events/s of each variant is reported, and the
// ratio of the output's default configuration to the baseline's.
//
//   - output: batches of 1024 events through Write, called as the core calls
//     it: by writes_in_flight workers taking the batches in turn.
//   - bulkindexer: the baseline, go-elasticsearch's esutil.BulkIndexer
//     sending the same documents (same bytes, same _ids, create actions),
//     flushing at the byte size of 1024 documents, with its default
//     NumWorkers (runtime.NumCPU()) or the number named.
//
// Both encode the events inside the timed loop. With gzip, the output
// compresses with klauspost/compress and the BulkIndexer with its client's
// own compress/gzip, both at level 1.

const benchEvents = 50_000

var benchRounds = flag.Int("replay.rounds", 3, "rounds of BenchmarkReplay (each runs every variant once)")

var (
	benchOnce   sync.Once
	benchCorpus []sdk.Event
)

func replayEvents(b *testing.B) []sdk.Event {
	benchOnce.Do(func() { benchCorpus = coalesced.Corpus(b, benchEvents) })
	return benchCorpus
}

// batches cuts events into batches of 1024, as the core hands them over.
func batches(evs []sdk.Event) []*sdk.Batch {
	var out []*sdk.Batch
	for start := 0; start < len(evs); start += 1024 {
		end := min(start+1024, len(evs))
		b := sdk.NewBatch(end - start)
		b.Events = append(b.Events, evs[start:end]...)
		out = append(out, b)
	}
	return out
}

type replayVariant struct {
	name string
	run  func(b *testing.B, index string) // replays into index; timed by the caller
	got  []float64                        // events/s per round
}

func BenchmarkReplay(b *testing.B) {
	c := realES(b)
	evs := replayEvents(b)
	// One template for every index of the run, installed once.
	setup, _ := c.outputFor(map[string]any{"index": c.run + "-setup"})
	if err := setup.Write(context.Background(), batchOf(event("setup"))); err != nil {
		b.Fatal(err)
	}
	var docBytes int
	for i := range evs {
		docBytes += len(evs[i].AppendJSON(nil)) + 1
	}
	flushBytes := docBytes / len(evs) * 1024
	b.Logf("%d events, %.0f bytes per document, bulk flush at %d bytes (1024 documents)", len(evs), float64(docBytes)/float64(len(evs)), flushBytes)

	// output drives Write as the core does: writes_in_flight workers take
	// the batches in turn.
	output := func(gzip bool, conc, inFlight int) func(*testing.B, string) {
		return func(b *testing.B, index string) {
			o, _ := c.outputFor(map[string]any{"index": index, "compression": gzip, "bulk_concurrency": int64(conc),
				"writes_in_flight": int64(inFlight), "template": templateBlock(map[string]any{"enabled": false})})
			defer o.Close(context.Background())
			queue := make(chan *sdk.Batch)
			var wg sync.WaitGroup
			var failed atomic.Value
			for range o.WritesInFlight() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for bt := range queue {
						if err := o.Write(context.Background(), bt); err != nil {
							failed.CompareAndSwap(nil, err)
						}
					}
				}()
			}
			for _, bt := range batches(evs) {
				queue <- bt
			}
			close(queue)
			wg.Wait()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
		}
	}
	bulkIndexer := func(gzip bool, workers int) func(*testing.B, string) {
		return func(b *testing.B, index string) {
			client, err := es.NewClient(es.Config{
				Addresses:                []string{c.url},
				DisableRetry:             true,
				CompressRequestBody:      gzip,
				CompressRequestBodyLevel: stdgzip.BestSpeed,
				PoolCompressor:           true,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close(context.Background())
			var failed atomic.Int64
			var firstErr atomic.Value
			bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
				Client:     client,
				NumWorkers: workers,
				FlushBytes: flushBytes,
				Index:      index,
			})
			if err != nil {
				b.Fatal(err)
			}
			// Documents are encoded into 4 MiB blocks: the BulkIndexer
			// reads an item's body later, in a worker, so the bytes must
			// stay put, and a block never copies what it holds.
			var buf []byte
			for i := range evs {
				ev := &evs[i]
				if cap(buf)-len(buf) < 64<<10 {
					buf = make([]byte, 0, 4<<20)
				}
				start := len(buf)
				buf = ev.AppendJSON(buf)
				err := bi.Add(context.Background(), esutil.BulkIndexerItem{
					Action:     "create",
					DocumentID: ev.ID,
					Body:       bytes.NewReader(buf[start:]),
					OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
						failed.Add(1)
						if err == nil {
							err = fmt.Errorf("%d %s: %s", r.Status, r.Error.Type, r.Error.Reason)
						}
						firstErr.CompareAndSwap(nil, err)
					},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := bi.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d documents failed: %v", n, firstErr.Load())
			}
		}
	}
	v := func(name string, run func(*testing.B, string)) *replayVariant {
		return &replayVariant{name: name, run: run}
	}
	variants := []*replayVariant{
		v("output,gzip=true,writes_in_flight=2,bulk_concurrency=2", output(true, 2, 2)),
		v("output,gzip=true,writes_in_flight=2,bulk_concurrency=1", output(true, 1, 2)),
		v("output,gzip=true,writes_in_flight=1,bulk_concurrency=2", output(true, 2, 1)),
		v("output,gzip=true,writes_in_flight=1,bulk_concurrency=1", output(true, 1, 1)),
		v("bulkindexer,gzip=true,workers=default", bulkIndexer(true, 0)),
		v("bulkindexer,gzip=true,workers=1", bulkIndexer(true, 1)),
		v("output,gzip=false,writes_in_flight=2,bulk_concurrency=1", output(false, 1, 2)),
		v("output,gzip=false,writes_in_flight=1,bulk_concurrency=1", output(false, 1, 1)),
		v("bulkindexer,gzip=false,workers=default", bulkIndexer(false, 0)),
	}

	// Warm the cluster up (JIT, caches) with one untimed replay.
	variants[0].run(b, c.run+"-warmup")
	c.do("DELETE", "/"+c.run+"-warmup", "")

	seq := 0
	b.ResetTimer()
	for range b.N {
		for round := 0; round < *benchRounds; round++ {
			for _, v := range variants {
				seq++
				index := fmt.Sprintf("%s-%d", c.run, seq)
				start := time.Now()
				v.run(b, index)
				v.got = append(v.got, float64(len(evs))/time.Since(start).Seconds())
				checkCount(b, c, index, len(evs))
			}
		}
	}
	b.StopTimer()
	med := map[string]float64{}
	for _, v := range variants {
		m := median(v.got)
		med[v.name] = m
		b.ReportMetric(m, "events/s:"+v.name)
		b.Logf("%-58s median %6.0f events/s, rounds %.0f", v.name, m, v.got)
	}
	for _, gzip := range []bool{true, false} {
		ratio := med[fmt.Sprintf("output,gzip=%t,writes_in_flight=%d,bulk_concurrency=%d", gzip, defaultWritesInFlight, defaultConcurrency)] /
			med[fmt.Sprintf("bulkindexer,gzip=%t,workers=default", gzip)]
		b.ReportMetric(ratio, fmt.Sprintf("ratio:output/bulkindexer,gzip=%t", gzip))
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// checkCount fails unless index holds n documents, then deletes it.
func checkCount(b *testing.B, c *cluster, index string, n int) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	if got := c.count(index, ""); got != n {
		b.Fatalf("%s holds %d documents, want %d", index, got, n)
	}
	c.do("DELETE", "/"+index, "")
}

// BenchmarkEncode measures Write's CPU work without a cluster: building
// the bulk body (action lines, documents, ids) for 1024 events.
func BenchmarkEncode(b *testing.B) {
	evs := replayEvents(b)[:1024]
	p := plugin(b)
	out, err := p.New(sdktest.Config(p, map[string]any{"urls": []string{"http://127.0.0.1:1"}}), sdktest.Env("bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	w := &write{o: out.(*Output)}
	bt := batchOf(evs...)
	w.state = resize(w.state, len(evs))
	w.buf, w.items = w.encode(bt, w.buf[:0], w.items[:0])
	b.SetBytes(int64(len(w.buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.state = resize(w.state, len(evs))
		w.buf, w.items = w.encode(bt, w.buf[:0], w.items[:0])
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCompress compares the gzip implementations on the bulk body of
// 1024 corpus events at the fastest level.
func BenchmarkCompress(b *testing.B) {
	evs := replayEvents(b)[:1024]
	p := plugin(b)
	out, err := p.New(sdktest.Config(p, map[string]any{"urls": []string{"http://127.0.0.1:1"}}), sdktest.Env("bench", nil))
	if err != nil {
		b.Fatal(err)
	}
	w := &write{o: out.(*Output)}
	w.state = resize(w.state, len(evs))
	body, _ := w.encode(batchOf(evs...), nil, nil)
	var dst bytes.Buffer
	std, _ := stdgzip.NewWriterLevel(&dst, stdgzip.BestSpeed)
	klauspost, _ := kgzip.NewWriterLevel(&dst, kgzip.BestSpeed)
	for _, c := range []struct {
		name string
		zw   interface {
			Reset(io.Writer)
			Write([]byte) (int, error)
			Close() error
		}
	}{{"compress-gzip", std}, {"klauspost", klauspost}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				dst.Reset()
				c.zw.Reset(&dst)
				c.zw.Write(body)
				c.zw.Close()
			}
			b.ReportMetric(float64(len(body))/float64(dst.Len()), "ratio")
		})
	}
}
