package kafka

import (
	"testing"

	"github.com/xdg-go/scram"
)

// TestSCRAMConversation runs the client side the output gives sarama
// against a SCRAM server, as a broker would: the right password
// authenticates both ways, a wrong one is refused.
func TestSCRAMConversation(t *testing.T) {
	for _, tc := range []struct {
		mechanism string
		hash      scram.HashGeneratorFcn
	}{
		{saslSCRAM256, scram.SHA256},
		{saslSCRAM512, scram.SHA512},
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			stored, err := tc.hash.NewClient("engine", "s3cret", "")
			if err != nil {
				t.Fatal(err)
			}
			creds := stored.GetStoredCredentials(scram.KeyFactors{Salt: "pepper-salt", Iters: 4096})
			server, err := tc.hash.NewServer(func(user string) (scram.StoredCredentials, error) {
				if user != "engine" {
					t.Errorf("server asked for user %q", user)
				}
				return creds, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, password := range []string{"s3cret", "wrong"} {
				client := scramClientGenerator(tc.mechanism)()
				if err := client.Begin("engine", password, ""); err != nil {
					t.Fatal(err)
				}
				conv := server.NewConversation()
				// sarama's loop: the client speaks first, with an empty challenge.
				challenge, clientErr, serverErr := "", error(nil), error(nil)
				for step := 0; !client.Done() && step < 5; step++ {
					var msg string
					if msg, clientErr = client.Step(challenge); clientErr != nil {
						break
					}
					if client.Done() {
						break
					}
					if challenge, serverErr = conv.Step(msg); serverErr != nil {
						break
					}
				}
				ok := clientErr == nil && serverErr == nil && conv.Valid()
				if ok != (password == "s3cret") {
					t.Errorf("password %q: authenticated = %v (client error %v, server error %v)", password, ok, clientErr, serverErr)
				}
			}
		})
	}
}
