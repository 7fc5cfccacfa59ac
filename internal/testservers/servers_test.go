package testservers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// These tests run against the servers of scripts/testenv, and check that
// they are configured as engine's tests expect.

func esDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestESAnswersRoot: GET / and HEAD /, which clients use to ping and to
// read the version, answer as on a full distribution (scripts/testenv adds
// them to the integ-test-zip, which leaves them out).
func TestESAnswersRoot(t *testing.T) {
	url := ES(t)
	code, body := esDo(t, http.MethodGet, url+"/", "")
	var root struct {
		ClusterName string `json:"cluster_name"`
		Version     struct {
			Number string `json:"number"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &root) != nil {
		t.Fatalf("GET /: %d %s", code, body)
	}
	if !strings.HasPrefix(root.Version.Number, "8.") || root.ClusterName == "" || root.Tagline == "" {
		t.Errorf("GET / = %s, want an 8.x version, a cluster name and a tagline", body)
	}
	if code, _ := esDo(t, http.MethodHead, url+"/", ""); code != http.StatusOK {
		t.Errorf("HEAD /: %d, want 200", code)
	}
}

func TestESIndexesAndAutoCreates(t *testing.T) {
	url := ES(t)
	index := fmt.Sprintf("testservers-%d", time.Now().UnixNano())
	t.Cleanup(func() { esDo(t, http.MethodDelete, url+"/"+index, "") })

	// No index exists: action.auto_create_index lets the write create it.
	code, body := esDo(t, http.MethodPut, url+"/"+index+"/_doc/1?refresh=true", `{"message":"hello"}`)
	if code != http.StatusCreated {
		t.Fatalf("indexing into a new index: %d %s", code, body)
	}
	code, body = esDo(t, http.MethodGet, url+"/"+index+"/_doc/1", "")
	if code != http.StatusOK || !strings.Contains(body, `"message":"hello"`) {
		t.Fatalf("reading the document back: %d %s", code, body)
	}
}

func TestKafkaRoundTrip(t *testing.T) {
	brokers := Kafka(t)
	topic := fmt.Sprintf("testservers-%d", time.Now().UnixNano())

	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.MaxMessageBytes = 4 << 20 // let the broker, not sarama, judge the size
	// A broker that has just started can take seconds to create a topic
	// and elect its leaders; until then its metadata says "unknown topic or
	// partition", which sarama asks again about (3 times in 0.75s by
	// default, too few then).
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	// The topic does not exist: auto.create.topics.enable creates it with
	// num.partitions partitions.
	partition, offset, err := producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Partition: 1, Value: sarama.StringEncoder("hello"),
	})
	if err != nil {
		t.Fatalf("producing to a new topic: %v", err)
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(partitions) != 3 {
		t.Errorf("auto-created topic has %d partitions, want 3", len(partitions))
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case msg := <-pc.Messages():
		if string(msg.Value) != "hello" {
			t.Errorf("consumed %q, want hello", msg.Value)
		}
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-time.After(time.Minute):
		t.Fatal("the produced message never came back")
	}

	// message.max.bytes is Kafka's default (about 1 MiB): the broker
	// refuses a 2 MiB message.
	_, _, err = producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Partition: 0, Value: sarama.ByteEncoder(make([]byte, 2<<20)),
	})
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Errorf("producing 2 MiB: err = %v, want %v", err, sarama.ErrMessageSizeTooLarge)
	}
}

// TestStopAndStart takes each server away and brings it back through the
// fault-injection API.
func TestStopAndStart(t *testing.T) {
	Lock(t)
	url, brokers := ES(t), Kafka(t)

	t.Run("es", func(t *testing.T) {
		Stop(t, "es")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ESReady(ctx, url); err == nil {
			t.Fatal("Elasticsearch answers after Stop")
		}
		Start(t, "es")
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ESReady(ctx, url); err != nil {
			t.Fatalf("after Start: %v", err)
		}
	})
	t.Run("kafka", func(t *testing.T) {
		Stop(t, "kafka")
		if err := KafkaReady(brokers, 5*time.Second); err == nil {
			t.Fatal("Kafka answers after Stop")
		}
		// Not started again here: Stop's cleanup brings it back.
	})
	if err := KafkaReady(brokers, 10*time.Second); err != nil {
		t.Fatalf("Kafka is not back after the subtest that stopped it ended: %v", err)
	}
	Restart(t, "kafka")
	if err := KafkaReady(brokers, 10*time.Second); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
