package suggest

import "testing"

func TestClosest(t *testing.T) {
	cands := []string{"logfile", "audit", "coalesce", "debugfs", "tracefs"}
	for given, want := range map[string]string{
		"logfil": "logfile", "AUDIT": "audit", "colaesce": "coalesce", "tracfs": "tracefs",
		"zzz": "", "au": "",
	} {
		if got := Closest(given, cands); got != want {
			t.Errorf("Closest(%q) = %q, want %q", given, got, want)
		}
	}
}
