//go:build !windows

package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"
)

func TestParseRules(t *testing.T) {
	tests := []struct {
		line string
		kind Kind
		want string // Canonical of the wire format
	}{
		{"-a always,exit -F arch=b64 -S openat,open -F key=x", KindRule, "-a always,exit -F arch=b64 -S open,openat -F key=x"},
		{"-a exit,always -F arch=b64 -S open -S openat -k x", KindRule, "-a always,exit -F arch=b64 -S open,openat -F key=x"},
		{"-Aalways,exit -Farch=b64 -Sexecve", KindRule, "-a always,exit -F arch=b64 -S execve"},
		{"-a always,exit -F arch=b64 -S 59", KindRule, "-a always,exit -F arch=b64 -S execve"},
		{"-a always,exit -F arch=b32 -S all -F key=32bit-abi", KindRule, "-a always,exit -F arch=b32 -S all -F key=32bit-abi"},
		{"-a always,exit -S all -F exit=-EINVAL -F key=einval-retcode", KindRule, "-a always,exit -S all -F exit=-EINVAL -F key=einval-retcode"},
		{"-a always,exit -F arch=b64 -S open -F a1&0100 -F a2&=03", KindRule, "-a always,exit -F arch=b64 -S open -F a1&64 -F a2&=3"},
		{"-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k setuid", KindRule, "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -F key=setuid"},
		{"-a always,exit -F dir=/home -F uid=0 -F auid>=1000 -F auid!=unset -C auid!=obj_uid -F key=power-abuse", KindRule,
			"-a always,exit -S all -F dir=/home -F uid=0 -F auid>=1000 -F auid!=-1 -C auid!=obj_uid -F key=power-abuse"},
		{"-a always,exit -F auid=root -F gid=root -F loginuid=0", KindRule, "-a always,exit -S all -F auid=0 -F gid=0 -F auid=0"},
		{"-a always,exit -F path=/usr/bin/su -F perm=x -F auid>=1000", KindRule, "-a always,exit -S all -F path=/usr/bin/su -F perm=x -F auid>=1000"},
		{"-a always,exit -F path=/etc/shadow -p WA -k shadow", KindRule, "-w /etc/shadow -p wa -k shadow"},
		{"-a always,exit -F arch=b64 -S setuid -F a0=0 -F exe=/usr/bin/su", KindRule, "-a always,exit -F arch=b64 -S setuid -F a0=0 -F exe=/usr/bin/su"},
		{"-a always,exclude -F msgtype=CRYPTO_KEY_USER", KindRule, "-a always,exclude -F msgtype=CRYPTO_KEY_USER"},
		{"-a never,user -F uid=0", KindRule, "-a never,user -F uid=0"},
		{"-a never,exclude -F msgtype=4000", KindRule, "-a never,exclude -F msgtype=UNKNOWN[4000]"},
		{"-a never,task", KindRule, "-a never,task"},
		{"-w /etc/passwd -p wa -k identity", KindRule, "-w /etc/passwd -p wa -k identity"},
		{"-w /etc/passwd -k identity -k passwd", KindRule, "-w /etc/passwd -p rwxa -k identity -k passwd"},
		{"-w /etc/passwd -p wa -F key=identity", KindRule, "-w /etc/passwd -p wa -k identity"},
		{"-w /nonexistent/dir/ -p x", KindRule, "-w /nonexistent/dir -p x"},
		{`-w /tmp/a\ b\\c -p w -k with\ space`, KindRule, `-w /tmp/a\ b\\c -p w -k with\ space`},
		{"-w /etc/passwd -p wa   # the password file", KindRule, "-w /etc/passwd -p wa"},
		{"\t -w /etc/passwd -p wa", KindRule, "-w /etc/passwd -p wa"},
		{"-a always,exit -F arch=b64 -S open -k a -F key=b", KindRule, "-a always,exit -F arch=b64 -S open -F key=a -F key=b"},
		{"-A never,exit -F path=/etc/passwd -F perm=w", KindRule, "-a never,exit -S all -F path=/etc/passwd -F perm=w"},
		{"-a never,exit -F path=/etc/passwd -F perm=w", KindRule, "-a never,exit -S all -F path=/etc/passwd -F perm=w"},
		{"-a always,exit -F perm=wa -k writes", KindRule, "-a always,exit -S all -F perm=wa -F key=writes"},
		{"-a never,filesystem -F fstype=tracefs", KindRule, "-a never,filesystem -F fstype=tracefs"},
		{"-a never,filesystem -F fstype=0x64626720 -k noisy", KindRule, "-a never,filesystem -F fstype=debugfs -F key=noisy"},
		{"-A never,filesystem -F fstype!=7", KindRule, "-a never,filesystem -F fstype!=0x7"},
		{"-a always,exit -F arch=b64 -S execve -F loginuid_set=1 -F sessionid!=unset -k s", KindRule,
			"-a always,exit -F arch=b64 -S execve -F loginuid_set=1 -F sessionid!=-1 -F key=s"},
		{"-a always,exit -F arch=b64 -S connect -F saddr_fam=10", KindRule, "-a always,exit -F arch=b64 -S connect -F saddr_fam=10"},
		{"-a always,exit -F arch=b64 -S open -F success=0 -F filetype=dir", KindRule, "-a always,exit -F arch=b64 -S open -F success=0 -F filetype=16384"},
		{"-d always,exit -F arch=b64 -S open", KindDelete, "-a always,exit -F arch=b64 -S open"},
		{"-W /etc/passwd -p wa -k identity", KindDelete, "-w /etc/passwd -p wa -k identity"},
	}
	for _, tt := range tests {
		l, err := Parse(tt.line, Source{Index: 7})
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if l.Kind != tt.kind || l.Unloadable != nil {
			t.Errorf("Parse(%q): kind %v, unloadable %v; want kind %v", tt.line, l.Kind, l.Unloadable, tt.kind)
			continue
		}
		got, err := Canonical(l.Wire)
		if err != nil {
			t.Errorf("Canonical(Parse(%q)): %v", tt.line, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.line, got, tt.want)
		}
		if prepend := strings.HasPrefix(tt.line, "-A"); (l.Wire[0]&prependFlag != 0) != prepend {
			t.Errorf("Parse(%q): prepend flag %v", tt.line, !prepend)
		}
		if l.Text != strings.TrimSpace(tt.line) || l.Src.Index != 7 {
			t.Errorf("Parse(%q): Text %q, Src %+v", tt.line, l.Text, l.Src)
		}
		// The canonical form is itself a rule that means the same.
		again, err := Parse(got, Source{})
		if err != nil {
			t.Errorf("Parse(Canonical %q): %v", got, err)
			continue
		}
		if back, _ := Canonical(again.Wire); back != got {
			t.Errorf("Canonical is not stable: %q parses back as %q", got, back)
		}
	}
}

func TestParseControl(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	tests := []struct {
		line      string
		want      Control
		immutable bool
	}{
		{"-D", Control{DeleteAll: true}, false},
		{"-D -k old", Control{DeleteAll: true, DeleteKey: "old"}, false},
		{"-b 8192", Control{BacklogLimit: u(8192)}, false},
		{"-b0x100", Control{BacklogLimit: u(256)}, false},
		{"-b 010", Control{BacklogLimit: u(8)}, false},
		{"-f 2", Control{Failure: u(2)}, false},
		{"-r 100", Control{RateLimit: u(100)}, false},
		{"-e 0", Control{Enabled: u(0)}, false},
		{"-e1", Control{Enabled: u(1)}, false},
		{"-e 2", Control{Enabled: u(2)}, true},
		{"--backlog_wait_time 60000", Control{BacklogWaitTime: u(60000)}, false},
		{"--backlog_wait_time=0", Control{BacklogWaitTime: u(0)}, false},
		{"--loginuid-immutable", Control{LoginuidImmutable: true}, true},
		{"--reset-lost", Control{ResetLost: true}, false},
		{"--reset_backlog_wait_time_actual", Control{ResetWaitActual: true}, false},
		{"-c", Control{ContinueOnError: true}, false},
		{"-i", Control{IgnoreErrors: true}, false},
		{"-cD", Control{ContinueOnError: true, DeleteAll: true}, false},
		{"-b 320 -f 1 -e 1", Control{BacklogLimit: u(320), Failure: u(1), Enabled: u(1)}, false},
	}
	for _, tt := range tests {
		l, err := Parse(tt.line, Source{})
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if l.Kind != KindControl || l.Wire != nil {
			t.Errorf("Parse(%q): kind %v, wire %d bytes", tt.line, l.Kind, len(l.Wire))
		}
		if !controlEqual(l.Control, tt.want) {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.line, showControl(l.Control), showControl(tt.want))
		}
		if l.Immutable() != tt.immutable {
			t.Errorf("Parse(%q).Immutable() = %v", tt.line, l.Immutable())
		}
	}
}

func controlEqual(a, b Control) bool { return showControl(a) == showControl(b) }

func showControl(c Control) string {
	p := func(v *uint32) string {
		if v == nil {
			return "-"
		}
		return strings.TrimSpace(strings.Repeat(" ", 0) + itoa(*v))
	}
	return strings.Join([]string{
		"D=" + boolStr(c.DeleteAll), "key=" + c.DeleteKey, "b=" + p(c.BacklogLimit), "r=" + p(c.RateLimit),
		"f=" + p(c.Failure), "e=" + p(c.Enabled), "bwt=" + p(c.BacklogWaitTime),
		"li=" + boolStr(c.LoginuidImmutable), "rl=" + boolStr(c.ResetLost), "rw=" + boolStr(c.ResetWaitActual),
		"c=" + boolStr(c.ContinueOnError), "i=" + boolStr(c.IgnoreErrors),
	}, " ")
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

func TestParseBlankAndComments(t *testing.T) {
	for _, line := range []string{"", "   ", "\t", "# a comment", "   ## -e 2", "#-a always,exit", "\r"} {
		l, err := Parse(line, Source{})
		if l != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nothing", line, l, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line string
		col  int
		msg  string
	}{
		{"-a always,exitt", 11, `unknown list or action "exitt"`},
		{"-a always", 4, "takes a list and an action"},
		{"-a always,never", 11, "two actions"},
		{"-a exit,task", 9, "two lists"},
		{"-a possible,exit", 4, "possible action is deprecated"},
		{"-a always,entry", 11, "entry list is deprecated"},
		{"-a always,io_uring -S 1", 11, "io_uring rules are not supported"},
		{"-a always,exit -F a0=abc", 22, `a0 takes a number, not "abc"`},
		{"-a always,exit -F foo=1", 19, `unknown field "foo"`},
		{"-a always,exit -F auidd=1", 19, `unknown field "auidd"; did you mean "auid"?`},
		{"-a always,exit -F auid", 19, `"auid" has no operator`},
		{"-a always,exit -F auid=", 24, "needs a value after auid="},
		{"-a always,exit -F =5", 19, "needs a field name before ="},
		{"-a always,exit -F auid~5", 23, `"~5" is not an operator`},
		{"-a always,exit -F arch=b64 -S opne", 31, `unknown system call "opne"; did you mean "open"?`},
		{"-a always,exit -S open -F arch=b64", 27, "-F arch must come before -S"},
		{"-a always,exit -F arch=b65", 24, `arch takes b64, b32 or an architecture name`},
		{"-a always,exit -F arch>b64", 23, "arch takes = and !=, not >"},
		{"-a always,exit -F uid&1", 22, "uid takes =, !=, <, >, <= and >=, not &"},
		{"-a always,exit -F perm=rwz", 26, `"z" is not a permission`},
		{"-a always,exit -F perm!=r", 23, "perm takes =, not !="},
		{"-a always,exit -F exit=-EFOO", 24, "exit takes a number or an errno name"},
		{"-a always,exit -F path=etc", 24, `path must be an absolute path, not "etc"`},
		{"-a always,exit -F path=/etc/", 24, "path= names a file and cannot end in /"},
		{"-a always,exit -F saddr_fam=3", 29, "saddr_fam takes 2 (AF_INET) or 10 (AF_INET6)"},
		{"-a always,exit -F loginuid_set=2", 32, "loginuid_set takes 0 or 1"},
		{"-a always,exit -F msgtype=USER_LOGIN", 19, "msgtype works on the user and exclude lists only"},
		{"-a always,exclude -F path=/x", 22, "path works on the exit list only"},
		{"-a always,exclude -F ppid=1", 22, "ppid works on the exit list only"},
		{"-a always,exclude -F euid=0", 22, "the exclude list takes only"},
		{"-a always,user -F msgtype=NOPE", 27, "msgtype takes a record type"},
		{"-a always,user -F msgtype=0200000", 27, "msgtype takes a record type number up to 65535"},
		{"-a always,task -S open", 16, "-S does not work on the task list"},
		{"-a always,exit -F fstype=tracefs", 19, "fstype works on the filesystem list only"},
		{"-a never,filesystem -F uid=0", 24, "the filesystem list takes only fstype and key"},
		{"-a never,filesystem -F fstype=nfs", 31, `unknown filesystem type "nfs"`},
		{"-a never,filesystem -F fstype<5", 30, "fstype takes = and !=, not <"},
		{"-a never,filesystem", 10, "needs -F fstype"},
		{"-a never,filesystem -F fstype=proc -S open", 36, "-S does not work on the filesystem list"},
		{"-a always,exit -F arch=b64 -S open,,close", 36, "empty system call name"},
		{"-a always,exit -S 2032", 19, "system call numbers go from 0 to 2031"},
		{"-a always,exit -S -1", 19, `system call numbers go from 0 to 2031, not "-1"`},
		{"-a always,exit -C uid!=foo", 24, `unknown field "foo"`},
		{"-a always,exit -C uid<euid", 22, "-C compares with = or != only"},
		{"-a always,user -C uid!=euid", 19, "-C works on the exit list only"},
		{"-a always,exit -k", 16, "-k needs a value"},
		{"-a always,exit -F key=", 23, "needs a value after key="},
		{"-a always,exit -F key!=x", 22, "key takes only ="},
		{"-a always,exit -k " + strings.Repeat("k", 257), 19, "at most 256 bytes"},
		{"-a always,exit -k a -k " + strings.Repeat("k", 255), 24, "at most 256 bytes"},
		{"-a always,exit -a always,exit", 16, "-a cannot follow -a"},
		{"-a always,exit -w /etc", 16, "-w cannot follow -a"},
		{"-w etc/passwd", 4, "must be absolute"},
		{"-w /etc/passwd -p wq", 20, `"q" is not a permission`},
		{"-w /etc/passwd -p rwxax", 19, "at most four letters"},
		{"-w /etc/passwd -S open", 16, "a watch (-w) takes no system calls"},
		{"-w /etc/passwd -F uid=0", 19, "a watch (-w) takes only -p and -k"},
		{`-w /tmp/a\ b -p q`, 17, `"q" is not a permission`},
		{"-k foo -w /etc/passwd", 1, "-k needs a rule or watch before it"},
		{"-p wa -w /etc/passwd", 1, "-p needs a watch"},
		{"-F arch=b64 -a always,exit", 1, "-F needs a list"},
		{"-C uid=euid", 1, "-C needs a list"},
		{"-S open", 1, "-S needs a rule"},
		{"-x", 1, "unknown option -x"},
		{"-cx", 3, "unknown option -x"},
		{"-D foo", 4, `unexpected "foo"`},
		{"always,exit", 1, `unexpected "always,exit"`},
		{"- a", 1, `unexpected "-"`},
		{"-b", 1, "-b needs a value"},
		{"-b abc", 4, `-b takes a number, not "abc"`},
		{"-b -1", 4, `-b takes a number, not "-1"`},
		{"-b 4294967296", 4, "-b takes a number"},
		{"-r 1_000", 4, "-r takes a number"},
		{"-e 3", 4, "-e takes 0, 1 or 2"},
		{"-f 10", 4, "-f takes 0, 1 or 2"},
		{"--backlog_wait_time", 1, "--backlog_wait_time needs a value"},
		{"--backlog_wait_time=2147483648", 21, "--backlog_wait_time is at most 2147483647"},
		{"--loginuid-immutable=1", 1, "--loginuid-immutable takes no value"},
		{"--nope", 1, "unknown option --nope"},
		{"-l", 1, "-l lists the rules: it is a command"},
		{"-s", 1, "-s prints the status"},
		{"-R /etc/audit/audit.rules", 1, "-R reads another rule file"},
		{"--signal TERM", 1, "--signal signals the audit daemon"},
		{"-D -b 10 -a always,exit", 10, "settings (-D, -b, -e, -f, -r, ...) and rules go on separate lines"},
		{"-a always,exit -S open -e 1", 24, "settings (-D, -b, -e, -f, -r, ...) and rules go on separate lines"},
		{"-D -k a -k b", 12, "-D takes one key"},
		{"-D -k a -b 5", 9, "-D -k KEY goes on a line of its own"},
		{"-w /etc/passwd\x00", 15, "NUL byte"},
		{"-w /etc/passwd\n-w /etc/shadow", 15, "one rule per line"},
	}
	for _, tt := range tests {
		l, err := Parse(tt.line, Source{})
		var le *LineError
		if !errors.As(err, &le) {
			t.Errorf("Parse(%q) = %v, %v; want an error at column %d", tt.line, l, err, tt.col)
			continue
		}
		if le.Column != tt.col || !strings.Contains(le.Err.Error(), tt.msg) {
			t.Errorf("Parse(%q):\n got column %d: %v\nwant column %d: …%s…", tt.line, le.Column, le.Err, tt.col, tt.msg)
		}
	}
}

// Rules that are right but name what this machine lacks parse into lines
// that say why they cannot load, pointing at the culprit.
func TestParseUnloadable(t *testing.T) {
	tests := []struct {
		line string
		col  int
		msg  string
	}{
		{"-a always,exit -F uid=engine-no-such-user", 23, `no user "engine-no-such-user" on this machine`},
		{"-a always,exit -F auid>=1000 -F egid=engine-no-such-group", 38, `no group "engine-no-such-group"`},
		{"-a never,exit -F arch=b64 -S adjtimex -F auid=unset -F uid=engine-no-such-user -F subj_type=chronyd_t", 60, "no user"},
	}
	// A system call that another architecture has and this one does not.
	native := auparse.AuditSyscalls[runtimeArch()]
	for _, name := range []string{"socketcall", "ipc", "arm_fadvise64_64", "open"} {
		found := false
		for _, n := range native {
			found = found || n == name
		}
		if !found {
			tests = append(tests, struct {
				line string
				col  int
				msg  string
			}{"-a always,exit -F arch=b64 -S read," + name, 36, name})
			break
		}
	}
	for _, tt := range tests {
		l, err := Parse(tt.line, Source{})
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		var le *LineError
		if l.Wire != nil || !errors.As(l.Unloadable, &le) {
			t.Errorf("Parse(%q): wire %d bytes, unloadable %v; want unloadable", tt.line, len(l.Wire), l.Unloadable)
			continue
		}
		if le.Column != tt.col || !strings.Contains(le.Err.Error(), tt.msg) {
			t.Errorf("Parse(%q) unloadable:\n got column %d: %v\nwant column %d: …%s…", tt.line, le.Column, le.Err, tt.col, tt.msg)
		}
	}
	// The rest of such a rule is still checked.
	if _, err := Parse("-a always,exit -F uid=engine-no-such-user -F a0=x", Source{}); err == nil {
		t.Error("a syntax error after an unknown user was not reported")
	}
}

func TestTokenize(t *testing.T) {
	toks := tokenize(`  -w /a\ b\\c\d -k x#y  #comment -k z`)
	var got []string
	for _, tok := range toks {
		got = append(got, tok.s)
	}
	want := []string{"-w", `/a b\c\d`, "-k", "x#y"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tokenize: got %q, want %q", got, want)
	}
	// Columns follow the escapes: the 'c' of the second word is byte 13.
	if c := toks[1].colAt(5); c != 13 {
		t.Errorf("column of c = %d, want 13", c)
	}
	if c := toks[1].colAt(len(toks[1].s)); c != 16 {
		t.Errorf("column after the word = %d, want 16", c)
	}
}
