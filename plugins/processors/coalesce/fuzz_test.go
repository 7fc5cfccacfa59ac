package coalesce

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// Run for a while with:
//
//	go test -run '^$' -fuzz FuzzRecord -fuzztime 2m ./plugins/processors/coalesce/
//	go test -run '^$' -fuzz FuzzProcessor -fuzztime 2m ./plugins/processors/coalesce/

func fuzzSeeds(f *testing.F) []string {
	var seeds []string
	files, _ := filepath.Glob("testdata/*.log")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(raw))
	}
	return seeds
}

func checkEvent(t *testing.T, ev *sdk.Event) {
	t.Helper()
	doc := ev.AppendJSON(nil)
	if !json.Valid(doc) {
		t.Fatalf("invalid JSON: %s", doc)
	}
	if ev.Fields.GetString(sdk.FieldEventKind) == "" {
		t.Fatalf("event without event.kind: %s", doc)
	}
}

// FuzzRecord parses one record and builds an event from it alone.
func FuzzRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		for _, line := range strings.Split(s, "\n") {
			f.Add(line)
		}
	}
	f.Add("type=AVC msg=audit(1.2:3): avc:  denied  { read } for  pid=1 comm=\"x\"")
	f.Add("type=EXECVE msg=audit(1.2:3): argc=2 a0=\"x\" a1_len=4 a1[0]=41 a1[1]=\"BC\"")
	f.Add("type=SOCKADDR msg=audit(1.2:3): saddr=0A00")
	f.Add("type=USER_LOGIN msg=audit(1.2:3): msg='a=\"b\\' c=d'")
	b := newBuilder()
	f.Fuzz(func(t *testing.T, line string) {
		h, err := parseHeader(line)
		if err != nil {
			return
		}
		if h.typ == typeEOE {
			return
		}
		ev := b.build([]header{h})
		checkEvent(t, &ev)
	})
}

// FuzzProcessor feeds lines (one record each) through the whole processor,
// a few per batch, and checks that every emitted event is valid JSON and
// that nothing is held after a drain.
func FuzzProcessor(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, per uint8) {
		lines := strings.Split(text, "\n")
		if len(lines) > 2000 {
			lines = lines[:2000]
		}
		size := int(per%16) + 1
		p := New(Options{MaxInFlight: 4, IncludeOriginal: per&1 == 0})
		col := sdktest.NewCollector()
		ctx := context.Background()
		n := 0
		for i := 0; i < len(lines); i += size {
			b := batchOf(lines[i:min(i+size, len(lines))]...)
			n += b.Len()
			if err := p.Process(ctx, b, col); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Tick(ctx, time.Now().Add(time.Hour), col); err != nil {
			t.Fatal(err)
		}
		if err := p.Drain(ctx, col); err != nil {
			t.Fatal(err)
		}
		if p.Pending() != 0 {
			t.Fatal("events held after drain")
		}
		evs := col.Events()
		if len(evs) > n {
			t.Fatalf("%d events from %d records", len(evs), n)
		}
		for i := range evs {
			checkEvent(t, &evs[i])
		}
	})
}
