// Package suggest finds the likely intended word for a mistyped one, for
// "did you mean" hints.
package suggest

import (
	"strings"

	"github.com/agext/levenshtein"
)

// Closest returns the candidate nearest to given (ignoring case) if it is
// close enough to be a likely typo — within 2 edits, 3 for names of 8 or
// more characters — or "".
func Closest(given string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := levenshtein.Distance(strings.ToLower(given), strings.ToLower(c), nil)
		limit := 2
		if len(c) >= 8 {
			limit = 3
		}
		if d > limit || d >= len(c) {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
