package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func sampleBatch() *Batch {
	b := NewBatch(2)
	var e Event
	e.Time = time.Date(2026, 11, 23, 13, 36, 5, 281_000_000, time.UTC)
	e.ID = "abc123"
	e.Fields.Set("process.pid", Int(4242))
	e.Fields.Set("process.args", Strings([]string{"ls", "-l", ""}))
	e.Fields.Set("user.id", String("1000"))
	e.Fields.Set("score", Float(-1.5))
	e.Fields.Set("nan", Float(math.NaN()))
	e.Fields.Set("ok", Bool(true))
	e.Fields.Set("seen", Time(time.Unix(-5, 7).UTC()))
	e.Fields.Set("empty", Value{})
	e.Fields.Set("raw", RawJSON([]byte(`{"a":[1,2]}`)))
	var p0, p1 Fields
	p0.Set("name", String("/etc/passwd"))
	p1.Set("name", String("/etc/shadow"))
	p1.Set("nametype", String("NORMAL"))
	e.Fields.Set("auditd.paths", Objects([]Fields{p0, p1}))
	b.Events = append(b.Events, e, Event{})
	return b
}

func TestBinaryRoundTrip(t *testing.T) {
	b := sampleBatch()
	data := b.AppendBinary(nil)
	got, err := DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != len(b.Events) {
		t.Fatalf("decoded %d events, want %d", len(got.Events), len(b.Events))
	}
	for i := range b.Events {
		want, have := &b.Events[i], &got.Events[i]
		if !want.Time.Equal(have.Time) || want.ID != have.ID {
			t.Errorf("event %d: time/id = %v/%q, want %v/%q", i, have.Time, have.ID, want.Time, want.ID)
		}
		// NaN != NaN, so compare through JSON, where NaN is null.
		if w, h := want.AppendJSON(nil), have.AppendJSON(nil); !bytes.Equal(w, h) {
			t.Errorf("event %d differs after round trip:\n got %s\nwant %s", i, h, w)
		}
	}
	// Re-encoding the decoded batch gives the same bytes.
	if again := got.AppendBinary(nil); !bytes.Equal(again, data) {
		t.Error("re-encoding the decoded batch changed the bytes")
	}
}

func TestDecodeRejectsCorruptData(t *testing.T) {
	good := sampleBatch().AppendBinary(nil)
	cases := map[string][]byte{
		"empty":          nil,
		"bad magic":      append([]byte("XX"), good[2:]...),
		"future version": append([]byte{'E', 'B', 99}, good[3:]...),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge count":     {'E', 'B', codecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeBatch(data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeBatch = %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(sampleBatch().AppendBinary(nil))
	f.Add([]byte{'E', 'B', codecVersion, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode to valid JSON and round-trip.
		for i := range b.Events {
			if out := b.Events[i].AppendJSON(nil); !json.Valid(out) && !rawInvalid(&b.Events[i].Fields) {
				t.Fatalf("decoded event encodes to invalid JSON: %s", out)
			}
		}
		if _, err := DecodeBatch(b.AppendBinary(nil)); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

// rawInvalid reports whether a raw JSON value (which the encoder writes
// verbatim, by contract) holds invalid JSON.
func rawInvalid(f *Fields) bool {
	for _, fd := range f.All() {
		switch fd.Value.Kind() {
		case KindRaw:
			if !json.Valid(fd.Value.Raw()) {
				return true
			}
		case KindObjects:
			for _, o := range fd.Value.ObjectList() {
				if rawInvalid(&o) {
					return true
				}
			}
		}
	}
	return false
}
