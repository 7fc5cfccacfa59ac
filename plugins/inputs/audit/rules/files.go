//go:build !windows

package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/engine-audit/engine/sdk"
)

// ParseFile parses a rule file. Every line that does not parse is one
// *sdk.FileError with its line and column; the lines that do are returned
// in order either way. A file that cannot be read is one *sdk.FileError
// without a line.
func ParseFile(path string) ([]Line, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{&sdk.FileError{Path: path, Err: err}}
	}
	var lines []Line
	var errs []error
	for n, text := range strings.Split(string(data), "\n") {
		text = strings.TrimSuffix(text, "\r")
		l, err := Parse(text, Source{File: path, Line: n + 1})
		if err != nil {
			col := 0
			var le *LineError
			if errors.As(err, &le) {
				col, err = le.Column, le.Err
			}
			errs = append(errs, &sdk.FileError{Path: path, Line: n + 1, Column: col, Err: err})
			continue
		}
		if l != nil {
			lines = append(lines, *l)
		}
	}
	return lines, errs
}

// ExpandFiles turns the rule_files option into the files to load: each
// element is a glob (filepath.Match syntax) or a directory, which stands
// for the *.rules files in it, as /etc/audit/rules.d does for augenrules.
// The files come out once each, in the order augenrules reads a rules.d
// directory: by name, comparing runs of digits as numbers (ls -v), so
// 9-x.rules loads before 10-y.rules; equal names by full path. A path that
// does not exist, or a glob that matches no file, is an error naming it;
// Validate reports the glob as a warning, since an empty rules.d is normal.
func ExpandFiles(globs []string) ([]string, error) {
	var all []string
	var errs []error
	for _, g := range globs {
		files, err := expandGlob(g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, files...)
	}
	return sortFiles(all), errors.Join(errs...)
}

func expandGlob(g string) ([]string, error) {
	pattern := g
	if st, err := os.Stat(g); err == nil && st.IsDir() {
		pattern = filepath.Join(g, "*.rules")
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("rule file pattern %q: %w", g, err)
	}
	var files []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
			files = append(files, m)
		}
	}
	if len(files) == 0 {
		if pattern != g {
			return nil, fmt.Errorf("no rule files (*.rules) in directory %q", g)
		}
		if _, err := os.Stat(g); err != nil && !strings.ContainsAny(g, `*?[\`) {
			return nil, fmt.Errorf("rule file %q: %w", g, err)
		}
		// An empty rules.d is normal (augenrules loads nothing from it):
		// say so, but do not refuse the pipeline.
		return nil, errNoMatch{fmt.Errorf("no rule files match %q; nothing is loaded from it", g)}
	}
	return files, nil
}

// errNoMatch is a pattern that matched no file: a warning, not an error.
type errNoMatch struct{ error }

func (e errNoMatch) Unwrap() error { return e.error }

func sortFiles(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		key := filepath.Clean(f)
		if abs, err := filepath.Abs(f); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := filepath.Base(out[i]), filepath.Base(out[j])
		if a != b {
			return versionLess(a, b)
		}
		return out[i] < out[j]
	})
	return out
}

// versionLess orders names as ls -v does for plain names: runs of digits
// compare as numbers, everything else byte by byte.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if na != nb {
				return len(na) < len(nb)
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitDigits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// Order arranges lines as augenrules arranges the rule files it joins:
// the last -D that stands alone on its line goes first, then the last -b,
// then the last -f; the last -e goes at the very end; earlier -D, -b, -f
// and -e lines are dropped. Everything else keeps its order. Lines are
// recognised as augenrules does, by how they start.
func Order(lines []Line) []Line {
	var deleteAll, backlog, failure, enable *Line
	var rest []Line
	for i := range lines {
		l := &lines[i]
		switch {
		case l.Kind == KindControl && l.Text == "-D":
			deleteAll = l
		case strings.HasPrefix(l.Text, "-b"):
			backlog = l
		case strings.HasPrefix(l.Text, "-f"):
			failure = l
		case strings.HasPrefix(l.Text, "-e"):
			enable = l
		default:
			rest = append(rest, *l)
		}
	}
	out := make([]Line, 0, len(rest)+4)
	for _, l := range []*Line{deleteAll, backlog, failure} {
		if l != nil {
			out = append(out, *l)
		}
	}
	out = append(out, rest...)
	if enable != nil {
		out = append(out, *enable)
	}
	return out
}

// Config is what the audit input's options say about rules.
type Config struct {
	Rules     []string // option "rules": inline rules, loaded after the files
	RuleFiles []string // option "rule_files": globs and directories, see ExpandFiles
	Immutable bool     // option "immutable": allow -e 2 and --loginuid-immutable
}

// Load reads cfg's rule files (in ExpandFiles order) and then its inline
// rules, and arranges the result with Order. The error joins every problem
// Validate reports as an error; lines that cannot load on this machine are
// left for Apply to report.
func Load(cfg Config) ([]Line, error) {
	lines, diags := load(cfg)
	var errs []error
	for _, d := range diags {
		if !sdk.IsWarning(d) {
			errs = append(errs, d)
		}
	}
	return Order(lines), errors.Join(errs...)
}

// Validate checks cfg for `engine validate` without touching the kernel.
// It returns every problem joined (errors.Join): a line that does not
// parse is an *sdk.OptionError at "rules[i]" or an *sdk.FileError at its
// line and column; a glob that matches nothing is an *sdk.OptionError at
// "rule_files[i]"; -e 2 or --loginuid-immutable without cfg.Immutable is
// an error at its line. A rule that is correct but cannot load on this
// machine (an unknown user, a system call this architecture lacks) is the
// same, marked with sdk.Warning, as are lines Apply will not carry out.
func Validate(cfg Config) error {
	_, diags := load(cfg)
	return errors.Join(diags...)
}

func load(cfg Config) ([]Line, []error) {
	var lines []Line
	var diags []error
	var files []string
	for i, g := range cfg.RuleFiles {
		fs, err := expandGlob(g)
		if err != nil {
			var oe error = &sdk.OptionError{Option: fmt.Sprintf("rule_files[%d]", i), Err: err}
			if errors.As(err, new(errNoMatch)) {
				oe = sdk.Warning(oe)
			}
			diags = append(diags, oe)
			continue
		}
		files = append(files, fs...)
	}
	for _, f := range sortFiles(files) {
		ls, errs := ParseFile(f)
		diags = append(diags, errs...)
		for _, l := range ls {
			diags = append(diags, lineDiagnostics(&l, cfg.Immutable)...)
		}
		lines = append(lines, ls...)
	}
	for i, text := range cfg.Rules {
		l, err := Parse(text, Source{Index: i})
		if err != nil {
			diags = append(diags, &sdk.OptionError{Option: fmt.Sprintf("rules[%d]", i), Err: err})
			continue
		}
		if l == nil {
			continue
		}
		diags = append(diags, lineDiagnostics(l, cfg.Immutable)...)
		lines = append(lines, *l)
	}
	return lines, diags
}

// lineDiagnostics reports what is wrong with a parsed line, placed as
// Validate promises.
func lineDiagnostics(l *Line, immutable bool) []error {
	at := func(col int, err error) error {
		if l.Src.File == "" {
			if col > 0 {
				err = fmt.Errorf("column %d: %w", col, err)
			}
			return &sdk.OptionError{Option: fmt.Sprintf("rules[%d]", l.Src.Index), Err: err}
		}
		return &sdk.FileError{Path: l.Src.File, Line: l.Src.Line, Column: col, Err: err}
	}
	var out []error
	if l.Immutable() && !immutable {
		out = append(out, at(l.immutableCol, errors.New("this makes the audit configuration immutable until reboot; set immutable = true to allow it")))
	}
	if l.Unloadable != nil {
		col, err := 0, l.Unloadable
		var le *LineError
		if errors.As(err, &le) {
			col, err = le.Column, le.Err
		}
		out = append(out, sdk.Warning(at(col, fmt.Errorf("this rule cannot load on this machine: %w", err))))
	}
	if l.Control.ResetLost {
		out = append(out, sdk.Warning(at(0, errors.New("--reset-lost is not carried out: engine reports lost records from the kernel's lost counter"))))
	}
	if l.Control.ResetWaitActual {
		out = append(out, sdk.Warning(at(0, errors.New("--reset_backlog_wait_time_actual is not carried out"))))
	}
	return out
}
