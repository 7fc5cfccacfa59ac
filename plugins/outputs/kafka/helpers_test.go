package kafka

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// waitFor bounds how long a test waits for Kafka to do something that must
// happen; reaching it is a failure, not slowness.
const waitFor = 60 * time.Second

var topicSeq atomic.Int64

// uniqueTopic returns a topic name no other test run uses.
func uniqueTopic(t testing.TB) string {
	name := regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")
	return fmt.Sprintf("engine-test-%s-%d-%d", strings.ToLower(name), time.Now().UnixNano(), topicSeq.Add(1))
}

// clientConfig is a plain sarama config for the tests' own clients: they
// check the output from outside, with no option of the output.
func clientConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "engine-test-reader"
	c.Version = sarama.V2_8_0_0
	c.Consumer.Return.Errors = true
	return c
}

// createTopic creates topic with partitions and topic configs, and waits
// until every partition has a leader.
func createTopic(t testing.TB, brokers []string, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false); err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	client, err := sarama.NewClient(brokers, clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	deadline := time.Now().Add(waitFor)
	for {
		err := client.RefreshMetadata(topic)
		if err == nil {
			ps, err2 := client.Partitions(topic)
			if err2 == nil && len(ps) == int(partitions) {
				ok := true
				for _, p := range ps {
					if _, err := client.Leader(topic, p); err != nil {
						ok = false
					}
				}
				if ok {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s has no leaders after %v: %v", topic, waitFor, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consume reads n messages from every partition of topic, from the start,
// with an independent consumer. It fails the test if fewer arrive, and
// checks that no more than n are there.
func consume(t testing.TB, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	return consumeN(t, brokers, topic, n, true)
}

// consumeAtLeast reads at least n messages, and whatever else arrives soon
// after them.
func consumeAtLeast(t testing.TB, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	return consumeN(t, brokers, topic, n, false)
}

func consumeN(t testing.TB, brokers []string, topic string, n int, exact bool) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(brokers, clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	out := make(chan *sarama.ConsumerMessage, 1024)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consuming %s/%d: %v", topic, p, err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				out <- m
			}
		}()
	}
	var got []*sarama.ConsumerMessage
	deadline := time.After(waitFor)
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("read %d messages from %s in %v; want %d", len(got), topic, waitFor, n)
		}
	}
	// Anything past n would be a duplicate or a stray message.
	for more := true; more; {
		select {
		case m := <-out:
			if exact {
				t.Fatalf("more than %d messages in %s: also offset %d of partition %d: %s", n, topic, m.Offset, m.Partition, m.Value)
			}
			got = append(got, m)
		case <-time.After(500 * time.Millisecond):
			more = false
		}
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got
}

// recordBatches fetches the raw record batches of every partition of topic,
// to look at what consumers do not show: compression and producer ids.
func recordBatches(t testing.TB, brokers []string, topic string) []*sarama.RecordBatch {
	t.Helper()
	client, err := sarama.NewClient(brokers, clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var batches []*sarama.RecordBatch
	for _, p := range parts {
		leader, err := client.Leader(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 64 << 20, Isolation: sarama.ReadUncommitted}
		req.AddBlock(topic, p, 0, 64<<20, -1)
		resp, err := leader.Fetch(req)
		if err != nil {
			t.Fatalf("fetching %s/%d: %v", topic, p, err)
		}
		blk := resp.GetBlock(topic, p)
		if blk == nil || blk.Err != sarama.ErrNoError {
			t.Fatalf("fetching %s/%d: %v", topic, p, blk)
		}
		for _, rs := range blk.RecordsSet {
			if rs.RecordBatch != nil {
				batches = append(batches, rs.RecordBatch)
			}
		}
	}
	return batches
}

// testEvent is an audit-like event: an exec by a host, with an id.
func testEvent(i int, host string) sdk.Event {
	ev := sdk.Event{
		Time:   time.Date(2026, 11, 25, 18, 56, 5, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		ID:     fmt.Sprintf("kernel-%d", 1000+i),
		Fields: sdk.MakeFields(8),
	}
	ev.Fields.Set("event.module", sdk.String("auditd"))
	ev.Fields.Set("event.action", sdk.String("executed"))
	ev.Fields.Set("host.name", sdk.String(host))
	ev.Fields.Set("auditd.sequence", sdk.Int(int64(1000+i)))
	ev.Fields.Set("process.args", sdk.Strings([]string{"/usr/bin/cat", "/etc/hosts", fmt.Sprint(i)}))
	ev.Fields.Set("process.executable", sdk.String("/usr/bin/cat"))
	ev.Fields.Set("process.pid", sdk.Int(int64(4000+i)))
	return ev
}

func batchOf(events ...sdk.Event) *sdk.Batch {
	b := sdk.NewBatch(len(events))
	b.Events = append(b.Events, events...)
	return b
}

// startOutput builds the output from the plugin's defaults and values (with
// brokers set), as the core would, and closes it when the test ends.
func startOutput(t testing.TB, brokers []string, values map[string]any) *Output {
	t.Helper()
	v := map[string]any{"brokers": brokers}
	for k, x := range values {
		v[k] = x
	}
	cfg := sdktest.Config(plugin(t), v)
	if err := plugin(t).Validate(cfg); err != nil {
		for _, e := range sdk.Errors(err) {
			if !sdk.IsWarning(e) {
				t.Fatalf("Validate: %v", err)
			}
		}
	}
	o, err := newOutput(cfg, sdktest.Env("output.kafka.test", nil))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	out := o.(*Output)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := out.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return out
}

func write(t testing.TB, o *Output, b *sdk.Batch) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return o.Write(ctx, b)
}

func kafkaBrokers(t testing.TB) []string {
	t.Helper()
	return testservers.Kafka(t)
}
