package sdk

import (
	"math"
	"strconv"
	"time"
)

// ValueKind tells which Go type a Value holds.
type ValueKind uint8

// The kinds a Value can hold.
const (
	KindNull    ValueKind = iota // no value; encoded as JSON null
	KindString                   // a string
	KindInt                      // a signed 64-bit integer
	KindFloat                    // a 64-bit float
	KindBool                     // a boolean
	KindTime                     // an instant, encoded as RFC 3339 in UTC
	KindStrings                  // a list of strings
	KindObjects                  // a list of objects, each a Fields
	KindRaw                      // a JSON text, encoded verbatim
)

var kindNames = [...]string{"null", "string", "int", "float", "bool", "time", "strings", "objects", "raw"}

// String returns the kind's name, such as "string" or "int".
func (k ValueKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed field value. The zero Value is null. Values are small
// (48 bytes) and are passed by value; the rarely used list kinds keep their
// payload behind an interface so that the common kinds stay compact.
type Value struct {
	kind ValueKind
	num  uint64 // int, float bits, bool, unix nanoseconds
	str  string // string payload
	ext  any    // []string, []Fields or []byte (raw JSON)
}

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Float returns a floating point value.
func Float(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// Time returns a time value, stored with nanosecond precision in UTC. The
// zero time gives a null value. Times are stored as nanoseconds since the
// epoch, so they must lie between the years 1678 and 2261; times outside are
// clamped to those bounds.
func Time(t time.Time) Value {
	if t.IsZero() {
		return Value{}
	}
	nanos := t.UnixNano()
	switch y := t.Year(); {
	case y < 1678:
		nanos = math.MinInt64
	case y > 2261:
		nanos = math.MaxInt64
	}
	return Value{kind: KindTime, num: uint64(nanos)}
}

// Strings returns a list-of-strings value. The slice is not copied.
func Strings(s []string) Value { return Value{kind: KindStrings, ext: s} }

// Objects returns a list-of-objects value, such as auditd.paths. The slice is
// not copied.
func Objects(o []Fields) Value { return Value{kind: KindObjects, ext: o} }

// RawJSON returns a value holding a JSON text that encoders write verbatim.
// The caller guarantees that it is valid JSON; Event.AppendJSON does not check.
func RawJSON(b []byte) Value { return Value{kind: KindRaw, ext: b} }

// Kind returns the kind of value held.
func (v Value) Kind() ValueKind { return v.kind }

// IsNull reports whether v holds no value.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Str returns the string held, or "" if v is not a string.
func (v Value) Str() string {
	if v.kind == KindString {
		return v.str
	}
	return ""
}

// Int returns the integer held, or 0 if v is not an integer.
func (v Value) Int() int64 {
	if v.kind == KindInt {
		return int64(v.num)
	}
	return 0
}

// Float returns the float held (integers are converted), or 0.
func (v Value) Float() float64 {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.num)
	case KindInt:
		return float64(int64(v.num))
	}
	return 0
}

// Bool returns the boolean held, or false.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Time returns the time held (in UTC), or the zero time.
func (v Value) Time() time.Time {
	if v.kind == KindTime {
		return time.Unix(0, int64(v.num)).UTC()
	}
	return time.Time{}
}

// StringList returns the list held by a KindStrings value, or nil.
func (v Value) StringList() []string {
	s, _ := v.ext.([]string)
	return s
}

// ObjectList returns the list held by a KindObjects value, or nil.
func (v Value) ObjectList() []Fields {
	o, _ := v.ext.([]Fields)
	return o
}

// Raw returns the JSON text held by a KindRaw value, or nil.
func (v Value) Raw() []byte {
	b, _ := v.ext.([]byte)
	return b
}

// Text renders the value as plain text, the way a template or a log line
// would show it: strings as is, numbers in decimal, times in RFC 3339, lists
// as JSON.
func (v Value) Text() string {
	switch v.kind {
	case KindString:
		return v.str
	case KindInt:
		return strconv.FormatInt(int64(v.num), 10)
	case KindFloat:
		return strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.num != 0)
	case KindTime:
		return string(appendTime(nil, int64(v.num)))
	case KindNull:
		return ""
	}
	return string(appendValueJSON(nil, v))
}

// clone returns a deep copy of the value's mutable payload.
func (v Value) clone() Value {
	switch v.kind {
	case KindStrings:
		s := v.StringList()
		v.ext = append([]string(nil), s...)
	case KindObjects:
		o := v.ObjectList()
		c := make([]Fields, len(o))
		for i := range o {
			c[i] = o[i].Clone()
		}
		v.ext = c
	case KindRaw:
		v.ext = append([]byte(nil), v.Raw()...)
	}
	return v
}

// Equal reports whether two values hold the same kind and content.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindString:
		return v.str == w.str
	case KindStrings:
		a, b := v.StringList(), w.StringList()
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	case KindObjects:
		a, b := v.ObjectList(), w.ObjectList()
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].Equal(&b[i]) {
				return false
			}
		}
		return true
	case KindRaw:
		return string(v.Raw()) == string(w.Raw())
	}
	return v.num == w.num
}
