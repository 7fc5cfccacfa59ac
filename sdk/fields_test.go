package sdk

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// listing renders fields as "key=text" pairs in order, for comparisons.
func listing(f *Fields) string {
	var parts []string
	for _, fd := range f.All() {
		parts = append(parts, fd.Key+"="+fd.Value.Text())
	}
	return strings.Join(parts, " ")
}

func TestFieldsWrites(t *testing.T) {
	tests := []struct {
		name string
		ops  func(f *Fields)
		want string
	}{
		{"append in order", func(f *Fields) {
			f.Append("a", Int(1))
			f.Append("b", Int(2))
			f.Append("c", Int(3))
		}, "a=1 b=2 c=3"},
		{"append out of order is sorted on read", func(f *Fields) {
			f.Append("c", Int(3))
			f.Append("a", Int(1))
			f.Append("b", Int(2))
		}, "a=1 b=2 c=3"},
		{"append twice: last write wins", func(f *Fields) {
			f.Append("k", Int(1))
			f.Append("k", Int(2))
		}, "k=2"},
		{"last append wins among many", func(f *Fields) {
			f.Append("b", Int(1))
			f.Append("a", Int(1))
			f.Append("b", Int(2))
			f.Append("c", Int(1))
			f.Append("b", Int(3))
			f.Append("a", Int(2))
		}, "a=2 b=3 c=1"},
		{"set replaces", func(f *Fields) {
			f.Set("a", Int(1))
			f.Set("b", Int(2))
			f.Set("a", Int(3))
		}, "a=3 b=2"},
		{"set inserts in order", func(f *Fields) {
			f.Set("m", Int(1))
			f.Set("a", Int(2))
			f.Set("z", Int(3))
			f.Set("n", Int(4))
		}, "a=2 m=1 n=4 z=3"},
		{"set after unsorted appends", func(f *Fields) {
			f.Append("b", Int(1))
			f.Append("a", Int(1))
			f.Append("b", Int(2))
			f.Set("b", Int(9))
			f.Set("c", Int(3))
		}, "a=1 b=9 c=3"},
		{"append after set wins", func(f *Fields) {
			f.Set("a", Int(1))
			f.Append("a", Int(2))
		}, "a=2"},
		{"set after append wins", func(f *Fields) {
			f.Append("a", Int(1))
			f.Set("a", Int(2))
		}, "a=2"},
		{"delete", func(f *Fields) {
			f.Append("a", Int(1))
			f.Append("b", Int(2))
			f.Append("c", Int(3))
			f.Delete("b")
			f.Delete("missing")
		}, "a=1 c=3"},
		{"delete removes every write of the key", func(f *Fields) {
			f.Append("a", Int(1))
			f.Append("a", Int(2))
			f.Delete("a")
		}, ""},
		{"delete prefix", func(f *Fields) {
			for _, k := range []string{"user", "user.id", "user.group.name", "username", "user-x", "users.x", "usea", "process.pid"} {
				f.Append(k, Int(1))
			}
			f.DeletePrefix("user")
		}, "process.pid=1 usea=1 user-x=1 username=1 users.x=1"},
		{"delete prefix of a nested object", func(f *Fields) {
			for _, k := range []string{"process.parent.pid", "process.parent.name", "process.pid", "process.parentx"} {
				f.Append(k, Int(1))
			}
			f.DeletePrefix("process.parent")
		}, "process.parentx=1 process.pid=1"},
		{"delete prefix sees unsorted appends", func(f *Fields) {
			f.Append("z", Int(1))
			f.Append("a.b", Int(1))
			f.Append("a", Int(1))
			f.DeletePrefix("a")
		}, "z=1"},
		{"reset", func(f *Fields) {
			f.Append("b", Int(1))
			f.Append("a", Int(1))
			f.Reset()
			f.Append("c", Int(1))
		}, "c=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Fields
			tt.ops(&f)
			if got := listing(&f); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFieldsReads(t *testing.T) {
	var f Fields
	f.Append("b", String("two"))
	f.Append("a", Int(1))
	f.Append("c", Value{})
	if v, ok := f.Get("b"); !ok || v.Str() != "two" {
		t.Errorf("Get(b) = %v, %v", v, ok)
	}
	if got := f.GetString("b"); got != "two" {
		t.Errorf("GetString(b) = %q", got)
	}
	if got := f.GetString("a"); got != "" {
		t.Errorf("GetString of an int = %q, want empty", got)
	}
	if _, ok := f.Get("missing"); ok {
		t.Error("Get(missing) found a value")
	}
	if !f.Has("c") || f.Has("d") {
		t.Error("Has: a null value is set, a missing key is not")
	}
	if f.Len() != 3 {
		t.Errorf("Len = %d", f.Len())
	}
	var keys []string
	f.Range(func(k string, v Value) bool {
		keys = append(keys, k)
		return k != "b"
	})
	if strings.Join(keys, ",") != "a,b" {
		t.Errorf("Range visited %v, want a,b then stop", keys)
	}
	if got := f.DeletePrefix("a"); got != 1 {
		t.Errorf("DeletePrefix returned %d, want 1", got)
	}
	if f.Delete("a") {
		t.Error("Delete of a missing key reported true")
	}
}

func TestAppendInOrderStaysSorted(t *testing.T) {
	// Producers that append in key order must not pay for a sort.
	f := MakeFields(4)
	for _, k := range []string{"a", "a.b", "b", "c.d"} {
		f.Append(k, Int(1))
	}
	if f.dirty {
		t.Error("ascending appends marked the set for sorting")
	}
	f.Append("b", Int(2))
	if !f.dirty {
		t.Error("a repeated key did not mark the set for normalizing")
	}
}

// TestFieldsModel runs random operations against a map and checks, after
// each, that Fields reads exactly like the map, in sorted order.
func TestFieldsModel(t *testing.T) {
	keys := []string{"a", "a.b", "a.b.c", "a.bc", "a-b", "ab", "b", "b.a", "user", "user.id", "username", ""}
	r := rand.New(rand.NewPCG(3, 5))
	for round := range 2000 {
		var f Fields
		model := map[string]int64{}
		for step := range 40 {
			k := keys[r.IntN(len(keys))]
			v := r.Int64N(100)
			op := r.IntN(6)
			switch op {
			case 0, 1:
				f.Append(k, Int(v))
				model[k] = v
			case 2:
				f.Set(k, Int(v))
				model[k] = v
			case 3:
				_, had := model[k]
				if got := f.Delete(k); got != had {
					t.Fatalf("round %d step %d: Delete(%q) = %v, want %v", round, step, k, got, had)
				}
				delete(model, k)
			case 4:
				n := 0
				for mk := range model {
					if mk == k || strings.HasPrefix(mk, k+".") {
						delete(model, mk)
						n++
					}
				}
				if got := f.DeletePrefix(k); got != n {
					t.Fatalf("round %d step %d: DeletePrefix(%q) = %d, want %d", round, step, k, got, n)
				}
			case 5:
				got, ok := f.Get(k)
				want, had := model[k]
				if ok != had || got.Int() != want {
					t.Fatalf("round %d step %d: Get(%q) = %v %v, want %v %v", round, step, k, got.Int(), ok, want, had)
				}
			}
			if r.IntN(4) == 0 { // reads normalize; also check between unsorted appends
				checkModel(t, &f, model)
			}
		}
		checkModel(t, &f, model)
	}
}

func checkModel(t *testing.T, f *Fields, model map[string]int64) {
	t.Helper()
	want := make([]string, 0, len(model))
	for k := range model {
		want = append(want, k)
	}
	slices.Sort(want)
	all := f.All()
	if len(all) != len(want) || f.Len() != len(want) {
		t.Fatalf("fields %s, want keys %q", listing(f), want)
	}
	for i, fd := range all {
		if fd.Key != want[i] || fd.Value.Int() != model[fd.Key] {
			t.Fatalf("fields %s, want keys %q and values %v", listing(f), want, model)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	args := []string{"ls", "-l"}
	inner := fieldsOf("name", String("/bin/ls"))
	raw := []byte(`{"k":1}`)
	e := Event{Time: time.Unix(1, 0), ID: "id-1"}
	e.Fields.Append("process.args", Strings(args))
	e.Fields.Append("auditd.paths", Objects([]Fields{inner}))
	e.Fields.Append("raw", RawJSON(raw))
	e.Fields.Append("a", Int(1)) // unsorted: Clone must see it normalized
	before := string(e.AppendJSON(nil))

	c := e.Clone()
	if got := string(c.AppendJSON(nil)); got != before || c.ID != e.ID || !c.Time.Equal(e.Time) {
		t.Fatalf("clone differs: %s", got)
	}

	// Change the original in every way a value can be shared.
	args[0] = "rm"
	inner.Set("name", String("/bin/rm"))
	e.Fields.Get("auditd.paths")
	paths, _ := e.Fields.Get("auditd.paths")
	paths.ObjectList()[0].Set("name", String("/bin/rm"))
	raw[2] = 'X'
	e.Fields.Set("a", Int(2))
	e.Fields.Append("new", Int(1))
	e.Fields.Delete("process.args")
	if got := string(c.AppendJSON(nil)); got != before {
		t.Errorf("clone changed with the original:\nbefore %s\nafter  %s", before, got)
	}

	// And the other way round.
	c2 := c.Clone()
	cargs, _ := c2.Fields.Get("process.args")
	cargs.StringList()[0] = "changed"
	c2.Fields.Set("a", Int(3))
	if got := string(c.AppendJSON(nil)); got != before {
		t.Errorf("changing a clone changed its source: %s", got)
	}
}

func TestFieldsEqual(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		a, b Fields
		want bool
	}{
		{"both empty", Fields{}, MakeFields(8), true},
		{"same fields, different write order", fieldsOf("a", Int(1), "b", Int(2)), fieldsOf("b", Int(2), "a", Int(1)), true},
		{"overwritten value counts once", fieldsOf("a", Int(0), "a", Int(1)), fieldsOf("a", Int(1)), true},
		{"different value", fieldsOf("a", Int(1)), fieldsOf("a", Int(2)), false},
		{"different kind, same number", fieldsOf("a", Int(1)), fieldsOf("a", Float(1)), false},
		{"string vs raw", fieldsOf("a", String(`"x"`)), fieldsOf("a", RawJSON([]byte(`"x"`))), false},
		{"extra key", fieldsOf("a", Int(1)), fieldsOf("a", Int(1), "b", Value{}), false},
		{"different key", fieldsOf("a", Int(1)), fieldsOf("b", Int(1)), false},
		{"nulls", fieldsOf("a", Value{}), fieldsOf("a", Value{}), true},
		{"times", fieldsOf("t", Time(time.Unix(5, 1))), fieldsOf("t", Time(time.Unix(5, 1).In(time.FixedZone("X", 7200)))), true},
		{"string lists", fieldsOf("l", Strings([]string{"a", "b"})), fieldsOf("l", Strings([]string{"a", "b"})), true},
		{"string lists differ", fieldsOf("l", Strings([]string{"a", "b"})), fieldsOf("l", Strings([]string{"a"})), false},
		{"objects", fieldsOf("o", Objects([]Fields{fieldsOf("x", Int(1), "w", Int(0))})), fieldsOf("o", Objects([]Fields{fieldsOf("w", Int(0), "x", Int(1))})), true},
		{"objects differ inside", fieldsOf("o", Objects([]Fields{fieldsOf("x", Int(1))})), fieldsOf("o", Objects([]Fields{fieldsOf("x", Int(2))})), false},
		{"raw", fieldsOf("r", RawJSON([]byte(`[1]`))), fieldsOf("r", RawJSON([]byte(`[1]`))), true},
		{"bools", fieldsOf("b", Bool(true)), fieldsOf("b", Bool(false)), false},
		// Floats compare by bits: a NaN equals the same NaN, 0 and -0 differ.
		{"NaN equals itself", fieldsOf("f", Float(nan)), fieldsOf("f", Float(nan)), true},
		{"zero and negative zero", fieldsOf("f", Float(0)), fieldsOf("f", Float(math.Copysign(0, -1))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(&tt.b); got != tt.want {
				t.Errorf("a.Equal(b) = %v, want %v", got, tt.want)
			}
			if got := tt.b.Equal(&tt.a); got != tt.want {
				t.Errorf("b.Equal(a) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValueAccessors(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))
	tests := []struct {
		v    Value
		kind ValueKind
		text string
	}{
		{Value{}, KindNull, ""},
		{String("s"), KindString, "s"},
		{Int(-3), KindInt, "-3"},
		{Float(2.5), KindFloat, "2.5"},
		{Bool(true), KindBool, "true"},
		{Time(at), KindTime, "2026-05-06T06:08:09.000000010Z"},
		{Strings([]string{"a", "b"}), KindStrings, `["a","b"]`},
		{Objects([]Fields{fieldsOf("k.l", Int(1))}), KindObjects, `[{"k":{"l":1}}]`},
		{RawJSON([]byte(`{"x":1}`)), KindRaw, `{"x":1}`},
	}
	for _, tt := range tests {
		if tt.v.Kind() != tt.kind || tt.v.Text() != tt.text {
			t.Errorf("%s value: kind %s, text %q; want %s, %q", tt.kind, tt.v.Kind(), tt.v.Text(), tt.kind, tt.text)
		}
		if tt.v.IsNull() != (tt.kind == KindNull) {
			t.Errorf("%s value: IsNull = %v", tt.kind, tt.v.IsNull())
		}
	}
	if !Time(at).Time().Equal(at) || Time(at).Time().Location() != time.UTC {
		t.Errorf("Time round trip: %v", Time(at).Time())
	}
	if Int(7).Float() != 7 || String("x").Int() != 0 || Int(1).Str() != "" || Int(1).Bool() {
		t.Error("accessors of the wrong kind must return zero values (Float converts ints)")
	}
	if ValueKind(200).String() != "kind(200)" {
		t.Errorf("unknown kind prints as %q", ValueKind(200).String())
	}
}
