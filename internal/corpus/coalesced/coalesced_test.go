package coalesced

import (
	"testing"

	"github.com/engine-audit/engine/internal/corpus"
)

func TestCorpusEvents(t *testing.T) {
	evs := Events(t, corpus.Lines(t))
	// The corpus README gives 59,929 events for its 340,728 records.
	if len(evs) != 59929 {
		t.Fatalf("%d events, want 59929", len(evs))
	}
	ids := map[string]bool{}
	for i := range evs {
		if evs[i].ID == "" || ids[evs[i].ID] {
			t.Fatalf("event %d: empty or repeated id %q", i, evs[i].ID)
		}
		ids[evs[i].ID] = true
	}
	if got := Corpus(t, 10); len(got) != 10 || got[0].ID != evs[0].ID {
		t.Fatalf("Corpus(10) = %d events", len(got))
	}
}
