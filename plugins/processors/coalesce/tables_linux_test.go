//go:build linux

package coalesce

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"
	"golang.org/x/sys/unix"

	"github.com/engine-audit/engine/internal/audittype"
)

// The tables in ztables.go are go-libaudit's, as data: they must give the
// same answers as the library does, here on Linux where it builds.
func TestTablesMatchGoLibaudit(t *testing.T) {
	newer := audittype.Newer()
	isNewer := map[uint16]string{}
	for name, n := range newer {
		isNewer[n] = name
	}
	for n := 0; n < 1<<16; n++ {
		mt := auparse.AuditMessageType(n)
		want := mt.String()
		if name, ok := isNewer[uint16(n)]; ok && strings.HasPrefix(want, "UNKNOWN[") {
			want = name
		}
		if got := typeName(uint16(n)); got != want {
			t.Fatalf("typeName(%d) = %q, go-libaudit %q", n, got, want)
		}
		if got := typeLower(uint16(n)); got != strings.ToLower(want) {
			t.Fatalf("typeLower(%d) = %q, want %q", n, got, strings.ToLower(want))
		}
		if got, want := typeCategory(uint16(n)), aucoalesce.GetAuditEventType(mt).String(); got != want {
			t.Fatalf("typeCategory(%d) = %q, go-libaudit %q", n, got, want)
		}
	}
	names := []string{"UNKNOWN[1234]", "unknown[7]", "FOO[65535]", "X[65536]", "[]", "nope", "", "syscall", "Path", "ipe_access", "IPE_ACCESS", "LANDLOCK_DOMAIN"}
	for n := 0; n < 4096; n++ {
		if s := auparse.AuditMessageType(n).String(); !strings.HasPrefix(s, "UNKNOWN[") {
			names = append(names, s, strings.ToLower(s))
		}
	}
	for _, name := range names {
		got, ok := lookupType(name)
		mt, err := auparse.GetAuditMessageType(name)
		if n, isNew := newer[name]; isNew {
			if !ok || got != n {
				t.Errorf("lookupType(%q) = %d, %v; want %d", name, got, ok, n)
			}
			continue
		}
		if ok != (err == nil) || (ok && got != uint16(mt)) {
			t.Errorf("lookupType(%q) = %d, %v; go-libaudit %d, %v", name, got, ok, mt, err)
		}
	}

	consts := map[uint16]auparse.AuditMessageType{
		typeSyscall: auparse.AUDIT_SYSCALL, typePath: auparse.AUDIT_PATH, typeSockaddr: auparse.AUDIT_SOCKADDR,
		typeExecve: auparse.AUDIT_EXECVE, typeEOE: auparse.AUDIT_EOE, typeProctitle: auparse.AUDIT_PROCTITLE,
		typeSeccomp: auparse.AUDIT_SECCOMP, typeAVC: auparse.AUDIT_AVC, typeLogin: auparse.AUDIT_LOGIN,
		typeCredDisp: auparse.AUDIT_CRED_DISP, typeUserStart: auparse.AUDIT_USER_START, typeUserEnd: auparse.AUDIT_USER_END,
		typeUserCmd: auparse.AUDIT_USER_CMD, typeTTY: auparse.AUDIT_TTY, typeUserTTY: auparse.AUDIT_USER_TTY,
		typeUserLogin: auparse.AUDIT_USER_LOGIN, typeCWD: auparse.AUDIT_CWD,
		lastStandaloneLow: auparse.AUDIT_LAST_DAEMON, firstStandaloneHigh: auparse.AUDIT_ANOM_LOGIN_FAILURES,
	}
	if len(consts) != 19 {
		t.Errorf("record type constants collide: %d distinct of 19", len(consts))
	}
	for ours, lib := range consts {
		if ours != uint16(lib) {
			t.Errorf("constant %d, go-libaudit %d (%v)", ours, uint16(lib), lib)
		}
	}

	if len(arches) != len(auparse.AuditArchNames) {
		t.Errorf("%d architectures, go-libaudit %d", len(arches), len(auparse.AuditArchNames))
	}
	for _, a := range arches {
		if want := auparse.AuditArch(a.code).String(); a.name != want {
			t.Errorf("arch %#x: %q, go-libaudit %q", a.code, a.name, want)
		}
		table := auparse.AuditSyscalls[a.name]
		for num, sc := range table {
			if num >= 0 && num < len(a.syscalls) && a.syscalls[num] != sc {
				t.Errorf("%s syscall %d: %q, go-libaudit %q", a.name, num, a.syscalls[num], sc)
			}
		}
		n := 0
		for _, sc := range a.syscalls {
			if sc != "" {
				n++
			}
		}
		if n != len(table) {
			t.Errorf("%s: %d syscalls, go-libaudit %d", a.name, n, len(table))
		}
	}
	for n, name := range auparse.AuditErrnoToName {
		if n >= 0 && errnoNames[n] != name {
			t.Errorf("errno %d: %q, go-libaudit %q", n, errnoNames[n], name)
		}
	}
	for i := range signalNames {
		if want := unix.SignalName(syscall.Signal(i)); signalNames[i] != want {
			t.Errorf("signal %d: %q, Linux %q", i, signalNames[i], want)
		}
	}
}

// ztables.go is what gentables writes today.
func TestTablesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := filepath.Join(t.TempDir(), "ztables.go")
	cmd := exec.Command("go", "run", "./internal/gentables", "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gentables: %v", err)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("ztables.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("ztables.go is out of date: run go generate ./plugins/processors/coalesce/")
	}
}
