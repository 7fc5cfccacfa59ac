package rules

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"
)

// debianRuleFiles returns the rule files of Debian's auditd package, which
// scripts/fetch-ausearch unpacks under .cache/auditd.
func debianRuleFiles(t testing.TB) []string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", ".cache", "auditd", "root", "usr", "share", "doc", "auditd", "examples", "rules")
	files, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
	if len(files) == 0 {
		t.Skipf("Debian's audit rule library is not in %s: run scripts/fetch-ausearch (scripts/test does)", dir)
	}
	return files
}

// debianLines returns every non-blank, non-comment line of the library.
func debianLines(t testing.TB) []string {
	var out []string
	for _, f := range debianRuleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// The encoder and decoder reproduce go-libaudit's bytes exactly, and the
// parser builds the same rules go-libaudit's own parser does wherever that
// parser takes the line.
func TestWireMatchesLibaudit(t *testing.T) {
	lines := append(debianLines(t),
		"-a always,exclude -F msgtype=CRYPTO_KEY_USER",
		"-a never,user -F uid=0 -F subj_type=x_t",
		"-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k setuid",
		"-w /etc/shadow -p r",
		"-a always,exit -F arch=b64 -S connect -F saddr_fam=2 -F success=0",
	)
	compared := 0
	for _, line := range lines {
		r, err := flags.Parse(line)
		if err != nil {
			continue // control lines, the filesystem list
		}
		want, err := rule.Build(r)
		if err != nil {
			continue // a user this machine lacks
		}
		d, err := decodeRule(want)
		if err != nil {
			t.Errorf("decoding go-libaudit's %q: %v", line, err)
			continue
		}
		again, err := encodeRule(d)
		if err != nil || !bytes.Equal(again, want) {
			t.Errorf("%q: re-encoding go-libaudit's bytes differs (%v)\n%s", line, err, diffWords(want, again))
		}
		l, err := Parse(line, Source{})
		if err != nil {
			t.Errorf("Parse(%q): %v", line, err)
			continue
		}
		got := l.Wire
		if strings.Contains(line, "task,never") {
			// auditctl sends task rules without system calls;
			// go-libaudit sends all of them. Nothing else differs.
			d.mask = [bitmaskWords]uint32{}
			want, _ = encodeRule(d)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Parse(%q) differs from go-libaudit:\n%s", line, diffWords(want, got))
		}
		compared++
	}
	t.Logf("%d rules built as go-libaudit builds them", compared)
	if compared < 200 {
		t.Errorf("compared only %d rules with go-libaudit", compared)
	}
}

func diffWords(want, got []byte) string {
	var b strings.Builder
	if len(want) != len(got) {
		b.WriteString("length " + itoa(uint32(len(got))) + ", want " + itoa(uint32(len(want))) + "\n")
	}
	for off := 0; off+4 <= len(want) && off+4 <= len(got); off += 4 {
		w, g := binary.NativeEndian.Uint32(want[off:]), binary.NativeEndian.Uint32(got[off:])
		if w != g {
			b.WriteString("offset " + itoa(uint32(off)) + ": got " + itoa(g) + ", want " + itoa(w) + "\n")
		}
	}
	return b.String()
}

// A filesystem rule is laid out as an exit rule is: go-libaudit cannot
// build one, so the same rule on the exit list with a field go-libaudit
// knows in place of fstype must differ only in the list and the field id.
func TestFilesystemRuleLayout(t *testing.T) {
	l, err := Parse("-a never,filesystem -F fstype=tracefs -k noisy", Source{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := flags.Parse("-a never,exit -F devmajor=0x74726163 -k noisy")
	if err != nil {
		t.Fatal(err)
	}
	exit, err := rule.Build(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Wire) != len(exit) {
		t.Fatalf("filesystem rule is %d bytes, the exit rule %d", len(l.Wire), len(exit))
	}
	for off := 0; off < len(exit); off += 4 {
		g, w := binary.NativeEndian.Uint32(l.Wire[off:]), binary.NativeEndian.Uint32(exit[off:])
		switch off {
		case offFlags:
			if g != listFS || w != listExit {
				t.Errorf("flags: %d (exit rule %d), want %d", g, w, listFS)
			}
		case offFields:
			if g != fieldFSType || w != fieldDevMajor {
				t.Errorf("field 0: %d (exit rule %d), want %d", g, w, fieldFSType)
			}
		default:
			if g != w {
				t.Errorf("offset %d: %#x, the exit rule has %#x", off, g, w)
			}
		}
	}
	// And the words themselves, as linux/audit.h lays them out.
	u := func(off int) uint32 { return binary.NativeEndian.Uint32(l.Wire[off:]) }
	want := map[int]uint32{
		0: listFS, 4: actionNever, 8: 2, // flags, action, field_count
		12: 0xffffffff, 12 + 4*62: 0xffffffff, 12 + 4*63: 0x0000ffff, // mask
		268: fieldFSType, 272: fieldFilterKey, 276: 0, // fields
		524: 0x74726163, 528: 5, // values: the magic, len("noisy")
		780: opEqual, 784: opEqual, // fieldflags
		1036: 5, // buflen
	}
	for off, v := range want {
		if u(off) != v {
			t.Errorf("word at offset %d = %#x, want %#x", off, u(off), v)
		}
	}
	if got := string(l.Wire[1040:]); got != "noisy\x00\x00\x00" || len(l.Wire) != 1048 {
		t.Errorf("buffer %q, length %d; want the key padded to 1048 bytes", got, len(l.Wire))
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	l, err := Parse("-w /etc/passwd -p wa -k identity", Source{})
	if err != nil {
		t.Fatal(err)
	}
	good := l.Wire
	put := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.NativeEndian.PutUint32(b[off:], v)
		return b
	}
	for name, w := range map[string][]byte{
		"short header":     good[:ruleHeaderLen-1],
		"buflen too long":  put(offBufLen, 1<<20),
		"65 fields":        put(offFieldCount, 65),
		"string overrun":   put(offValues, 1000),
		"buffer cut short": good[:ruleHeaderLen+3],
	} {
		if _, err := decodeRule(w); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
		if _, err := Canonical(w); err == nil {
			t.Errorf("%s: Canonical without error", name)
		}
	}
}

func TestFilesystemMagicNumbers(t *testing.T) {
	// Check the table against the filesystems mounted here.
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	checked := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		i := 0
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 >= len(f) || len(f) < 5 {
			continue
		}
		fstype, mountpoint := f[i+1], f[4]
		magic, ok := fstypeMagic(fstype)
		if !ok {
			continue
		}
		got, err := statfsType(mountpoint)
		if err != nil {
			continue
		}
		if got != magic {
			t.Errorf("%s on %s has magic %#x, the table says %#x", fstype, mountpoint, got, magic)
		}
		checked++
	}
	t.Logf("checked %d mounted filesystems", checked)
}
