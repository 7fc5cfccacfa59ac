package testservers

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// KafkaReady reports whether the Kafka cluster at brokers serves requests:
// a metadata request is answered, naming at least one broker and a
// controller. It gives up after timeout.
func KafkaReady(brokers []string, timeout time.Duration) error {
	if len(brokers) == 0 {
		return errors.New("kafka: no brokers given")
	}
	cfg := sarama.NewConfig()
	cfg.ClientID = "engine-testservers"
	cfg.Net.DialTimeout = timeout
	cfg.Net.ReadTimeout = timeout
	cfg.Net.WriteTimeout = timeout
	cfg.Metadata.Retry.Max = 0
	cfg.Metadata.Full = true // NewClient fetches the metadata
	cfg.Metadata.Timeout = timeout
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return fmt.Errorf("kafka at %v: %w", brokers, err)
	}
	defer client.Close()
	if len(client.Brokers()) == 0 {
		return fmt.Errorf("kafka at %v: the metadata names no broker", brokers)
	}
	if _, err := client.Controller(); err != nil {
		return fmt.Errorf("kafka at %v: no controller: %w", brokers, err)
	}
	return nil
}
