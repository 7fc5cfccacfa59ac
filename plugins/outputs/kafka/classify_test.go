package kafka

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/template"
)

// TestClassify: the outcome of each message becomes nil, a retryable error
// for the whole batch, or a PartialError naming what to retry and what is
// refused for good.
func TestClassify(t *testing.T) {
	tooLarge := sarama.ErrMessageSizeTooLarge
	for _, tc := range []struct {
		name     string
		errs     []error         // per message; errRejected = refused before sending
		parts    []int32         // partition of each message (default 0)
		sizes    []int           // value size of each message (default 10)
		pre      []sdk.Rejection // rejected before sending
		retry    []int           // want PartialError.Retry
		rejected []int           // want PartialError.Rejected indexes
		whole    bool            // want a retryable error for the whole batch
		contains string          // in the error's text
		wantNil  bool
	}{
		{name: "all delivered", errs: []error{nil, nil, nil}, wantNil: true},
		{
			name:  "all failed",
			errs:  []error{sarama.ErrNotLeaderForPartition, sarama.ErrNotLeaderForPartition},
			whole: true, contains: "2 of 2 events not acknowledged",
		},
		{
			name:  "out of brokers",
			errs:  []error{sarama.ErrOutOfBrokers},
			whole: true, contains: "no broker could be reached",
		},
		{
			name:  "some failed",
			errs:  []error{nil, sarama.ErrRequestTimedOut, nil, sarama.ErrNotEnoughReplicas},
			retry: []int{1, 3}, contains: "2 of 4 events not acknowledged",
		},
		{
			name:     "refused before sending, rest delivered",
			errs:     []error{nil, errRejected, nil},
			pre:      []sdk.Rejection{{Index: 1, Reason: "too big"}},
			rejected: []int{1},
		},
		{
			name:     "refused before sending, rest failed",
			errs:     []error{sarama.ErrRequestTimedOut, errRejected},
			pre:      []sdk.Rejection{{Index: 1, Reason: "too big"}},
			retry:    []int{0},
			rejected: []int{1},
		},
		{
			name:     "one too large alone",
			errs:     []error{nil, tooLarge, nil},
			rejected: []int{1}, contains: "MESSAGE_TOO_LARGE",
		},
		{
			name:     "a refused batch: the largest is rejected, the rest retried",
			errs:     []error{tooLarge, tooLarge, tooLarge, nil},
			sizes:    []int{10, 5000, 20, 10},
			retry:    []int{0, 2},
			rejected: []int{1},
		},
		{
			name:     "refused batches in two partitions",
			errs:     []error{tooLarge, tooLarge, tooLarge, tooLarge},
			parts:    []int32{0, 1, 0, 1},
			sizes:    []int{10, 20, 30, 5},
			retry:    []int{0, 3},
			rejected: []int{1, 2},
		},
		{
			name:     "refused for good",
			errs:     []error{sarama.ErrInvalidTimestamp, nil, sarama.ErrInvalidRecord},
			rejected: []int{0, 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Output{cfg: config{topic: mustTemplate("t")}, metrics: newMetrics(sdk.NopMetrics{})}
			w := o.newWrite(len(tc.errs))
			for i, err := range tc.errs {
				w.errs[i] = err
				w.msgs[i].Topic = "t"
				if tc.parts != nil {
					w.msgs[i].Partition = tc.parts[i]
				}
				size := 10
				if tc.sizes != nil {
					size = tc.sizes[i]
				}
				w.values[i].b = make([]byte, size)
			}
			err := o.classify(w, append([]sdk.Rejection(nil), tc.pre...))
			if tc.wantNil {
				if err != nil {
					t.Fatalf("classify = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("classify = nil")
			}
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			var pe *sdk.PartialError
			isPartial := errors.As(err, &pe)
			if tc.whole {
				if isPartial || sdk.IsPermanent(err) {
					t.Fatalf("classify = %#v; want a retryable error for the whole batch", err)
				}
				return
			}
			if !isPartial {
				t.Fatalf("classify = %v; want a PartialError", err)
			}
			var rejected []int
			for _, r := range pe.Rejected {
				if r.Reason == "" {
					t.Errorf("rejection %d without reason", r.Index)
				}
				rejected = append(rejected, r.Index)
			}
			if fmt.Sprint(pe.Retry) != fmt.Sprint(tc.retry) || !reflect.DeepEqual(rejected, tc.rejected) {
				t.Errorf("retry %v rejected %v; want retry %v rejected %v", pe.Retry, rejected, tc.retry, tc.rejected)
			}
			if (len(pe.Retry) > 0) != (pe.Err != nil) {
				t.Errorf("Err = %v with %d to retry", pe.Err, len(pe.Retry))
			}
		})
	}
}

func mustTemplate(s string) *template.Template { return template.MustParse(s) }
