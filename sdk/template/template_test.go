package template

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func event() *sdk.Event {
	ev := &sdk.Event{Time: time.Date(2026, 3, 7, 5, 9, 0, 0, time.FixedZone("X", 3600*10))}
	ev.Fields.Set("event.module", sdk.String("auditd"))
	ev.Fields.Set("host.name", sdk.String("web-1"))
	ev.Fields.Set("process.pid", sdk.Int(42))
	ev.Fields.Set("tags", sdk.Strings([]string{"a"}))
	return ev
}

func TestRender(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"engine-events", "engine-events"},
		{"audit-{{ event.module }}-%Y.%m.%d", "audit-auditd-2026.03.06"}, // UTC: 19:09 on the 6th
		{"{{host.name}}/%H", "web-1/19"},
		{"pid-{{ process.pid }}", "pid-42"},
		{"100%%-{{event.module}}", "100%-auditd"},
		{"", ""},
	} {
		tp, err := Parse(tc.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.src, err)
		}
		got, err := tp.Render(event())
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
		if tp.String() != tc.src {
			t.Errorf("String() = %q", tp.String())
		}
	}
}

func TestStaticAndFields(t *testing.T) {
	if !MustParse("plain-name").Static() {
		t.Error("plain name not static")
	}
	tp := MustParse("a-{{ host.name }}-%Y-{{event.module}}")
	if tp.Static() {
		t.Error("templated name reported static")
	}
	if got := strings.Join(tp.Fields(), ","); got != "host.name,event.module" {
		t.Errorf("Fields() = %s", got)
	}
	if MustParse("x-%d").Static() {
		t.Error("date template reported static")
	}
}

func TestMissingField(t *testing.T) {
	for _, src := range []string{"x-{{ user.name }}", "x-{{ tags }}"} {
		_, err := MustParse(src).Render(event())
		var me *MissingFieldError
		if !errors.As(err, &me) {
			t.Errorf("Render(%q) error = %v; want MissingFieldError", src, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a-{{ host.name", "never closed"},
		{"a-{{ }}", "must name one field"},
		{"a-{{ a b }}", "must name one field"},
		{"a-%Q", "not a known date directive"},
		{"a-%", "lone %"},
	} {
		_, err := Parse(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want error containing %q", tc.src, err, tc.want)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"a-{{ host.name }}-%Y.%m.%d", "%%", "{{", "%", "{{x}}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tp, err := Parse(src)
		if err != nil {
			return
		}
		_, _ = tp.Render(event())
		if tp.String() != src {
			t.Fatalf("String() = %q, want %q", tp.String(), src)
		}
	})
}
