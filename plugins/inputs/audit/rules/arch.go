//go:build !windows

package rules

import (
	"runtime"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// runtimeArch is the audit name of the architecture this program runs as,
// which is the one go-libaudit builds "b64" rules for.
func runtimeArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i386"
	}
	return runtime.GOARCH
}

// compatArchName is the 32-bit architecture a 64-bit one runs ("b32").
func compatArchName(native string) string {
	switch native {
	case "x86_64":
		return "i386"
	case "aarch64":
		return "arm"
	case "ppc64", "ppc64le":
		return "ppc"
	case "s390x":
		return "s390"
	}
	return ""
}

// nativeArches returns the AUDIT_ARCH values of this machine's 64-bit and
// 32-bit system call interfaces (compat is 0 when there is none).
func nativeArches() (native, compat uint32) {
	n, c := runtimeArch(), compatArchName(runtimeArch())
	for v, name := range auparse.AuditArchNames {
		switch name {
		case n:
			native = uint32(v)
		case c:
			compat = uint32(v)
		}
	}
	return native, compat
}

// syscallKnownSomewhere reports whether any architecture go-libaudit knows
// has a system call of this name: a rule naming one is fine as written
// but cannot load on machines that lack it.
func syscallKnownSomewhere(name string) bool {
	for _, table := range auparse.AuditSyscalls {
		for _, n := range table {
			if n == name {
				return true
			}
		}
	}
	return false
}
