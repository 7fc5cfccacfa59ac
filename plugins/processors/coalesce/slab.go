package coalesce

import "unsafe"

// slab hands out strings for decoded values without one allocation each:
// bytes are appended to a large chunk that is never written again where it
// has been handed out, and a string is a view of its part of the chunk. A
// chunk lives as long as any string made from it.
type slab struct {
	buf []byte
}

const slabChunk = 32 << 10

// reserve makes room for n more bytes without moving the bytes already
// handed out: when the chunk is full, a new one is started.
func (s *slab) reserve(n int) {
	if cap(s.buf)-len(s.buf) >= n {
		return
	}
	s.buf = make([]byte, 0, max(slabChunk, n))
}

// mark returns the current end, to pass to since after appending.
func (s *slab) mark() int { return len(s.buf) }

// since returns the bytes appended after mark as a string. The caller must
// have reserved room for them first.
func (s *slab) since(mark int) string {
	n := len(s.buf) - mark
	if n == 0 {
		return ""
	}
	return unsafe.String(&s.buf[mark], n)
}

// copyString returns a copy of b (for callers that built bytes elsewhere).
func (s *slab) copyString(b []byte) string {
	s.reserve(len(b))
	m := s.mark()
	s.buf = append(s.buf, b...)
	return s.since(m)
}
