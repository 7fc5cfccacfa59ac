//go:build !windows

// Package audittype names kernel audit record types: go-libaudit's table,
// completed with the types newer kernels write that it does not know yet.
// The audit input writes records with these names and the coalesce
// processor reads them back, so both use this package.
package audittype

import (
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// newer are kernel record types missing from go-libaudit v2.6.2's table,
// with their numbers from linux/audit.h.
var newer = map[string]uint16{
	"IPE_ACCESS":        1420,
	"IPE_CONFIG_CHANGE": 1421,
	"IPE_POLICY_LOAD":   1422,
	"LANDLOCK_ACCESS":   1423,
	"LANDLOCK_DOMAIN":   1424,
	"MAC_TASK_CONTEXTS": 1425,
	"MAC_OBJ_CONTEXTS":  1426,
}

// MaxType bounds the type numbers the table holds by name.
const MaxType = 4096

var names [MaxType]string

func init() {
	for t := 0; t < MaxType; t++ {
		name := auparse.AuditMessageType(t).String()
		if !strings.HasPrefix(name, "UNKNOWN[") {
			names[t] = name
		}
	}
	for name, t := range newer {
		if names[t] == "" {
			names[t] = name
		}
	}
}

// Name returns the record type's name as auditd writes it ("SYSCALL"), or
// "UNKNOWN[1234]" when it has none.
func Name(t uint16) string {
	if int(t) < MaxType && names[t] != "" {
		return names[t]
	}
	return "UNKNOWN[" + strconv.Itoa(int(t)) + "]"
}

// Known reports whether t has a name.
func Known(t uint16) bool { return int(t) < MaxType && names[t] != "" }

// Newer returns the names this package adds to go-libaudit's table.
func Newer() map[string]uint16 {
	out := make(map[string]uint16, len(newer))
	for k, v := range newer {
		out[k] = v
	}
	return out
}
