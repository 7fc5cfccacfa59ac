package runtime

import (
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing waits with full jitter in the upper
// half, so that many retrying components do not synchronise.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur *= 2
		if b.cur > b.max {
			b.cur = b.max
		}
	}
	half := b.cur / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}
