package audit

import "time"

// gapTracker finds audit event sequence numbers that never arrived. Records
// of one event share a sequence number; events may arrive slightly out of
// order (the kernel numbers an event when it starts logging it and queues it
// when it ends), so a missing number is declared lost only once a later
// number has been seen for longer than the grace period, or when the window
// of numbers held in suspense fills up.
type gapTracker struct {
	grace   time.Duration
	started bool
	next    uint32 // lowest number not yet accounted for
	maxSeen uint32
	seen    [window]bool // seen[n % window] for next <= n < next+window
	behind  time.Time    // when a number beyond next was first seen while next was missing
}

const window = 1 << 16

// gap is a run of missing sequence numbers, first to last inclusive.
type gap struct{ first, last uint32 }

func newGapTracker(grace time.Duration) *gapTracker { return &gapTracker{grace: grace} }

// after reports whether a comes after b, allowing for wrap-around.
func after(a, b uint32) bool { return int32(a-b) > 0 }

// observe records a sequence number and returns the gaps that it closes
// for good (numbers pushed out of the window).
func (g *gapTracker) observe(seq uint32, now time.Time) []gap {
	if !g.started {
		g.started, g.next, g.maxSeen = true, seq+1, seq
		return nil
	}
	if !after(seq, g.next-1) {
		return nil // a record of an event already accounted for
	}
	var lost []gap
	if seq-g.next >= window {
		// Too far ahead to hold: everything missing up to the window is lost.
		lost = g.declare(seq - window + 1)
	}
	if seq == g.next {
		g.next++
		g.advance()
	} else {
		if g.behind.IsZero() {
			g.behind = now
		}
		g.seen[seq%window] = true
	}
	if after(seq, g.maxSeen) {
		g.maxSeen = seq
	}
	return lost
}

// advance moves next past numbers already seen.
func (g *gapTracker) advance() {
	for g.seen[g.next%window] {
		g.seen[g.next%window] = false
		g.next++
	}
	if !after(g.maxSeen, g.next-1) {
		g.behind = time.Time{}
	}
}

// declare accounts every missing number below until as lost.
func (g *gapTracker) declare(until uint32) []gap {
	var lost []gap
	for after(until, g.next) {
		if g.seen[g.next%window] {
			g.seen[g.next%window] = false
			g.next++
			continue
		}
		start := g.next
		for after(until, g.next) && !g.seen[g.next%window] {
			g.next++
		}
		lost = append(lost, gap{start, g.next - 1})
	}
	g.advance()
	return lost
}

// expire declares lost the numbers that are still missing after the grace
// period.
func (g *gapTracker) expire(now time.Time) []gap {
	if !g.started || g.behind.IsZero() || now.Sub(g.behind) < g.grace {
		return nil
	}
	// Everything up to the highest number seen is settled: what is missing
	// below it now is lost.
	lost := g.declare(g.maxSeen + 1)
	g.behind = time.Time{}
	return lost
}
