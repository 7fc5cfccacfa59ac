package logfile

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// Fields this input sets besides the common ones in sdk.
const (
	fieldLogFlags      = "log.flags"
	fieldEventOriginal = "event.original"
)

// errNotAudit is the error.message of a line that format "audit" cannot read.
const errNotAudit = "logfile: not an audit record: expected [node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL)"

// appendLogFields appends the fields every event carries, in key order
// (they sort after "error.message" and "event.original" and before "message").
func appendLogFields(f *sdk.Fields, h *harvester, off int64, truncated bool) {
	f.Append(sdk.FieldLogFilePath, sdk.String(h.path))
	if truncated {
		f.Append(fieldLogFlags, sdk.Strings([]string{"truncated"}))
	}
	f.Append(sdk.FieldLogOffset, sdk.Int(off))
}

// logFieldCount is the number of fields appendLogFields writes.
func logFieldCount(truncated bool) int {
	if truncated {
		return 3
	}
	return 2
}

func (in *Input) decodeLines(h *harvester, line string, off int64, truncated bool, now time.Time) sdk.Event {
	f := sdk.MakeFields(logFieldCount(truncated) + 1)
	appendLogFields(&f, h, off, truncated)
	f.Append(sdk.FieldMessage, sdk.String(line))
	return sdk.Event{Time: now, ID: in.eventID(h, off), Fields: f}
}

func (in *Input) decodeAudit(h *harvester, line string, off int64, truncated bool, now time.Time) sdk.Event {
	sec, msec, _, ok := parseAuditHeader(line)
	n := logFieldCount(truncated) + 1
	if !ok {
		n++
	}
	f := sdk.MakeFields(n)
	t := now
	if ok {
		t = time.Unix(sec, msec*int64(time.Millisecond))
	} else {
		f.Append(sdk.FieldErrorMessage, sdk.String(errNotAudit))
	}
	appendLogFields(&f, h, off, truncated)
	f.Append(sdk.FieldMessage, sdk.String(line))
	return sdk.Event{Time: t, ID: in.eventID(h, off), Fields: f}
}

func (in *Input) decodeJSON(h *harvester, line string, off int64, truncated bool, now time.Time) sdk.Event {
	f := sdk.MakeFields(8)
	t, object, problem := flattenJSON(line, &f)
	if !object {
		f.Reset()
		f.Append(sdk.FieldErrorMessage, sdk.String(problem))
		appendLogFields(&f, h, off, truncated)
		f.Append(sdk.FieldMessage, sdk.String(line))
		return sdk.Event{Time: now, ID: in.eventID(h, off), Fields: f}
	}
	appendLogFields(&f, h, off, truncated)
	settleJSON(&f, line, problem)
	if t.IsZero() {
		t = now
	}
	return sdk.Event{Time: t, ID: in.eventID(h, off), Fields: f}
}

// parseAuditHeader reads the header of an audit.log record,
//
//	[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL)
//
// as auditd writes it (raw or enriched), and returns the record's time and
// serial number. It allocates nothing.
func parseAuditHeader(line string) (sec, msec int64, serial uint32, ok bool) {
	s := line
	if strings.HasPrefix(s, "node=") {
		i := strings.IndexByte(s, ' ')
		if i <= len("node=") {
			return 0, 0, 0, false
		}
		s = s[i+1:]
	}
	if !strings.HasPrefix(s, "type=") {
		return 0, 0, 0, false
	}
	i := len("type=")
	for i < len(s) && isTypeChar(s[i]) {
		i++
	}
	if i == len("type=") || i == len(s) || s[i] != ' ' {
		return 0, 0, 0, false
	}
	s = s[i+1:]
	if !strings.HasPrefix(s, "msg=audit(") {
		return 0, 0, 0, false
	}
	s = s[len("msg=audit("):]
	v, n := leadingDigits(s, 18)
	if n == 0 || n == len(s) || s[n] != '.' {
		return 0, 0, 0, false
	}
	sec, s = int64(v), s[n+1:]
	v, n = leadingDigits(s, 3)
	if n != 3 || n == len(s) || s[n] != ':' {
		return 0, 0, 0, false
	}
	msec, s = int64(v), s[n+1:]
	v, n = leadingDigits(s, 10)
	if n == 0 || n == len(s) || s[n] != ')' || v > math.MaxUint32 {
		return 0, 0, 0, false
	}
	return sec, msec, uint32(v), true
}

// isTypeChar reports whether c may appear in a record type name: the
// kernel's names (SYSCALL, USER_LOGIN) and auditd's UNKNOWN[1334].
func isTypeChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '[' || c == ']'
}

// leadingDigits parses the decimal digits at the start of s, at most limit of
// them, and returns their value and count. More than limit digits count as
// none.
func leadingDigits(s string, limit int) (uint64, int) {
	var v uint64
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		if n == limit {
			return 0, 0
		}
		v = v*10 + uint64(s[n]-'0')
		n++
	}
	return v, n
}

// trimJSONSpace trims the bytes JSON counts as whitespace (and no others:
// "\f{}" is not a JSON object).
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// maxJSONDepth is how deep objects are flattened; deeper objects are kept as
// JSON text.
const maxJSONDepth = 16

// flattenJSON decodes a line holding one JSON object into f: nested objects
// become dotted keys, arrays of strings string lists, other arrays JSON text,
// integers Int and other numbers Float. A string "@timestamp" member in RFC
// 3339 becomes t. object is false if the line is not a JSON object; problem
// then says why, or else names a member that could not be used.
func flattenJSON(line string, f *sdk.Fields) (t time.Time, object bool, problem string) {
	raw := trimJSONSpace([]byte(line))
	if len(raw) == 0 || raw[0] != '{' {
		return t, false, "logfile: line is not a JSON object"
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return t, false, "logfile: line is not a JSON object: " + err.Error()
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		v := trimJSONSpace(top[k])
		if k == "@timestamp" {
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
					t = ts
					continue
				}
			}
			problem = "logfile: @timestamp is not an RFC 3339 time; the line is kept in event.original"
			continue
		}
		flattenValue(f, k, v, 1)
	}
	return t, true, problem
}

func flattenValue(f *sdk.Fields, key string, raw []byte, depth int) {
	if len(raw) == 0 {
		f.Append(key, sdk.Value{})
		return
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if depth >= maxJSONDepth || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
			f.Append(key, sdk.RawJSON(compactJSON(raw)))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			flattenValue(f, key+"."+k, trimJSONSpace(m[k]), depth+1)
		}
	case '[':
		f.Append(key, arrayValue(raw))
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		f.Append(key, sdk.String(s))
	case 't':
		f.Append(key, sdk.Bool(true))
	case 'f':
		f.Append(key, sdk.Bool(false))
	case 'n':
		f.Append(key, sdk.Value{})
	default:
		f.Append(key, numberValue(raw))
	}
}

// arrayValue returns a string list for an array of strings and the array's
// JSON text for any other array.
func arrayValue(raw []byte) sdk.Value {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return sdk.RawJSON(compactJSON(raw))
	}
	list := make([]string, len(items))
	for i, it := range items {
		it = trimJSONSpace(it)
		if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &list[i]) != nil {
			return sdk.RawJSON(compactJSON(raw))
		}
	}
	return sdk.Strings(list)
}

// numberValue returns Int for an integer that fits, Float otherwise, and the
// number's text if it does not fit a float either.
func numberValue(raw []byte) sdk.Value {
	s := string(raw)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return sdk.Int(i)
		}
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(fl, 0) {
		return sdk.RawJSON(compactJSON(raw))
	}
	return sdk.Float(fl)
}

func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return []byte("null")
	}
	return b.Bytes()
}

// settleJSON makes the flattened fields safe to encode: a key must not be
// both a value and the parent of other keys ({"a":1,"a.b":2}, or a member
// named "log" next to log.file.path). The fields this input sets keep their
// value and lose the JSON members nested under them; any other such key
// loses its value. Whenever something from the line could not be kept, the
// whole line goes to event.original and error.message says why, so nothing
// is lost.
func settleJSON(f *sdk.Fields, line, problem string) {
	annotated := false
	annotate := func(msg string) {
		if annotated {
			return
		}
		annotated = true
		f.Set(sdk.FieldErrorMessage, sdk.String(msg))
		f.Set(fieldEventOriginal, sdk.String(line))
	}
	if problem != "" {
		annotate(problem)
	}
	for {
		bad := parentLeaves(f)
		if len(bad) == 0 {
			return
		}
		for _, k := range bad {
			if ownField(k) {
				v, _ := f.Get(k)
				f.DeletePrefix(k)
				f.Set(k, v)
			} else {
				f.Delete(k)
			}
		}
		annotate("logfile: JSON member " + strconv.Quote(bad[0]) + " is both a value and an object; the line is kept in event.original")
	}
}

// ownField reports whether the input sets key itself.
func ownField(key string) bool {
	switch key {
	case sdk.FieldLogFilePath, sdk.FieldLogOffset, fieldLogFlags, sdk.FieldErrorMessage, fieldEventOriginal:
		return true
	}
	return false
}

// parentLeaves returns the keys of f that are also the prefix of another key.
func parentLeaves(f *sdk.Fields) []string {
	all := f.All()
	var parents map[string]struct{}
	for _, fd := range all {
		k := fd.Key
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				if parents == nil {
					parents = map[string]struct{}{}
				}
				parents[k[:i]] = struct{}{}
			}
		}
	}
	var bad []string
	for _, fd := range all {
		if _, ok := parents[fd.Key]; ok {
			bad = append(bad, fd.Key)
		}
	}
	return bad
}
