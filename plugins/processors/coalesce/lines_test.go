package coalesce

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// readLines returns the non-blank lines of r.
func readLines(t testing.TB, r io.Reader) []string {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// ourRun feeds lines to a processor in batches of 1024 and drains it.
func ourRun(t testing.TB, lines []string, o Options) []sdk.Event {
	p := New(o)
	p.b.checkOrder = true
	col := sdktest.NewCollector()
	ctx := context.Background()
	for start := 0; start < len(lines); start += 1024 {
		end := min(start+1024, len(lines))
		b := sdk.NewBatch(end - start)
		for _, l := range lines[start:end] {
			ev := sdk.Event{Fields: sdk.MakeFields(1)}
			ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
			b.Events = append(b.Events, ev)
		}
		if err := p.Process(ctx, b, col); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Drain(ctx, col, true); err != nil {
		t.Fatal(err)
	}
	return col.Events()
}

func corpusLines(t testing.TB) []string { return corpus.Lines(t) }
