package logfile

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// corpusFile decompresses the corpus into a temporary file and returns its
// path, its line count and its size.
func corpusFile(b *testing.B) (string, int, int64) {
	b.Helper()
	zr := corpus.Open(b)
	defer zr.Close()
	path := filepath.Join(b.TempDir(), "audit.log")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	size, err := io.Copy(out, zr)
	if err != nil {
		b.Fatal(err)
	}
	out.Close()
	data, _ := os.ReadFile(path)
	n := 0
	for _, c := range data {
		if c == '\n' {
			n++
		}
	}
	return path, n, size
}

// counter is an emitter that acknowledges at once and only counts, to show
// the input's own cost without a collector keeping every event.
type counter struct {
	n    atomic.Int64
	done chan struct{}
	want int64
}

func (c *counter) Emit(_ context.Context, b *sdk.Batch) error {
	if c.n.Add(int64(b.Len())) >= c.want {
		select {
		case c.done <- struct{}{}:
		default:
		}
	}
	b.Done()
	return nil
}

// BenchmarkRun reads the audit corpus through Run, from the first line to the
// last, once per iteration.
func BenchmarkRun(b *testing.B) {
	path, lines, size := corpusFile(b)
	for _, tt := range []struct {
		name, format string
		collect      bool
	}{
		{"audit/collector", formatAudit, true},
		{"audit/discard", formatAudit, false},
		{"lines/discard", formatLines, false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(size)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			cpuBefore := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				in := newInput(b, sdktest.NewMemState(), sdk.DefaultBatchPolicy,
					map[string]any{"paths": []string{path}, "format": tt.format})
				ctx, cancel := context.WithCancel(context.Background())
				var out sdk.Emitter
				wait := func() {}
				if tt.collect {
					col := sdktest.NewCollector()
					out, wait = col, func() { col.WaitFor(b, lines, time.Minute) }
				} else {
					c := &counter{done: make(chan struct{}, 1), want: int64(lines)}
					out, wait = c, func() { <-c.done }
				}
				done := make(chan error, 1)
				go func() { done <- in.Run(ctx, out) }()
				wait()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpuBefore
			runtime.ReadMemStats(&after)
			total := float64(lines) * float64(b.N)
			b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/line")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/line")
			// CPU time is what a shared machine does not distort: the process's
			// user+system time per line, including the garbage collector.
			b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/line")
		})
	}
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuditHeader compares the header parser with go-libaudit's, which
// parses the header the same way but allocates a message per line.
func BenchmarkAuditHeader(b *testing.B) {
	zr := corpus.Open(b)
	defer zr.Close()
	var sample []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(sample) < 10000 && sc.Scan() {
		sample = append(sample, sc.Text())
	}
	b.Run("logfile", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			parseAuditHeader(sample[i%len(sample)])
			i++
		}
	})
	b.Run("go-libaudit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			auparse.ParseLogLine(sample[i%len(sample)])
			i++
		}
	})
}
