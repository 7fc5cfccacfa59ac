package config

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// sizeUnits are the units a size may carry, with their multipliers. kB, MB,
// GB and TB are decimal (powers of 1000); KiB, MiB, GiB and TiB binary.
// Units are matched without regard to case.
var sizeUnits = []struct {
	name string
	mult int64
}{
	{"B", 1},
	{"kB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
}

// ParseSize reads a size such as "64MiB", "10MB", "1.5GiB" or "4096" (bytes).
func ParseSize(s string) (int64, error) {
	str := strings.TrimSpace(s)
	i := 0
	for i < len(str) && (str[i] >= '0' && str[i] <= '9' || str[i] == '.') {
		i++
	}
	num, unit := str[:i], strings.TrimSpace(str[i:])
	if num == "" {
		return 0, fmt.Errorf("%q does not start with a number", s)
	}
	mult := int64(0)
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			mult = u.mult
		}
	}
	if mult == 0 {
		names := make([]string, len(sizeUnits))
		for i, u := range sizeUnits {
			names[i] = u.name
		}
		return 0, fmt.Errorf("%q has an unknown unit %q; use one of %s", s, unit, joinList(names))
	}
	f, _, err := big.ParseFloat(num, 10, 128, big.ToNearestEven)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number followed by a unit", s)
	}
	f.Mul(f, new(big.Float).SetInt64(mult))
	if !f.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// FormatSize renders a number of bytes in the largest binary unit that
// divides it exactly: 67108864 is "64MiB", 1000 is "1000".
func FormatSize(n int64) string {
	for i := len(sizeUnits) - 1; i >= 0; i-- {
		u := sizeUnits[i]
		if u.mult < 1024 || u.mult&(u.mult-1) != 0 || n == 0 {
			continue
		}
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// bigToInt64 returns f as an int64 if it is a whole number in range.
func bigToInt64(f *big.Float) (int64, bool) {
	if !f.IsInt() {
		return 0, false
	}
	n, acc := f.Int64()
	if acc != big.Exact || n == math.MinInt64 {
		return 0, false
	}
	return n, true
}
