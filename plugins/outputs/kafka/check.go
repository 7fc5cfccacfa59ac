package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
)

// checkConnection is Plugin.CheckConnection: it connects to the brokers,
// fetches the cluster's metadata, reaches every broker the metadata names
// (as producing will), and checks that a fixed topic exists or can be
// created. It produces nothing and creates no topic.
func checkConnection(ctx context.Context, cfg *sdk.Config) error {
	c, _, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	sc, err := c.saramaConfig()
	if err != nil {
		return err
	}
	// All topics, so that a missing one is seen, and without creating it.
	sc.Metadata.Full = true
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Metadata.Retry.Max = 0

	done := make(chan error, 1)
	go func() { done <- check(&c, sc) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka: no answer from %s: %w", strings.Join(c.brokers, ", "), ctx.Err())
	}
}

func check(c *config, sc *sarama.Config) error {
	brokers := strings.Join(c.brokers, ", ")
	client, err := sarama.NewClient(c.brokers, sc)
	if err != nil {
		if cause := probe(c.brokers, sc); cause != nil {
			// sarama keeps only some causes; the direct attempt says more.
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return fmt.Errorf("kafka: cannot fetch the cluster's metadata from %s: %w%s", brokers, err, connectionHint(err, c))
	}
	defer client.Close()

	var unreachable []error
	for _, b := range client.Brokers() {
		if err := b.Open(sc); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			unreachable = append(unreachable, fmt.Errorf("broker %d at %s: %w", b.ID(), b.Addr(), err))
			continue
		}
		if ok, err := b.Connected(); !ok {
			unreachable = append(unreachable, fmt.Errorf("broker %d at %s: %w%s", b.ID(), b.Addr(), err, connectionHint(err, c)))
		}
	}
	if len(unreachable) > 0 {
		return fmt.Errorf("kafka: %s answered, but not every broker it names can be reached (the address each broker advertises, advertised.listeners, must be reachable from this host): %w",
			brokers, errors.Join(unreachable...))
	}

	if c.topic.Static() {
		topics, err := client.Topics()
		if err != nil {
			return fmt.Errorf("kafka: listing topics: %w", err)
		}
		if !slices.Contains(topics, c.topic.String()) {
			if err := checkAutoCreate(client, c.topic.String()); err != nil {
				return err
			}
		}
	}

	if c.idempotent {
		if _, err := client.InitProducerID(); err != nil {
			return fmt.Errorf("kafka: the brokers refuse an idempotent producer id: %w%s", err, hint(err, c.topic.String()))
		}
	}
	return nil
}

// probe connects to each address and asks for metadata, and returns the
// first error, such as a refused SASL mechanism that sarama's client does
// not pass on.
func probe(addrs []string, sc *sarama.Config) error {
	for _, addr := range addrs {
		b := sarama.NewBroker(addr)
		if err := b.Open(sc); err != nil {
			return err
		}
		_, err := b.Connected()
		if err == nil {
			_, err = b.GetMetadata(&sarama.MetadataRequest{Version: 1})
		}
		_ = b.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
	return nil
}

// checkAutoCreate reports an error when topic does not exist and the
// brokers will not create it on the first message.
func checkAutoCreate(client sarama.Client, topic string) error {
	controller, err := client.Controller()
	if err != nil {
		return nil // cannot tell; the first Write will
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil
	}
	// Not admin.Close: it would close the shared client, which the caller does.
	entries, err := admin.DescribeConfig(sarama.ConfigResource{
		Type:        sarama.BrokerResource,
		Name:        strconv.Itoa(int(controller.ID())),
		ConfigNames: []string{"auto.create.topics.enable"},
	})
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.Name == "auto.create.topics.enable" && e.Value == "false" {
			return fmt.Errorf("kafka: topic %q does not exist and the brokers do not create topics (auto.create.topics.enable=false): create it, with the partitions and replication it needs", topic)
		}
	}
	return nil
}

// connectionHint explains the usual causes of a failed connection.
func connectionHint(err error, c *config) string {
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		recErr   tls.RecordHeaderError
		netErr   net.Error
		kerr     sarama.KError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "; nothing listens there: check that Kafka runs and the host:port in brokers"
	case errors.As(err, &unknown), errors.As(err, &certErr) && errors.As(certErr.Err, &unknown):
		return "; the brokers' certificate is not signed by an authority the output trusts: set tls.ca_file to the CA that signed it"
	case errors.As(err, &hostname):
		return "; the brokers' certificate is not for this host name: connect by the name in the certificate, or set tls.server_name"
	case errors.As(err, &recErr):
		return "; the broker does not speak TLS on this port: remove the tls block, or use the broker's TLS listener"
	case errors.Is(err, sarama.ErrIllegalSASLState), errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return "; the broker does not take this SASL mechanism on this listener: check that the port is a SASL listener (SASL_PLAINTEXT or SASL_SSL) with sasl.mechanism enabled, or remove the sasl block"
	case errors.As(err, &kerr) && kerr == sarama.ErrSASLAuthenticationFailed:
		return "; check sasl.username, sasl.password and sasl.mechanism (and that the user exists for that mechanism)"
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		return "; check sasl.username, sasl.password and sasl.mechanism"
	case c.tls != nil && errors.Is(err, io.EOF):
		return "; the broker closed the connection during the TLS handshake: check that this port is the brokers' TLS listener, or remove the tls block"
	case c.tls == nil && (errors.Is(err, io.EOF) || errors.As(err, &netErr) && netErr.Timeout()):
		return "; the broker closed the connection or did not answer: if its listener uses TLS or SASL, add a tls or sasl block"
	case c.sasl == nil && strings.Contains(err.Error(), "SASL"):
		return "; the broker wants SASL authentication: add a sasl block"
	}
	return ""
}
