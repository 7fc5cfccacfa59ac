package sdk

import (
	"slices"
	"strings"
	"time"
)

// Field is one key and its value. Keys are dotted paths ("process.pid"); an
// encoder nests them into objects.
type Field struct {
	Key   string
	Value Value
}

// Fields is a set of fields kept sorted by key, so that lookups are a binary
// search and an encoder can nest dotted keys in one pass. Append is the fast
// path for producers that write many fields: it defers sorting until the next
// read. When a key is written twice, the last write wins.
//
// The zero Fields is empty and ready to use.
type Fields struct {
	list  []Field
	dirty bool // list may be unsorted or hold duplicate keys
}

// MakeFields returns an empty Fields with room for n fields.
func MakeFields(n int) Fields { return Fields{list: make([]Field, 0, n)} }

// Append adds a field without looking for an existing one. It is cheapest
// when keys are appended in ascending order; otherwise the set is sorted on
// the next read. Appending an existing key replaces its value.
func (f *Fields) Append(key string, v Value) {
	if n := len(f.list); n > 0 && key <= f.list[n-1].Key {
		f.dirty = true
	}
	f.list = append(f.list, Field{Key: key, Value: v})
}

// normalize sorts the list and drops all but the last write of each key.
func (f *Fields) normalize() {
	if !f.dirty {
		return
	}
	f.dirty = false
	slices.SortStableFunc(f.list, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	out := f.list[:0]
	for i, fd := range f.list {
		if i+1 < len(f.list) && f.list[i+1].Key == fd.Key {
			continue // a later write of the same key wins
		}
		out = append(out, fd)
	}
	clear(f.list[len(out):])
	f.list = out
}

func (f *Fields) search(key string) (int, bool) {
	f.normalize()
	// A plain loop rather than slices.BinarySearchFunc: every processor
	// looks fields up on every event, and the closure and three-way compare
	// cost a third of the time.
	list := f.list
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if list[m].Key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(list) && list[lo].Key == key
}

// Set writes a field, replacing any value the key had.
func (f *Fields) Set(key string, v Value) {
	if n := len(f.list); !f.dirty && (n == 0 || key > f.list[n-1].Key) {
		f.list = append(f.list, Field{Key: key, Value: v})
		return
	}
	i, found := f.search(key)
	if found {
		f.list[i].Value = v
		return
	}
	f.list = slices.Insert(f.list, i, Field{Key: key, Value: v})
}

// Get returns the value of key and whether it is set.
func (f *Fields) Get(key string) (Value, bool) {
	i, found := f.search(key)
	if !found {
		return Value{}, false
	}
	return f.list[i].Value, true
}

// GetString returns the value of key if it is a string, or "".
func (f *Fields) GetString(key string) string {
	v, _ := f.Get(key)
	return v.Str()
}

// Has reports whether key is set.
func (f *Fields) Has(key string) bool {
	_, found := f.search(key)
	return found
}

// Delete removes key and reports whether it was set.
func (f *Fields) Delete(key string) bool {
	i, found := f.search(key)
	if found {
		f.list = slices.Delete(f.list, i, i+1)
	}
	return found
}

// DeletePrefix removes every key equal to prefix or nested under it
// ("user" removes "user" and "user.id" but not "username").
func (f *Fields) DeletePrefix(prefix string) int {
	f.normalize()
	n := 0
	out := f.list[:0]
	for _, fd := range f.list {
		if fd.Key == prefix || (strings.HasPrefix(fd.Key, prefix) && fd.Key[len(prefix)] == '.') {
			n++
			continue
		}
		out = append(out, fd)
	}
	clear(f.list[len(out):])
	f.list = out
	return n
}

// Len returns the number of fields.
func (f *Fields) Len() int {
	f.normalize()
	return len(f.list)
}

// All returns the fields in key order. The slice is owned by f: do not keep
// it across writes.
func (f *Fields) All() []Field {
	f.normalize()
	return f.list
}

// Range calls fn for each field in key order until fn returns false.
func (f *Fields) Range(fn func(key string, v Value) bool) {
	for _, fd := range f.All() {
		if !fn(fd.Key, fd.Value) {
			return
		}
	}
}

// Reset empties the set, keeping its capacity.
func (f *Fields) Reset() {
	clear(f.list)
	f.list = f.list[:0]
	f.dirty = false
}

// Clone returns a deep copy.
func (f *Fields) Clone() Fields {
	f.normalize()
	c := Fields{list: make([]Field, len(f.list))}
	for i, fd := range f.list {
		c.list[i] = Field{Key: fd.Key, Value: fd.Value.clone()}
	}
	return c
}

// Equal reports whether both sets hold the same keys and values.
func (f *Fields) Equal(g *Fields) bool {
	a, b := f.All(), g.All()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !a[i].Value.Equal(b[i].Value) {
			return false
		}
	}
	return true
}

// Event is one document flowing through a pipeline.
type Event struct {
	// Time is the event's @timestamp: when it happened, not when it was read.
	Time time.Time
	// ID identifies the event deterministically: reading the same source data
	// again yields the same ID, so that outputs can overwrite instead of
	// duplicating (it becomes the Elasticsearch _id). Empty if unknown.
	ID string
	// Fields holds every other field, keyed by dotted ECS path.
	Fields Fields
}

// Clone returns a deep copy of the event.
func (e *Event) Clone() Event {
	return Event{Time: e.Time, ID: e.ID, Fields: e.Fields.Clone()}
}

// Common field names used across plugins.
const (
	FieldMessage      = "message"
	FieldErrorMessage = "error.message"
	FieldEventKind    = "event.kind"
	FieldEventAction  = "event.action"
	FieldTags         = "tags"
	FieldLogFilePath  = "log.file.path"
	FieldLogOffset    = "log.offset"
)
