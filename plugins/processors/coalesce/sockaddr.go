package coalesce

import (
	"net/netip"
	"strconv"
)

// sockaddr is a decoded SOCKADDR saddr value, with the same fields and
// values go-libaudit produces.
type sockaddr struct {
	family string
	addr   string
	port   string
	path   string
	flow   string
	saddr  string // the raw value, for families without a decoder
}

// parseHexInt32 parses a hex number that must fit in an int32 (either
// letter case, optional sign), as strconv.ParseInt(s, 16, 32) would, without
// allocating on failure. It returns 0 when it fails.
func parseHexInt32(s string) (int32, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		d := anyHexVal(s[i])
		if d < 0 {
			return 0, false
		}
		v = v<<4 | int64(d)
		if v > 1<<31 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 || v < -(1<<31) {
		return 0, false
	}
	return int32(v), true
}

// parseSockaddr decodes the hex-encoded struct sockaddr in value.
func (b *builder) parseSockaddr(s string) (sockaddr, bool) {
	var out sockaddr
	if len(s) < 4 {
		return out, false
	}
	// The family is a host-order (little-endian) u16, read as go-libaudit
	// does: the four hex digits swapped bytewise, as one signed number.
	digits := [4]byte{s[2], s[3], s[0], s[1]}
	var family int32
	neg, start := false, 0
	if digits[0] == '+' || digits[0] == '-' {
		neg, start = digits[0] == '-', 1
	}
	for _, c := range digits[start:] {
		d := anyHexVal(c)
		if d < 0 {
			return out, false
		}
		family = family<<4 | int32(d)
	}
	if neg {
		family = -family
	}
	switch family {
	case 1: // AF_UNIX
		rest := s[4:]
		if !isUpperHex(rest) {
			return out, false
		}
		out.family = "unix"
		b.slab.reserve(len(rest) / 2)
		m := b.slab.mark()
		b.slab.buf = appendHexUntilNUL(b.slab.buf, rest)
		out.path = b.slab.since(m)
	case 2: // AF_INET
		if len(s) < 16 {
			return out, false
		}
		port, ok := parseHexInt32(s[4:8])
		if !ok {
			return out, false
		}
		b.slab.reserve(16 + 12)
		m := b.slab.mark()
		for i := 8; i < 16; i += 2 {
			if i > 8 {
				b.slab.buf = append(b.slab.buf, '.')
			}
			v, _ := parseHexInt32(s[i : i+2])
			b.slab.buf = strconv.AppendInt(b.slab.buf, int64(v), 10)
		}
		out.addr = b.slab.since(m)
		out.family = "ipv4"
		out.port = b.intString(int64(port))
	case 10: // AF_INET6
		if len(s) < 48 {
			return out, false
		}
		port, ok := parseHexInt32(s[4:8])
		if !ok {
			return out, false
		}
		flow, ok := parseHexInt32(s[8:16])
		if !ok {
			return out, false
		}
		var ip [16]byte
		for i := range ip {
			hi, lo := anyHexVal(s[16+2*i]), anyHexVal(s[17+2*i])
			if hi < 0 || lo < 0 {
				return out, false
			}
			ip[i] = byte(hi<<4 | lo)
		}
		addr := netip.AddrFrom16(ip).Unmap()
		b.slab.reserve(48)
		m := b.slab.mark()
		b.slab.buf = addr.AppendTo(b.slab.buf)
		out.addr = b.slab.since(m)
		out.family = "ipv6"
		out.port = b.intString(int64(port))
		if flow > 0 {
			out.flow = b.intString(int64(flow))
		}
	case 16: // AF_NETLINK
		out.family = "netlink"
		out.saddr = s
	default:
		out.family = b.intString(int64(family))
		out.saddr = s
	}
	return out, true
}

// appendHexUntilNUL decodes upper-case hex up to the first NUL byte.
func appendHexUntilNUL(dst []byte, s string) []byte {
	for i := 0; i+1 < len(s); i += 2 {
		c := byte(hexVal[s[i]])<<4 | byte(hexVal[s[i+1]])
		if c == 0 {
			break
		}
		dst = append(dst, c)
	}
	return dst
}

// smallInts are the decimal strings of 0..1023, which cover most ports,
// pids of early processes and similar.
var smallInts = func() (t [1024]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func (b *builder) intString(v int64) string {
	if v >= 0 && v < int64(len(smallInts)) {
		return smallInts[v]
	}
	b.slab.reserve(20)
	m := b.slab.mark()
	b.slab.buf = strconv.AppendInt(b.slab.buf, v, 10)
	return b.slab.since(m)
}
