package config

import (
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func TestFormatDuration(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0s", 1500 * time.Millisecond: "1.5s", 5 * time.Minute: "5m", 72 * time.Hour: "72h",
		90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 250 * time.Millisecond: "250ms",
	}
	for d, want := range cases {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q does not parse back to %v", got, d)
		}
	}
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		typ  sdk.OptionType
		v    any
		want string
	}{
		{sdk.TypeString, "a\"b", `"a\"b"`},
		{sdk.TypeDuration, 5 * time.Minute, `"5m"`},
		{sdk.TypeSize, int64(64 << 20), `"64MiB"`},
		{sdk.TypeInt, int64(-3), "-3"},
		{sdk.TypeFloat, 0.5, "0.5"},
		{sdk.TypeBool, true, "true"},
		{sdk.TypeStringList, []string{"a", "b"}, `["a", "b"]`},
		{sdk.TypeStringMap, map[string]string{"b": "2", "a": "1"}, `{ a = "1", b = "2" }`},
	}
	for _, c := range cases {
		if got := FormatValue(c.typ, c.v); got != c.want {
			t.Errorf("FormatValue(%s, %#v) = %s, want %s", c.typ, c.v, got, c.want)
		}
	}
}
