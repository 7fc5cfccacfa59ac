package audit

import (
	"reflect"
	"testing"
	"time"
)

func TestGapTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name   string
		seqs   []uint32
		expire time.Duration // when to call expire after the last observe
		want   []gap
	}{
		{"in order, records repeated", []uint32{10, 10, 11, 11, 11, 12}, time.Minute, nil},
		{"late arrival within grace", []uint32{10, 12, 11, 13}, time.Minute, nil},
		{"old event after start is ignored", []uint32{10, 11, 5, 12}, time.Minute, nil},
		{"one missing", []uint32{10, 11, 13, 14}, time.Minute, []gap{{12, 12}}},
		{"two runs missing", []uint32{10, 13, 14, 17}, time.Minute, []gap{{11, 12}, {15, 16}}},
		{"missing but grace not over", []uint32{10, 12}, time.Second, nil},
		{"wrap around", []uint32{0xfffffffe, 0xffffffff, 1, 2}, time.Minute, []gap{{0, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGapTracker(5 * time.Second)
			var got []gap
			for _, s := range tc.seqs {
				got = append(got, g.observe(s, t0)...)
			}
			got = append(got, g.expire(t0.Add(tc.expire))...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("gaps %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGapTrackerWindowOverflow(t *testing.T) {
	g := newGapTracker(time.Hour)
	t0 := time.Unix(0, 0)
	g.observe(100, t0)
	lost := g.observe(100+window+10, t0)
	if len(lost) != 1 || lost[0].first != 101 || lost[0].last != 110 {
		t.Fatalf("lost %v, want 101-110 pushed out of the window", lost)
	}
	// Numbers still inside the window stay in suspense.
	if more := g.expire(t0.Add(time.Minute)); len(more) != 0 {
		t.Fatalf("expired %v before the grace period", more)
	}
}
