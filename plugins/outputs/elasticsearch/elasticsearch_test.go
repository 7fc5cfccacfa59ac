package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coreconfig "github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// --- helpers -----------------------------------------------------------------

func plugin(t testing.TB) *sdk.Plugin {
	t.Helper()
	p := sdk.Lookup(sdk.KindOutput, "elasticsearch")
	if p == nil {
		t.Fatal(`output "elasticsearch" is not registered`)
	}
	return p
}

// openOutput builds the output from the plugin's defaults overridden by
// values, as the core would.
func openOutput(t testing.TB, values map[string]any) *Output {
	t.Helper()
	p := plugin(t)
	cfg := sdktest.Config(p, values)
	if err := p.Validate(cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	out, err := p.New(cfg, sdktest.Env("output.elasticsearch.test", nil))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	o := out.(*Output)
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// event builds an event at a fixed time with the given id and fields
// (key, value pairs; values are strings, ints or sdk.Values).
func event(id string, kv ...any) sdk.Event {
	ev := sdk.Event{ID: id, Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Fields: sdk.MakeFields(len(kv) / 2)}
	for i := 0; i+1 < len(kv); i += 2 {
		var v sdk.Value
		switch x := kv[i+1].(type) {
		case string:
			v = sdk.String(x)
		case int:
			v = sdk.Int(int64(x))
		case sdk.Value:
			v = x
		default:
			panic(fmt.Sprintf("event: unsupported value %T", x))
		}
		ev.Fields.Set(kv[i].(string), v)
	}
	return ev
}

func batchOf(evs ...sdk.Event) *sdk.Batch {
	b := sdk.NewBatch(len(evs))
	b.Events = append(b.Events, evs...)
	return b
}

// bulkLine is one action and document of a bulk request a fake received.
type bulkLine struct {
	Index, ID string
	Doc       map[string]any
}

// fake is an Elasticsearch stand-in for fault injection: it records bulk
// requests and answers with what the test asks for.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []fakeRequest
	// bulk answers a bulk request; nil answers every item 201.
	bulk func(lines []bulkLine) (status int, body string)
	// other answers any other request; nil answers 404 for templates
	// and 200 otherwise.
	other func(r *http.Request) (status int, body string)
}

type fakeRequest struct {
	method, path, query string
	header              http.Header
	lines               []bulkLine
	bodyBytes           int
}

func newFake(t testing.TB) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	raw, _ := io.ReadAll(body)
	req := fakeRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), bodyBytes: len(raw)}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/_bulk" {
		req.lines = parseBulk(raw)
		f.mu.Lock()
		f.requests = append(f.requests, req)
		answer := f.bulk
		f.mu.Unlock()
		status, resp := 200, allStatus(len(req.lines), 201)
		if answer != nil {
			status, resp = answer(req.lines)
		}
		w.WriteHeader(status)
		io.WriteString(w, resp)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	answer := f.other
	f.mu.Unlock()
	status, resp := 200, `{"name":"fake","cluster_name":"fake","version":{"number":"8.19.7"}}`
	if strings.HasPrefix(r.URL.Path, "/_index_template/") && r.Method == http.MethodGet {
		status, resp = 404, `{"error":{"type":"resource_not_found_exception","reason":"index template matching [x] not found"},"status":404}`
	}
	if strings.HasPrefix(r.URL.Path, "/_index_template/") && r.Method == http.MethodPut {
		resp = `{"acknowledged":true}`
	}
	if answer != nil {
		status, resp = answer(r)
	}
	w.WriteHeader(status)
	io.WriteString(w, resp)
}

func (f *fake) bulkRequests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.path == "/_bulk" {
			out = append(out, r)
		}
	}
	return out
}

func parseBulk(raw []byte) []bulkLine {
	var out []bulkLine
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			panic(fmt.Sprintf("bad action line %q: %v", sc.Text(), err))
		}
		a, ok := action["create"]
		if !ok || len(action) != 1 {
			panic(fmt.Sprintf("action is not create: %q", sc.Text()))
		}
		if !sc.Scan() {
			panic("action without document")
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			panic(fmt.Sprintf("bad document %q: %v", sc.Text(), err))
		}
		out = append(out, bulkLine{Index: a.Index, ID: a.ID, Doc: doc})
	}
	return out
}

// allStatus is a bulk answer with every item at status.
func allStatus(n, status int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = itemJSON(status, "")
	}
	return bulkJSON(status >= 300, items)
}

func itemJSON(status int, errType string) string {
	if errType == "" {
		return fmt.Sprintf(`{"create":{"status":%d}}`, status)
	}
	return fmt.Sprintf(`{"create":{"status":%d,"error":{"type":%q,"reason":"reason of %s"}}}`, status, errType, errType)
}

func bulkJSON(errs bool, items []string) string {
	return fmt.Sprintf(`{"errors":%t,"items":[%s]}`, errs, strings.Join(items, ","))
}

// --- configuration -------------------------------------------------------------

func TestRegistered(t *testing.T) {
	p := plugin(t)
	if err := coreconfig.CheckPlugin(p); err != nil {
		t.Fatal(err)
	}
	var check func(prefix string, opts []sdk.Option)
	check = func(prefix string, opts []sdk.Option) {
		for _, o := range opts {
			if o.Doc == "" {
				t.Errorf("option %s%s has no doc", prefix, o.Name)
			}
			isBlock := o.Type == sdk.TypeBlock || o.Type == sdk.TypeBlockList
			if !isBlock && !o.Required && o.Default == nil {
				t.Errorf("option %s%s has neither a default nor Required", prefix, o.Name)
			}
			check(prefix+o.Name+".", o.Options)
		}
	}
	check("", p.Options)
	if p.CheckConnection == nil {
		t.Error("no CheckConnection")
	}
	out, err := p.New(sdktest.Config(p, map[string]any{"urls": []string{"http://127.0.0.1:1"}}), sdktest.Env("output.elasticsearch.t", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.(sdk.Output); !ok {
		t.Fatalf("New returned %T, not an sdk.Output", out)
	}
	if err := out.(sdk.Closer).Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestReadmeDocumentsEveryOption keeps the README's option table complete:
// every option, with its default as the schema has it.
func TestReadmeDocumentsEveryOption(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var check func(prefix string, opts []sdk.Option)
	check = func(prefix string, opts []sdk.Option) {
		for _, o := range opts {
			name := prefix + o.Name
			row := "| `" + name + "` |"
			i := bytes.Index(readme, []byte(row))
			if i < 0 {
				t.Errorf("README has no table row for %s", name)
				continue
			}
			line := string(readme[i:])
			line = line[:strings.IndexByte(line, '\n')]
			if want := readmeDefault(o); want != "" && !strings.Contains(line, want) {
				t.Errorf("README row of %s does not give the default %s: %s", name, want, line)
			}
			check(name+".", o.Options)
		}
	}
	check("", plugin(t).Options)
}

func readmeDefault(o sdk.Option) string {
	switch d := o.Default.(type) {
	case nil:
		return ""
	case string:
		if d == "" {
			return `""`
		}
		return fmt.Sprintf("`%q`", d)
	case bool:
		return fmt.Sprintf("`%t`", d)
	case int64:
		if o.Type == sdk.TypeSize {
			return fmt.Sprintf("`\"%dMiB\"`", d>>20)
		}
		return fmt.Sprintf("`%d`", d)
	case time.Duration:
		return fmt.Sprintf("`%q`", d.String())
	case map[string]string:
		return "`{}`"
	}
	return ""
}

func TestValidate(t *testing.T) {
	p := plugin(t)
	u := []string{"https://es:9200"}
	tests := []struct {
		name   string
		values map[string]any
		option string // the option the error must name; "" = valid
	}{
		{"defaults", map[string]any{"urls": u}, ""},
		{"no urls", map[string]any{"urls": []string{}}, "urls"},
		{"not a url", map[string]any{"urls": []string{"es:9200"}}, "urls.0"},
		{"ftp", map[string]any{"urls": []string{"ftp://es"}}, "urls.0"},
		{"credentials in url", map[string]any{"urls": []string{"https://u:p@es:9200"}}, "urls.0"},
		{"second url bad", map[string]any{"urls": []string{"https://a:9200", "b"}}, "urls.1"},
		{"basic auth", map[string]any{"urls": u, "username": "u", "password": "p"}, ""},
		{"username without password", map[string]any{"urls": u, "username": "u"}, "password"},
		{"password without username", map[string]any{"urls": u, "password": "p"}, "username"},
		{"api key id:key", map[string]any{"urls": u, "api_key": "id:secret"}, ""},
		{"api key encoded", map[string]any{"urls": u, "api_key": "aWQ6c2VjcmV0"}, ""},
		{"api key garbage", map[string]any{"urls": u, "api_key": "not base64!"}, "api_key"},
		{"api key and basic", map[string]any{"urls": u, "api_key": "id:secret", "username": "u", "password": "p"}, "api_key"},
		{"tls on http", map[string]any{"urls": []string{"http://es:9200"}, "tls": tlsBlock(map[string]any{"insecure_skip_verify": true})}, "tls"},
		{"cert without key", map[string]any{"urls": u, "tls": tlsBlock(map[string]any{"cert_file": "c.pem"})}, "tls.cert_file"},
		{"index with fields", map[string]any{"urls": u, "index": "audit-{{ event.module }}-%Y.%m"}, ""},
		{"index bad directive", map[string]any{"urls": u, "index": "audit-%Q"}, "index"},
		{"index upper case", map[string]any{"urls": u, "index": "Audit"}, "index"},
		{"index upper case with date", map[string]any{"urls": u, "index": "Audit-%Y"}, "index"},
		{"index starts with _", map[string]any{"urls": u, "index": "_audit-%Y"}, "index"},
		{"index with space", map[string]any{"urls": u, "index": "audit %Y"}, "index"},
		{"index only fields needs a pattern", map[string]any{"urls": u, "index": "{{ event.module }}-%Y"}, "template.pattern"},
		{"index only fields with a pattern", map[string]any{"urls": u, "index": "{{ event.module }}-%Y", "template": templateBlock(map[string]any{"pattern": "auditd-*"})}, ""},
		{"index only fields without template", map[string]any{"urls": u, "index": "{{ event.module }}-%Y", "template": templateBlock(map[string]any{"enabled": false})}, ""},
		{"pattern star", map[string]any{"urls": u, "template": templateBlock(map[string]any{"pattern": "*"})}, "template.pattern"},
		{"data stream", map[string]any{"urls": u, "data_stream": "logs-engine.audit-default"}, ""},
		{"data stream and index", map[string]any{"urls": u, "data_stream": "logs-a-b", "index": "x"}, "data_stream"},
		{"data stream upper case", map[string]any{"urls": u, "data_stream": "Logs-a-b"}, "data_stream"},
		{"data stream dot", map[string]any{"urls": u, "data_stream": ".logs"}, "data_stream"},
		{"pipeline", map[string]any{"urls": u, "pipeline": "audit"}, ""},
		{"pipeline path", map[string]any{"urls": u, "pipeline": "a/b"}, "pipeline"},
		{"bulk_max_events 0", map[string]any{"urls": u, "bulk_max_events": int64(0)}, "bulk_max_events"},
		{"bulk_max_bytes tiny", map[string]any{"urls": u, "bulk_max_bytes": int64(10)}, "bulk_max_bytes"},
		{"bulk_concurrency 0", map[string]any{"urls": u, "bulk_concurrency": int64(0)}, "bulk_concurrency"},
		{"timeout 0", map[string]any{"urls": u, "timeout": time.Duration(0)}, "timeout"},
		{"dead letter", map[string]any{"urls": u, "dead_letter_index": "engine-dead-letter"}, ""},
		{"dead letter same as index", map[string]any{"urls": u, "dead_letter_index": defaultIndex}, "dead_letter_index"},
		{"dead letter bad", map[string]any{"urls": u, "dead_letter_index": "DLQ"}, "dead_letter_index"},
		{"header", map[string]any{"urls": u, "headers": map[string]string{"X-Token": "t"}}, ""},
		{"bad header", map[string]any{"urls": u, "headers": map[string]string{"X Token": "t"}}, "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.CheckOptionError(t, sdktest.Validate(p, tt.values), tt.option)
		})
	}
}

func tlsBlock(values map[string]any) *sdk.Config { return blockConfig(tlsOptions, values) }

func templateBlock(values map[string]any) *sdk.Config { return blockConfig(templateOptions, values) }

func blockConfig(opts []sdk.Option, values map[string]any) *sdk.Config {
	vals := map[string]any{}
	for _, o := range opts {
		if o.Default != nil {
			vals[o.Name] = o.Default
		}
	}
	var set []string
	for k, v := range values {
		vals[k] = v
		set = append(set, k)
	}
	return sdk.NewConfig(vals, set)
}

func TestTemplateNames(t *testing.T) {
	p := plugin(t)
	tests := []struct {
		values        map[string]any
		name, pattern string
	}{
		{map[string]any{}, "engine", "engine-*"},
		{map[string]any{"index": "audit-{{ event.module }}-%Y"}, "audit", "audit-*"},
		{map[string]any{"index": "audit-events"}, "audit-events", "audit-events"},
		{map[string]any{"index": "100%%-%Y"}, "100%", "100%-*"},
		{map[string]any{"data_stream": "logs-engine.audit-default"}, "logs-engine.audit-default", "logs-engine.audit-default"},
		{map[string]any{"template": templateBlock(map[string]any{"name": "mine", "pattern": "x-*"})}, "mine", "x-*"},
	}
	for _, tt := range tests {
		tt.values["urls"] = []string{"http://es:9200"}
		c, err := parseConfig(sdktest.Config(p, tt.values))
		if err != nil {
			t.Fatalf("%v: %v", tt.values, err)
		}
		if c.tmpl.name != tt.name || c.tmpl.pattern != tt.pattern {
			t.Errorf("%v: template %q for %q, want %q for %q", tt.values, c.tmpl.name, c.tmpl.pattern, tt.name, tt.pattern)
		}
	}
}

// --- encoding ------------------------------------------------------------------

func TestBulkBodyAndIDs(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "compression": false})
	long := strings.Repeat("x", 600)
	evs := []sdk.Event{
		event("id-1", "message", "one", "event.module", "auditd"),
		event("", "message", "two"),
		event("", "message", "two"), // the same document: the same _id
		event("has \"quote\"", "message", "three"),
		event(long, "message", "four"),
	}
	evs[1].Time = evs[1].Time.Add(time.Second)
	evs[2].Time = evs[1].Time
	if err := o.Write(context.Background(), batchOf(evs...)); err != nil {
		t.Fatal(err)
	}
	reqs := f.bulkRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d bulk requests, want 1", len(reqs))
	}
	r := reqs[0]
	if !strings.Contains(r.query, "filter_path=") {
		t.Errorf("bulk query %q has no filter_path", r.query)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	lines := r.lines
	if len(lines) != len(evs) {
		t.Fatalf("%d documents, want %d", len(lines), len(evs))
	}
	for i, l := range lines {
		if l.Index != "engine-2026.11.25" {
			t.Errorf("doc %d to index %q", i, l.Index)
		}
		if l.Doc["@timestamp"] == nil {
			t.Errorf("doc %d has no @timestamp", i)
		}
	}
	if lines[0].ID != "id-1" {
		t.Errorf("Event.ID not used: %q", lines[0].ID)
	}
	doc := evs[1].AppendJSON(nil)
	sum := sha256.Sum256(doc)
	if want := hex.EncodeToString(sum[:16]); lines[1].ID != want {
		t.Errorf("hashed _id %q, want %q (SHA-256/128 of the document)", lines[1].ID, want)
	}
	if lines[1].ID != lines[2].ID {
		t.Errorf("equal documents got different _ids %q and %q", lines[1].ID, lines[2].ID)
	}
	for i := 3; i < 5; i++ {
		sum := sha256.Sum256([]byte(evs[i].ID))
		if want := hex.EncodeToString(sum[:16]); lines[i].ID != want {
			t.Errorf("id %.20q… became %q, want its hash %q", evs[i].ID, lines[i].ID, want)
		}
	}
	// A retry sends the same bytes: same ids.
	if err := o.Write(context.Background(), batchOf(evs...)); err != nil {
		t.Fatal(err)
	}
	again := f.bulkRequests()[1].lines
	for i := range lines {
		if again[i].ID != lines[i].ID {
			t.Errorf("retry changed _id %d: %q then %q", i, lines[i].ID, again[i].ID)
		}
	}
}

func TestIndexTemplateRendering(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "index": "audit-{{ host.name }}-%Y.%m.%d",
		"template": templateBlock(map[string]any{"enabled": false})})
	evs := []sdk.Event{
		event("a", "host.name", "WebServer"),
		event("b"), // no host.name: cannot be routed
		event("c", "host.name", `bad"name`),
	}
	err := o.Write(context.Background(), batchOf(evs...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("want a PartialError, got %v", err)
	}
	if len(pe.Retry) != 0 || len(pe.Rejected) != 2 || pe.Rejected[0].Index != 1 || pe.Rejected[1].Index != 2 {
		t.Fatalf("got %+v", pe)
	}
	if !strings.Contains(pe.Rejected[0].Reason, "host.name") {
		t.Errorf("reason does not name the field: %s", pe.Rejected[0].Reason)
	}
	lines := f.bulkRequests()[0].lines
	if len(lines) != 1 || lines[0].Index != "audit-webserver-2026.11.25" {
		t.Errorf("got %+v, want one document to audit-webserver-2026.11.25 (lower case)", lines)
	}
}

func TestSplitsByEventsAndBytes(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "bulk_max_events": int64(3), "bulk_max_bytes": int64(2048), "bulk_concurrency": int64(1)})
	var evs []sdk.Event
	for i := range 7 {
		evs = append(evs, event(fmt.Sprint("s", i), "message", "small"))
	}
	big := strings.Repeat("b", 3000) // larger than bulk_max_bytes: alone
	evs = append(evs, event("big", "message", big), event("after", "message", "small"))
	if err := o.Write(context.Background(), batchOf(evs...)); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var ids []string
	for _, r := range f.bulkRequests() {
		sizes = append(sizes, len(r.lines))
		for _, l := range r.lines {
			ids = append(ids, l.ID)
		}
		if len(r.lines) > 1 && r.bodyBytes > 2048 {
			t.Errorf("a request of %d documents has %d bytes", len(r.lines), r.bodyBytes)
		}
	}
	if fmt.Sprint(sizes) != "[3 3 1 1 1]" {
		t.Errorf("request sizes %v, want [3 3 1 1 1]", sizes)
	}
	if want := "[s0 s1 s2 s3 s4 s5 s6 big after]"; fmt.Sprint(ids) != want {
		t.Errorf("documents sent %v, want %s once each in order", ids, want)
	}
}

func TestConcurrentRequestsCoverTheBatchOnce(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	both, bothOnce := make(chan struct{}), sync.Once{}
	f.bulk = func(lines []bulkLine) (int, string) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 2 {
			bothOnce.Do(func() { close(both) })
		}
		mu.Unlock()
		// Hold the request until the other one arrives, however slow the
		// machine: a client that sends one request at a time leaves this
		// wait to time out, and most at 1.
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		items := make([]string, len(lines))
		for i, l := range lines {
			if l.ID == "e7" || l.ID == "e300" {
				items[i] = itemJSON(429, "es_rejected_execution_exception")
			} else {
				items[i] = itemJSON(201, "")
			}
		}
		return 200, bulkJSON(true, items)
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "bulk_concurrency": int64(2)})
	var evs []sdk.Event
	for i := range 400 {
		evs = append(evs, event(fmt.Sprint("e", i), "message", "m"))
	}
	err := o.Write(context.Background(), batchOf(evs...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) || fmt.Sprint(pe.Retry) != "[7 300]" || len(pe.Rejected) != 0 {
		t.Fatalf("got %v, want events 7 and 300 to retry", err)
	}
	reqs := f.bulkRequests()
	if len(reqs) != 2 || len(reqs[0].lines)+len(reqs[1].lines) != 400 {
		t.Fatalf("%d requests", len(reqs))
	}
	if most != 2 {
		t.Errorf("at most %d requests in flight, want 2", most)
	}
}

// --- classification ------------------------------------------------------------

func TestClassifyItem(t *testing.T) {
	tests := []struct {
		status  int
		errType string
		reason  string
		want    outcomeKind
	}{
		{201, "", "", created},
		{200, "", "", created},
		{409, "version_conflict_engine_exception", "", duplicate},
		{429, "es_rejected_execution_exception", "", retry},
		{503, "unavailable_shards_exception", "", retry},
		{500, "internal_server_error", "", retry},
		{400, "mapper_parsing_exception", "failed to parse field [x] of type [long]", rejected},
		{400, "document_parsing_exception", "[1:10] failed to parse", rejected},
		{400, "illegal_argument_exception", "Limit of total fields [1000] has been exceeded", rejected},
		{400, "illegal_argument_exception", "pipeline with id [audit] does not exist", retry},
		{404, "index_not_found_exception", "no such index [x]", retry},
		{403, "security_exception", "action [indices:data/write/bulk[s]] is unauthorized", retry},
		{403, "cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)]", retry},
		{400, "index_closed_exception", "closed", retry},
		{400, "invalid_index_name_exception", "Invalid index name [A]", rejected},
	}
	for _, tt := range tests {
		r := itemResult{Status: tt.status}
		if tt.errType != "" {
			r.Error = &esError{Type: tt.errType, Reason: tt.reason}
		}
		got := classifyItem(r)
		if got.kind != tt.want {
			t.Errorf("%d %s %q: kind %d, want %d", tt.status, tt.errType, tt.reason, got.kind, tt.want)
		}
		if (got.kind == retry || got.kind == rejected) && !strings.HasPrefix(got.reason, tt.errType) {
			t.Errorf("%d %s: reason %q does not start with the type", tt.status, tt.errType, got.reason)
		}
	}
}

func TestErrorReasonIsTypeReasonAndCause(t *testing.T) {
	e := &esError{Type: "document_parsing_exception", Reason: "[1:27] failed to parse field [process.pid] of type [long]",
		CausedBy: &esError{Type: "illegal_argument_exception", Reason: "wrapped", CausedBy: &esError{Type: "number_format_exception", Reason: `For input string: "abc"`}}}
	want := `document_parsing_exception: [1:27] failed to parse field [process.pid] of type [long] (caused by number_format_exception: For input string: "abc")`
	if got := e.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	long := &esError{Type: "t", Reason: strings.Repeat("é", 2000)}
	got := long.String()
	if len(got) > maxReason || !strings.HasSuffix(got, "…") || !json.Valid([]byte(fmt.Sprintf("%q", got))) {
		t.Errorf("long reason not cut sensibly: %d bytes, ends %q", len(got), got[len(got)-8:])
	}
	if !strings.HasPrefix(got, "t: éé") {
		t.Errorf("cut reason lost its start: %.20q", got)
	}
}

func TestPerItemResults(t *testing.T) {
	f := newFake(t)
	f.bulk = func(lines []bulkLine) (int, string) {
		return 200, bulkJSON(true, []string{
			itemJSON(201, ""),
			itemJSON(429, "es_rejected_execution_exception"),
			itemJSON(409, "version_conflict_engine_exception"),
			`{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:40] failed to parse field [process.pid] of type [long] in document with id 'd'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}}`,
			itemJSON(503, "unavailable_shards_exception"),
		})
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}})
	evs := []sdk.Event{event("a"), event("b"), event("c"), event("d"), event("e")}
	err := o.Write(context.Background(), batchOf(evs...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("want a PartialError, got %v", err)
	}
	if fmt.Sprint(pe.Retry) != "[1 4]" {
		t.Errorf("retry %v, want [1 4]", pe.Retry)
	}
	if len(pe.Rejected) != 1 || pe.Rejected[0].Index != 3 {
		t.Fatalf("rejected %+v, want event 3", pe.Rejected)
	}
	want := `document_parsing_exception: [1:40] failed to parse field [process.pid] of type [long] in document with id 'd'. Preview of field's value: 'abc' (caused by illegal_argument_exception: For input string: "abc")`
	if pe.Rejected[0].Reason != want {
		t.Errorf("reason\n got %s\nwant %s", pe.Rejected[0].Reason, want)
	}
	if pe.Err == nil || !strings.Contains(pe.Err.Error(), "es_rejected_execution_exception") {
		t.Errorf("Err %v does not say why events are retried", pe.Err)
	}
}

func TestAllItemsThrottledIsRetryable(t *testing.T) {
	f := newFake(t)
	f.bulk = func(lines []bulkLine) (int, string) { return 200, allStatus(len(lines), 429) }
	o := openOutput(t, map[string]any{"urls": []string{f.URL}})
	err := o.Write(context.Background(), batchOf(event("a"), event("b")))
	var pe *sdk.PartialError
	if err == nil || errors.As(err, &pe) || sdk.IsPermanent(err) {
		t.Fatalf("want a plain retryable error for a batch that failed whole, got %#v", err)
	}
}

func TestWholeRequestErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   []string // in the error message
	}{
		{401, `{"error":{"type":"security_exception","reason":"unable to authenticate user [engine]"},"status":401}`, []string{"401", "unable to authenticate", "check username and password (or api_key)", "kept"}},
		{403, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"},"status":403}`, []string{"403", "privilege", "create_doc"}},
		{429, `{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}`, []string{"429", "overloaded"}},
		{503, `{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered]"},"status":503}`, []string{"503", "state not recovered"}},
		{502, `<html>bad gateway</html>`, []string{"502", "bad gateway"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFake(t)
			f.bulk = func([]bulkLine) (int, string) { return tt.status, tt.body }
			o := openOutput(t, map[string]any{"urls": []string{f.URL}})
			err := o.Write(context.Background(), batchOf(event("a"), event("b")))
			var pe *sdk.PartialError
			if err == nil || sdk.IsPermanent(err) || errors.As(err, &pe) {
				t.Fatalf("want a retryable error for the whole batch, got %#v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestTooLargeIsHalvedAndSingleDocumentRejected(t *testing.T) {
	f := newFake(t)
	delivered := map[string]int{}
	f.bulk = func(lines []bulkLine) (int, string) {
		// The cluster takes at most two documents per request, and
		// never the huge one.
		for _, l := range lines {
			if l.ID == "huge" || len(lines) > 2 {
				return 413, ""
			}
		}
		for _, l := range lines {
			delivered[l.ID]++
		}
		return 200, allStatus(len(lines), 201)
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "bulk_concurrency": int64(1)})
	var evs []sdk.Event
	for i := range 8 {
		id := fmt.Sprint("e", i)
		if i == 5 {
			id = "huge"
		}
		evs = append(evs, event(id, "message", "m"))
	}
	err := o.Write(context.Background(), batchOf(evs...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) || len(pe.Retry) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 5 {
		t.Fatalf("got %v, want only event 5 rejected", err)
	}
	if !strings.Contains(pe.Rejected[0].Reason, "413") {
		t.Errorf("reason %q", pe.Rejected[0].Reason)
	}
	if len(delivered) != 7 {
		t.Errorf("delivered %v, want the 7 others once each", delivered)
	}
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	addr := testservers.ClosedAddr(t)
	o := openOutput(t, map[string]any{"urls": []string{"http://" + addr}, "timeout": 5 * time.Second})
	err := o.Write(context.Background(), batchOf(event("a")))
	if err == nil || sdk.IsPermanent(err) {
		t.Fatalf("want a retryable error, got %v", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say connection refused", err)
	}
}

func TestDeadNodeIsSkipped(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{"http://" + testservers.ClosedAddr(t), f.URL},
		"template": templateBlock(map[string]any{"enabled": false})})
	for i := range 3 {
		if err := o.Write(context.Background(), batchOf(event(fmt.Sprint("e", i)))); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if n := len(f.bulkRequests()); n != 3 {
		t.Errorf("the live node got %d requests, want 3", n)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.bulk = func(lines []bulkLine) (int, string) {
		<-release
		return 200, allStatus(len(lines), 201)
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "timeout": 100 * time.Millisecond})
	err := o.Write(context.Background(), batchOf(event("a")))
	if err == nil || sdk.IsPermanent(err) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("want a retryable timeout, got %v", err)
	}
}

func TestDeadLetterWithFake(t *testing.T) {
	f := newFake(t)
	f.bulk = func(lines []bulkLine) (int, string) {
		items := make([]string, len(lines))
		for i, l := range lines {
			switch {
			case l.Index == "dlq" && l.ID == "refused-twice":
				items[i] = itemJSON(400, "document_parsing_exception")
			case l.Index == "dlq":
				items[i] = itemJSON(201, "")
			case l.ID == "ok":
				items[i] = itemJSON(201, "")
			default:
				items[i] = itemJSON(400, "document_parsing_exception")
			}
		}
		return 200, bulkJSON(true, items)
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "dead_letter_index": "dlq"})
	err := o.Write(context.Background(), batchOf(event("ok"), event("bad", "process.pid", "abc"), event("refused-twice")))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) || len(pe.Retry) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 2 {
		t.Fatalf("got %v, want only event 2 rejected (the dead-letter index refused it too)", err)
	}
	if !strings.Contains(pe.Rejected[0].Reason, "dead_letter_index refused it too") {
		t.Errorf("reason %q", pe.Rejected[0].Reason)
	}
	reqs := f.bulkRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the batch and one dead-letter request", len(reqs))
	}
	dl := reqs[1].lines
	if len(dl) != 2 || dl[0].ID != "bad" || dl[0].Index != "dlq" {
		t.Fatalf("dead-letter request %+v", dl)
	}
	doc := dl[0].Doc
	orig, _ := doc["event"].(map[string]any)["original"].(string)
	var back map[string]any
	if err := json.Unmarshal([]byte(orig), &back); err != nil || back["process"].(map[string]any)["pid"] != "abc" {
		t.Errorf("event.original %q is not the original document", orig)
	}
	e := doc["error"].(map[string]any)
	if e["type"] != "document_parsing_exception" || e["message"] != "document_parsing_exception: reason of document_parsing_exception" {
		t.Errorf("error %v", e)
	}
	if doc["@timestamp"] != "2026-11-25T10:00:00.000Z" {
		t.Errorf("@timestamp %v", doc["@timestamp"])
	}
	if got := doc["engine"].(map[string]any)["component"].(map[string]any)["id"]; got != "output.elasticsearch.test" {
		t.Errorf("engine.component.id %v", got)
	}
}

func TestTemplateInstalledOnceBeforeTheFirstBulk(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}})
	for range 3 {
		if err := o.Write(context.Background(), batchOf(event("a"))); err != nil {
			t.Fatal(err)
		}
	}
	var seq []string
	for _, r := range f.requests {
		seq = append(seq, r.method+" "+r.path)
	}
	want := "[GET /_index_template/engine PUT /_index_template/engine POST /_bulk POST /_bulk POST /_bulk]"
	if fmt.Sprint(seq) != want {
		t.Errorf("requests %v\nwant     %s", seq, want)
	}
}

func TestTemplateFailureBlocksWritesWithAdvice(t *testing.T) {
	f := newFake(t)
	f.other = func(r *http.Request) (int, string) {
		return 403, `{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized"},"status":403}`
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}})
	err := o.Write(context.Background(), batchOf(event("a")))
	if err == nil || sdk.IsPermanent(err) {
		t.Fatalf("want retryable, got %v", err)
	}
	if !strings.Contains(err.Error(), "manage_index_templates") || !strings.Contains(err.Error(), "enabled = false") {
		t.Errorf("error %q gives no advice", err)
	}
	if n := len(f.bulkRequests()); n != 0 {
		t.Errorf("%d bulk requests sent without the template", n)
	}
}

func TestCompressionOnTheWire(t *testing.T) {
	for _, on := range []bool{true, false} {
		f := newFake(t)
		o := openOutput(t, map[string]any{"urls": []string{f.URL}, "compression": on})
		if err := o.Write(context.Background(), batchOf(event("a", "message", strings.Repeat("audit ", 100)))); err != nil {
			t.Fatal(err)
		}
		r := f.bulkRequests()[0]
		if got := r.header.Get("Content-Encoding") == "gzip"; got != on {
			t.Errorf("compression %t: Content-Encoding %q", on, r.header.Get("Content-Encoding"))
		}
		if len(r.lines) != 1 {
			t.Errorf("compression %t: %d documents decoded", on, len(r.lines))
		}
	}
}

func TestHeadersAndAuth(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "api_key": "id:secret", "headers": map[string]string{"X-Proxy-Token": "t0k"}})
	if err := o.Write(context.Background(), batchOf(event("a"))); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.requests {
		if got := r.header.Get("Authorization"); got != "APIKey aWQ6c2VjcmV0" {
			t.Errorf("%s %s: Authorization %q", r.method, r.path, got)
		}
		if got := r.header.Get("X-Proxy-Token"); got != "t0k" {
			t.Errorf("%s %s: X-Proxy-Token %q", r.method, r.path, got)
		}
	}
}

func TestPipelineParameter(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "pipeline": "audit-enrich"})
	if err := o.Write(context.Background(), batchOf(event("a"))); err != nil {
		t.Fatal(err)
	}
	if q := f.bulkRequests()[0].query; !strings.Contains(q, "pipeline=audit-enrich") {
		t.Errorf("query %q has no pipeline", q)
	}
}

func TestWriteAfterCloseIsPermanent(t *testing.T) {
	f := newFake(t)
	for _, written := range []bool{false, true} {
		o := openOutput(t, map[string]any{"urls": []string{f.URL}})
		if written { // the template is in place: Write goes straight to _bulk
			if err := o.Write(context.Background(), batchOf(event("a"))); err != nil {
				t.Fatal(err)
			}
		}
		o.Close(context.Background())
		if err := o.Write(context.Background(), batchOf(event("b"))); !sdk.IsPermanent(err) {
			t.Fatalf("written before %t: want a permanent error, got %v", written, err)
		}
	}
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	f := newFake(t)
	o := openOutput(t, map[string]any{"urls": []string{f.URL}})
	if err := o.Write(context.Background(), sdk.NewBatch(0)); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 0 {
		t.Errorf("%d requests for an empty batch", len(f.requests))
	}
}

// --- CheckConnection -----------------------------------------------------------

func TestCheckConnection(t *testing.T) {
	p := plugin(t)
	check := func(values map[string]any) error {
		return p.CheckConnection(context.Background(), sdktest.Config(p, values))
	}
	ok := newFake(t)
	if err := check(map[string]any{"urls": []string{ok.URL}}); err != nil {
		t.Errorf("fake 8.19: %v", err)
	}

	unauthorized := newFake(t)
	unauthorized.other = func(*http.Request) (int, string) {
		return 401, `{"error":{"type":"security_exception","reason":"missing authentication credentials for REST request [/]"},"status":401}`
	}
	err := check(map[string]any{"urls": []string{unauthorized.URL}})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "username and password") {
		t.Errorf("401: %v", err)
	}

	old := newFake(t)
	old.other = func(*http.Request) (int, string) { return 200, `{"version":{"number":"7.17.9"}}` }
	if err := check(map[string]any{"urls": []string{old.URL}}); err == nil || !strings.Contains(err.Error(), "7.17.9") {
		t.Errorf("7.17: %v", err)
	}

	notES := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"hello":"world"}`) }))
	t.Cleanup(notES.Close)
	if err := check(map[string]any{"urls": []string{notES.URL}}); err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Errorf("not ES: %v", err)
	}

	refused := "http://" + testservers.ClosedAddr(t)
	err = check(map[string]any{"urls": []string{ok.URL, refused}})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), refused) {
		t.Errorf("refused: %v", err)
	}
}

func TestCheckConnectionTLS(t *testing.T) {
	p := plugin(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		io.WriteString(w, `{"version":{"number":"8.19.7"}}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes this test fails on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	check := func(values map[string]any) error {
		return p.CheckConnection(context.Background(), sdktest.Config(p, values))
	}
	err := check(map[string]any{"urls": []string{srv.URL}})
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("untrusted certificate: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCertPEM(t, ca, srv)
	if err := check(map[string]any{"urls": []string{srv.URL}, "tls": tlsBlock(map[string]any{"ca_file": ca})}); err != nil {
		t.Errorf("with ca_file: %v", err)
	}
	if err := check(map[string]any{"urls": []string{srv.URL}, "tls": tlsBlock(map[string]any{"insecure_skip_verify": true})}); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
	err = check(map[string]any{"urls": []string{srv.URL}, "tls": tlsBlock(map[string]any{"ca_file": ca, "server_name": "elsewhere.example"})})
	if err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Errorf("wrong server_name: %v", err)
	}
	plain := newFake(t)
	err = check(map[string]any{"urls": []string{strings.Replace(plain.URL, "http://", "https://", 1)}})
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("https to an http server: %v", err)
	}
	err = check(map[string]any{"urls": []string{srv.URL}, "tls": tlsBlock(map[string]any{"ca_file": filepath.Join(t.TempDir(), "missing.pem")})})
	var oe *sdk.OptionError
	if !errors.As(err, &oe) || oe.Option != "tls.ca_file" {
		t.Errorf("missing ca_file: %v", err)
	}
}

func writeCertPEM(t *testing.T, path string, srv *httptest.Server) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// --- concurrent writes ---------------------------------------------------------

func TestConcurrentWritesDeliverEachDocumentOnce(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	seen := map[string]int{}
	f.bulk = func(lines []bulkLine) (int, string) {
		time.Sleep(time.Millisecond) // let the writes overlap
		items := make([]string, len(lines))
		mu.Lock()
		for i, l := range lines {
			seen[l.ID]++
			items[i] = itemJSON(201, "")
			if strings.HasSuffix(l.ID, "-7") {
				items[i] = itemJSON(429, "es_rejected_execution_exception")
			}
		}
		mu.Unlock()
		return 200, bulkJSON(true, items)
	}
	o := openOutput(t, map[string]any{"urls": []string{f.URL}, "writes_in_flight": int64(4), "bulk_max_events": int64(10)})
	var out sdk.Output = o
	co, ok := out.(sdk.ConcurrentOutput)
	if !ok || co.WritesInFlight() != 4 {
		t.Fatalf("the output does not take 4 writes at once (%v)", ok)
	}
	const writers, perBatch = 8, 50
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []sdk.Event
			for i := range perBatch {
				evs = append(evs, event(fmt.Sprintf("w%d-%d", g, i), "message", "m"))
			}
			errs[g] = o.Write(context.Background(), batchOf(evs...))
		}()
	}
	wg.Wait()
	for g, err := range errs {
		var pe *sdk.PartialError
		if !errors.As(err, &pe) || fmt.Sprint(pe.Retry) != "[7]" || len(pe.Rejected) != 0 {
			t.Errorf("writer %d: got %v, want its own event 7 to retry", g, err)
		}
	}
	if len(seen) != writers*perBatch {
		t.Errorf("%d distinct documents sent, want %d", len(seen), writers*perBatch)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	templates := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r.path, "/_index_template/") && r.method == http.MethodPut {
			templates++
		}
	}
	if templates != 1 {
		t.Errorf("template put %d times by concurrent first writes, want 1", templates)
	}
}
