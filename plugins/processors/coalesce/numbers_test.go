package coalesce

import (
	"strconv"
	"testing"
)

func TestAtoiStrictMatchesAtoi(t *testing.T) {
	for _, s := range []string{"", "-", "+", "0", "-0", "+5", "0000000000000000000000012", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "12a", " 1", "99999999999999999999"} {
		want, err := strconv.Atoi(s)
		got, ok := atoiStrict(s)
		if ok != (err == nil) || ok && got != int64(want) {
			t.Errorf("%q: got %d %v, want %d %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "0", "00000000000000000000000000", "18446744073709551615", "18446744073709551616", "-1", "+1", "1a"} {
		_, err := strconv.ParseUint(s, 10, 64)
		if isUint64(s) != (err == nil) {
			t.Errorf("isUint64(%q) = %v", s, isUint64(s))
		}
	}
}
