package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/internal/corpus/coalesced"
	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// These tests run the binary against the real Elasticsearch and Kafka of
// scripts/testenv while the servers — or engine itself — fail under it, and
// check afterwards that every event reached Elasticsearch exactly once
// (counted by _id) and Kafka at least once (duplicates reported).

// deliveryLog writes the first n records of the corpus (all for n <= 0) and
// returns its path and the ids of the events coalesce makes of it.
func deliveryLog(t testing.TB, dir string, n int) (string, map[string]bool) {
	t.Helper()
	lines := corpus.Lines(t)
	if n > 0 && n < len(lines) {
		lines = lines[:n]
	}
	path := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, ev := range coalesced.Events(t, lines) {
		ids[ev.ID] = true
	}
	return path, ids
}

// uniqueName gives each test run its own index and topic.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

type deliveryTargets struct {
	esURL, index string
	brokers      []string
	topic        string
	diskBuffer   bool
	httpAddress  string // engine's /metrics; none when empty
	name         string // the outputs' name; "es" and "kafka" when empty
}

// deliveryPipeline replays log into Elasticsearch and/or Kafka at once.
func deliveryPipeline(t testing.TB, dir, log string, d deliveryTargets) string {
	t.Helper()
	buf := ""
	if d.diskBuffer {
		buf = "  buffer {\n    type = \"disk\"\n  }\n"
	}
	var sb strings.Builder
	if d.httpAddress != "" {
		fmt.Fprintf(&sb, "engine {\n  http_address = %q\n}\n", d.httpAddress)
	}
	esName, kafkaName := "es", "kafka"
	if d.name != "" {
		esName, kafkaName = d.name, d.name
	}
	fmt.Fprintf(&sb, `input "logfile" "auditd" {
  paths    = [%q]
  format   = "audit"
  start_at = "beginning"
}
processor "coalesce" "events" {
  inputs = [input.logfile.auditd]
}
`, log)
	if d.esURL != "" {
		fmt.Fprintf(&sb, `output "elasticsearch" %q {
  inputs = [processor.coalesce.events]
  urls   = [%q]
  index  = %q
%s  dead_letter {
    path = %q
  }
}
`, esName, d.esURL, d.index, buf, filepath.Join(dir, "dead-es.ndjson"))
	}
	if len(d.brokers) > 0 {
		fmt.Fprintf(&sb, `output "kafka" %q {
  inputs  = [processor.coalesce.events]
  brokers = %s
  topic   = %q
%s  dead_letter {
    path = %q
  }
}
`, kafkaName, hclList(d.brokers), d.topic, buf, filepath.Join(dir, "dead-kafka.ndjson"))
	}
	path := filepath.Join(dir, "pipeline.hcl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func hclList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// startEngine runs `engine run` in the background; its output goes to a log
// file that is printed if the test fails.
func startEngine(t testing.TB, bin, logPath string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("engine log:\n%s", tail(string(out), 60))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitExit waits for engine to exit by itself and checks it succeeded.
func waitExit(t testing.TB, cmd *exec.Cmd, timeout time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("engine exited with %v", err)
		}
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("engine did not finish within %v", timeout)
	}
}

// esCount returns the documents in index (0 while it does not exist or
// Elasticsearch does not answer).
func esCount(url, index string) int {
	http.Post(url+"/"+index+"/_refresh", "application/json", nil)
	resp, err := http.Get(url + "/" + index + "/_count")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var r struct{ Count int }
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return 0
	}
	return r.Count
}

// esIDs lists every _id in index.
func esIDs(t testing.TB, url, index string) map[string]int {
	t.Helper()
	esCount(url, index) // refresh
	ids := map[string]int{}
	body := `{"size":10000,"_source":false,"sort":["_doc"]}`
	resp, err := http.Post(url+"/"+index+"/_search?scroll=1m", "application/json", strings.NewReader(body))
	for {
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []struct {
					ID string `json:"_id"`
				}
			}
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("search: %v: %.300s", err, raw)
		}
		if len(r.Hits.Hits) == 0 {
			return ids
		}
		for _, h := range r.Hits.Hits {
			ids[h.ID]++
		}
		next, _ := json.Marshal(map[string]string{"scroll": "1m", "scroll_id": r.ScrollID})
		resp, err = http.Post(url+"/_search/scroll", "application/json", bytes.NewReader(next))
	}
}

// checkES asserts index holds exactly the expected events, once each.
func checkES(t testing.TB, url, index string, want map[string]bool) {
	t.Helper()
	got := esIDs(t, url, index)
	missing, extra := 0, 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	count := esCount(url, index)
	t.Logf("elasticsearch: %d documents, %d expected, %d missing, %d unexpected", count, len(want), missing, extra)
	if missing > 0 || extra > 0 || count != len(want) {
		t.Fatalf("elasticsearch does not hold every event exactly once: %d documents for %d events (%d missing, %d unexpected)", count, len(want), missing, extra)
	}
}

// kafkaIDs reads every message of topic and counts them by their event.id
// header.
func kafkaIDs(t testing.TB, brokers []string, topic string) map[string]int {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, p := range partitions {
		high, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		low, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		if high <= low {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, low)
		if err != nil {
			t.Fatal(err)
		}
		for off := low; off < high; {
			select {
			case m := <-pc.Messages():
				off = m.Offset + 1
				id := ""
				for _, h := range m.Headers {
					if string(h.Key) == "event.id" {
						id = string(h.Value)
					}
				}
				ids[id]++
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-time.After(30 * time.Second):
				t.Fatalf("partition %d: stuck at offset %d of %d", p, off, high)
			}
		}
		pc.Close()
	}
	return ids
}

// checkKafka asserts topic holds every expected event at least once and
// reports duplicates.
func checkKafka(t testing.TB, brokers []string, topic string, want map[string]bool) {
	t.Helper()
	got := kafkaIDs(t, brokers, topic)
	missing, extra, dups, total := 0, 0, 0, 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	for id, n := range got {
		total += n
		if !want[id] {
			extra++
		}
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("kafka: %d messages, %d expected events, %d missing, %d unexpected, %d duplicates", total, len(want), missing, extra, dups)
	if missing > 0 || extra > 0 {
		t.Fatalf("kafka lacks events: %d missing, %d unexpected", missing, extra)
	}
}

// kafkaCount returns the messages in topic so far.
func kafkaCount(brokers []string, topic string) int64 {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return 0
	}
	defer client.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		return 0
	}
	var n int64
	for _, p := range partitions {
		high, err1 := client.GetOffset(topic, p, sarama.OffsetNewest)
		low, err2 := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err1 == nil && err2 == nil {
			n += high - low
		}
	}
	return n
}

func TestElasticsearchOutageMidStream(t *testing.T) {
	bin := engineBinary(t)
	testservers.Lock(t)
	url := testservers.ES(t)
	dir := t.TempDir()
	log, want := deliveryLog(t, dir, 0)
	index := uniqueName("engine-test-outage")
	pipe := deliveryPipeline(t, dir, log, deliveryTargets{esURL: url, index: index})
	cmd := startEngine(t, bin, filepath.Join(dir, "engine.log"), "--once", "--state-dir", filepath.Join(dir, "state"), pipe)

	sdktest.WaitFor(t, "the first documents", 2*time.Minute, func() bool { return esCount(url, index) > 0 })
	before := esCount(url, index)
	testservers.Stop(t, "es")
	if before >= len(want) {
		t.Fatal("every event was delivered before the outage: the test proves nothing")
	}
	time.Sleep(5 * time.Second) // engine keeps retrying while it is down
	start := time.Now()
	testservers.Start(t, "es")
	t.Logf("stopped Elasticsearch after %d of %d events; it was back after %v", before, len(want), time.Since(start).Round(time.Millisecond))
	waitExit(t, cmd, 5*time.Minute)
	t.Logf("engine finished %v after Elasticsearch was started again", time.Since(start).Round(time.Millisecond))
	checkES(t, url, index, want)
	if data, _ := os.ReadFile(filepath.Join(dir, "dead-es.ndjson")); len(data) > 0 {
		t.Fatalf("documents were refused:\n%.2000s", data)
	}
}

func TestKafkaBrokerRestartMidStream(t *testing.T) {
	bin := engineBinary(t)
	testservers.Lock(t)
	brokers := testservers.Kafka(t)
	dir := t.TempDir()
	log, want := deliveryLog(t, dir, 0)
	topic := uniqueName("engine-test-restart")
	pipe := deliveryPipeline(t, dir, log, deliveryTargets{brokers: brokers, topic: topic})
	cmd := startEngine(t, bin, filepath.Join(dir, "engine.log"), "--once", "--state-dir", filepath.Join(dir, "state"), pipe)

	sdktest.WaitFor(t, "the first messages", 2*time.Minute, func() bool { return kafkaCount(brokers, topic) > 0 })
	before := kafkaCount(brokers, topic)
	start := time.Now()
	testservers.Restart(t, "kafka")
	t.Logf("restarted the broker after %d of %d events, in %v", before, len(want), time.Since(start).Round(time.Millisecond))
	if before >= int64(len(want)) {
		t.Fatal("every event was delivered before the restart: the test proves nothing")
	}
	waitExit(t, cmd, 5*time.Minute)
	t.Logf("engine finished %v after the restart began", time.Since(start).Round(time.Millisecond))
	checkKafka(t, brokers, topic, want)
}

func TestKill9WithDiskBufferThenRestart(t *testing.T) {
	bin := engineBinary(t)
	testservers.Lock(t)
	url := testservers.ES(t)
	brokers := testservers.Kafka(t)
	dir := t.TempDir()
	log, want := deliveryLog(t, dir, 0)
	targets := deliveryTargets{
		esURL: url, index: uniqueName("engine-test-kill"),
		brokers: brokers, topic: uniqueName("engine-test-kill"),
		diskBuffer: true,
	}
	pipe := deliveryPipeline(t, dir, log, targets)
	state := filepath.Join(dir, "state")
	engineLog := filepath.Join(dir, "engine.log")

	// Elasticsearch is down, so events pile up in its disk buffer while
	// Kafka receives them; then engine is killed without warning.
	testservers.Stop(t, "es")
	cmd := startEngine(t, bin, engineLog, "--state-dir", state, pipe)
	bufDir := filepath.Join(state, "data", "output.elasticsearch.es", "buffer")
	sdktest.WaitFor(t, "events in the disk buffer", 2*time.Minute, func() bool {
		segs, _ := filepath.Glob(filepath.Join(bufDir, "*.seg"))
		var size int64
		for _, s := range segs {
			if st, err := os.Stat(s); err == nil {
				size += st.Size()
			}
		}
		return size > 1<<20 && kafkaCount(brokers, targets.topic) > 1000
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	testservers.Start(t, "es")

	// The restart delivers what the buffers hold and reads on.
	cmd = startEngine(t, bin, engineLog, "--once", "--state-dir", state, pipe)
	waitExit(t, cmd, 5*time.Minute)
	checkES(t, url, targets.index, want)
	checkKafka(t, brokers, targets.topic, want)
}

func TestValidateCheckConnectionsRealServers(t *testing.T) {
	url := testservers.ES(t)
	brokers := testservers.Kafka(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	os.WriteFile(log, nil, 0o600)
	reachable := deliveryPipeline(t, mkdir(t, dir, "up"), log, deliveryTargets{esURL: url, index: "unused", brokers: brokers, topic: "unused"})
	r := cliRun(t, "", "validate", "--check-connections", reachable)
	if r.code != 0 || !strings.Contains(r.stdout, "Reached the destination of output.elasticsearch.es.") ||
		!strings.Contains(r.stdout, "Reached the destination of output.kafka.kafka.") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	closed := testservers.ClosedAddr(t)
	unreachable := deliveryPipeline(t, mkdir(t, dir, "down"), log, deliveryTargets{esURL: "http://" + closed, index: "unused", brokers: []string{closed}, topic: "unused"})
	r = cliRun(t, "", "validate", "--check-connections", "--connect-timeout", "20s", unreachable)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Cannot reach the destination of output.elasticsearch.es", "Cannot reach the destination of output.kafka.kafka"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// findEvent returns the first NDJSON document in path that match accepts.
func findEvent(t *testing.T, path string, match func(map[string]any) bool) map[string]any {
	for _, doc := range readDocs(path) {
		if match(doc) {
			return doc
		}
	}
	return nil
}

// readDocs returns the NDJSON documents in path (none while it does not
// exist); a line that is not a JSON object, such as a line being written,
// is left out.
func readDocs(path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var docs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var doc map[string]any
		if json.Unmarshal(sc.Bytes(), &doc) == nil {
			docs = append(docs, doc)
		}
	}
	return docs
}
