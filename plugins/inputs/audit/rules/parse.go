//go:build !windows

package rules

import (
	"strconv"
	"strings"
)

// option is one option of a line with its argument, if it takes one.
type option struct {
	name   string // "a", "F", "backlog_wait_time"
	col    int    // column of the option
	hasArg bool
	arg    token
}

func (o option) flag() string {
	if len(o.name) == 1 {
		return "-" + o.name
	}
	return "--" + o.name
}

// shortOptions are auditctl's one-letter options; true when the option
// takes an argument.
var shortOptions = map[byte]bool{
	'a': true, 'A': true, 'd': true, 'w': true, 'W': true, 'p': true, 'k': true,
	'F': true, 'C': true, 'S': true, 'b': true, 'f': true, 'r': true, 'e': true,
	'D': false, 'c': false, 'i': false,
	// commands, refused in rules
	'h': false, 's': false, 'l': false, 'v': false, 't': false, 'm': true, 'R': true, 'q': true,
}

var longOptions = map[string]bool{
	"loginuid-immutable": false, "backlog_wait_time": true, "reset-lost": false,
	"reset_backlog_wait_time_actual": false,
	"signal":                         true, // a command, refused in rules
}

var commands = map[string]string{
	"h": "prints help", "s": "prints the status", "l": "lists the rules", "v": "prints the version",
	"t": "trims subtree watches", "m": "sends a user message", "R": "reads another rule file",
	"q": "joins a mount to a watched subtree", "signal": "signals the audit daemon",
}

// scanOptions splits words into options the way getopt_long does for
// auditctl: "-F arch=b64" and "-Farch=b64" are the same, "-cD" is -c -D,
// "--backlog_wait_time=60" and "--backlog_wait_time 60" are the same.
func scanOptions(toks []token) ([]option, *LineError) {
	var opts []option
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case strings.HasPrefix(t.s, "--") && len(t.s) > 2:
			name, value, hasValue := strings.Cut(t.s[2:], "=")
			takesArg, ok := longOptions[name]
			if !ok {
				return nil, errAt(t.colAt(0), "unknown option --%s", name)
			}
			o := option{name: name, col: t.colAt(0), hasArg: takesArg}
			switch {
			case takesArg && hasValue:
				o.arg = t.tail(len(t.s) - len(value))
			case takesArg:
				if i+1 == len(toks) {
					return nil, errAt(o.col, "--%s needs a value", name)
				}
				i++
				o.arg = toks[i]
			case hasValue:
				return nil, errAt(o.col, "--%s takes no value", name)
			}
			opts = append(opts, o)
		case strings.HasPrefix(t.s, "-") && len(t.s) > 1 && t.s[1] != '-':
			for j := 1; j < len(t.s); j++ {
				c := t.s[j]
				col := t.colAt(j)
				if j == 1 {
					col = t.colAt(0)
				}
				takesArg, ok := shortOptions[c]
				if !ok {
					return nil, errAt(col, "unknown option -%s", string(rune(c)))
				}
				o := option{name: string(c), col: col, hasArg: takesArg}
				if takesArg {
					if j+1 < len(t.s) {
						o.arg = t.tail(j + 1)
					} else {
						if i+1 == len(toks) {
							return nil, errAt(col, "-%c needs a value", c)
						}
						i++
						o.arg = toks[i]
					}
					opts = append(opts, o)
					break
				}
				opts = append(opts, o)
			}
		default:
			return nil, errAt(t.colAt(0), "unexpected %q: every value must follow the option it belongs to", t.s)
		}
	}
	return opts, nil
}

// parseUint32 reads a number the way auditctl's strtoul(…, 0) does: decimal,
// 0x hex or 0 octal.
func parseUint32(s string) (uint32, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' || strings.Contains(s, "_") {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err == nil
}

// parseInt32 reads a number that may be negative, as a 32-bit pattern.
func parseInt32(s string) (uint32, bool) {
	if strings.HasPrefix(s, "-") {
		if len(s) < 2 || s[1] < '0' || s[1] > '9' || strings.Contains(s, "_") {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 0, 32)
		return uint32(int32(v)), err == nil
	}
	return parseUint32(s)
}
