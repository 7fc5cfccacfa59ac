//go:build linux

package coalesce

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
	"gopkg.in/yaml.v3"

	"github.com/engine-audit/engine/sdk"
)

// The differential test runs go-libaudit (with Auditbeat's document mapping,
// see reference_test.go) and this processor over the same records and
// compares the documents field by field. A difference fails the test unless
// an entry of allowedDifferences explains it.

// allowedDifference is a deliberate difference from go-libaudit.
type allowedDifference struct {
	name string
	// applies reports whether the difference in field (ref and ours are the
	// values, nil when absent) is explained by this entry. recs are the raw
	// records of the event.
	applies func(field string, ref, ours any, recs []string) bool
}

var allowedDifferences = []allowedDifference{
	{
		// An event that cannot be coalesced (a compound event without a
		// SYSCALL record) becomes an error document in both; Auditbeat's
		// has no @timestamp, ours keeps the records' time.
		name: "error events keep the record timestamp",
		applies: func(field string, ref, ours any, recs []string) bool {
			return field == "@timestamp" && ref == nil
		},
	},
	{
		// A compound event whose SYSCALL record is missing (lost, or cut
		// off at the start of a log) is an error document in go-libaudit.
		// auditd's ausearch still reads it as an event of its first
		// record's type, and so do we: its paths, arguments and working
		// directory are kept.
		name: "compound events without SYSCALL are coalesced",
		applies: func(field string, ref, ours any, recs []string) bool {
			if len(recs) < 2 || anyRecord(recs, func(r string) bool { return strings.Contains(r, "type=SYSCALL ") }) {
				return false
			}
			return ref == nil || (field == "error.message" && ours == nil)
		},
	},
	{
		// The kernel splits an argument longer than its line budget into
		// aN_len=L aN[0]=.. aN[1]=.., and the arguments of one execve over
		// several EXECVE records when they are many. go-libaudit reads
		// neither and drops the EXECVE data (no process.args, no argc); we
		// join the pieces and the records.
		name: "split execve arguments are joined",
		applies: func(field string, ref, ours any, recs []string) bool {
			if (field != "process.args" && field != "auditd.data.argc") || ref != nil {
				return false
			}
			execves := 0
			long := false
			for _, r := range recs {
				if strings.Contains(r, "type=EXECVE ") {
					execves++
					long = long || strings.Contains(r, "_len=")
				}
			}
			return long || execves > 1
		},
	},
	{
		// auditd's ENRICHED log format appends the names it resolved for
		// ids after a 0x1d byte. Auditbeat reads netlink, where there are
		// none; we write them as the *.name fields (and file.owner and
		// file.group), as Auditbeat does with resolve_ids.
		name: "names from the ENRICHED part",
		applies: func(field string, ref, ours any, recs []string) bool {
			named := strings.HasSuffix(field, ".name") || field == "file.owner" || field == "file.group"
			return named && ref == nil && anyRecord(recs, func(r string) bool { return strings.Contains(r, "\x1d") })
		},
	},
}

func anyRecord(recs []string, f func(string) bool) bool {
	for _, r := range recs {
		if f(r) {
			return true
		}
	}
	return false
}

// ignoredFields are not compared: they are ours alone or carry the input.
var ignoredFields = map[string]bool{
	"event.kind": true, "event.module": true, "event.original": true, "host.name": true,
}

type diffStats struct {
	refEvents, ourEvents, matched, fields, allowed, rejected int
	allowedBy                                                map[string]int
	failures                                                 []string
}

func (s *diffStats) add(o diffStats) {
	s.refEvents += o.refEvents
	s.ourEvents += o.ourEvents
	s.matched += o.matched
	s.fields += o.fields
	s.allowed += o.allowed
	s.rejected += o.rejected
	for k, v := range o.allowedBy {
		if s.allowedBy == nil {
			s.allowedBy = map[string]int{}
		}
		s.allowedBy[k] += v
	}
	s.failures = append(s.failures, o.failures...)
}

// flatten turns an event into the flat document form refDoc produces.
func flatten(ev *sdk.Event) map[string]any {
	d := map[string]any{}
	if !ev.Time.IsZero() {
		d["@timestamp"] = ev.Time
	}
	for _, f := range ev.Fields.All() {
		d[f.Key] = plainValue(f.Value)
	}
	return d
}

func plainValue(v sdk.Value) any {
	switch v.Kind() {
	case sdk.KindString:
		return v.Str()
	case sdk.KindInt:
		return v.Int()
	case sdk.KindStrings:
		return v.StringList()
	case sdk.KindObjects:
		var out []map[string]string
		for _, o := range v.ObjectList() {
			m := map[string]string{}
			for _, f := range o.All() {
				m[f.Key] = f.Value.Text()
			}
			out = append(out, m)
		}
		return out
	}
	return v.Text()
}

// eventKey identifies an event for pairing: node and sequence number.
func eventKey(d map[string]any) string {
	n, _ := d["auditd.sequence"].(int64)
	node, _ := d["host.name"].(string)
	return node + "/" + strconv.FormatInt(n, 10)
}

// nodeOf returns the node= prefix of a record.
func nodeOf(line string) string {
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "node="); ok {
		if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			return rest[:sp]
		}
	}
	return ""
}

// compareDocs lists the fields where two documents differ.
func compareDocs(ref, ours map[string]any) []string {
	var keys []string
	seen := map[string]bool{}
	for k := range ref {
		seen[k] = true
	}
	for k := range ours {
		seen[k] = true
	}
	for k := range seen {
		if ignoredFields[k] {
			continue
		}
		a, b := ref[k], ours[k]
		if ta, ok := a.(time.Time); ok {
			if tb, ok := b.(time.Time); ok && ta.Equal(tb) {
				continue
			}
		}
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// diffEvents runs both implementations over lines and compares their
// documents, pairing events by sequence number.
func diffEvents(t testing.TB, name string, lines []string) diffStats {
	var st diffStats
	st.allowedBy = map[string]int{}
	// go-libaudit does not know nodes: give it each node's records apart.
	byNode := map[string][]string{}
	var nodes []string
	for _, l := range lines {
		n := nodeOf(l)
		if _, ok := byNode[n]; !ok {
			nodes = append(nodes, n)
		}
		byNode[n] = append(byNode[n], l)
	}
	refBySeq := map[string][]map[string]any{}
	for _, n := range nodes {
		groups := refRun(byNode[n], 1<<20, time.Hour)
		st.refEvents += len(groups)
		for _, g := range groups {
			d := refDoc(g)
			if n != "" {
				d["host.name"] = n
			}
			refBySeq[eventKey(d)] = append(refBySeq[eventKey(d)], d)
		}
	}

	ours := ourRun(t, lines, Options{Timeout: time.Hour, MaxInFlight: 1 << 20, IncludeOriginal: true})
	type ourDoc struct {
		d    map[string]any
		recs []string
	}
	ourDocs := map[string][]ourDoc{}
	for i := range ours {
		d := flatten(&ours[i])
		recs, _ := d["event.original"].([]string)
		if s, ok := d["event.original"].(string); ok {
			recs = []string{s}
		}
		if _, hasSeq := d["auditd.sequence"]; !hasSeq && d["event.kind"] == "pipeline_error" {
			// A line we cannot read as a record; go-libaudit must reject it
			// too.
			if len(recs) == 1 {
				if _, err := auparse.ParseLogLine(refLine(recs[0])); err != nil {
					st.rejected++
					continue
				}
			}
			st.failures = append(st.failures, fmt.Sprintf("%s: we reject a record go-libaudit reads: %q", name, recs))
			continue
		}
		st.ourEvents++
		ourDocs[eventKey(d)] = append(ourDocs[eventKey(d)], ourDoc{d, recs})
	}

	seqs := make([]string, 0, len(refBySeq))
	for s := range refBySeq {
		seqs = append(seqs, s)
	}
	sort.Strings(seqs)
	for _, seq := range seqs {
		refs := refBySeq[seq]
		cands := ourDocs[seq]
		for _, r := range refs {
			// Pair with the candidate that differs least.
			best, bestDiff := -1, []string(nil)
			for ci, c := range cands {
				if c.d == nil {
					continue
				}
				df := compareDocs(r, c.d)
				if best < 0 || len(df) < len(bestDiff) {
					best, bestDiff = ci, df
				}
			}
			if best < 0 {
				st.failures = append(st.failures, fmt.Sprintf("%s: event %s: go-libaudit has an event we do not", name, seq))
				continue
			}
			st.matched++
			c := cands[best]
			cands[best].d = nil
			st.fields += len(r)
		next:
			for _, f := range bestDiff {
				for _, a := range allowedDifferences {
					if a.applies(f, r[f], c.d[f], c.recs) {
						st.allowed++
						st.allowedBy[a.name]++
						continue next
					}
				}
				st.failures = append(st.failures, fmt.Sprintf("%s: event %s: %s: go-libaudit %#v, ours %#v\n    records: %q",
					name, seq, f, r[f], c.d[f], c.recs))
			}
		}
		ourDocs[seq] = cands
	}
	for seq, cands := range ourDocs {
		for _, c := range cands {
			if c.d != nil {
				st.failures = append(st.failures, fmt.Sprintf("%s: event %s: we have an event go-libaudit does not: %q", name, seq, c.recs))
			}
		}
	}
	return st
}

func reportDiff(t *testing.T, st diffStats) {
	t.Helper()
	t.Logf("events: go-libaudit %d, ours %d, compared %d (%d fields); lines both reject %d; allowed differences %d %v",
		st.refEvents, st.ourEvents, st.matched, st.fields, st.rejected, st.allowed, st.allowedBy)
	for i, f := range st.failures {
		if i == 30 {
			t.Errorf("... and %d more", len(st.failures)-30)
			break
		}
		t.Error(f)
	}
}

// libauditDir is where the go command keeps go-libaudit's sources.
func libauditDir(t testing.TB) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/elastic/go-libaudit/v2").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go-libaudit sources not found: %v", err)
	}
	return dir
}

func TestDifferentialAuparseTestdata(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(libauditDir(t), "auparse", "testdata", "*.log"))
	if len(files) == 0 {
		t.Fatal("no go-libaudit auparse testdata")
	}
	var st diffStats
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, fh)
		fh.Close()
		st.add(diffEvents(t, filepath.Base(f), lines))
	}
	reportDiff(t, st)
}

func TestDifferentialAucoalesceTestdata(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(libauditDir(t), "aucoalesce", "testdata", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no go-libaudit aucoalesce testdata")
	}
	var st diffStats
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests map[string]string `yaml:"tests"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(doc.Tests))
		for n := range doc.Tests {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			lines := readLines(t, strings.NewReader(doc.Tests[n]))
			st.add(diffEvents(t, filepath.Base(f)+"/"+n, lines))
		}
	}
	reportDiff(t, st)
}

func TestDifferentialCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus comparison skipped in -short mode")
	}
	lines := corpusLines(t)
	st := diffEvents(t, "kernel-mixed", lines)
	reportDiff(t, st)
	if st.matched < 59000 {
		t.Errorf("compared only %d events of the corpus", st.matched)
	}
}

// TestDifferentialVaried compares on the second captured log: other rules,
// and userspace records (sudo, su, useradd) among the kernel ones.
func TestDifferentialVaried(t *testing.T) {
	raw, err := os.ReadFile("../../../testdata/corpus/varied/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	st := diffEvents(t, "varied", readLines(t, strings.NewReader(string(raw))))
	reportDiff(t, st)
	if st.matched < 540 {
		t.Errorf("compared only %d events of the varied log", st.matched)
	}
}

// TestDifferentialTestdata compares on this package's own testdata, which
// covers what the other sources lack (long arguments, ENRICHED, node=).
func TestDifferentialTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	var st diffStats
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		st.add(diffEvents(t, filepath.Base(f), readLines(t, strings.NewReader(string(raw)))))
	}
	reportDiff(t, st)
}
