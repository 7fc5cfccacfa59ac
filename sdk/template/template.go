// Package template renders names from events, such as an Elasticsearch index
// or a Kafka topic: "audit-{{ event.module }}-%Y.%m.%d". A {{ field }}
// reference is replaced by the event's field as text; %Y, %m, %d, %H (and
// %%) are replaced by the parts of the event's time in UTC. Everything else
// is kept as written.
package template

import (
	"fmt"
	"strings"

	"github.com/engine-audit/engine/sdk"
)

type partKind uint8

const (
	literal partKind = iota
	field
	year
	month
	day
	hour
)

type part struct {
	kind partKind
	text string // literal text, or the field's key
}

// Template is a parsed name template. The zero value renders "".
type Template struct {
	src   string
	parts []part
}

// Parse reads a template. It fails on an unclosed or empty {{ }} and on a %
// directive other than %Y, %m, %d, %H and %%.
func Parse(src string) (*Template, error) {
	t := &Template{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{kind: literal, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '{' && strings.HasPrefix(src[i:], "{{"):
			end := strings.Index(src[i+2:], "}}")
			if end < 0 {
				return nil, fmt.Errorf("%q: {{ at offset %d is never closed; write {{ field.name }}", src, i)
			}
			key := strings.TrimSpace(src[i+2 : i+2+end])
			if key == "" || strings.ContainsAny(key, " {}") {
				return nil, fmt.Errorf("%q: {{%s}} must name one field, such as {{ event.module }}", src, src[i+2:i+2+end])
			}
			flush()
			t.parts = append(t.parts, part{kind: field, text: key})
			i += 2 + end + 1
		case c == '%':
			if i+1 >= len(src) {
				return nil, fmt.Errorf("%q ends with a lone %%; write %%%% for a percent sign", src)
			}
			i++
			var k partKind
			switch src[i] {
			case 'Y':
				k = year
			case 'm':
				k = month
			case 'd':
				k = day
			case 'H':
				k = hour
			case '%':
				lit.WriteByte('%')
				continue
			default:
				return nil, fmt.Errorf("%q: %%%c is not a known date directive; use %%Y, %%m, %%d or %%H (the event's time in UTC), or %%%% for a percent sign", src, src[i])
			}
			flush()
			t.parts = append(t.parts, part{kind: k})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// MustParse is Parse for templates known to be valid; it panics otherwise.
func MustParse(src string) *Template {
	t, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Static reports whether the template renders the same text for every event.
func (t *Template) Static() bool {
	for _, p := range t.parts {
		if p.kind != literal {
			return false
		}
	}
	return true
}

// Fields lists the field keys the template reads.
func (t *Template) Fields() []string {
	var keys []string
	for _, p := range t.parts {
		if p.kind == field {
			keys = append(keys, p.text)
		}
	}
	return keys
}

// MissingFieldError reports an event without a field the template needs.
type MissingFieldError struct {
	Template string
	Field    string
}

func (e *MissingFieldError) Error() string {
	return fmt.Sprintf("template %q: the event has no field %s", e.Template, e.Field)
}

// Append renders the template for ev onto dst. A referenced field that is
// missing, null or not a scalar gives a *MissingFieldError.
func (t *Template) Append(dst []byte, ev *sdk.Event) ([]byte, error) {
	for _, p := range t.parts {
		switch p.kind {
		case literal:
			dst = append(dst, p.text...)
		case field:
			v, ok := ev.Fields.Get(p.text)
			if !ok || v.IsNull() || v.Kind() == sdk.KindStrings || v.Kind() == sdk.KindObjects || v.Kind() == sdk.KindRaw {
				return dst, &MissingFieldError{Template: t.src, Field: p.text}
			}
			dst = append(dst, v.Text()...)
		default:
			tm := ev.Time.UTC()
			switch p.kind {
			case year:
				dst = appendPadded(dst, tm.Year(), 4)
			case month:
				dst = appendPadded(dst, int(tm.Month()), 2)
			case day:
				dst = appendPadded(dst, tm.Day(), 2)
			case hour:
				dst = appendPadded(dst, tm.Hour(), 2)
			}
		}
	}
	return dst, nil
}

// Render returns the template rendered for ev.
func (t *Template) Render(ev *sdk.Event) (string, error) {
	b, err := t.Append(nil, ev)
	return string(b), err
}

func appendPadded(dst []byte, v, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for v > 0 || width > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
		if i == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}
