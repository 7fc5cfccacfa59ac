// Package stdout implements the "stdout" output: it writes events to the
// engine's standard output, as NDJSON for programs or in a readable form for
// people watching a pipeline.
package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode/utf8"

	"github.com/engine-audit/engine/sdk"
)

// The output formats.
const (
	formatJSON    = "json"
	formatPretty  = "pretty"
	formatMessage = "message"
)

var options = []sdk.Option{
	{
		Name:    "format",
		Type:    sdk.TypeString,
		Default: formatJSON,
		Enum:    []string{formatJSON, formatPretty, formatMessage},
		Doc: `"json": one JSON document per line (NDJSON); "pretty": indented JSON for people; ` +
			`"message": only the message field, one line per event (the JSON when an event has no message).`,
	},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:        sdk.KindOutput,
		Type:        "stdout",
		Summary:     "Write events to standard output as NDJSON, indented JSON or their message",
		Description: "Writes each batch to the engine's standard output with one write. Meant for debugging pipelines and for piping events into other tools.",
		Options:     options,
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return newOutput(os.Stdout, cfg.String("format"))
		},
	})
}

// Output is the stdout output.
type Output struct {
	w      io.Writer
	format string

	buf    []byte       // encoded batch, reused
	doc    []byte       // one event's JSON, for the pretty format
	indent bytes.Buffer // one indented document

	// After a failed write, rest is what the batch still has to write, so
	// that its retry neither repeats nor loses a byte.
	retry *sdk.Batch
	rest  []byte
}

func newOutput(w io.Writer, format string) (*Output, error) {
	switch format {
	case formatJSON, formatPretty, formatMessage:
	default:
		return nil, sdk.OptionErrorf("format", "must be %q, %q or %q, got %q", formatJSON, formatPretty, formatMessage, format)
	}
	return &Output{w: w, format: format}, nil
}

// Write encodes the batch and writes it with one call to the writer.
func (o *Output) Write(ctx context.Context, b *sdk.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var p []byte
	if o.retry == b {
		p = o.rest
	} else {
		p = o.encode(b)
	}
	o.retry, o.rest = nil, nil
	if len(p) == 0 {
		return nil
	}
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.retry, o.rest = b, p[n:]
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
			return sdk.Permanent(fmt.Errorf("stdout output: standard output is closed (%w); nothing reads the events any more", err))
		}
		return sdk.Retryable(fmt.Errorf("stdout output: write: %w", err))
	}
	return nil
}

func (o *Output) encode(b *sdk.Batch) []byte {
	buf := o.buf[:0]
	for i := range b.Events {
		e := &b.Events[i]
		switch o.format {
		case formatJSON:
			buf = e.AppendJSON(buf)
		case formatPretty:
			o.doc = e.AppendJSON(o.doc[:0])
			o.indent.Reset()
			if json.Indent(&o.indent, o.doc, "", "  ") == nil {
				buf = append(buf, o.indent.Bytes()...)
			} else {
				buf = append(buf, o.doc...) // raw values the caller got wrong: show them as they are
			}
		case formatMessage:
			if v, ok := e.Fields.Get(sdk.FieldMessage); ok && !v.IsNull() {
				buf = appendLine(buf, v.Text())
			} else {
				buf = e.AppendJSON(buf)
			}
		}
		buf = append(buf, '\n')
	}
	o.buf = buf
	return buf
}

// appendLine appends s for a terminal: control characters (including
// newlines and escape sequences, which audit data carries from untrusted
// programs) are shown escaped, and invalid UTF-8 becomes U+FFFD, so that an
// event is one line and cannot drive the terminal.
func appendLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f || c == '\t' {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r < 0x80:
			dst = append(dst, '\\', 'x', hexDigits[r>>4], hexDigits[r&0xf])
		case r < 0xa0: // C1 controls, such as the 8-bit CSI
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

const hexDigits = "0123456789abcdef"

var _ sdk.Output = (*Output)(nil)
