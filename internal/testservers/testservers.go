// Package testservers gives integration tests the real Elasticsearch and
// Kafka servers that scripts/testenv runs on loopback.
//
//	url := testservers.ES(t)         // "http://127.0.0.1:9200"
//	brokers := testservers.Kafka(t)  // []string{"127.0.0.1:9092"}
//
// The addresses come from ENGINE_TEST_ES_URL and ENGINE_TEST_KAFKA_BROKERS
// (comma-separated), printed by `scripts/testenv env`, and default to the
// ports scripts/testenv uses. When a server does not answer, the test is
// skipped with a hint to run `scripts/testenv up`; with
// ENGINE_TEST_REQUIRE_SERVERS=1 (as scripts/test sets) it fails instead, so
// CI cannot go green by skipping.
//
// # Fault injection and the machine-wide lock
//
// Stop, Start and Restart run scripts/testenv to take a server away or bring
// it back while a test watches how the code copes. `go test ./...` runs the
// test binaries of several packages at once, so a server stopped by one
// package's test would break another package's test that happens to use it.
// To prevent that, every user of the servers holds a machine-wide flock(2)
// on one file until its test ends:
//
//   - ES and Kafka take it shared: any number of ordinary tests, in any
//     number of processes, use the servers together.
//   - Lock (and Stop, Start and Restart, which call it) takes it exclusive:
//     a fault test waits until no other test uses the servers, and no other
//     test starts using them until the fault test has ended.
//
// Within one test binary the same rules hold between tests, and a waiting
// fault test goes before tests that arrive after it. A test and its subtests
// share what the test holds: subtests of a fault test use the servers and
// inject faults freely. A fault test must call Lock (or Stop/Start/Restart)
// before ES or Kafka: taking the exclusive lock while holding the shared one
// fails the test, because two tests doing so at once would wait for each
// other forever.
//
// A server stopped with Stop is started again when the test that stopped it
// ends, so a failing fault test does not leave the servers down.
//
// The lock file is /run/engine-testservers.lock, or ENGINE_TEST_LOCK_FILE.
package testservers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The environment variables this package reads.
const (
	EnvESURL          = "ENGINE_TEST_ES_URL"
	EnvKafkaBrokers   = "ENGINE_TEST_KAFKA_BROKERS"
	EnvRequireServers = "ENGINE_TEST_REQUIRE_SERVERS"
	EnvLockFile       = "ENGINE_TEST_LOCK_FILE"
)

// The addresses scripts/testenv serves on, used when the variables are unset.
const (
	DefaultESURL        = "http://127.0.0.1:9200"
	DefaultKafkaBrokers = "127.0.0.1:9092"
)

// checkTimeout bounds one reachability check of a server.
const checkTimeout = 10 * time.Second

// ES returns the base URL of the test Elasticsearch, after checking that it
// answers, and holds the shared server lock until t ends. It skips t (or
// fails it, under ENGINE_TEST_REQUIRE_SERVERS=1) when Elasticsearch does not
// answer.
func ES(t testing.TB) string {
	t.Helper()
	return es(t, machineLock)
}

func es(t testing.TB, l *lockState) string {
	t.Helper()
	if !holdShared(t, l) {
		return ""
	}
	url := strings.TrimRight(envOr(EnvESURL, DefaultESURL), "/")
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := ESReady(ctx, url); err != nil {
		unavailable(t, "Elasticsearch", err)
		return ""
	}
	return url
}

// Kafka returns the test Kafka's bootstrap brokers, after checking that they
// answer a metadata request, and holds the shared server lock until t ends.
// It skips t (or fails it, under ENGINE_TEST_REQUIRE_SERVERS=1) when Kafka
// does not answer.
func Kafka(t testing.TB) []string {
	t.Helper()
	return kafka(t, machineLock)
}

func kafka(t testing.TB, l *lockState) []string {
	t.Helper()
	if !holdShared(t, l) {
		return nil
	}
	brokers := splitBrokers(envOr(EnvKafkaBrokers, DefaultKafkaBrokers))
	if err := KafkaReady(brokers, checkTimeout); err != nil {
		unavailable(t, "Kafka", err)
		return nil
	}
	return brokers
}

// ESReady reports whether the Elasticsearch at url serves requests: its
// cluster health is at least yellow.
func ESReady(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(url, "/")+"/_cluster/health?wait_for_status=yellow&timeout=5s", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("elasticsearch at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("elasticsearch at %s: reading cluster health: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("elasticsearch at %s: cluster health: %s: %s", url, resp.Status, body)
	}
	var health struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("elasticsearch at %s: cluster health is not JSON: %w", url, err)
	}
	if health.Status != "green" && health.Status != "yellow" {
		return fmt.Errorf("elasticsearch at %s: cluster health is %q", url, health.Status)
	}
	return nil
}

// Lock holds the server lock exclusively until t ends: no test in any
// package uses the servers meanwhile. Fault tests call it (Stop, Start and
// Restart do) before ES or Kafka. Calling it again in t or a subtest of t
// is a no-op.
func Lock(t testing.TB) {
	t.Helper()
	holdExclusive(t, machineLock)
}

// Stop stops a test server, "es" or "kafka", and starts it again when t
// ends. It takes the exclusive server lock (see Lock).
func Stop(t testing.TB, server string) {
	t.Helper()
	Lock(t)
	if err := runTestenv(t, "stop", server); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := runTestenv(t, "start", server); err != nil {
			t.Error(err)
		}
	})
}

// Start starts a test server, "es" or "kafka", if it is not running, and
// waits until it is healthy. It takes the exclusive server lock (see Lock).
func Start(t testing.TB, server string) {
	t.Helper()
	Lock(t)
	if err := runTestenv(t, "start", server); err != nil {
		t.Fatal(err)
	}
}

// Restart stops a test server, "es" or "kafka", starts it again and waits
// until it is healthy. The server keeps its data. It takes the exclusive
// server lock (see Lock).
func Restart(t testing.TB, server string) {
	t.Helper()
	Lock(t)
	if err := runTestenv(t, "restart", server); err != nil {
		t.Fatal(err)
	}
}

// holdShared takes the shared lock for t, releasing it when t ends, and
// reports whether it holds it.
func holdShared(t testing.TB, l *lockState) bool {
	t.Helper()
	release, err := l.acquireShared(t.Name())
	if err != nil {
		t.Fatalf("testservers: %v", err)
		return false
	}
	t.Cleanup(release)
	return true
}

func holdExclusive(t testing.TB, l *lockState) bool {
	t.Helper()
	release, err := l.acquireExclusive(t.Name())
	if err != nil {
		t.Fatalf("testservers: %v", err)
		return false
	}
	t.Cleanup(release)
	return true
}

// unavailable skips t, or fails it when the servers are required.
func unavailable(t testing.TB, server string, err error) {
	t.Helper()
	if os.Getenv(EnvRequireServers) == "1" {
		t.Fatalf("%s is required (%s=1) but does not answer: %v; start it with `scripts/testenv up`",
			server, EnvRequireServers, err)
		return
	}
	t.Skipf("%s does not answer (%v); run `scripts/testenv up` (as root) to run this test", server, err)
}

// runTestenv runs `scripts/testenv COMMAND SERVER`.
func runTestenv(t testing.TB, command, server string) error {
	t.Helper()
	if server != "es" && server != "kafka" {
		return fmt.Errorf("testservers: unknown server %q (es or kafka)", server)
	}
	root, err := repoRoot()
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "testenv"), command, server)
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/testenv %s %s: %w\n%s", command, server, err, out)
	}
	t.Logf("scripts/testenv %s %s:\n%s", command, server, out)
	return nil
}

// repoRoot walks up from the working directory (a test runs in its
// package's directory) to the directory holding go.mod and scripts/testenv.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "scripts", "testenv")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no directory above the working directory holds go.mod and scripts/testenv")
		}
		dir = parent
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func splitBrokers(s string) []string {
	var brokers []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers
}

// ClosedAddr returns a loopback address nothing listens on now: for a
// destination that refuses connections, or a port to listen on.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
