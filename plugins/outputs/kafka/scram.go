package kafka

import (
	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// scramConversation adapts a SCRAM client conversation to sarama's
// SCRAMClient: sarama drives the exchange with the broker, the scram package
// computes the messages and checks the server's proof.
type scramConversation struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramConversation) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramConversation) Step(challenge string) (string, error) {
	return s.conv.Step(challenge)
}

func (s *scramConversation) Done() bool { return s.conv.Done() }

// scramClientGenerator returns sarama's factory of SCRAM conversations for
// mechanism ("SCRAM-SHA-256" or "SCRAM-SHA-512").
func scramClientGenerator(mechanism string) func() sarama.SCRAMClient {
	hash := scram.SHA512
	if mechanism == saslSCRAM256 {
		hash = scram.SHA256
	}
	return func() sarama.SCRAMClient { return &scramConversation{hash: hash} }
}
