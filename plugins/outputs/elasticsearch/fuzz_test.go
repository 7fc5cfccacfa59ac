package elasticsearch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// FuzzIndexName checks the index name templates the config accepts: the
// rendered name of an accepted template starts with the fixed prefix the
// index template's pattern is derived from, and is always safe to put in an
// action line's JSON.
//
//	go test ./plugins/outputs/elasticsearch -run '^$' -fuzz FuzzIndexName -fuzztime 1m
func FuzzIndexName(f *testing.F) {
	for _, s := range []string{defaultIndex, "audit-{{ host.name }}-%Y.%m", "100%%-%d", "a{{b}}c%H", "{{ x }}", "x-%", "engine-{{", "é-%Y"} {
		f.Add(s, "WebServer")
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		tmpl, err := parseIndexTemplate(src)
		if err != nil {
			return
		}
		ev := sdk.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		for _, key := range tmpl.Fields() {
			ev.Fields.Set(key, sdk.String(value))
		}
		name, err := appendTarget(nil, tmpl, &ev)
		if err != nil {
			return
		}
		prefix, whole := staticPrefix(src)
		if !strings.HasPrefix(string(name), strings.ToLower(prefix)) {
			t.Fatalf("%q renders %q, which does not start with its prefix %q", src, name, prefix)
		}
		if whole && string(name) != prefix {
			t.Fatalf("%q is fixed text but renders %q", src, name)
		}
		line := `{"create":{"_index":"` + string(name) + `"}}`
		var v map[string]map[string]string
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%q renders %q, which breaks the action line: %v", src, name, err)
		}
	})
}
