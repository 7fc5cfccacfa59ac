//go:build !windows

package audittype

import "testing"

func TestNames(t *testing.T) {
	for typ, want := range map[uint16]string{
		1300: "SYSCALL", 1320: "EOE", 1112: "USER_LOGIN", 1423: "LANDLOCK_ACCESS", 1999: "UNKNOWN[1999]",
	} {
		if got := Name(typ); got != want {
			t.Errorf("Name(%d) = %q, want %q", typ, got, want)
		}
	}
	if Known(1999) || !Known(1300) {
		t.Error("Known is wrong")
	}
}
