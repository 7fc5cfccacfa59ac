package elasticsearch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/corpus"
	"github.com/engine-audit/engine/plugins/processors/coalesce"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"

	_ "github.com/engine-audit/engine/plugins/inputs/logfile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// engineEvents returns the events the engine's plugins emit, as they reach
// an output: the kernel corpus and the varied log, read by the logfile
// input and coalesced; coalesce's own test logs (ENRICHED, node=,
// userspace records), with and without include_original; a garbage line and
// an over-long line (pipeline errors, log.flags); and the audit input's
// loss reports and rule-drift alerts. In -short mode, the kernel corpus is
// left out.
func engineEvents(t testing.TB) []sdk.Event {
	t.Helper()
	ctx := context.Background()
	var out []sdk.Event
	sink := sdk.EmitterFunc(func(_ context.Context, b *sdk.Batch) error {
		for i := range b.Events {
			out = append(out, b.Events[i].Clone())
		}
		b.Done()
		return nil
	})

	// Through the logfile input, as a pipeline reads audit.log.
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	varied, err := os.ReadFile("../../../testdata/corpus/varied/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	content := string(varied) + "this line is not an audit record\n" +
		"type=SYSCALL msg=audit(1700000000.000:1): " + strings.Repeat("x", 70<<10) + "\n"
	if err := os.WriteFile(log, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	records := readWithLogfile(t, log)
	if !testing.Short() {
		records = append(records, readWithLogfile(t, corpus.WriteFile(t, t.TempDir()))...)
	}
	coalesceInto(t, ctx, records, coalesce.Options{}, sink)

	// coalesce's test logs and go-libaudit's (userspace, SELinux and
	// many more record types), fed as lines.
	files, _ := filepath.Glob("../../processors/coalesce/testdata/*.log")
	if len(files) < 5 {
		t.Fatalf("coalesce test logs not found (%d)", len(files))
	}
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/elastic/go-libaudit/v2").Output(); err == nil {
		lib, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "auparse", "testdata", "*.log"))
		files = append(files, lib...)
	} else {
		t.Logf("go-libaudit's test logs not found, left out: %v", err)
	}
	var lines []sdk.Event
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			ev := sdk.Event{Fields: sdk.MakeFields(1)}
			ev.Fields.Append(sdk.FieldMessage, sdk.String(l))
			lines = append(lines, ev)
		}
	}
	coalesceInto(t, ctx, cloneEvents(lines), coalesce.Options{}, sink)
	// The same events with event.original: other documents, so other ids.
	withOriginal := sdk.EmitterFunc(func(ctx context.Context, b *sdk.Batch) error {
		for i := range b.Events {
			b.Events[i].ID += "-original"
		}
		return sink.Emit(ctx, b)
	})
	coalesceInto(t, ctx, lines, coalesce.Options{IncludeOriginal: true}, withOriginal)

	out = append(out, auditInputEvents()...)
	return out
}

func cloneEvents(evs []sdk.Event) []sdk.Event {
	out := make([]sdk.Event, len(evs))
	for i := range evs {
		out[i] = evs[i].Clone()
	}
	return out
}

// readWithLogfile reads path with the logfile input (format "audit") to
// its end.
func readWithLogfile(t testing.TB, path string) []sdk.Event {
	t.Helper()
	p := sdk.Lookup(sdk.KindInput, "logfile")
	cfg := sdktest.Config(p, map[string]any{"paths": []string{path}, "format": "audit", "max_line_bytes": int64(64 << 10)})
	env := sdktest.Env("input.logfile.test", nil)
	env.Once = true
	env.DataDir = t.TempDir()
	in, err := p.New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	c := sdktest.NewCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := in.(sdk.Input).Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if cl, ok := in.(sdk.Closer); ok {
		cl.Close(ctx)
	}
	return c.Events()
}

func coalesceInto(t testing.TB, ctx context.Context, records []sdk.Event, o coalesce.Options, sink sdk.Emitter) {
	t.Helper()
	p := coalesce.New(o)
	for start := 0; start < len(records); start += 1024 {
		end := min(start+1024, len(records))
		b := sdk.NewBatch(end - start)
		b.Events = append(b.Events, records[start:end]...)
		if err := p.Process(ctx, b, sink); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Drain(ctx, sink, true); err != nil {
		t.Fatal(err)
	}
}

// auditInputEvents are the events the audit input makes besides records
// (plugins/inputs/audit: lossEvent and the drift check), field for field.
// That input only builds on Linux with netlink, so they are written out
// here; keep them in step with it.
func auditInputEvents() []sdk.Event {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	loss := sdk.Event{ID: "input.audit.kernel/loss/sequence_gap/1", Time: now, Fields: sdk.MakeFields(12)}
	loss.Fields.Append("engine.component.id", sdk.String("input.audit.kernel"))
	loss.Fields.Append("engine.loss.cause", sdk.String("sequence_gap"))
	loss.Fields.Append("engine.loss.count", sdk.Int(3))
	loss.Fields.Append("engine.loss.sequence.first", sdk.Int(100))
	loss.Fields.Append("engine.loss.sequence.last", sdk.Int(102))
	loss.Fields.Append("engine.loss.unit", sdk.String("events"))
	loss.Fields.Append("event.action", sdk.String("events_lost"))
	loss.Fields.Append("event.kind", sdk.String("pipeline_error"))
	loss.Fields.Append("event.module", sdk.String("auditd"))
	loss.Fields.Append("event.outcome", sdk.String("failure"))
	loss.Fields.Append("event.reason", sdk.String("sequence_gap"))
	loss.Fields.Append("message", sdk.String("3 audit events never arrived: sequence numbers 100 to 102 are missing"))

	drift := sdk.Event{Time: now, Fields: sdk.MakeFields(10)}
	drift.Fields.Append("engine.component.id", sdk.String("input.audit.kernel"))
	drift.Fields.Append("engine.rules.missing", sdk.Strings([]string{"-w /etc/passwd -p wa -k identity"}))
	drift.Fields.Append("engine.rules.reasserted", sdk.Bool(true))
	drift.Fields.Append("engine.rules.unexpected", sdk.Strings([]string{}))
	drift.Fields.Append("event.action", sdk.String("audit_rules_changed"))
	drift.Fields.Append("event.category", sdk.Strings([]string{"configuration"}))
	drift.Fields.Append("event.kind", sdk.String("alert"))
	drift.Fields.Append("event.module", sdk.String("auditd"))
	drift.Fields.Append("event.type", sdk.Strings([]string{"change"}))
	drift.Fields.Append("message", sdk.String("the kernel's audit rules were changed by someone else: 1 configured rules missing, 0 unexpected"))
	return []sdk.Event{loss, drift}
}

// deadLetterEvent is the shape of the documents this output writes to the
// dead-letter index.
func deadLetterEvent() sdk.Event {
	ev := sdk.Event{Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Fields: sdk.MakeFields(5)}
	ev.Fields.Append("engine.component.id", sdk.String("output.elasticsearch.main"))
	ev.Fields.Append("engine.dead_letter.index", sdk.String("engine-2026.11.25"))
	ev.Fields.Append("error.message", sdk.String("document_parsing_exception: ..."))
	ev.Fields.Append("error.type", sdk.String("document_parsing_exception"))
	ev.Fields.Append("event.original", sdk.String(`{"process":"x"}`))
	return ev
}

// fieldKinds collects every key (objects in lists flattened to
// "list.key") with the kinds of value it holds.
func fieldKinds(evs []sdk.Event) map[string]map[sdk.ValueKind]int {
	keys := map[string]map[sdk.ValueKind]int{}
	var walk func(prefix string, f *sdk.Fields)
	walk = func(prefix string, f *sdk.Fields) {
		for _, fd := range f.All() {
			k := prefix + fd.Key
			if keys[k] == nil {
				keys[k] = map[sdk.ValueKind]int{}
			}
			keys[k][fd.Value.Kind()]++
			if fd.Value.Kind() == sdk.KindObjects {
				for _, o := range fd.Value.ObjectList() {
					walk(k+".", &o)
				}
			}
		}
	}
	for i := range evs {
		walk("", &evs[i].Fields)
		if !evs[i].Time.IsZero() {
			if keys["@timestamp"] == nil {
				keys["@timestamp"] = map[sdk.ValueKind]int{}
			}
			keys["@timestamp"][sdk.KindTime]++
		}
	}
	return keys
}

// mapping is template.json read as explicit field types and dynamic
// templates.
type mapping struct {
	explicit map[string]string // dotted path -> type ("object" for objects)
	dynamic  []dynamicTemplate
}

type dynamicTemplate struct {
	name, pathMatch, matchType, mappedType string
}

func loadMapping(t testing.TB) mapping {
	t.Helper()
	var tj struct {
		Mappings struct {
			DynamicTemplates []map[string]struct {
				PathMatch        string `json:"path_match"`
				MatchMappingType string `json:"match_mapping_type"`
				Mapping          struct {
					Type string `json:"type"`
				} `json:"mapping"`
			} `json:"dynamic_templates"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(templateJSON, &tj); err != nil {
		t.Fatalf("template.json: %v", err)
	}
	m := mapping{explicit: map[string]string{}}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			var f struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("template.json %s%s: %v", prefix, name, err)
			}
			typ := f.Type
			if typ == "" {
				typ = "object"
			}
			m.explicit[prefix+name] = typ
			walk(prefix+name+".", f.Properties)
		}
	}
	walk("", tj.Mappings.Properties)
	for _, dt := range tj.Mappings.DynamicTemplates {
		for name, d := range dt {
			m.dynamic = append(m.dynamic, dynamicTemplate{name, d.PathMatch, d.MatchMappingType, d.Mapping.Type})
		}
	}
	return m
}

// compatible lists the mapping types a value kind may be indexed as.
// Strings may go to long and ip: coalesce writes ports and addresses as
// text, and the test against a real cluster checks that they parse.
var compatible = map[sdk.ValueKind][]string{
	sdk.KindString:  {"keyword", "text", "match_only_text", "ip", "long", "date", "wildcard"},
	sdk.KindStrings: {"keyword", "text", "match_only_text"},
	sdk.KindInt:     {"long", "integer", "short", "byte", "unsigned_long"},
	sdk.KindFloat:   {"double", "float", "scaled_float", "half_float"},
	sdk.KindBool:    {"boolean"},
	sdk.KindTime:    {"date", "date_nanos"},
	sdk.KindObjects: {"object", "nested"},
}

// dynamicMatchType is the match_mapping_type Elasticsearch sees for a kind.
var dynamicMatchType = map[sdk.ValueKind]string{
	sdk.KindString: "string", sdk.KindStrings: "string", sdk.KindInt: "long",
	sdk.KindFloat: "double", sdk.KindBool: "boolean", sdk.KindObjects: "object",
}

// covering returns how key with kind is mapped: the explicit type or the
// dynamic template, or an error.
func (m mapping) covering(key string, kind sdk.ValueKind) (string, error) {
	if typ, ok := m.explicit[key]; ok {
		for _, c := range compatible[kind] {
			if c == typ {
				return typ, nil
			}
		}
		return "", fmt.Errorf("%s holds %s values but is mapped as %s", key, kind, typ)
	}
	for _, dt := range m.dynamic {
		if !globMatch(dt.pathMatch, key) {
			continue
		}
		if dt.matchType != "" && dt.matchType != "*" && dt.matchType != dynamicMatchType[kind] {
			continue
		}
		return "dynamic template " + dt.name, nil
	}
	return "", fmt.Errorf("%s (%s) has no explicit mapping and no dynamic template matches it", key, kind)
}

// globMatch is Elasticsearch's simple wildcard match: * matches any run of
// characters, dots included.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// TestTemplateCoversEveryEmittedField fails when a plugin emits a field
// the index template does not map explicitly or by a dynamic template, or
// maps with a type its values cannot have.
func TestTemplateCoversEveryEmittedField(t *testing.T) {
	evs := engineEvents(t)
	evs = append(evs, deadLetterEvent())
	keys := fieldKinds(evs)
	m := loadMapping(t)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	byDynamic := map[string]int{}
	for _, k := range names {
		for kind := range keys[k] {
			how, err := m.covering(k, kind)
			if err != nil {
				t.Error(err)
				continue
			}
			if strings.HasPrefix(how, "dynamic") {
				byDynamic[how]++
			}
		}
	}
	t.Logf("%d events, %d distinct fields; by dynamic template: %v", len(evs), len(names), byDynamic)
	if len(names) < 100 {
		t.Errorf("only %d distinct fields: the corpus did not load?", len(names))
	}
	// The test must be able to fail: a field nobody maps.
	if _, err := m.covering("nobody.maps.this", sdk.KindString); err == nil {
		t.Error("an unknown field counts as covered")
	}
	if _, err := m.covering("process.pid", sdk.KindBool); err == nil {
		t.Error("a boolean in a long field counts as compatible")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"auditd.data.*", "auditd.data.a0", true},
		{"auditd.data.*", "auditd.data.socket.addr", true},
		{"auditd.data.*", "auditd.datax", false},
		{"user.*.id", "user.new_auid.id", true},
		{"user.*.id", "user.id", false},
		{"user.*.id", "user.ouid.name", false},
	} {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %t", tt.pattern, tt.s, got)
		}
	}
}

// TestTemplateVersionFollowsItsContent holds templateVersion and
// template.json together: a changed template with the same version would
// never reach clusters that have the old one.
func TestTemplateVersionFollowsItsContent(t *testing.T) {
	sum := sha256.Sum256(templateJSON)
	got := fmt.Sprintf("version %d sha256 %s\n", templateVersion, hex.EncodeToString(sum[:]))
	golden := filepath.Join("testdata", "template.version")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got == string(want) {
		return
	}
	var wantVersion int
	fmt.Sscanf(string(want), "version %d", &wantVersion)
	if wantVersion == templateVersion {
		t.Fatalf("template.json changed but templateVersion is still %d: bump it, then run go test -update", templateVersion)
	}
	t.Fatalf("templateVersion is %d, %s records %q: run go test -update", templateVersion, golden, strings.TrimSpace(string(want)))
}

// TestTemplateBody checks the template sent for indices and for data
// streams.
func TestTemplateBody(t *testing.T) {
	p := plugin(t)
	for _, ds := range []bool{false, true} {
		values := map[string]any{"urls": []string{"http://es:9200"}}
		if ds {
			values["data_stream"] = "logs-engine.audit-default"
		}
		c, err := parseConfig(sdktest.Config(p, values))
		if err != nil {
			t.Fatal(err)
		}
		body, err := templateBody(c)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			IndexPatterns []string        `json:"index_patterns"`
			Version       int             `json:"version"`
			Priority      int             `json:"priority"`
			DataStream    *map[string]any `json:"data_stream"`
			Template      struct {
				Mappings map[string]any `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Version != templateVersion || got.Priority <= 100 || got.Template.Mappings["properties"] == nil {
			t.Errorf("data stream %t: %s", ds, body[:200])
		}
		if (got.DataStream != nil) != ds {
			t.Errorf("data stream %t: data_stream %v", ds, got.DataStream)
		}
		if want := map[bool]string{false: "engine-*", true: "logs-engine.audit-default"}[ds]; len(got.IndexPatterns) != 1 || got.IndexPatterns[0] != want {
			t.Errorf("data stream %t: patterns %v, want %s", ds, got.IndexPatterns, want)
		}
	}
}
