package sdk

import (
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the event as one JSON object to dst and returns the
// extended slice. "@timestamp" comes first; dotted keys are nested into
// objects ("process.parent.pid" becomes {"process":{"parent":{"pid":..}}}).
// The encoder does not use reflection and does not allocate beyond growing
// dst. A key must not be both a leaf and the parent of another key.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	comma := false
	if !e.Time.IsZero() {
		dst = append(dst, `"@timestamp":"`...)
		dst = appendTimeParts(dst, e.Time.Unix(), int64(e.Time.Nanosecond()))
		dst = append(dst, '"')
		comma = true
	}
	list := e.Fields.All()
	if comma {
		// Time is the timestamp; a "@timestamp" field must not repeat it.
		// No dotted group can span that key, so the two sides encode apart.
		// Few keys sort before it (it is usually found to be absent at
		// the first key), so a linear scan beats a binary search.
		for i := range list {
			if k := list[i].Key; k >= "@timestamp" {
				if k == "@timestamp" {
					dst = appendFieldsBody(dst, list[:i], true)
					return append(appendFieldsBody(dst, list[i+1:], true), '}')
				}
				break
			}
		}
	}
	dst = appendFieldsBody(dst, list, comma)
	return append(dst, '}')
}

// AppendJSON appends the fields as one JSON object.
func (f *Fields) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = appendFieldsBody(dst, f.All(), false)
	return append(dst, '}')
}

// maxOpen is how many objects dotted keys may open; deeper segments stay
// in the member name ("a.b...") so that the output remains valid JSON.
const maxOpen = 32

// appendFieldsBody writes sorted fields as object members, nesting dotted
// keys. Because fields are sorted, all keys under one prefix are adjacent, so
// one pass with a stack of open objects suffices.
func appendFieldsBody(dst []byte, list []Field, comma bool) []byte {
	var ends [maxOpen]int // ends[i]: offset of the dot closing the i-th open segment of prev
	depth := 0
	prev := "" // the previous key; its first depth segments are open objects
	for i := range list {
		fd := &list[i]
		key := fd.Key
		// The open objects this key shares are those whose closing dot
		// lies within the prefix it has in common with the previous key.
		d := 0
		if depth > 0 {
			// The common prefix's length, eight bytes at a time.
			n := min(len(key), len(prev))
			c := 0
			for {
				if c+8 > n {
					for c < n && key[c] == prev[c] {
						c++
					}
					break
				}
				if x := load64(key, c) ^ load64(prev, c); x != 0 {
					c += bits.TrailingZeros64(x) / 8
					break
				}
				c += 8
			}
			for d < depth && ends[d] < c {
				d++
			}
			for depth > d {
				dst = append(dst, '}')
				depth--
				comma = true
			}
		}
		start := 0
		if d > 0 {
			start = ends[d-1] + 1
		}
		// Most keys need no escaping: check the unwritten part once, and
		// copy its segments as they are.
		plain, dot := scanName(key[start:])
		if dot >= 0 {
			dot += start
		}
		for dot >= 0 && depth < maxOpen {
			if comma {
				dst = append(dst, ',')
			}
			dst = appendName(dst, key[start:dot], plain)
			dst = append(dst, '{')
			ends[depth] = dot
			depth++
			comma = false
			start = dot + 1
			dot = indexDot(key, start)
		}
		if comma {
			dst = append(dst, ',')
		}
		if plain {
			dst = append(dst, '"')
			dst = append(dst, key[start:]...)
			dst = append(dst, '"', ':')
		} else {
			dst = appendName(dst, key[start:], false)
		}
		if v := &fd.Value; v.kind == KindString {
			if isPlain(v.str) {
				dst = append(dst, '"')
				dst = append(dst, v.str...)
				dst = append(dst, '"')
			} else {
				dst = appendEscaped(dst, v.str)
			}
		} else {
			dst = appendValue(dst, v)
		}
		comma = true
		prev = key
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return dst
}

// scanName reports whether s needs no escaping (see isPlain) and where its
// first '.' is (-1 if none), in one pass of word-at-a-time loads.
func scanName(s string) (plain bool, dot int) {
	n := len(s)
	switch {
	case n >= 8:
		var special uint64
		dot = -1
		i := 0
		for ; i+8 <= n; i += 8 {
			x := load64(s, i)
			special |= specialBytes(x)
			if m := dotBytes(x); m != 0 && dot < 0 {
				dot = i + bits.TrailingZeros64(m)/8
			}
		}
		if i < n {
			// The last bytes: load the last word, which overlaps bytes
			// already seen; shift those out before looking for a dot.
			x := load64(s, n-8)
			special |= specialBytes(x)
			if m := dotBytes(x >> (8 * (i - (n - 8)))); m != 0 && dot < 0 {
				dot = i + bits.TrailingZeros64(m)/8
			}
		}
		return special == 0, dot
	case n >= 4:
		// Two overlapping loads: bytes 0-3 and n-4 to n-1.
		x := uint64(load32(s, 0)) | uint64(load32(s, n-4))<<32
		dot = -1
		if m := dotBytes(x); m != 0 {
			if k := bits.TrailingZeros64(m) / 8; k < 4 {
				dot = k
			} else {
				dot = n - 8 + k
			}
		}
		return specialBytes(x) == 0, dot
	case n > 0:
		// Bytes 0, n/2 and n-1 cover a string of up to three bytes.
		x := uint64(s[0]) | uint64(s[n/2])<<8 | uint64(s[n-1])<<16 | 0x2020202020<<24
		dot = -1
		if m := dotBytes(x); m != 0 {
			dot = [3]int{0, n / 2, n - 1}[bits.TrailingZeros64(m)/8]
		}
		return specialBytes(x) == 0, dot
	}
	return true, -1
}

// appendName appends a member name and its colon; plain says that name
// needs no escaping.
func appendName(dst []byte, name string, plain bool) []byte {
	if !plain {
		return append(appendEscaped(dst, name), ':')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// indexDot returns the offset of the first '.' in s at or after from, or -1.
// It looks at eight bytes at a time: keys hold few dots, far apart.
func indexDot(s string, from int) int {
	i := from
	for ; i+8 <= len(s); i += 8 {
		if m := dotBytes(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	if j := len(s) - 8; j >= 0 && i < len(s) {
		// The rest is shorter than a word: load the last word and shift
		// the bytes already looked at out of it (zeros come in, not dots).
		if m := dotBytes(load64(s, j) >> (8 * (i - j))); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		return -1
	}
	for ; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// dotBytes sets the high bit of the first byte of x that is a '.' (and maybe
// of later bytes too), and of no byte before it.
func dotBytes(x uint64) uint64 {
	t := x ^ lsb*'.'
	return (t - lsb) &^ t & msb
}

func appendValueJSON(dst []byte, v Value) []byte { return appendValue(dst, &v) }

// appendValue appends v as JSON; it takes a pointer because Value is too big
// to copy for every field.
func appendValue(dst []byte, v *Value) []byte {
	switch v.kind {
	case KindString:
		return appendString(dst, v.str)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindFloat:
		f := math.Float64frombits(v.num)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case KindBool:
		if v.num != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindTime:
		dst = append(dst, '"')
		dst = appendTime(dst, int64(v.num))
		return append(dst, '"')
	case KindStrings:
		dst = append(dst, '[')
		for i, s := range v.StringList() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']')
	case KindObjects:
		dst = append(dst, '[')
		objs := v.ObjectList()
		for i := range objs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = objs[i].AppendJSON(dst)
		}
		return append(dst, ']')
	case KindRaw:
		if raw := v.Raw(); len(raw) > 0 {
			return append(dst, raw...)
		}
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// needsEscape marks the ASCII bytes that JSON strings cannot hold as is.
var needsEscape = func() (t [256]bool) {
	for i := 0; i < 0x20; i++ {
		t[i] = true
	}
	t['"'] = true
	t['\\'] = true
	for i := 0x80; i < 0x100; i++ {
		t[i] = true // not escaped, but must be checked for valid UTF-8
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	if !isPlain(s) {
		return appendEscaped(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// isPlain reports whether s holds only ASCII bytes from 0x20 up other than
// quote and backslash, which a JSON string holds as is. It looks at eight
// bytes at a time; a short string is checked as one word made of
// overlapping loads.
func isPlain(s string) bool {
	n := len(s)
	var x uint64
	switch {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if hasSpecialByte(load64(s, i)) {
				return false
			}
		}
		x = load64(s, n-8)
	case n >= 4:
		x = uint64(load32(s, 0)) | uint64(load32(s, n-4))<<32
	case n > 0:
		x = uint64(s[0]) | uint64(s[n/2])<<8 | uint64(s[n-1])<<16 | 0x2020202020<<24
	default:
		return true
	}
	return !hasSpecialByte(x)
}

// load64 returns the eight bytes of s at i as a little-endian word.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load32 returns the four bytes of s at i as a little-endian word.
func load32(s string, i int) uint32 {
	s = s[i : i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// appendEscaped appends s as a JSON string, escaping what needs it.
func appendEscaped(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	i := 0
	// Skip eight plain ASCII bytes at a time.
	for ; i+8 <= len(s); i += 8 {
		if hasSpecialByte(load64(s, i)) {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if !needsEscape[c] {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasSpecialByte reports whether any byte of x is below 0x20, a quote, a
// backslash or has its high bit set.
func hasSpecialByte(x uint64) bool { return specialBytes(x) != 0 }

// specialBytes sets the high bit of the bytes of x that are below 0x20, a
// quote, a backslash or have their high bit set; it is zero only when there
// are none. Each term flags the bytes it looks for; a borrow can only flag
// bytes above one already found, and the high-bit term covers the others.
func specialBytes(x uint64) uint64 {
	low := x - lsb*0x20           // bytes < 0x20
	quote := (x ^ lsb*'"') - lsb  // bytes == '"'
	slash := (x ^ lsb*'\\') - lsb // bytes == '\\'
	return (low | quote | slash | x) & msb
}

// appendTime writes unix nanoseconds as RFC 3339 in UTC with millisecond,
// microsecond or nanosecond precision, whichever is exact
// ("2026-11-23T13:36:05.281Z").
func appendTime(dst []byte, nanos int64) []byte {
	secs := nanos / 1e9
	frac := nanos % 1e9
	if frac < 0 {
		frac += 1e9
		secs--
	}
	return appendTimeParts(dst, secs, frac)
}

// appendTimeParts writes seconds since the epoch plus a nanosecond fraction
// (0 <= frac < 1e9); it covers years 0 to 9999.
func appendTimeParts(dst []byte, secs, frac int64) []byte {
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		y = 0
	}
	// Laid out in place and appended at once: "2006-01-02T15:04:05." and
	// three, six or nine digits of fraction, then "Z".
	var b [30]byte
	putDigitPair(b[0:], int(y/100))
	putDigitPair(b[2:], int(y%100))
	b[4] = '-'
	putDigitPair(b[5:], m)
	b[7] = '-'
	putDigitPair(b[8:], d)
	b[10] = 'T'
	putDigitPair(b[11:], int(rem/3600))
	b[13] = ':'
	putDigitPair(b[14:], int(rem/60%60))
	b[16] = ':'
	putDigitPair(b[17:], int(rem%60))
	b[19] = '.'
	f := int(frac)
	var n int
	switch {
	case f%1e6 == 0:
		f /= 1e6
		b[20] = byte('0' + f/100)
		putDigitPair(b[21:], f%100)
		n = 23
	case f%1e3 == 0:
		f /= 1e3
		putDigitPair(b[20:], f/1e4)
		putDigitPair(b[22:], f/100%100)
		putDigitPair(b[24:], f%100)
		n = 26
	default:
		b[20] = byte('0' + f/1e8)
		putDigitPair(b[21:], f/1e6%100)
		putDigitPair(b[23:], f/1e4%100)
		putDigitPair(b[25:], f/100%100)
		putDigitPair(b[27:], f%100)
		n = 29
	}
	b[n] = 'Z'
	return append(dst, b[:n+1]...)
}

// putDigitPair writes v (0 to 99) as two decimal digits at b[0:2].
func putDigitPair(b []byte, v int) {
	b[1] = digitPairs[2*v+1]
	b[0] = digitPairs[2*v]
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func civilFromDays(z int64) (year int64, month, day int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, int(m), int(d)
}
