package lossevent

import (
	"strings"
	"testing"
	"time"
)

func TestEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	ev := Loss{Component: "input.audit.k", Module: "auditd", Cause: "sequence_gap", Unit: "events",
		Count: 3, Message: "m", First: 10, Last: 12, Time: at}.Event()
	got := string(ev.AppendJSON(nil))
	want := `{"@timestamp":"2026-01-02T02:04:05.000000006Z","engine":{"component":{"id":"input.audit.k"},"loss":{"cause":"sequence_gap","count":3,"sequence":{"first":10,"last":12},"unit":"events"}},"event":{"action":"events_lost","kind":"pipeline_error","module":"auditd","outcome":"failure","reason":"sequence_gap"},"message":"m"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(ev.ID, "input.audit.k/loss/sequence_gap/") {
		t.Fatalf("ID = %s", ev.ID)
	}
	noSeq := Loss{Component: "c", Module: "engine", Cause: "buffer_full", Unit: "events", Count: 1, Time: at}.Event()
	if noSeq.Fields.Has("engine.loss.sequence.first") {
		t.Fatal("sequence range without one")
	}
}
