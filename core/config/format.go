package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// FormatValue renders an option's value (of the Go type Config holds for
// type t) as it would be written in HCL.
func FormatValue(t sdk.OptionType, v any) string {
	switch d := v.(type) {
	case string:
		return strconv.Quote(d)
	case time.Duration:
		return strconv.Quote(FormatDuration(d))
	case int64:
		if t == sdk.TypeSize {
			return strconv.Quote(FormatSize(d))
		}
		return strconv.FormatInt(d, 10)
	case float64:
		return strconv.FormatFloat(d, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(d)
	case []string:
		q := make([]string, len(d))
		for i, s := range d {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s = %q", k, d[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return fmt.Sprint(v)
}

// FormatDuration renders a duration the way people write it: "5m" rather
// than Go's "5m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
