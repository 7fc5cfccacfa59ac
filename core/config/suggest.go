package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	suggestpkg "github.com/engine-audit/engine/internal/suggest"
)

// suggest returns the candidate closest to given if it is close enough to
// be a likely typo, or "".
func suggest(given string, candidates []string) string { return suggestpkg.Closest(given, candidates) }

// quoteList renders names as "a", "b" and "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return joinList(q)
}

// joinList renders items as "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// at renders where a range starts as file:line:column.
func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
