package sdk

import (
	"strings"
	"testing"
	"time"
)

func TestEventTimeOutsideNanosecondRange(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(3000, 1, 2, 3, 4, 5, 6_000_000, time.UTC), `{"@timestamp":"3000-01-02T03:04:05.006Z"}`},
		{time.Date(1500, 6, 7, 8, 9, 10, 0, time.UTC), `{"@timestamp":"1500-06-07T08:09:10.000Z"}`},
	} {
		e := Event{Time: tc.t}
		if got := string(e.AppendJSON(nil)); got != tc.want {
			t.Errorf("AppendJSON = %s, want %s", got, tc.want)
		}
	}
}

func TestTimeValueZeroIsNullAndFarTimesClamp(t *testing.T) {
	if v := Time(time.Time{}); !v.IsNull() {
		t.Fatalf("Time(zero) = %v kind, want null", v.Kind())
	}
	far := Time(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)).Time()
	if far.Year() != 2262 {
		t.Fatalf("a time in 3000 reads back as %v, want clamped to 2262", far)
	}
}

func TestTimestampFieldDoesNotRepeatEventTime(t *testing.T) {
	e := Event{Time: time.Unix(1, 0)}
	e.Fields.Set("@timestamp", String("shadow"))
	e.Fields.Set("a", Int(1))
	got := string(e.AppendJSON(nil))
	if strings.Count(got, "@timestamp") != 1 || strings.Contains(got, "shadow") {
		t.Fatalf("AppendJSON = %s, want one @timestamp from Event.Time", got)
	}
	// Without Event.Time the field is written as any other.
	e.Time = time.Time{}
	if got := string(e.AppendJSON(nil)); !strings.Contains(got, `"@timestamp":"shadow"`) {
		t.Fatalf("AppendJSON = %s", got)
	}
}

func TestAttachingACompletedAckPanics(t *testing.T) {
	calls := 0
	b := NewBatch(0)
	b.OnDone(func() { calls++ })
	a := b.Acks()[0]
	b.Done()
	defer func() {
		if recover() == nil {
			t.Fatal("attaching a completed Ack did not panic")
		}
		if calls != 1 {
			t.Fatalf("OnDone ran %d times, want 1", calls)
		}
	}()
	NewBatch(0).AttachAck(a)
}

func TestTimestampFieldSkippedAmongKeysSortingBeforeIt(t *testing.T) {
	e := Event{Time: time.Unix(0, 0)}
	e.Fields.Set("0.a", Int(1))
	e.Fields.Set("0.b", Int(2))
	e.Fields.Set("@timestamp", String("shadow"))
	e.Fields.Set("z", Int(3))
	want := `{"@timestamp":"1970-01-01T00:00:00.000Z","0":{"a":1,"b":2},"z":3}`
	if got := string(e.AppendJSON(nil)); got != want {
		t.Fatalf("AppendJSON = %s, want %s", got, want)
	}
}
