package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fieldsOf builds Fields from key, value pairs, in the order given.
func fieldsOf(kv ...any) Fields {
	var f Fields
	for i := 0; i < len(kv); i += 2 {
		f.Append(kv[i].(string), kv[i+1].(Value))
	}
	return f
}

func TestAppendJSONGolden(t *testing.T) {
	at := time.Date(2026, 11, 23, 13, 36, 5, 281_000_000, time.UTC)
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{"empty", Event{}, `{}`},
		{"time only", Event{Time: at}, `{"@timestamp":"2026-11-23T13:36:05.281Z"}`},
		{"time in another zone is written in UTC",
			Event{Time: at.In(time.FixedZone("CET", 3600))}, `{"@timestamp":"2026-11-23T13:36:05.281Z"}`},
		{"ID is not a field", Event{ID: "kernel-25", Fields: fieldsOf("a", Int(1))}, `{"a":1}`},
		{"time then fields", Event{Time: at, Fields: fieldsOf("message", String("m"))},
			`{"@timestamp":"2026-11-23T13:36:05.281Z","message":"m"}`},

		// Nesting.
		{"parent.pid next to pid",
			Event{Fields: fieldsOf("process.pid", Int(2), "process.parent.pid", Int(1), "process.name", String("cat"))},
			`{"process":{"name":"cat","parent":{"pid":1},"pid":2}}`},
		{"keys sharing a prefix but not a segment",
			Event{Fields: fieldsOf("a.b", Int(1), "a.b-c", Int(2), "a.bc", Int(3))},
			`{"a":{"b":1,"b-c":2,"bc":3}}`},
		{"object between siblings that sort around it",
			Event{Fields: fieldsOf("a.b.c", Int(1), "a.b-c", Int(2), "a.bc", Int(3), "a.b.d", Int(4))},
			`{"a":{"b-c":2,"b":{"c":1,"d":4},"bc":3}}`},
		{"leaf that prefixes a sibling object's name",
			Event{Fields: fieldsOf("x", Int(1), "x-y.z", Int(2), "xy.z", Int(3))},
			`{"x":1,"x-y":{"z":2},"xy":{"z":3}}`},
		{"closing several levels at once",
			Event{Fields: fieldsOf("a.b.c.d", Int(1), "a.e", Int(2), "f", Int(3))},
			`{"a":{"b":{"c":{"d":1}},"e":2},"f":3}`},
		{"reopening a closed prefix is impossible once sorted",
			Event{Fields: fieldsOf("user.name", String("root"), "process.pid", Int(1), "user.id", String("0"), "process.name", String("sh"))},
			`{"process":{"name":"sh","pid":1},"user":{"id":"0","name":"root"}}`},
		{"empty segments",
			Event{Fields: fieldsOf("a..b", Int(1), "a.c", Int(2), ".c", Int(3))},
			`{"":{"c":3},"a":{"":{"b":1},"c":2}}`},
		{"a key both leaf and parent gives duplicate names (documented)",
			Event{Fields: fieldsOf("a.b", Int(1), "a", Int(2), "a-", Int(3))},
			`{"a":2,"a-":3,"a":{"b":1}}`},

		// Every kind.
		{"null", Event{Fields: fieldsOf("k", Value{})}, `{"k":null}`},
		{"string", Event{Fields: fieldsOf("k", String("v"))}, `{"k":"v"}`},
		{"empty string", Event{Fields: fieldsOf("k", String(""))}, `{"k":""}`},
		{"ints", Event{Fields: fieldsOf("a", Int(0), "b", Int(-42), "c", Int(math.MaxInt64), "d", Int(math.MinInt64))},
			`{"a":0,"b":-42,"c":9223372036854775807,"d":-9223372036854775808}`},
		{"floats", Event{Fields: fieldsOf("a", Float(1.5), "b", Float(0.1), "c", Float(1e21), "d", Float(1e-7), "e", Float(-0.0), "f", Float(3))},
			`{"a":1.5,"b":0.1,"c":1e+21,"d":1e-07,"e":0,"f":3}`},
		{"negative zero", Event{Fields: fieldsOf("z", Float(math.Copysign(0, -1)))}, `{"z":-0}`},
		{"NaN and infinities are null",
			Event{Fields: fieldsOf("a", Float(math.NaN()), "b", Float(math.Inf(1)), "c", Float(math.Inf(-1)))},
			`{"a":null,"b":null,"c":null}`},
		{"bools", Event{Fields: fieldsOf("f", Bool(false), "t", Bool(true))}, `{"f":false,"t":true}`},
		{"time value", Event{Fields: fieldsOf("process.start", Time(at))}, `{"process":{"start":"2026-11-23T13:36:05.281Z"}}`},
		{"strings", Event{Fields: fieldsOf("args", Strings([]string{"ls", "-l", "a\"b"}))}, `{"args":["ls","-l","a\"b"]}`},
		{"empty and nil string lists", Event{Fields: fieldsOf("a", Strings([]string{}), "b", Strings(nil))}, `{"a":[],"b":[]}`},
		{"objects with nested keys",
			Event{Fields: fieldsOf("auditd.paths", Objects([]Fields{
				fieldsOf("name", String("/bin/ls"), "cap.fp", String("0"), "cap.fe", String("1")),
				{},
			}))},
			`{"auditd":{"paths":[{"cap":{"fe":"1","fp":"0"},"name":"/bin/ls"},{}]}}`},
		{"empty objects list", Event{Fields: fieldsOf("o", Objects(nil))}, `{"o":[]}`},
		{"raw JSON verbatim", Event{Fields: fieldsOf("r", RawJSON([]byte(`{"k":[1,2.5,"x"]}`)))}, `{"r":{"k":[1,2.5,"x"]}}`},
		{"empty raw is null", Event{Fields: fieldsOf("r", RawJSON(nil))}, `{"r":null}`},

		// String escaping, in values and in keys.
		{"quotes and backslashes", Event{Fields: fieldsOf("k", String(`say "hi" \ bye`))}, `{"k":"say \"hi\" \\ bye"}`},
		{"short escapes", Event{Fields: fieldsOf("k", String("a\nb\rc\td"))}, `{"k":"a\nb\rc\td"}`},
		{"other control characters", Event{Fields: fieldsOf("k", String("\x00\x01\x08\x0c\x1b\x1f"))}, `{"k":"\u0000\u0001\u0008\u000c\u001b\u001f"}`},
		{"DEL and HTML characters are kept", Event{Fields: fieldsOf("k", String("\x7f</script>&"))}, "{\"k\":\"\x7f</script>&\"}"},
		{"invalid UTF-8 byte", Event{Fields: fieldsOf("k", String("a\xffb"))}, `{"k":"a\ufffdb"}`},
		{"truncated sequence, one replacement per byte", Event{Fields: fieldsOf("k", String("\xe2\x82"))}, `{"k":"\ufffd\ufffd"}`},
		{"encoded surrogate is invalid", Event{Fields: fieldsOf("k", String("\xed\xa0\x80"))}, `{"k":"\ufffd\ufffd\ufffd"}`},
		{"overlong encoding is invalid", Event{Fields: fieldsOf("k", String("\xc0\xaf"))}, `{"k":"\ufffd\ufffd"}`},
		{"multi-byte UTF-8 kept", Event{Fields: fieldsOf("k", String("é✓𝄞\ufffd\u2028"))}, "{\"k\":\"é✓𝄞\ufffd\u2028\"}"},
		{"invalid byte at the end", Event{Fields: fieldsOf("k", String("ok\xc3"))}, `{"k":"ok\ufffd"}`},
		{"escaped key", Event{Fields: fieldsOf("we\"ird\n.k\xff", Int(1))}, `{"we\"ird\n":{"k\ufffd":1}}`},
		{"invalid strings in a list", Event{Fields: fieldsOf("l", Strings([]string{"\xff", "\x01"}))}, `{"l":["\ufffd","\u0001"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.event.AppendJSON(nil))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendJSONAppendsToDst(t *testing.T) {
	e := Event{Fields: fieldsOf("a", Int(1))}
	dst := []byte("prefix ")
	if got := string(e.AppendJSON(dst)); got != `prefix {"a":1}` {
		t.Errorf("got %q", got)
	}
	f := fieldsOf("b.c", Int(2))
	if got := string(f.AppendJSON([]byte("x"))); got != `x{"b":{"c":2}}` {
		t.Errorf("Fields.AppendJSON: got %q", got)
	}
}

func TestAppendJSONTimes(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123_000_000, time.UTC), "2026-01-02T03:04:05.123Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123_456_000, time.UTC), "2026-01-02T03:04:05.123456Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC), "2026-01-02T03:04:05.123456789Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC), "2026-01-02T03:04:05.000000001Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC), "2026-01-02T03:04:05.000001Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
		{time.Unix(0, -1), "1969-12-31T23:59:59.999999999Z"},
		{time.Unix(0, -1e6), "1969-12-31T23:59:59.999Z"},
		{time.Unix(-1, 0), "1969-12-31T23:59:59.000Z"},
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), "1900-01-01T00:00:00.000Z"},
		{time.Date(1700, 3, 1, 12, 0, 0, 0, time.UTC), "1700-03-01T12:00:00.000Z"},
		{time.Date(2000, 2, 29, 23, 59, 59, 999_000_000, time.UTC), "2000-02-29T23:59:59.999Z"},
		{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "2024-02-29T00:00:00.000Z"},
		{time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC), "2100-03-01T00:00:00.000Z"},
		{time.Date(2262, 4, 11, 23, 47, 16, 854_775_807, time.UTC), "2262-04-11T23:47:16.854775807Z"},
	}
	for _, tt := range tests {
		e := Event{Time: tt.t}
		e.Fields.Set("v", Time(tt.t))
		want := fmt.Sprintf(`{"@timestamp":%q,"v":%q}`, tt.want, tt.want)
		if got := string(e.AppendJSON(nil)); got != want {
			t.Errorf("%v:\ngot  %s\nwant %s", tt.t, got, want)
		}
		if got := Time(tt.t).Text(); got != tt.want {
			t.Errorf("Time(%v).Text() = %s, want %s", tt.t, got, tt.want)
		}
	}
}

// refTime formats t the way appendTime promises to, with the time package.
func refTime(t time.Time) string {
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}

// TestAppendTimeMatchesTimePackage compares the encoder's calendar arithmetic
// with the time package over the whole range Time values can hold.
func TestAppendTimeMatchesTimePackage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		var nanos int64
		switch i % 4 {
		case 0:
			nanos = r.Int64() // anywhere in 1677..2262
		case 1:
			nanos = -r.Int64()
		case 2:
			nanos = r.Int64N(4e18) - 2e18 // 1906..2033, around the epoch
		default:
			nanos = (r.Int64N(8e9) - 4e9) * 1e9 // whole seconds
		}
		tm := time.Unix(0, nanos)
		if got, want := string(appendTime(nil, nanos)), refTime(tm); got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", nanos, got, want)
		}
	}
}

// --- property test: random fields decode to the expected structure ----------

// genFields builds random fields with keys from a small alphabet of segments
// chosen to collide, share prefixes and need escaping. Keys that would be
// both a leaf and a parent are dropped when noConflicts is set.
func genFields(r *rand.Rand, depth int, noConflicts bool) Fields {
	segs := []string{"a", "b", "ab", "a-b", "b-c", "bc", "process", "parent", "pid", "é", "q\"", "\x01", "x\xff", ""}
	n := r.IntN(12)
	keys := map[string]bool{}
	for range n {
		var parts []string
		for range 1 + r.IntN(4) {
			parts = append(parts, segs[r.IntN(len(segs))])
		}
		keys[strings.Join(parts, ".")] = true
	}
	if noConflicts {
		for k := range keys {
			for other := range keys {
				if strings.HasPrefix(other, k+".") {
					delete(keys, k)
					break
				}
			}
		}
	}
	var f Fields
	for k := range keys { // map order: also exercises unsorted Append
		f.Append(k, genValue(r, depth, noConflicts))
	}
	return f
}

func genValue(r *rand.Rand, depth int, noConflicts bool) Value {
	strs := []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\t", "bad\xff\xc3", "é✓𝄞", "\xed\xa0\x80"}
	switch k := r.IntN(10); {
	case k == 0:
		return Value{}
	case k == 1:
		return String(strs[r.IntN(len(strs))])
	case k == 2:
		return Int(int64(r.Uint64()))
	case k == 3:
		fs := []float64{0, 1.5, -2.25e-300, 1e300, math.NaN(), math.Inf(1), math.Inf(-1), 123456789.125}
		if r.IntN(2) == 0 {
			return Float(fs[r.IntN(len(fs))])
		}
		return Float(math.Float64frombits(r.Uint64()))
	case k == 4:
		return Bool(r.IntN(2) == 0)
	case k == 5:
		return Time(time.Unix(0, int64(r.Uint64())))
	case k == 6:
		l := make([]string, r.IntN(3))
		for i := range l {
			l[i] = strs[r.IntN(len(strs))]
		}
		return Strings(l)
	case k == 7 && depth < 2:
		o := make([]Fields, r.IntN(3))
		for i := range o {
			o[i] = genFields(r, depth+1, noConflicts)
		}
		return Objects(o)
	case k == 8:
		raws := []string{`{}`, `[1,"a",null]`, `{"k":{"n":-1.5e3}}`, `"s"`, `true`}
		return RawJSON([]byte(raws[r.IntN(len(raws))]))
	}
	return String("v")
}

// expectedFields is the structure encoding/json decodes f's JSON to (with
// UseNumber), computed without the encoder: keys split on dots, strings with
// each invalid byte replaced, times formatted by the time package.
func expectedFields(f *Fields) map[string]any {
	root := map[string]any{}
	for _, fd := range f.All() {
		parts := strings.Split(fd.Key, ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			p = validUTF8(p)
			child, ok := m[p].(map[string]any)
			if !ok {
				child = map[string]any{}
				m[p] = child
			}
			m = child
		}
		m[validUTF8(parts[len(parts)-1])] = expectedValue(fd.Value)
	}
	return root
}

// floatWant is an expected float: the decoded json.Number must parse to it.
type floatWant float64

func expectedValue(v Value) any {
	switch v.Kind() {
	case KindString:
		return validUTF8(v.Str())
	case KindInt:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case KindFloat:
		if f := v.Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return floatWant(f)
		}
	case KindBool:
		return v.Bool()
	case KindTime:
		return refTime(v.Time())
	case KindStrings:
		l := []any{}
		for _, s := range v.StringList() {
			l = append(l, validUTF8(s))
		}
		return l
	case KindObjects:
		l := []any{}
		for _, o := range v.ObjectList() {
			l = append(l, expectedFields(&o))
		}
		return l
	case KindRaw:
		return decodeJSON(v.Raw())
	}
	return nil
}

// validUTF8 replaces each byte of an invalid sequence with U+FFFD, as
// converting a string to runes does.
func validUTF8(s string) string { return string([]rune(s)) }

func decodeJSON(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

// match reports how got differs from want, or "".
func match(got, want any, path string) string {
	if fw, ok := want.(floatWant); ok {
		n, ok := got.(json.Number)
		if !ok {
			return fmt.Sprintf("%s: got %#v, want float %v", path, got, float64(fw))
		}
		if f, err := strconv.ParseFloat(string(n), 64); err != nil || f != float64(fw) {
			return fmt.Sprintf("%s: got %s, want %v", path, n, float64(fw))
		}
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %#v, want %#v", path, got, want)
		}
		for k := range w {
			if d := match(g[k], w[k], path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %#v, want %#v", path, got, want)
		}
		for i := range w {
			if d := match(g[i], w[i], path+"["+strconv.Itoa(i)+"]"); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("%s: got %#v, want %#v", path, got, want)
	}
	return ""
}

// checkEncoding fails t unless e's JSON is valid and, when structural is
// set, decodes to the expected structure.
func checkEncoding(t *testing.T, e *Event, structural bool) {
	t.Helper()
	out := e.AppendJSON(nil)
	if !json.Valid(out) {
		t.Fatalf("invalid JSON for %s:\n%s", describe(&e.Fields), out)
	}
	if !structural {
		return
	}
	want := expectedFields(&e.Fields)
	if !e.Time.IsZero() {
		want["@timestamp"] = refTime(e.Time)
	}
	if d := match(decodeJSON(out), want, "$"); d != "" {
		t.Fatalf("%s\nfields: %s\njson:   %s", d, describe(&e.Fields), out)
	}
}

func describe(f *Fields) string {
	var b strings.Builder
	for _, fd := range f.All() {
		fmt.Fprintf(&b, "%q=%s(%q) ", fd.Key, fd.Value.Kind(), fd.Value.Text())
	}
	return b.String()
}

func TestAppendJSONProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	structural := 0
	for i := range 20_000 {
		e := Event{Fields: genFields(r, 0, i%4 != 0)}
		if r.IntN(2) == 0 {
			e.Time = time.Unix(0, int64(r.Uint64()))
		}
		ok := !hasConflicts(&e.Fields)
		if ok {
			structural++
		}
		checkEncoding(t, &e, ok)
	}
	if structural < 10_000 {
		t.Errorf("only %d of 20000 cases were checked structurally", structural)
	}
}

func TestAppendJSONDeepKeys(t *testing.T) {
	// Deeper than the encoder's 32 open objects: still valid JSON.
	var parts []string
	for i := range 40 {
		parts = append(parts, "s"+strconv.Itoa(i))
	}
	deep := strings.Join(parts, ".")
	e := Event{Fields: fieldsOf(deep+".x", Int(1), deep+".y", Int(2), "s0.z", Int(3), "top", Int(4))}
	checkEncoding(t, &e, false)
	var got map[string]any
	if err := json.Unmarshal(e.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	if got["top"] != float64(4) || got["s0"].(map[string]any)["z"] != float64(3) {
		t.Errorf("siblings of a deep key misplaced: %s", e.AppendJSON(nil))
	}
}

// FuzzAppendJSON builds fields from arbitrary bytes: each field takes a key
// length, key bytes (any bytes, dots included) and a value kind and payload.
// The output must always be valid JSON; when no key is both a leaf and a
// parent, it must decode to the expected structure.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("\x05a.b.c\x01\x03xyz\x04a.bc\x02\x07\x05a.b-c\x04"))
	f.Add([]byte("\x0bprocess.pid\x02\x01\x12process.parent.pid\x02\x02"))
	f.Add([]byte("\x03\xff.\"\x01\x05\xe2\x82\x00\x1b\\"))
	f.Add([]byte("\x01.\x06\x08\x00.\x03\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Event{}
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		take := func(n int) string {
			n = min(n, len(data))
			s := string(data[:n])
			data = data[n:]
			return s
		}
		for len(data) > 0 && e.Fields.Len() < 64 {
			key := take(int(next() % 24))
			var v Value
			switch next() % 9 {
			case 0:
			case 1:
				v = String(take(int(next() % 32)))
			case 2:
				v = Int(int64(next())<<56 | int64(next())<<8 | int64(next()))
			case 3:
				var bits uint64
				for range 8 {
					bits = bits<<8 | uint64(next())
				}
				v = Float(math.Float64frombits(bits))
			case 4:
				v = Bool(next()%2 == 1)
			case 5:
				v = Time(time.Unix(0, int64(next())<<48|int64(next())<<24|int64(next())))
			case 6:
				v = Strings([]string{take(int(next() % 8)), take(int(next() % 8))})
			case 7:
				inner := Fields{}
				inner.Append(take(int(next()%8)), String(take(int(next()%8))))
				v = Objects([]Fields{inner})
			case 8:
				v = RawJSON([]byte(`[1,{"a":null}]`))
			}
			if next()%2 == 0 {
				e.Fields.Append(key, v)
			} else {
				e.Fields.Set(key, v)
			}
		}
		checkEncoding(t, &e, !hasConflicts(&e.Fields))
		checkReference(t, &e)
	})
}

// hasConflicts reports whether the fields would encode with duplicate member
// names: a key that is both a leaf and a parent, two keys (or two parent
// objects) whose names differ only in invalid UTF-8 (both become U+FFFD), or
// a key nested deeper than the encoder opens objects — in f or in its
// objects. Such fields still encode to valid JSON.
func hasConflicts(f *Fields) bool {
	all := f.All()
	keys := make([]string, len(all))
	rawOf := map[string]string{} // replaced name (key or parent prefix) -> raw
	for i, fd := range all {
		keys[i] = validUTF8(fd.Key)
		if strings.Count(fd.Key, ".") >= 32 {
			return true
		}
		for j := 0; j <= len(fd.Key); j++ {
			if j == len(fd.Key) || fd.Key[j] == '.' {
				raw := fd.Key[:j]
				if prev, seen := rawOf[validUTF8(raw)]; seen && prev != raw {
					return true
				}
				rawOf[validUTF8(raw)] = raw
			}
		}
		for _, o := range fd.Value.ObjectList() {
			if hasConflicts(&o) {
				return true
			}
		}
	}
	for i, k := range keys {
		for j, other := range keys {
			if i != j && (k == other || strings.HasPrefix(other, k+".")) {
				return true
			}
		}
	}
	return false
}

// --- reference encoder -------------------------------------------------------

// The functions below are the straightforward encoder json.go replaced with a
// faster one, with strings escaped the plainest way, one rune at a time. They
// are the reference the fast encoder must match byte for byte
// (TestAppendJSONMatchesReference and FuzzAppendJSON).

func refEventJSON(e *Event, dst []byte) []byte {
	dst = append(dst, '{')
	comma := false
	if !e.Time.IsZero() {
		dst = append(dst, `"@timestamp":"`...)
		dst = append(dst, refTime(e.Time)...)
		dst = append(dst, '"')
		comma = true
	}
	list := e.Fields.All()
	if comma {
		// Time is the timestamp; a "@timestamp" field must not repeat it.
		// No dotted group can span that key, so the two sides encode apart.
		if i, found := e.Fields.search("@timestamp"); found {
			dst = refAppendFieldsBody(dst, list[:i], true)
			return append(refAppendFieldsBody(dst, list[i+1:], true), '}')
		}
	}
	dst = refAppendFieldsBody(dst, list, comma)
	return append(dst, '}')
}

func refFieldsJSON(f *Fields, dst []byte) []byte {
	dst = append(dst, '{')
	dst = refAppendFieldsBody(dst, f.All(), false)
	return append(dst, '}')
}

// refAppendFieldsBody writes sorted fields as object members, nesting dotted
// keys. Because fields are sorted, all keys under one prefix are adjacent, so
// one pass with a stack of open objects suffices.
func refAppendFieldsBody(dst []byte, list []Field, comma bool) []byte {
	var ends [32]int // ends[i]: end offset in path of the i-th open segment
	depth := 0
	path := "" // the key that opened the innermost object; path[:ends[depth-1]] is its prefix
	for i := range list {
		key := list[i].Key
		// How many open objects does this key share? Each level compares
		// only its own segment: the levels above it already matched.
		d := 0
		for d < depth {
			end := ends[d]
			start := 0
			if d > 0 {
				start = ends[d-1]
			}
			if len(key) > end && key[end] == '.' && key[start:end] == path[start:end] {
				d++
				continue
			}
			break
		}
		// Close the objects it does not share, then open the remaining
		// intermediate segments from after the last shared one.
		if depth > d {
			dst = append(dst, strings.Repeat("}", depth-d)...)
			depth, comma = d, true
		}
		start := 0
		for _, e := range ends[:d] {
			start = e + 1
		}
		for {
			dot := refIndexDot(key, start)
			if dot < 0 || depth == len(ends) {
				break
			}
			if comma {
				dst = append(dst, ',')
			}
			dst = refAppendString(dst, key[start:dot])
			dst = append(dst, ':', '{')
			ends[depth] = dot
			depth++
			path = key
			comma = false
			start = dot + 1
		}
		if comma {
			dst = append(dst, ',')
		}
		dst = refAppendString(dst, key[start:])
		dst = append(dst, ':')
		dst = refAppendValueJSON(dst, list[i].Value)
		comma = true
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return dst
}

func refIndexDot(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func refAppendValueJSON(dst []byte, v Value) []byte {
	// refList writes n elements as a JSON array, elem writing each.
	refList := func(n int, elem func(i int)) {
		dst = append(dst, '[')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			elem(i)
		}
		dst = append(dst, ']')
	}
	f := math.Float64frombits(v.num)
	switch {
	case v.kind == KindString:
		return refAppendString(dst, v.str)
	case v.kind == KindInt:
		return fmt.Appendf(dst, "%d", int64(v.num))
	case v.kind == KindFloat && !math.IsNaN(f) && !math.IsInf(f, 0):
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case v.kind == KindBool:
		return strconv.AppendBool(dst, v.num != 0)
	case v.kind == KindTime:
		return append(append(append(dst, '"'), refTime(time.Unix(0, int64(v.num)))...), '"')
	case v.kind == KindStrings:
		l := v.StringList()
		refList(len(l), func(i int) { dst = refAppendString(dst, l[i]) })
		return dst
	case v.kind == KindObjects:
		l := v.ObjectList()
		refList(len(l), func(i int) { dst = refFieldsJSON(&l[i], dst) })
		return dst
	case v.kind == KindRaw && len(v.Raw()) > 0:
		return append(dst, v.Raw()...)
	}
	return append(dst, "null"...)
}

// refAppendString appends s as a JSON string the plain way, one rune at a
// time: invalid UTF-8 becomes U+FFFD; quote, backslash and control
// characters are escaped, \n, \r and \t by name.
func refAppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// genDiffString returns a string of up to 40 bytes, mostly plain ASCII, with
// bytes that need escaping or UTF-8 checking at random positions, so that
// every offset of the word-at-a-time loops meets them.
func genDiffString(r *rand.Rand) string {
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\r", "\t", "\x7f", "\x80", "\xff", "é", "✓", "𝄞", "\xe2\x82", "\xed\xa0\x80", "."}
	n := r.IntN(41)
	b := make([]byte, 0, n+4)
	for len(b) < n {
		if r.IntN(12) == 0 {
			b = append(b, specials[r.IntN(len(specials))]...)
		} else {
			b = append(b, byte(' '+r.IntN(95)))
		}
	}
	return string(b)
}

// genDiffFields builds fields whose keys share prefixes of all lengths (from
// a small set of segments, a few of them random strings) and whose values
// cover every kind, with integers of every magnitude.
func genDiffFields(r *rand.Rand, depth int) Fields {
	segs := []string{"a", "ab", "b", "", "auditd", "summary", "actor", "primary", "process", "parent", "pid", "x_y-z", "user", "effective"}
	for range 3 {
		segs = append(segs, genDiffString(r))
	}
	var f Fields
	for range r.IntN(40) {
		var parts []string
		n := 1 + r.IntN(5)
		if r.IntN(50) == 0 {
			n = 30 + r.IntN(6) // around the encoder's limit of open objects
		}
		for range n {
			parts = append(parts, segs[r.IntN(len(segs))])
		}
		key := strings.Join(parts, ".")
		if r.IntN(30) == 0 {
			key = "@timestamp"
		}
		f.Append(key, genDiffValue(r, depth))
	}
	return f
}

func genDiffValue(r *rand.Rand, depth int) Value {
	switch r.IntN(11) {
	case 0:
		return Value{}
	case 1, 2, 3:
		return String(genDiffString(r))
	case 4:
		ints := []int64{0, 1, -1, 9, 10, 99, 100, -100, 1e9, math.MaxInt64, math.MinInt64}
		if r.IntN(2) == 0 {
			return Int(ints[r.IntN(len(ints))])
		}
		return Int(int64(r.Uint64()) >> r.IntN(64))
	case 5:
		return Float(math.Float64frombits(r.Uint64()))
	case 6:
		return Bool(r.IntN(2) == 0)
	case 7:
		return Time(time.Unix(0, genDiffNanos(r)))
	case 8:
		l := make([]string, r.IntN(4))
		for i := range l {
			l[i] = genDiffString(r)
		}
		return Strings(l)
	case 9:
		if depth < 2 {
			o := make([]Fields, r.IntN(3))
			for i := range o {
				o[i] = genDiffFields(r, depth+1)
			}
			return Objects(o)
		}
		return RawJSON(nil)
	}
	return RawJSON([]byte(`{"k":[1,"a"]}`))
}

// genDiffNanos returns a random instant in nanoseconds, a third of them
// whole milliseconds and a third whole microseconds.
func genDiffNanos(r *rand.Rand) int64 {
	t := int64(r.Uint64())
	switch r.IntN(3) {
	case 0:
		t -= t % 1e6
	case 1:
		t -= t % 1e3
	}
	return t
}

// checkReference fails t unless the encoder writes e exactly as the
// reference encoder does, both as an event and as bare fields.
func checkReference(t *testing.T, e *Event) {
	t.Helper()
	prefix := []byte("prefix ")
	if got, want := e.AppendJSON(prefix), refEventJSON(e, prefix); !bytes.Equal(got, want) {
		t.Fatalf("event encodings differ\nfields: %s\ngot:  %s\nwant: %s", describe(&e.Fields), got, want)
	}
	if got, want := e.Fields.AppendJSON(nil), refFieldsJSON(&e.Fields, nil); !bytes.Equal(got, want) {
		t.Fatalf("fields encodings differ\nfields: %s\ngot:  %s\nwant: %s", describe(&e.Fields), got, want)
	}
}

func TestAppendJSONMatchesReference(t *testing.T) {
	e := auditEvent()
	checkReference(t, &e)
	r := rand.New(rand.NewPCG(3, 5))
	for range 20_000 {
		e := Event{Fields: genDiffFields(r, 0)}
		if r.IntN(2) == 0 {
			e.Time = time.Unix(0, genDiffNanos(r))
		}
		checkReference(t, &e)
	}
	r = rand.New(rand.NewPCG(13, 17))
	for range 5_000 {
		e := Event{Fields: genFields(r, 0, false)}
		checkReference(t, &e)
	}
}
