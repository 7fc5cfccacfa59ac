package rules_test

import (
	"testing"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

// A request whose caller stopped waiting (go-libaudit gives up after half a
// second, and a loaded machine can answer later than that) leaves its
// answers on the socket. A plain go-libaudit client then reads them as the
// answers to its next request and fails; a SteadyClient goes on working.
func TestSteadyClientSurvivesAnswersLeftOnTheSocket(t *testing.T) {
	audittest.Lock(t)
	c, err := rules.NewSteadyClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The kernel acknowledges a request before sendmsg returns, so the
	// abandoned request's acknowledgement is on the socket by now.
	if _, err := c.GetStatusAsync(true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuditClient.GetStatus(); err == nil {
		t.Fatal("go-libaudit read its own answer past an earlier request's: this test no longer shows the problem")
	}
	for i := range 10 {
		if _, err := c.GetStatusAsync(true); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetStatus(); err != nil {
			t.Fatalf("GetStatus after %d abandoned requests: %v", i+2, err)
		}
		if _, err := c.GetStatusAsync(true); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetRules(); err != nil {
			t.Fatalf("GetRules after an abandoned request: %v", err)
		}
	}
	if _, err := rules.Snapshot(c); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
}
