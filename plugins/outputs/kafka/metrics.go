package kafka

import (
	"errors"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
)

// metrics are the output's own metrics, beside the ones the core keeps for
// every output (events received, sent, discarded).
type metrics struct {
	bytes   sdk.Counter // JSON bytes handed to the producer, before compression
	unkeyed sdk.Counter // events sent without key: they lack a field of the key template

	m      sdk.Metrics
	mu     sync.Mutex
	errors map[string]sdk.Counter
}

func newMetrics(m sdk.Metrics) metrics {
	return metrics{
		bytes:   m.Counter("engine_kafka_message_bytes_total", "Bytes of event JSON handed to the Kafka producer, before compression."),
		unkeyed: m.Counter("engine_kafka_unkeyed_events_total", "Events sent without key because they lack a field the key template names."),
		m:       m,
		errors:  map[string]sdk.Counter{},
	}
}

// countError counts one message that failed, by the kind of error.
func (m *metrics) countError(err error) {
	kind := errorKind(err)
	m.mu.Lock()
	c, ok := m.errors[kind]
	if !ok {
		c = m.m.Counter("engine_kafka_produce_errors_total", "Messages the Kafka producer failed to deliver, by error.", "error", kind)
		m.errors[kind] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// errorKind names err for a metric label: the Kafka protocol error name in
// lower case (such as "not_leader_or_follower"), or one of a few client-side
// kinds. The set is bounded.
func errorKind(err error) string {
	var kerr sarama.KError
	switch {
	case errors.As(err, &kerr):
		if name, ok := kafkaErrorNames[kerr]; ok {
			return name
		}
		return "kafka_other"
	case errors.Is(err, sarama.ErrOutOfBrokers):
		return "out_of_brokers"
	case errors.Is(err, sarama.ErrNotConnected), errors.Is(err, sarama.ErrClosedClient):
		return "not_connected"
	case errors.Is(err, sarama.ErrShuttingDown):
		return "shutting_down"
	case strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	return "other"
}

var kafkaErrorNames = map[sarama.KError]string{
	sarama.ErrMessageSizeTooLarge:          "message_too_large",
	sarama.ErrInvalidTimestamp:             "invalid_timestamp",
	sarama.ErrInvalidRecord:                "invalid_record",
	sarama.ErrInvalidTopic:                 "invalid_topic",
	sarama.ErrNotLeaderForPartition:        "not_leader_or_follower",
	sarama.ErrLeaderNotAvailable:           "leader_not_available",
	sarama.ErrUnknownTopicOrPartition:      "unknown_topic_or_partition",
	sarama.ErrRequestTimedOut:              "request_timed_out",
	sarama.ErrNotEnoughReplicas:            "not_enough_replicas",
	sarama.ErrNotEnoughReplicasAfterAppend: "not_enough_replicas_after_append",
	sarama.ErrTopicAuthorizationFailed:     "topic_authorization_failed",
	sarama.ErrClusterAuthorizationFailed:   "cluster_authorization_failed",
	sarama.ErrOutOfOrderSequenceNumber:     "out_of_order_sequence_number",
	sarama.ErrDuplicateSequenceNumber:      "duplicate_sequence_number",
	sarama.ErrKafkaStorageError:            "kafka_storage_error",
	sarama.ErrNetworkException:             "network_exception",
}
