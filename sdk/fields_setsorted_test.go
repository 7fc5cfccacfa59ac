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
