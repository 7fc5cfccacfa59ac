package fim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// makeTree writes files of size bytes, perDir to a directory.
func makeTree(b *testing.B, root string, files, perDir, size int) {
	b.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for i := 0; i < files; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%04d", i/perDir))
		if i%perDir == 0 {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		data[0] = byte(i) // distinct contents
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// countEmitter acks every batch and counts the file events.
type countEmitter struct{ n atomic.Int64 }

func (c *countEmitter) Emit(_ context.Context, b *sdk.Batch) error {
	for i := range b.Events {
		if b.Events[i].Fields.GetString("file.type") == "file" {
			c.n.Add(1)
		}
	}
	b.Done()
	return nil
}

// runScan runs the input over root with a fresh baseline until it has
// reported want files, and returns it still running (stop with cancel).
func runScan(b *testing.B, root string, want int64) (*Input, context.CancelFunc, chan error) {
	p := sdk.Lookup(sdk.KindInput, "fim")
	env := sdktest.Env("input.fim.bench", nil)
	env.DataDir = b.TempDir()
	in, err := New(sdktest.Config(p, map[string]any{"paths": []string{root}, "recursive": true,
		"scan_rate_per_sec": int64(0)}), env)
	if err != nil {
		b.Fatal(err)
	}
	c := &countEmitter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, c) }()
	for c.n.Load() < want {
		time.Sleep(5 * time.Millisecond)
	}
	return in, cancel, done
}

func stopInput(b *testing.B, in *Input, cancel context.CancelFunc, done chan error) {
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if err := in.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInitialScan hashes a tree of 100,000 files of 1 KiB with sha256
// on a first run (empty baseline), and sha256sum over the same files in the
// same run for comparison.
//
//	go test -run '^$' -bench InitialScan -benchtime 3x ./plugins/inputs/fim/
func BenchmarkInitialScan(b *testing.B) {
	const files, size = 100_000, 1024
	root := b.TempDir()
	makeTree(b, root, files, 1000, size)
	b.SetBytes(files * size)
	b.ResetTimer()
	for range b.N {
		in, cancel, done := runScan(b, root, files)
		stopInput(b, in, cancel, done)
	}
	el := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(files/el, "files/s")
	b.StopTimer()

	if _, err := exec.LookPath("sha256sum"); err != nil {
		return
	}
	start := time.Now()
	cmd := exec.Command("sh", "-c", "find \"$1\" -type f -print0 | xargs -0 sha256sum > /dev/null", "sh", root)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("sha256sum: %v %s", err, out)
	}
	d := time.Since(start).Seconds()
	b.ReportMetric(files/d, "sha256sum_files/s")
	b.ReportMetric(files*size/d/1e6, "sha256sum_MB/s")
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

// BenchmarkWatchDirs watches 10,000 directories (one file each) and reports
// the heap and RSS growth per directory.
//
//	go test -run '^$' -bench WatchDirs -benchtime 1x ./plugins/inputs/fim/
func BenchmarkWatchDirs(b *testing.B) {
	const dirs = 10_000
	root := b.TempDir()
	makeTree(b, root, dirs, 1, 16)
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r0 := rss()
		in, cancel, done := runScan(b, root, dirs)
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		r1 := rss()
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/dirs, "heap_B/dir")
		if r0 > 0 {
			b.ReportMetric(float64(r1-r0)/dirs, "rss_B/dir")
		}
		stopInput(b, in, cancel, done)
	}
}
