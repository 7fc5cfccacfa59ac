//go:build !windows

package rules

import (
	"fmt"
	"strings"
)

// Kind says what a line does.
type Kind int

// The kinds of lines.
const (
	KindRule    Kind = iota + 1 // add a rule or watch: -a, -A, -w
	KindDelete                  // delete one rule or watch: -d, -W
	KindControl                 // settings and deleting all rules: -D, -b, -f, -r, -e, ...
)

func (k Kind) String() string {
	switch k {
	case KindRule:
		return "rule"
	case KindDelete:
		return "delete"
	case KindControl:
		return "control"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Source is where a line was written.
type Source struct {
	File  string // the rule file; "" for an inline rule
	Line  int    // 1-based line number in File
	Index int    // for an inline rule, its index in the rules list
}

// String returns "path:line", or "rules[i]" for an inline rule.
func (s Source) String() string {
	if s.File == "" {
		return fmt.Sprintf("rules[%d]", s.Index)
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Line is one parsed line of rules.
type Line struct {
	Src  Source
	Text string // the line as written, without surrounding white space
	Kind Kind
	// Wire is the rule in the kernel's format, for KindRule and KindDelete
	// lines. It is nil when Unloadable is set.
	Wire []byte
	// Unloadable says why this rule, correct as written, cannot be built
	// on this machine: it names a user or group that does not exist here,
	// or a system call this architecture does not have. Apply reports such
	// a line as a warning and loads the others; validation reports it as a
	// warning. It is a *LineError.
	Unloadable error
	// Control holds what a KindControl line sets.
	Control Control

	immutableCol int // column of -e 2 or --loginuid-immutable, 0 if neither
}

// Immutable reports whether the line would lock the audit configuration
// until reboot (-e 2, --loginuid-immutable).
func (l *Line) Immutable() bool { return l.immutableCol > 0 }

// Control is what a control line sets. Pointer fields are nil when the
// line does not set them.
type Control struct {
	DeleteAll         bool    // -D: delete every rule ...
	DeleteKey         string  // -D -k KEY: ... or only the rules with this key
	BacklogLimit      *uint32 // -b
	RateLimit         *uint32 // -r
	Failure           *uint32 // -f: 0 silent, 1 printk, 2 panic
	Enabled           *uint32 // -e: 0 off, 1 on, 2 on and locked until reboot
	BacklogWaitTime   *uint32 // --backlog_wait_time, in kernel ticks
	LoginuidImmutable bool    // --loginuid-immutable (locked until reboot)
	ResetLost         bool    // --reset-lost (not applied: see Apply)
	ResetWaitActual   bool    // --reset_backlog_wait_time_actual (not applied)
	ContinueOnError   bool    // -c (Apply always continues; see Apply)
	IgnoreErrors      bool    // -i (likewise)
}

// LineError is a problem at a place in one line.
type LineError struct {
	Column int // 1-based byte column in the line as given to Parse; 0 for the whole line
	Err    error
}

func (e *LineError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("column %d: %v", e.Column, e.Err)
	}
	return e.Err.Error()
}

func (e *LineError) Unwrap() error { return e.Err }

func errAt(col int, format string, args ...any) *LineError {
	return &LineError{Column: col, Err: fmt.Errorf(format, args...)}
}

// token is one word of a line, with escapes resolved. col[i] is the
// 1-based column of byte i of s in the line; col[len(s)] is the column
// just after the word.
type token struct {
	s   string
	col []int
}

func (t token) colAt(i int) int {
	if i >= len(t.col) {
		return t.col[len(t.col)-1]
	}
	return t.col[i]
}

// tail returns the token from byte i on.
func (t token) tail(i int) token { return token{s: t.s[i:], col: t.col[i:]} }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// tokenize splits a line into words as auditctl does: at white space,
// where a backslash keeps a space ("\ ") or itself ("\\") inside a word. A
// word that starts with # begins a comment that runs to the end of the line.
func tokenize(text string) []token {
	var toks []token
	for i := 0; i < len(text); {
		if isSpace(text[i]) {
			i++
			continue
		}
		if text[i] == '#' {
			break
		}
		var b []byte
		var cols []int
		for i < len(text) && !isSpace(text[i]) {
			if text[i] == '\\' && i+1 < len(text) && (text[i+1] == ' ' || text[i+1] == '\\') {
				b = append(b, text[i+1])
				cols = append(cols, i+1)
				i += 2
				continue
			}
			b = append(b, text[i])
			cols = append(cols, i+1)
			i++
		}
		toks = append(toks, token{s: string(b), col: append(cols, i+1)})
	}
	return toks
}

// joinList renders items as "a, b or c".
func joinList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
