package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// BenchmarkBacklogDrain measures how fast engine catches up after an outage:
// the corpus's events wait in an output's disk buffer (written while the
// destination was unreachable), then engine starts with the destination back
// and delivers them. The time is from that start to engine's exit (run
// --once), so it includes starting the process.
//
//	go test -run '^$' -bench BacklogDrain -benchtime 3x ./cmd/engine/
func BenchmarkBacklogDrain(b *testing.B) {
	for _, dest := range []string{"elasticsearch", "kafka"} {
		b.Run(dest, func(b *testing.B) {
			bin := engineBinary(b)
			var esURL string
			var brokers []string
			if dest == "elasticsearch" {
				esURL = testservers.ES(b)
			} else {
				brokers = testservers.Kafka(b)
			}
			dir := b.TempDir()
			log, want := deliveryLog(b, dir, 0)
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				run := filepath.Join(dir, strconv.Itoa(i))
				state := filepath.Join(run, "state")
				addr := testservers.ClosedAddr(b)
				id := "output." + dest + ".backlog"
				unreachable := deliveryTargets{diskBuffer: true, httpAddress: addr, name: "backlog"}
				real := deliveryTargets{diskBuffer: true, name: "backlog"}
				if dest == "elasticsearch" {
					unreachable.esURL, unreachable.index = "http://127.0.0.1:1", "unused"
					real.esURL, real.index = esURL, uniqueName("engine-bench-backlog")
				} else {
					unreachable.brokers, unreachable.topic = []string{"127.0.0.1:1"}, "unused"
					real.brokers, real.topic = brokers, uniqueName("engine-bench-backlog")
				}

				// The outage: every event ends up in the disk buffer.
				cmd := startEngine(b, bin, filepath.Join(run, "engine.log"), "--state-dir", state,
					deliveryPipeline(b, mkdir(b, run, "down"), log, unreachable))
				sdktest.WaitFor(b, "the backlog", 5*time.Minute, func() bool {
					return metricValue(addr, "engine_component_queue_events", id) == float64(len(want))
				})
				cmd.Process.Signal(syscall.SIGTERM)
				waitExit(b, cmd, time.Minute)

				// The destination is back.
				pipe := deliveryPipeline(b, mkdir(b, run, "up"), log, real)
				b.StartTimer()
				start := time.Now()
				cmd = startEngine(b, bin, filepath.Join(run, "engine.log"), "--once", "--state-dir", state, pipe)
				waitExit(b, cmd, 10*time.Minute)
				elapsed += time.Since(start)
				b.StopTimer()
				if dest == "elasticsearch" {
					checkES(b, esURL, real.index, want)
				} else {
					checkKafka(b, brokers, real.topic, want)
				}
			}
			b.ReportMetric(float64(len(want)), "events")
			b.ReportMetric(float64(len(want))*float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

func mkdir(tb testing.TB, parts ...string) string {
	tb.Helper()
	dir := filepath.Join(parts...)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// metricValue reads one component's metric from engine's /metrics (-1 when
// it cannot).
func metricValue(addr, name, componentID string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	prefix := name + "{"
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, fmt.Sprintf("component_id=%q", componentID)) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}
