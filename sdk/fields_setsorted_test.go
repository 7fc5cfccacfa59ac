package sdk

import (
	"fmt"
	"testing"
)

func TestSetSorted(t *testing.T) {
	mk := func(kv ...string) Fields {
		f := MakeFields(len(kv) / 2)
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], String(kv[i+1]))
		}
		return f
	}
	list := func(kv ...string) []Field {
		var out []Field
		for i := 0; i < len(kv); i += 2 {
			out = append(out, Field{Key: kv[i], Value: String(kv[i+1])})
		}
		return out
	}
	tests := []struct {
		name string
		base Fields
		add  []Field
	}{
		{"into a gap", mk("a", "1", "z", "2"), list("c.id", "x", "c.name", "y")},
		{"at the end", mk("a", "1"), list("c.id", "x", "c.name", "y")},
		{"at the start", mk("z", "1"), list("c.id", "x", "c.name", "y")},
		{"into nothing", mk(), list("c.id", "x")},
		{"one key already there", mk("a", "1", "c.id", "old", "z", "2"), list("c.id", "x", "c.name", "y")},
		{"a key of f between", mk("c.image", "i", "z", "2"), list("c.id", "x", "c.name", "y")},
		{"unsorted input", mk("a", "1"), list("c.name", "y", "c.id", "x")},
		{"duplicate input", mk("a", "1"), list("c.id", "x", "c.id", "y")},
		{"empty input", mk("a", "1"), nil},
		{"spread between keys of f", mk("a", "1", "file.uid", "0", "group.id", "0", "process.pid", "9", "user.id", "0", "user.saved.id", "0"),
			list("file.owner", "root", "group.name", "root", "user.name", "root", "user.saved.name", "root")},
		{"spread, with keys already there", mk("a", "1", "b", "old", "m", "2", "y", "old", "z", "3"),
			list("b", "new", "c", "x", "y", "new", "zz", "w")},
		{"all before f", mk("x", "1", "y", "2"), list("a", "1", "b", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := tt.base.Clone(), tt.base.Clone()
			got.SetSorted(tt.add)
			for _, fd := range tt.add {
				want.Set(fd.Key, fd.Value)
			}
			if !got.Equal(&want) {
				t.Errorf("got %v, want %v", got.All(), want.All())
			}
			// The result is a normal sorted list: lookups find every key.
			for _, fd := range want.All() {
				if v, ok := got.Get(fd.Key); !ok || !v.Equal(fd.Value) {
					t.Errorf("Get(%q) = %v, %v", fd.Key, v, ok)
				}
			}
			if fmt.Sprint(got.All()) != fmt.Sprint(want.All()) {
				t.Errorf("order differs: %v", got.All())
			}
		})
	}
}

// FuzzSetSorted checks SetSorted against Set one field at a time, for any
// existing keys and any added keys.
func FuzzSetSorted(f *testing.F) {
	f.Add("a,c,e,g", "b,d,f")
	f.Add("a,b", "a,b,c")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, base, add string) {
		var got Fields
		for i, k := range splitKeys(base) {
			got.Set(k, Int(int64(i)))
		}
		want := got.Clone()
		var fs []Field
		for i, k := range splitKeys(add) {
			fs = append(fs, Field{Key: k, Value: Int(int64(100 + i))})
		}
		got.SetSorted(fs)
		for _, fd := range fs {
			want.Set(fd.Key, fd.Value)
		}
		if !got.Equal(&want) || fmt.Sprint(got.All()) != fmt.Sprint(want.All()) {
			t.Fatalf("got %v, want %v", got.All(), want.All())
		}
	})
}

func splitKeys(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// FuzzInsertAt checks InsertAt against Set one field at a time, with the
// places found by search (where the fields go) and with places taken from
// the fuzzer (mostly wrong, when InsertAt must notice and fall back).
func FuzzInsertAt(f *testing.F) {
	f.Add("a,c,e,g", "b,d,f", []byte{})
	f.Add("a,c,e,g", "b,d,f", []byte{1, 2, 3})
	f.Add("a,c", "0,b,z", []byte{0, 1, 2})
	f.Add("a,b", "a,b,c", []byte{0, 1, 2})
	f.Add("", "x,y", []byte{0, 0})
	f.Fuzz(func(t *testing.T, base, add string, places []byte) {
		var got Fields
		for i, k := range splitKeys(base) {
			got.Set(k, Int(int64(i)))
		}
		want := got.Clone()
		var fs []Field
		var at []int
		for i, k := range splitKeys(add) {
			fs = append(fs, Field{Key: k, Value: Int(int64(100 + i))})
			if len(places) == 0 {
				p, _ := got.search(k)
				at = append(at, p)
			} else {
				at = append(at, int(places[i%len(places)]))
			}
		}
		got.InsertAt(at, fs)
		for _, fd := range fs {
			want.Set(fd.Key, fd.Value)
		}
		if !got.Equal(&want) || fmt.Sprint(got.All()) != fmt.Sprint(want.All()) {
			t.Fatalf("at %v: got %v, want %v", at, got.All(), want.All())
		}
	})
}
