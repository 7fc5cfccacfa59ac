package coalesce

import (
	"errors"
	"strings"
)

// header is what the reassembler needs of one record: where it belongs and
// where its content is. All strings are slices of the line received.
type header struct {
	line     string // the record as received, without trailing whitespace
	node     string // from a "node=" prefix, or ""
	text     string // the line from "type=" on
	body     string // the key=value content after "audit(...):", before any ENRICHED part
	enriched string // what follows auditd's 0x1d separator, or ""
	sec      int64
	msec     int64
	seq      uint32
	typ      uint16
	noData   bool // nothing follows the audit(...) header
}

var (
	errNoType      = errors.New(`audit record does not start with "type=" (optionally after "node=")`)
	errUnknownType = errors.New("audit record has an unknown record type")
	errNoMsg       = errors.New(`audit record has no "msg=audit(...)" header`)
	errBadStamp    = errors.New("audit record header has an invalid timestamp or sequence number")
)

// parseHeader parses "[node=N ]type=T msg=audit(SEC.MSEC:SEQ): body[\x1dENRICHED]".
func parseHeader(line string) (header, error) {
	var h header
	// Like go-libaudit, ignore white space (in the Unicode sense) around
	// the record.
	line = strings.TrimSpace(line)
	h.line = line
	s := line
	if strings.HasPrefix(s, "node=") {
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return h, errNoType
		}
		h.node = s[len("node="):sp]
		s = strings.TrimLeft(s[sp:], " ")
	}
	if !strings.HasPrefix(s, "type=") {
		return h, errNoType
	}
	h.text = s
	// As in auditd's format, the type name runs up to " msg=".
	mi := strings.Index(s, " msg=")
	if mi < len("type=") {
		return h, errNoMsg
	}
	t, ok := lookupType(s[len("type="):mi])
	if !ok {
		return h, errUnknownType
	}
	h.typ = t
	s = strings.TrimLeft(s[mi+len(" msg="):], " ")

	// audit(SEC.MSEC:SEQ)
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return h, errNoMsg
	}
	i := open + 1
	var ok1, ok2, ok3 bool
	h.sec, i, ok1 = parseDec(s, i, '.')
	h.msec, i, ok2 = parseDec(s, i, ':')
	var seq int64
	seq, i, ok3 = parseDec(s, i, ')')
	if !ok1 || !ok2 || !ok3 || seq > 1<<32-1 {
		return h, errBadStamp
	}
	h.seq = uint32(seq)
	rest := s[i:] // after ')'
	// The content starts after the first ':' or ' ' following the header.
	j := strings.IndexAny(rest, ": ")
	if j < 0 {
		h.noData = true
		return h, nil
	}
	body := strings.TrimLeft(rest[j+1:], " ")
	if k := strings.IndexByte(body, 0x1d); k >= 0 {
		h.enriched = body[k+1:]
		body = strings.TrimSpace(body[:k])
	}
	h.body = body
	return h, nil
}

// parseDec parses decimal digits from s[i] up to the terminator byte and
// returns the value and the index after the terminator.
func parseDec(s string, i int, term byte) (int64, int, bool) {
	start := i
	var v int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if v > (1<<63-1)/10-1 {
			return 0, i, false
		}
		v = v*10 + int64(s[i]-'0')
		i++
	}
	if i == start || i >= len(s) || s[i] != term {
		return 0, i, false
	}
	return v, i + 1, true
}

// Character classes of the key=value grammar auditd writes and go-libaudit
// reads: a key is [a-z0-9_-]+, a value is a run of non-space, non-quote
// bytes, or a single- or double-quoted string in which a backslash escapes
// the quote.
var (
	isKeyChar   [256]bool
	isSpaceChar [256]bool
	isBareStop  [256]bool // ends an unquoted value
)

func init() {
	for c := 'a'; c <= 'z'; c++ {
		isKeyChar[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		isKeyChar[c] = true
	}
	isKeyChar['_'], isKeyChar['-'] = true, true
	for _, c := range "\t\n\f\r " {
		isSpaceChar[c] = true
		isBareStop[c] = true
	}
	isBareStop['"'], isBareStop['\''] = true, true
}

// scanValue finds the end of the value that starts at s[v]. For a quoted
// value without an unescaped closing quote, the value ends at the last
// escaped quote, which is where a backtracking matcher of the grammar would
// settle.
func scanValue(s string, v int) (int, bool) {
	if v >= len(s) {
		return 0, false
	}
	c := s[v]
	if c == '"' || c == '\'' {
		lastEsc := -1
		k := v + 1
		for k < len(s) {
			d := s[k]
			if d == c {
				return k + 1, true
			}
			if d == '\\' && k+1 < len(s) && s[k+1] == c {
				lastEsc = k + 1
				k += 2
				continue
			}
			k++
		}
		if lastEsc >= 0 {
			return lastEsc + 1, true
		}
		return 0, false
	}
	if isSpaceChar[c] {
		return 0, false
	}
	k := v + 1
	for k < len(s) && !isBareStop[s[k]] {
		k++
	}
	return k, true
}

// trimValue removes quotes and spaces from both ends, as go-libaudit does.
func trimValue(v string) string {
	i, j := 0, len(v)
	for i < j && (v[i] == '"' || v[i] == '\'' || v[i] == ' ') {
		i++
	}
	for j > i && (v[j-1] == '"' || v[j-1] == '\'' || v[j-1] == ' ') {
		j--
	}
	return v[i:j]
}

// uselessValue reports the values auditd writes for "nothing".
func uselessValue(v string) bool {
	switch len(v) {
	case 0:
		return true
	case 1:
		return v[0] == '?'
	case 2:
		return v == "?,"
	case 6:
		return v == "(null)"
	}
	return false
}

// Hex decoding. auditd writes hex-encoded values in upper case; like
// go-libaudit, a value is decoded only if it is entirely upper-case hex of
// even length (a quoted value never is).

var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = int8(c - 'A' + 10)
	}
	return t
}()

func isUpperHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if hexVal[s[i]] < 0 {
			return false
		}
	}
	return true
}

// appendHex appends the bytes s encodes; s must satisfy isUpperHex.
func appendHex(dst []byte, s string) []byte {
	for i := 0; i+1 < len(s); i += 2 {
		dst = append(dst, byte(hexVal[s[i]])<<4|byte(hexVal[s[i+1]]))
	}
	return dst
}

// anyHexVal decodes one hex digit of either case.
func anyHexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
