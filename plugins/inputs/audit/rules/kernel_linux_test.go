package rules_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

// These tests load rules into the running kernel. audittest.Lock runs them
// one at a time on the machine and puts back the rules and settings they
// found. None of them sends -e 2 or --loginuid-immutable.

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// debianRules returns the rule files of Debian's auditd package, which
// scripts/fetch-ausearch unpacks under .cache/auditd.
func debianRules(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range debianRulesB(t) {
		out[filepath.Base(f)] = f
	}
	return out
}

func debianRulesB(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(repoRoot(), ".cache", "auditd", "root", "usr", "share", "doc", "auditd", "examples", "rules")
	files, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
	if len(files) == 0 {
		t.Skipf("Debian's audit rule library is not in %s: run scripts/fetch-ausearch (scripts/test does)", dir)
	}
	return files
}

func parse(t *testing.T, texts ...string) []rules.Line {
	t.Helper()
	var out []rules.Line
	for i, text := range texts {
		l, err := rules.Parse(text, rules.Source{Index: i})
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		out = append(out, *l)
	}
	return out
}

func listed(t *testing.T, c rules.Client) []string {
	t.Helper()
	rs, err := c.GetRules()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		if out[i], err = rules.Canonical(r); err != nil {
			t.Fatalf("Canonical of a listed rule: %v", err)
		}
	}
	return out
}

// kernelOrder is the order the kernel lists rules added one by one to
// empty lists: by list; in each, the -A rules last added first, then the
// others as added.
func kernelOrder(t *testing.T, added []rules.Line) []string {
	t.Helper()
	var lists [8]struct{ prepended, appended []string }
	for _, l := range added {
		flags := binary.NativeEndian.Uint32(l.Wire)
		c, err := rules.Canonical(l.Wire)
		if err != nil {
			t.Fatal(err)
		}
		list := &lists[flags&^0x10]
		if flags&0x10 != 0 {
			list.prepended = append([]string{c}, list.prepended...)
		} else {
			list.appended = append(list.appended, c)
		}
	}
	var out []string
	for _, l := range lists {
		out = append(append(out, l.prepended...), l.appended...)
	}
	return out
}

// explained reports whether a warning is one this machine accounts for: a
// rule that cannot be built here, or one naming a path missing here.
func explained(w *rules.Warning, lines []rules.Line) bool {
	for _, l := range lines {
		if l.Src != w.Src {
			continue
		}
		if l.Unloadable != nil {
			return true
		}
		if !strings.Contains(w.Err.Error(), "no such file or directory") {
			return false
		}
		f := strings.Fields(l.Text)
		for i, tok := range f {
			var p string
			switch {
			case strings.HasPrefix(tok, "dir="):
				p = strings.TrimPrefix(tok, "dir=")
			case strings.HasPrefix(tok, "path="):
				p = filepath.Dir(strings.TrimPrefix(tok, "path="))
			case tok == "-w" && i+1 < len(f):
				p = filepath.Dir(f[i+1])
			default:
				continue
			}
			if _, err := os.Stat(p); err != nil {
				return true
			}
		}
	}
	return false
}

func TestDebianLibraryLoadsIntoTheKernel(t *testing.T) {
	files := debianRules(t)
	s := audittest.Lock(t)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var summary []string
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			lines, errs := rules.ParseFile(files[name])
			if len(errs) > 0 {
				t.Fatalf("%d lines do not parse: %v", len(errs), errs)
			}
			immutable := slices.ContainsFunc(lines, func(l rules.Line) bool { return l.Immutable() })
			before, err := rules.Snapshot(s.Client)
			if err != nil {
				t.Fatal(err)
			}
			all := append(parse(t, "-D"), lines...)
			rep, err := rules.Apply(s.Client, all, rules.ApplyOptions{})
			if immutable {
				// 11-loginuid.rules: refused whole, nothing changed.
				after, _ := rules.Snapshot(s.Client)
				if err == nil || !strings.Contains(err.Error(), "immutable") || !after.Equal(before) {
					t.Fatalf("a file making audit immutable: err %v, state changed %v", err, !after.Equal(before))
				}
				summary = append(summary, name+": refused (immutable)")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := listed(t, s.Client), kernelOrder(t, rep.Added); !slices.Equal(got, want) {
				t.Errorf("the kernel lists\n\t%s\nwant what was loaded\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
			for _, w := range rep.Warnings {
				if !explained(w, lines) {
					t.Errorf("unexplained warning: %v", w)
				}
				t.Logf("warning: %v", w)
			}
			summary = append(summary, name+": "+strconv.Itoa(len(rep.Added))+" rules loaded, "+strconv.Itoa(len(rep.Warnings))+" warnings")
		})
	}
	t.Logf("Debian's rule library on this machine:\n\t%s", strings.Join(summary, "\n\t"))
}

// The files augenrules would join for a STIG machine, as the README of
// the library suggests, plus the filesystem rules.
func TestAugenrulesCombinationLoads(t *testing.T) {
	files := debianRules(t)
	s := audittest.Lock(t)
	var globs []string
	for _, name := range []string{"99-finalize.rules", "10-base-config.rules", "30-stig.rules", "31-privileged.rules", "43-module-load.rules", "23-ignore-filesystems.rules"} {
		globs = append(globs, files[name])
	}
	lines, err := rules.Load(rules.Config{RuleFiles: globs})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rules.Apply(s.Client, lines, rules.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := listed(t, s.Client)
	if want := kernelOrder(t, rep.Added); !slices.Equal(got, want) {
		t.Errorf("the kernel lists\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	for _, want := range []string{"-a never,filesystem -F fstype=tracefs", "-a never,filesystem -F fstype=debugfs",
		"-w /etc/shadow -p wa -k identity", "-a always,exit -F arch=b64 -S init_module,finit_module -F key=module-load"} {
		if !slices.Contains(got, want) {
			t.Errorf("the kernel lacks %q", want)
		}
	}
	for _, w := range rep.Warnings {
		if !explained(w, lines) {
			t.Errorf("unexplained warning: %v", w)
		}
	}
	st, err := s.Client.GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.BacklogLimit != 8192 || st.BacklogWaitTime != 60000 || st.Failure != 1 {
		t.Errorf("status %+v, want backlog_limit 8192, backlog_wait_time 60000, failure 1 from 10-base-config.rules", st)
	}
	t.Logf("%d rules loaded, %d warnings, settings %+v", len(rep.Added), len(rep.Warnings), rep.Settings)
}

// The kernel takes filesystem rules encoded here and lists them back byte
// for byte.
func TestFilesystemRulesInTheKernel(t *testing.T) {
	s := audittest.Lock(t)
	lines := parse(t, "-D",
		"-a never,filesystem -F fstype=tracefs -k noisy",
		"-A never,filesystem -F fstype=debugfs",
		"-a never,filesystem -F fstype!=0x9fa0",
	)
	if _, err := rules.Apply(s.Client, lines, rules.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.GetRules()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel drops the prepend flag of -A once the rule is in place.
	prepended := bytes.Clone(lines[2].Wire)
	prepended[0] &^= 0x10
	want := [][]byte{prepended, lines[1].Wire, lines[3].Wire}
	if len(got) != len(want) {
		t.Fatalf("the kernel lists %d rules: %q", len(got), listed(t, s.Client))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			c, _ := rules.Canonical(want[i])
			t.Errorf("rule %d (%s): the kernel lists other bytes", i, c)
		}
	}
	// And deletes them when asked with the same rule.
	if _, err := rules.Apply(s.Client, parse(t, "-d never,filesystem -F fstype=tracefs -k noisy"), rules.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, s.Client); !slices.Equal(got, []string{"-a never,filesystem -F fstype=debugfs", "-a never,filesystem -F fstype!=proc"}) {
		t.Errorf("after -d the kernel lists %q", got)
	}
}

func TestDeleteLinesInTheKernel(t *testing.T) {
	s := audittest.Lock(t)
	rep, err := rules.Apply(s.Client, parse(t, "-D",
		"-w /etc/passwd -p wa -k identity",
		"-w /etc/group -p wa -k identity",
		"-a always,exit -F arch=b64 -S open -k files",
		"-a always,exit -F arch=b64 -S openat -k files",
		"-W /etc/group -p wa -k identity",
		"-d always,exit -F arch=b64 -S open -k files",
		"-d always,exit -F arch=b64 -S open -k files",
		"-D -k identity",
	), rules.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, s.Client); !slices.Equal(got, []string{"-a always,exit -F arch=b64 -S openat -F key=files"}) {
		t.Errorf("the kernel lists %q", got)
	}
	if rep.Deleted != 3 || len(rep.Warnings) != 1 || rep.Warnings[0].Src.Index != 7 {
		t.Errorf("deleted %d, warnings %v", rep.Deleted, rep.Warnings)
	}
}

// Restore puts back rules added with -A in their place, byte for byte, and
// the status values.
func TestSnapshotRestoreInTheKernel(t *testing.T) {
	s := audittest.Lock(t)
	if _, err := rules.Apply(s.Client, parse(t, "-D",
		"-a always,exit -F arch=b64 -S open -k first",
		"-A never,exit -F arch=b64 -S all -F pid=1",
		"-w /etc/passwd -p wa",
		"-A never,exit -F arch=b64 -S all -F pid=2",
		"-A never,filesystem -F fstype=tracefs",
		"-a never,task",
		"-a always,exit -F arch=b64 -S execve -F loginuid_set=1 -F sessionid!=unset",
		"-b 321", "-r 0", "-f 1", "--backlog_wait_time 15000", "-e 1",
	), rules.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	saved, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Apply(s.Client, parse(t, "-D", "-w /etc/shadow -p r", "-b 123", "-r 5", "-f 0", "--backlog_wait_time 1000", "-e 0"), rules.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := saved.Restore(s.Client); err != nil {
		t.Fatal(err)
	}
	now, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !now.Equal(saved) || !slices.EqualFunc(now.Rules, saved.Rules, bytes.Equal) {
		t.Errorf("after Restore: %+v %q\nwant %+v %q", now.Status, listed(t, s.Client), saved.Status, saved.Rules)
	}
	if saved.Status.BacklogLimit != 321 {
		t.Errorf("snapshot status %+v", saved.Status)
	}
}

func TestImmutableIsNeverSent(t *testing.T) {
	s := audittest.Lock(t)
	before, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	for _, last := range []string{"-e 2", "--loginuid-immutable"} {
		_, err := rules.Apply(s.Client, parse(t, "-D", "-w /etc/passwd -p wa", last), rules.ApplyOptions{})
		if err == nil {
			t.Fatalf("%s was applied", last)
		}
	}
	after, err := rules.Snapshot(s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("a refused rule set changed the kernel: %+v", after)
	}
}

// auditctl is auditd's own loader; scripts/fetch-ausearch unpacks it with
// ausearch. Rules it loads and rules Apply loads are the same bytes in the
// kernel.
func TestSameRulesAsAuditctl(t *testing.T) {
	files := debianRules(t)
	root := filepath.Join(repoRoot(), ".cache", "auditd", "root")
	auditctl := filepath.Join(root, "sbin", "auditctl")
	libs, _ := filepath.Glob(filepath.Join(root, "lib", "*", "libauparse.so.0"))
	if _, err := os.Stat(auditctl); err != nil || len(libs) == 0 {
		t.Skipf("auditctl is not in %s: run scripts/fetch-ausearch", root)
	}
	s := audittest.Lock(t)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	compared := 0
	for _, name := range names {
		lines, errs := rules.ParseFile(files[name])
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		// Only rules: the settings lines are not compared, and the
		// immutable ones must never reach the kernel.
		text := []string{"-c", "-D"}
		var ours []rules.Line
		for _, l := range lines {
			if l.Kind == rules.KindControl {
				continue
			}
			text = append(text, l.Text)
			ours = append(ours, l)
		}
		if len(ours) == 0 {
			continue
		}
		for _, l := range text {
			if strings.HasPrefix(l, "-e") || strings.Contains(l, "immutable") {
				t.Fatalf("refusing to run auditctl on %q", l)
			}
		}
		tmp := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(tmp, []byte(strings.Join(text, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(auditctl, "-R", tmp)
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Dir(libs[0]))
		out, _ := cmd.CombinedOutput() // -c: it reports the lines it could not load and goes on
		theirs, err := s.Client.GetRules()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rules.Apply(s.Client, append(parse(t, "-D"), ours...), rules.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		mine, err := s.Client.GetRules()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(theirs, mine, bytes.Equal) {
			t.Errorf("%s: auditctl loaded\n\t%s\nApply loaded\n\t%s\nauditctl said: %s", name,
				strings.Join(canon(theirs), "\n\t"), strings.Join(canon(mine), "\n\t"), out)
		}
		compared += len(mine)
	}
	t.Logf("%d rules identical to auditctl's", compared)
	if compared < 200 {
		t.Errorf("compared only %d rules", compared)
	}
}

func canon(rs [][]byte) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = rules.Canonical(r)
	}
	return out
}

var _ rules.Client = (*libaudit.AuditClient)(nil)
