package kafka

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/template"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestMessages renders the messages the output builds for a few events, as
// a consumer would see them, and compares them with testdata/messages.golden:
// topic, key, timestamp, headers in order, value.
func TestMessages(t *testing.T) {
	c, _, err := parseConfig(testConfig(t, map[string]any{
		"topic":   "audit-{{ event.module }}-%Y.%m",
		"key":     "{{ host.name }}",
		"headers": map[string]string{"source": "engine", "dc": "par1"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	o := &Output{cfg: c, metrics: newMetrics(sdk.NopMetrics{})}

	at := time.Date(2026, 11, 25, 18, 56, 5, 281_000_000, time.UTC)
	withID := testEvent(0, "web-1")
	withID.Time = at
	noID := testEvent(1, "web-2")
	noID.Time, noID.ID = at.Add(time.Millisecond), ""
	noHost := testEvent(2, "")
	noHost.Time = at.Add(2 * time.Millisecond)
	noHost.Fields.Delete("host.name")
	noModule := testEvent(3, "web-1")
	noModule.Fields.Delete("event.module")
	badTopic := testEvent(4, "web-1")
	badTopic.Fields.Set("event.module", sdk.String("a b"))
	events := []sdk.Event{withID, noID, noHost, noModule, badTopic}

	w := o.newWrite(len(events))
	var out strings.Builder
	for i := range events {
		m, reason := o.message(w, i, &events[i])
		fmt.Fprintf(&out, "# event %d\n", i)
		if reason != "" {
			fmt.Fprintf(&out, "rejected: %s\n\n", reason)
			continue
		}
		out.WriteString(describe(t, m))
	}
	golden(t, "messages.golden", out.String())
}

func describe(t *testing.T, m *sarama.ProducerMessage) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "topic: %s\n", m.Topic)
	if m.Key == nil {
		b.WriteString("key: (none)\n")
	} else {
		k, _ := m.Key.Encode()
		fmt.Fprintf(&b, "key: %s\n", k)
	}
	fmt.Fprintf(&b, "timestamp: %s\n", m.Timestamp.UTC().Format(time.RFC3339Nano))
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "header: %s=%s\n", h.Key, h.Value)
	}
	v, _ := m.Value.Encode()
	fmt.Fprintf(&b, "value: %s\n\n", v)
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("messages differ from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// FuzzTopicTemplate: whatever template Validate accepts and whatever value
// the event's field holds, the output either rejects the event or produces
// to a name Kafka accepts as a topic.
func FuzzTopicTemplate(f *testing.F) {
	for _, s := range [][2]string{
		{"audit-{{ event.module }}", "auditd"},
		{"audit-{{ event.module }}-%Y.%m.%d", "a b"},
		{"{{ event.module }}", "."},
		{"{{ event.module }}", ".."},
		{"x{{ event.module }}", strings.Repeat("y", 260)},
		{"a.{{event.module}}_%H", "fim/x"},
		{"%%{{ event.module }}", "z"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		tp, err := template.Parse(src)
		if err != nil || checkTopicTemplate(tp) != nil || src == "" {
			return
		}
		c := config{topic: tp}
		o := &Output{cfg: c}
		w := o.newWrite(1)
		ev := testEvent(0, "h")
		ev.Fields.Set("event.module", sdk.String(value))
		topic, reason := o.renderTopic(w, &ev)
		if reason != "" {
			if topic != "" {
				t.Fatalf("rejected (%s) but topic %q", reason, topic)
			}
			return
		}
		if err := checkTopic(topic); err != nil {
			t.Fatalf("template %q with %q gave an invalid topic %q: %v", src, value, topic, err)
		}
		// The cached name must be the same on the second render.
		if again, _ := o.renderTopic(w, &ev); again != topic {
			t.Fatalf("second render %q, first %q", again, topic)
		}
	})
}
