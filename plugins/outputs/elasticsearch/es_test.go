package elasticsearch

// Tests against the real Elasticsearch of scripts/testenv (through
// internal/testservers: skipped when it does not answer, failed under
// ENGINE_TEST_REQUIRE_SERVERS=1).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/testservers"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// cluster is a test's view of the real Elasticsearch, with the names it
// owns removed when it ends.
type cluster struct {
	t   testing.TB
	url string
	run string // unique per test: names start with it
}

func realES(t testing.TB) *cluster {
	t.Helper()
	url := testservers.ES(t)
	var b [4]byte
	rand.Read(b[:])
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	c := &cluster{t: t, url: url, run: "enginetest-" + truncateName(name, 40) + "-" + hex.EncodeToString(b[:])}
	t.Cleanup(c.cleanup)
	return c
}

// cleanup deletes the test's indices and templates. Indices go by name:
// Elasticsearch refuses wildcard deletes (action.destructive_requires_name).
func (c *cluster) cleanup() {
	req, err := http.NewRequest("GET", c.url+"/_cat/indices/"+c.run+"*?h=index&expand_wildcards=all", nil)
	if err != nil {
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if names := strings.Fields(string(data)); len(names) > 0 {
		c.do("DELETE", "/"+strings.Join(names, ",")+"?ignore_unavailable=true", "")
	}
	c.do("DELETE", "/_index_template/"+c.run+"*", "")
}

func truncateName(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// do sends a request and returns the status and the decoded answer.
func (c *cluster) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	return res.StatusCode, out
}

func (c *cluster) mustDo(method, path, body string) map[string]any {
	c.t.Helper()
	status, out := c.do(method, path, body)
	if status >= 300 {
		c.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

// count refreshes target and counts its documents matching query ("" for
// all).
func (c *cluster) count(target, query string) int {
	c.t.Helper()
	c.mustDo("POST", "/"+target+"/_refresh?expand_wildcards=all", "")
	body := ""
	if query != "" {
		body = `{"query":` + query + `}`
	}
	out := c.mustDo("POST", "/"+target+"/_count?expand_wildcards=all", body)
	return int(out["count"].(float64))
}

// get returns the document of target with id, or nil.
func (c *cluster) get(target, id string) map[string]any {
	c.t.Helper()
	c.mustDo("POST", "/"+target+"/_refresh?expand_wildcards=all", "")
	out := c.mustDo("POST", "/"+target+"/_search?expand_wildcards=all", `{"query":{"ids":{"values":[`+quote(id)+`]}}}`)
	hits := out["hits"].(map[string]any)["hits"].([]any)
	if len(hits) == 0 {
		return nil
	}
	return hits[0].(map[string]any)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// outputFor builds an output writing to the test's own names: index
// "<run>-%Y.%m.%d" and template "<run>" unless values say otherwise.
func (c *cluster) outputFor(values map[string]any) (*Output, *sdktest.Metrics) {
	c.t.Helper()
	vals := map[string]any{"urls": []string{c.url}}
	if _, ds := values["data_stream"]; !ds {
		vals["index"] = c.run + "-%Y.%m.%d"
	}
	for k, v := range values {
		vals[k] = v
	}
	if _, ok := vals["template"]; !ok {
		vals["template"] = templateBlock(map[string]any{"name": c.run})
	}
	p := plugin(c.t)
	cfg := sdktest.Config(p, vals)
	if err := p.Validate(cfg); err != nil {
		c.t.Fatal(err)
	}
	rec := sdktest.NewMetrics()
	env := sdktest.Env("output.elasticsearch.test", nil)
	env.Metrics = rec
	out, err := p.New(cfg, env)
	if err != nil {
		c.t.Fatal(err)
	}
	o := out.(*Output)
	c.t.Cleanup(func() { o.Close(context.Background()) })
	return o, rec
}

// docs returns the output's count of documents with result.
func docs(m *sdktest.Metrics, result string) int {
	return int(m.Value("engine_elasticsearch_documents_total", "result", result))
}

// testEvents returns n events: the even ones with an id, the odd ones
// without (their _id is the document's hash).
func testEvents(run string, n int) []sdk.Event {
	evs := make([]sdk.Event, n)
	for i := range evs {
		id := ""
		if i%2 == 0 {
			id = fmt.Sprintf("%s-%d", run, i)
		}
		evs[i] = event(id,
			"message", fmt.Sprintf("event %d", i),
			"event.module", "auditd",
			"process.pid", i,
			"source.ip", "10.0.0.1",
			"tags", sdk.Strings([]string{run}))
	}
	return evs
}

func TestRealWriteCountAndRewriteWithoutDuplicates(t *testing.T) {
	c := realES(t)
	o, rec := c.outputFor(nil)
	evs := testEvents(c.run, 100)
	if err := o.Write(context.Background(), batchOf(cloneEvents(evs)...)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(c.run+"-*", ""); n != 100 {
		t.Fatalf("_count %d after the first write, want 100", n)
	}
	// By _id: an event's own id, and the hash of a document without one.
	if d := c.get(c.run+"-*", evs[0].ID); d == nil || d["_index"] != c.run+"-2026.11.25" {
		t.Errorf("document %s: %v", evs[0].ID, d)
	}
	hashID := string(appendHashID(nil, evs[1].AppendJSON(nil)))
	d := c.get(c.run+"-*", hashID)
	if d == nil || d["_source"].(map[string]any)["message"] != "event 1" {
		t.Errorf("document %s (hash of event 1): %v", hashID, d)
	}

	// The same batch again, as after a crash before the acknowledgement.
	if err := o.Write(context.Background(), batchOf(cloneEvents(evs)...)); err != nil {
		t.Fatal(err)
	}
	// And by a new output, as after a restart.
	o2, rec2 := c.outputFor(nil)
	if err := o2.Write(context.Background(), batchOf(cloneEvents(evs)...)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(c.run+"-*", ""); n != 100 {
		t.Fatalf("_count %d after writing the batch three times, want 100", n)
	}
	if docs(rec, "created") != 100 || docs(rec, "duplicate") != 100 || docs(rec2, "duplicate") != 100 {
		t.Errorf("metrics: created %d, duplicate %d and %d; want 100, 100, 100", docs(rec, "created"), docs(rec, "duplicate"), docs(rec2, "duplicate"))
	}
	// The mapping came from the template.
	m := c.mustDo("GET", "/"+c.run+"-2026.11.25/_mapping/field/source.ip,process.pid,message", "")
	js, _ := json.Marshal(m)
	for _, want := range []string{`"type":"ip"`, `"type":"long"`, `"type":"text"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("mapping lacks %s: %s", want, js)
		}
	}
}

// mappingConflict is a document Elasticsearch cannot index under the
// template: process is an object there.
func mappingConflict(run string) sdk.Event {
	return event(run+"-bad", "message", "bad", "process", "nginx", "tags", sdk.Strings([]string{run}))
}

func TestRealMappingErrorRejectsOnlyThatDocument(t *testing.T) {
	c := realES(t)
	o, _ := c.outputFor(nil)
	evs := testEvents(c.run, 10)
	evs = append(evs[:5], append([]sdk.Event{mappingConflict(c.run)}, evs[5:]...)...)
	err := o.Write(context.Background(), batchOf(evs...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("want a PartialError, got %v", err)
	}
	if len(pe.Retry) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 5 {
		t.Fatalf("got %+v, want event 5 rejected and nothing to retry", pe)
	}
	r := pe.Rejected[0].Reason
	if !strings.HasPrefix(r, "document_parsing_exception: ") || !strings.Contains(r, "[process]") {
		t.Errorf("reason %q does not give the type and the field", r)
	}
	if n := c.count(c.run+"-*", ""); n != 10 {
		t.Errorf("_count %d, want the 10 others", n)
	}
}

func TestRealDeadLetterIndex(t *testing.T) {
	c := realES(t)
	dlq := c.run + "-dead-letter"
	o, rec := c.outputFor(map[string]any{"dead_letter_index": dlq})
	evs := append(testEvents(c.run, 4), mappingConflict(c.run))
	for range 2 { // the second time, as a retry: nothing doubles
		if err := o.Write(context.Background(), batchOf(cloneEvents(evs)...)); err != nil {
			t.Fatalf("want every event delivered or dead-lettered, got %v", err)
		}
	}
	if n := c.count(dlq, ""); n != 1 {
		t.Fatalf("dead-letter index holds %d documents, want 1", n)
	}
	if n := c.count(c.run+"-2026*", ""); n != 4 {
		t.Errorf("index holds %d documents, want 4", n)
	}
	if docs(rec, "dead_lettered") != 2 {
		t.Errorf("dead_lettered metric %d, want 2 (one per write)", docs(rec, "dead_lettered"))
	}
	d := c.get(dlq, c.run+"-bad")
	if d == nil {
		t.Fatal("the dead-letter document is not under the event's _id")
	}
	src := d["_source"].(map[string]any)
	var orig map[string]any
	if err := json.Unmarshal([]byte(src["event"].(map[string]any)["original"].(string)), &orig); err != nil || orig["process"] != "nginx" {
		t.Errorf("event.original is not the original document: %v", src["event"])
	}
	e := src["error"].(map[string]any)
	if e["type"] != "document_parsing_exception" || !strings.Contains(e["message"].(string), "[process]") {
		t.Errorf("error %v", e)
	}
	if src["@timestamp"] != "2026-11-25T10:00:00.000Z" || src["engine"].(map[string]any)["dead_letter"].(map[string]any)["index"] != c.run+"-2026.11.25" {
		t.Errorf("dead-letter document %v", src)
	}
}

func TestRealDataStream(t *testing.T) {
	c := realES(t)
	// Data streams cannot be removed on every distribution (the test
	// cluster lacks the data streams API): one fixed name, each run
	// counting only its own documents.
	const ds = "logs-enginetest.datastream-default"
	t.Cleanup(func() { c.do("DELETE", "/_data_stream/"+ds, "") })
	o, _ := c.outputFor(map[string]any{"data_stream": ds, "template": templateBlock(nil)})
	evs := testEvents(c.run, 20)
	noTime := event(c.run+"-notime", "message", "no time", "tags", sdk.Strings([]string{c.run}))
	noTime.Time = time.Time{}
	evs = append(evs, noTime)
	err := o.Write(context.Background(), batchOf(cloneEvents(evs)...))
	var pe *sdk.PartialError
	if !errors.As(err, &pe) || len(pe.Retry) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 20 {
		t.Fatalf("got %v, want only the event without a time rejected", err)
	}
	if !strings.Contains(pe.Rejected[0].Reason, "@timestamp") {
		t.Errorf("reason %q", pe.Rejected[0].Reason)
	}
	mine := `{"term":{"tags":` + quote(c.run) + `}}`
	if n := c.count(ds, mine); n != 20 {
		t.Fatalf("data stream holds %d of this run's documents, want 20", n)
	}
	if err := o.Write(context.Background(), batchOf(cloneEvents(evs[:20])...)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(ds, mine); n != 20 {
		t.Fatalf("after a rewrite, %d documents, want 20", n)
	}
	d := c.get(ds, evs[0].ID)
	if d == nil || !strings.HasPrefix(d["_index"].(string), ".ds-"+ds+"-") {
		t.Errorf("document not in a backing index of %s: %v", ds, d)
	}
	out := c.mustDo("GET", "/_index_template/"+ds, "")
	js, _ := json.Marshal(out)
	if !strings.Contains(string(js), `"data_stream":{`) {
		t.Errorf("the template does not declare a data stream: %s", js[:min(len(js), 300)])
	}
}

func TestRealTemplateInstallAndVersions(t *testing.T) {
	c := realES(t)
	name := c.run
	version := func() int {
		out := c.mustDo("GET", "/_index_template/"+name, "")
		it := out["index_templates"].([]any)[0].(map[string]any)["index_template"].(map[string]any)
		if v, ok := it["version"].(float64); ok {
			return int(v)
		}
		return -1
	}
	write := func(values map[string]any) {
		t.Helper()
		o, _ := c.outputFor(values)
		if err := o.Write(context.Background(), batchOf(testEvents(c.run, 1)...)); err != nil {
			t.Fatal(err)
		}
	}
	put := func(v int) {
		c.mustDo("PUT", "/_index_template/"+name, fmt.Sprintf(`{"index_patterns":[%q],"priority":150,"version":%d,"_meta":{"by":"test"}}`, c.run+"-*", v))
	}
	meta := func() any {
		out := c.mustDo("GET", "/_index_template/"+name, "")
		return out["index_templates"].([]any)[0].(map[string]any)["index_template"].(map[string]any)["_meta"].(map[string]any)["by"]
	}

	write(nil)
	if v := version(); v != templateVersion {
		t.Fatalf("installed version %d, want %d", v, templateVersion)
	}

	put(templateVersion - 1) // an older engine's template
	write(nil)
	if v := version(); v != templateVersion || meta() != nil {
		t.Errorf("older template not replaced: version %d", v)
	}

	put(templateVersion + 5) // a newer engine's (or the operator's) template
	write(nil)
	if v := version(); v != templateVersion+5 || meta() != "test" {
		t.Errorf("newer template replaced: version %d", v)
	}

	write(map[string]any{"template": templateBlock(map[string]any{"name": name, "overwrite": true})})
	if v := version(); v != templateVersion {
		t.Errorf("overwrite = true left version %d", v)
	}

	put(templateVersion - 1)
	write(map[string]any{"template": templateBlock(map[string]any{"enabled": false})})
	if v := version(); v != templateVersion-1 {
		t.Errorf("enabled = false touched the template: version %d", v)
	}
}

func TestRealCompressionBothWays(t *testing.T) {
	c := realES(t)
	for i, on := range []bool{true, false} {
		o, rec := c.outputFor(map[string]any{"compression": on, "index": fmt.Sprintf("%s-%d", c.run, i)})
		if err := o.Write(context.Background(), batchOf(testEvents(c.run, 50)...)); err != nil {
			t.Fatalf("compression %t: %v", on, err)
		}
		if docs(rec, "created") != 50 {
			t.Errorf("compression %t: %d created", on, docs(rec, "created"))
		}
		if n := c.count(fmt.Sprintf("%s-%d", c.run, i), ""); n != 50 {
			t.Errorf("compression %t: _count %d", on, n)
		}
	}
}

func TestRealCheckConnection(t *testing.T) {
	c := realES(t)
	p := plugin(t)
	if err := p.CheckConnection(context.Background(), sdktest.Config(p, map[string]any{"urls": []string{c.url}})); err != nil {
		t.Fatal(err)
	}
	ci, err := info(context.Background(), mustClient(t, c.url).client, c.url, 10*time.Second)
	if err != nil || !strings.HasPrefix(ci.Version.Number, "8.") && !strings.HasPrefix(ci.Version.Number, "9.") {
		t.Errorf("version %q, %v", ci.Version.Number, err)
	}
}

func mustClient(t *testing.T, url string) *Output {
	t.Helper()
	p := plugin(t)
	out, err := p.New(sdktest.Config(p, map[string]any{"urls": []string{url}}), sdktest.Env("t", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.(*Output).Close(context.Background()) })
	return out.(*Output)
}

// TestRealCorpusIndexesCleanly indexes every event the engine's plugins
// emit (see engineEvents) under the template: no document may be rejected,
// and no value may be dropped as malformed (_ignored), which the template's
// ignore_malformed would otherwise hide.
func TestRealCorpusIndexesCleanly(t *testing.T) {
	c := realES(t)
	evs := engineEvents(t)
	evs = append(evs, deadLetterEvent())
	o, rec := c.outputFor(map[string]any{"index": c.run})
	for start := 0; start < len(evs); start += 1024 {
		end := min(start+1024, len(evs))
		if err := o.Write(context.Background(), batchOf(evs[start:end]...)); err != nil {
			var pe *sdk.PartialError
			if errors.As(err, &pe) && len(pe.Rejected) > 0 {
				r := pe.Rejected[0]
				t.Fatalf("%d rejected in events %d-%d; first: %s\n%s", len(pe.Rejected), start, end, r.Reason, evs[start+r.Index].AppendJSON(nil))
			}
			t.Fatal(err)
		}
	}
	// Each distinct _id is one document; events that share one (the same
	// record fed twice) are duplicates by design.
	byID := map[string]*sdk.Event{}
	for i := range evs {
		byID[documentID(&evs[i])] = &evs[i]
	}
	stored := c.count(c.run, "")
	if stored != len(byID) || docs(rec, "created") != len(byID) || docs(rec, "rejected") != 0 {
		t.Errorf("%d distinct ids; stored %d, created %d, rejected %d", len(byID), stored, docs(rec, "created"), docs(rec, "rejected"))
	}
	// A value may be left out of the index only because it is longer
	// than its keyword field's ignore_above (it stays in _source); any
	// other _ignored is a value the mapping cannot take.
	out := c.mustDo("POST", "/"+c.run+"/_search", `{"size":1000,"query":{"exists":{"field":"_ignored"}},"fields":["_ignored"],"_source":false}`)
	hits := out["hits"].(map[string]any)["hits"].([]any)
	for _, h := range hits {
		hit := h.(map[string]any)
		ev := byID[hit["_id"].(string)]
		for _, f := range hit["fields"].(map[string]any)["_ignored"].([]any) {
			if ev == nil || !hasLongValue(ev, f.(string), 1024) {
				t.Errorf("document %s: the mapping ignored %s: %s", hit["_id"], f, ev.AppendJSON(nil))
			}
		}
	}
	t.Logf("%d events, %d documents, %d with an over-long keyword value kept only in _source", len(evs), stored, len(hits))
}

// documentID is the _id the output gives ev.
func documentID(ev *sdk.Event) string {
	switch {
	case ev.ID == "":
		return string(appendHashID(nil, ev.AppendJSON(nil)))
	case plainID(ev.ID):
		return ev.ID
	}
	return string(appendHashID(nil, []byte(ev.ID)))
}

// hasLongValue reports whether field key of ev holds a string longer than
// n bytes.
func hasLongValue(ev *sdk.Event, key string, n int) bool {
	v, ok := ev.Fields.Get(key)
	if !ok {
		return false
	}
	switch v.Kind() {
	case sdk.KindString:
		return len(v.Str()) > n
	case sdk.KindStrings:
		for _, s := range v.StringList() {
			if len(s) > n {
				return true
			}
		}
	}
	return false
}

// TestRealOutageLosesAndDuplicatesNothing stops the cluster between two
// writes of a stream: the write during the outage fails retryably, and
// sending it again once the cluster is back stores each event once.
func TestRealOutageLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts Elasticsearch")
	}
	testservers.Lock(t) // before ES: no other test may use the cluster while it is down
	c := realES(t)
	o, _ := c.outputFor(map[string]any{"timeout": 5 * time.Second})
	evs := testEvents(c.run, 300)
	if err := o.Write(context.Background(), batchOf(cloneEvents(evs[:200])...)); err != nil {
		t.Fatal(err)
	}
	func() {
		testservers.Stop(t, "es")
		err := o.Write(context.Background(), batchOf(cloneEvents(evs[100:])...))
		if err == nil || sdk.IsPermanent(err) {
			t.Fatalf("write during the outage: %v", err)
		}
		testservers.Start(t, "es")
	}()
	// The cluster answers its health check before every shard is back: until
	// then a write fails retryably, and the core would send it again.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := o.Write(context.Background(), batchOf(cloneEvents(evs[100:])...))
		if err == nil {
			break
		}
		if sdk.IsPermanent(err) || time.Now().After(deadline) {
			t.Fatalf("write after the outage: %v", err)
		}
		t.Logf("write after the outage, again: %v", err)
		time.Sleep(500 * time.Millisecond)
	}
	if n := c.count(c.run+"-*", ""); n != 300 {
		t.Fatalf("_count %d, want 300", n)
	}
}
