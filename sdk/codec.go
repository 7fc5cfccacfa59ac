package sdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encoding of events, used across the plugin boundary and in disk
// buffers. It is compact (varints, no field names repeated beyond the key
// itself) and versioned by the batch header:
//
//	batch  := magic("EB") version(1 byte) uvarint(n) event*n
//	event  := varint(unix nanos, 0 = no time) string(id) fields
//	fields := uvarint(n) (string(key) kind(1 byte) payload)*n
//	string := uvarint(len) bytes
//
// Payloads: string, raw: string; int, time: zigzag varint; float: 8 bytes
// little endian; bool: 1 byte; strings: uvarint(n) string*n; objects:
// uvarint(n) fields*n; null: nothing.

const codecVersion = 1

var codecMagic = [2]byte{'E', 'B'}

// ErrCorrupt is returned (wrapped) when decoding malformed data.
var ErrCorrupt = errors.New("corrupt event encoding")

// AppendBinary appends the batch's events in the binary encoding.
func (b *Batch) AppendBinary(dst []byte) []byte {
	dst = append(dst, codecMagic[0], codecMagic[1], codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.Events)))
	for i := range b.Events {
		dst = b.Events[i].AppendBinary(dst)
	}
	return dst
}

// DecodeBatch decodes a batch written by AppendBinary. The returned batch
// carries no receipts. Strings are copied out of data.
func DecodeBatch(data []byte) (*Batch, error) {
	if len(data) < 3 || data[0] != codecMagic[0] || data[1] != codecMagic[1] {
		return nil, fmt.Errorf("%w: missing batch header", ErrCorrupt)
	}
	if data[2] != codecVersion {
		return nil, fmt.Errorf("%w: unsupported batch version %d (this engine reads version %d)", ErrCorrupt, data[2], codecVersion)
	}
	d := decoder{buf: data[3:]}
	n := d.count(1)
	b := &Batch{Events: make([]Event, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		var e Event
		d.event(&e)
		b.Events = append(b.Events, e)
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}

// AppendBinary appends one event in the binary encoding.
func (e *Event) AppendBinary(dst []byte) []byte {
	var nanos int64
	if !e.Time.IsZero() {
		nanos = e.Time.UnixNano()
	}
	dst = binary.AppendVarint(dst, nanos)
	dst = appendBinString(dst, e.ID)
	return e.Fields.appendBinary(dst)
}

// DecodeEvent decodes one event written by Event.AppendBinary and returns
// the bytes that follow it.
func DecodeEvent(data []byte) (Event, []byte, error) {
	d := decoder{buf: data}
	var e Event
	d.event(&e)
	return e, d.buf, d.err
}

func (f *Fields) appendBinary(dst []byte) []byte {
	list := f.All()
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	for _, fd := range list {
		dst = appendBinString(dst, fd.Key)
		dst = appendBinValue(dst, fd.Value)
	}
	return dst
}

func appendBinString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBinValue(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.kind))
	switch v.kind {
	case KindString:
		dst = appendBinString(dst, v.str)
	case KindInt, KindTime:
		dst = binary.AppendVarint(dst, int64(v.num))
	case KindFloat:
		dst = binary.LittleEndian.AppendUint64(dst, v.num)
	case KindBool:
		dst = append(dst, byte(v.num))
	case KindStrings:
		list := v.StringList()
		dst = binary.AppendUvarint(dst, uint64(len(list)))
		for _, s := range list {
			dst = appendBinString(dst, s)
		}
	case KindObjects:
		objs := v.ObjectList()
		dst = binary.AppendUvarint(dst, uint64(len(objs)))
		for i := range objs {
			dst = objs[i].appendBinary(dst)
		}
	case KindRaw:
		raw := v.Raw()
		dst = binary.AppendUvarint(dst, uint64(len(raw)))
		dst = append(dst, raw...)
	}
	return dst
}

// decoder reads the binary encoding; the first error sticks and every later
// read returns zero values, so callers check once at the end.
type decoder struct {
	buf   []byte
	err   error
	depth int
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a element count and rejects counts that could not possibly
// fit in the remaining bytes (each element takes at least minSize bytes),
// so that corrupt input cannot trigger huge allocations.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.buf)/minSize) {
		d.fail("count %d exceeds the data left", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) event(e *Event) {
	if nanos := d.varint(); nanos != 0 {
		e.Time = time.Unix(0, nanos).UTC()
	}
	e.ID = d.string()
	d.fields(&e.Fields)
}

func (d *decoder) fields(f *Fields) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 32 {
		d.fail("objects nested too deeply")
		return
	}
	n := d.count(2)
	f.list = make([]Field, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		key := d.string()
		v := d.value()
		f.Append(key, v)
	}
}

func (d *decoder) value() Value {
	if d.err != nil {
		return Value{}
	}
	if len(d.buf) == 0 {
		d.fail("missing value kind")
		return Value{}
	}
	kind := ValueKind(d.buf[0])
	d.buf = d.buf[1:]
	switch kind {
	case KindNull:
		return Value{}
	case KindString:
		return String(d.string())
	case KindInt:
		return Int(d.varint())
	case KindTime:
		return Value{kind: KindTime, num: uint64(d.varint())}
	case KindFloat:
		if len(d.buf) < 8 {
			d.fail("short float")
			return Value{}
		}
		v := Float(math.Float64frombits(binary.LittleEndian.Uint64(d.buf)))
		d.buf = d.buf[8:]
		return v
	case KindBool:
		if len(d.buf) < 1 {
			d.fail("short bool")
			return Value{}
		}
		v := Bool(d.buf[0] != 0)
		d.buf = d.buf[1:]
		return v
	case KindStrings:
		n := d.count(1)
		list := make([]string, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			list = append(list, d.string())
		}
		return Strings(list)
	case KindObjects:
		n := d.count(1)
		objs := make([]Fields, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.fields(&objs[i])
		}
		return Objects(objs)
	case KindRaw:
		return RawJSON(append([]byte(nil), d.bytes()...))
	}
	d.fail("unknown value kind %d", kind)
	return Value{}
}
