//go:build !windows

package rules

import (
	"errors"
	"fmt"
	"math"
	"os/user"
	"path"
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/elastic/go-libaudit/v2/rule"
)

// Parse parses one line of audit rules in auditctl syntax. It returns nil,
// nil for a blank line or a comment. Errors are *LineError with the column
// of the problem in text. Parse reads the local user and group databases
// (for -F uid=name) and stats watched paths (a watch on a directory is a
// different rule than one on a file), but does not touch the kernel.
func Parse(text string, src Source) (*Line, error) {
	if i := strings.IndexAny(text, "\n\x00"); i >= 0 {
		if text[i] == 0 {
			return nil, errAt(i+1, "a NUL byte cannot be part of a rule")
		}
		return nil, errAt(i+1, "one rule per line: this one holds a line break")
	}
	toks := tokenize(text)
	if len(toks) == 0 {
		return nil, nil
	}
	opts, lerr := scanOptions(toks)
	if lerr != nil {
		return nil, lerr
	}
	b := &builder{line: &Line{Src: src, Text: strings.TrimSpace(text)}}
	for _, o := range opts {
		if lerr := b.option(o); lerr != nil {
			return nil, lerr
		}
	}
	if lerr := b.finish(); lerr != nil {
		return nil, lerr
	}
	return b.line, nil
}

// builder collects a line's options and then builds the line.
type builder struct {
	line *Line

	op      string // "a", "A", "d", "w" or "W": what the line does to rules
	opCol   int
	list    uint32
	action  uint32
	listCol int

	watch    token // -w, -W
	perm     *fieldRef
	syscalls []syscallRef
	sysCol   int // column of the first -S
	fields   []*fieldRef
	keys     []keyRef

	control    bool // a control option was seen
	controlCol int
	settingCol int // column of the first option that sets a status value
}

type syscallRef struct {
	name string
	col  int
}

type keyRef struct {
	key string
	col int
}

// fieldRef is one -F or -C.
type fieldRef struct {
	name    string
	id      uint32
	op      string
	opCode  uint32
	value   string
	nameCol int
	opCol   int
	valCol  int
	compare bool
	val     token // the value, for columns inside it
}

func (b *builder) option(o option) *LineError {
	if what, ok := commands[o.name]; ok {
		return errAt(o.col, "%s %s: it is a command, not a rule; remove it from the rules", o.flag(), what)
	}
	switch o.name {
	case "a", "A", "d":
		if b.op != "" {
			return b.second(o)
		}
		b.op, b.opCol = o.name, o.col
		return b.listAction(o)
	case "w", "W":
		if b.op != "" {
			return b.second(o)
		}
		b.op, b.opCol, b.watch = o.name, o.col, o.arg
		return checkWatchPath(o.arg)
	case "p":
		if b.op == "" {
			return errAt(o.col, "-p needs a watch (-w or -W) or a rule before it")
		}
		return b.addPerm(o)
	case "k":
		if b.op == "" && !b.line.Control.DeleteAll {
			return errAt(o.col, "-k needs a rule or watch before it")
		}
		return b.addKey(o.arg.s, o.arg.colAt(0))
	case "F":
		if b.op == "" {
			return errAt(o.col, "-F needs a list before it: -a, -A or -d")
		}
		return b.addField(o)
	case "C":
		if b.op == "" || b.op == "w" || b.op == "W" {
			return errAt(o.col, "-C needs a list before it: -a, -A or -d")
		}
		return b.addComparison(o)
	case "S":
		if b.op == "w" || b.op == "W" {
			return errAt(o.col, "a watch (-%s) takes no system calls; write it as -a always,exit -F path=... -S ...", b.op)
		}
		return b.addSyscalls(o)
	}
	// Control options.
	if !b.control {
		b.control, b.controlCol = true, o.col
	}
	switch o.name {
	case "D", "c", "i":
	default:
		if b.settingCol == 0 {
			b.settingCol = o.col
		}
	}
	c := &b.line.Control
	switch o.name {
	case "D":
		c.DeleteAll = true
	case "c":
		c.ContinueOnError = true
	case "i":
		c.IgnoreErrors = true
	case "b", "r", "backlog_wait_time":
		v, ok := parseUint32(o.arg.s)
		if !ok {
			return errAt(o.arg.colAt(0), "%s takes a number, not %q", o.flag(), o.arg.s)
		}
		switch o.name {
		case "b":
			c.BacklogLimit = &v
		case "r":
			c.RateLimit = &v
		default:
			if v > math.MaxInt32 {
				return errAt(o.arg.colAt(0), "%s is at most %d", o.flag(), math.MaxInt32)
			}
			c.BacklogWaitTime = &v
		}
	case "e", "f":
		if o.arg.s != "0" && o.arg.s != "1" && o.arg.s != "2" {
			return errAt(o.arg.colAt(0), "%s takes 0, 1 or 2, not %q", o.flag(), o.arg.s)
		}
		v := uint32(o.arg.s[0] - '0')
		if o.name == "e" {
			c.Enabled = &v
			if v == 2 {
				b.line.immutableCol = o.col
			}
		} else {
			c.Failure = &v
		}
	case "loginuid-immutable":
		c.LoginuidImmutable = true
		b.line.immutableCol = o.col
	case "reset-lost":
		c.ResetLost = true
	case "reset_backlog_wait_time_actual":
		c.ResetWaitActual = true
	}
	return nil
}

func (b *builder) second(o option) *LineError {
	return errAt(o.col, "%s cannot follow -%s: one rule or watch per line", o.flag(), b.op)
}

// listAction reads "always,exit" or "exit,always".
func (b *builder) listAction(o option) *LineError {
	parts := strings.Split(o.arg.s, ",")
	if len(parts) != 2 {
		return errAt(o.arg.colAt(0), "-%s takes a list and an action, such as always,exit; not %q", o.name, o.arg.s)
	}
	var haveList, haveAction bool
	at := 0
	for _, p := range parts {
		col := o.arg.colAt(at)
		at += len(p) + 1
		switch p {
		case "always", "never":
			if haveAction {
				return errAt(col, "two actions: -%s takes a list and an action, such as always,exit", o.name)
			}
			haveAction = true
			b.action = actionAlways
			if p == "never" {
				b.action = actionNever
			}
			continue
		case "possible":
			return errAt(col, "the possible action is deprecated: use always or never")
		case "entry":
			return errAt(col, "the entry list is deprecated: use exit")
		case "io_uring":
			return errAt(col, "io_uring rules are not supported")
		}
		list := -1
		for n, name := range listNames {
			if name == p && n != listWatch && n != listEntry && n != listURing {
				list = int(n)
			}
		}
		if list < 0 {
			if p == "" {
				return errAt(col, "-%s takes a list and an action, such as always,exit; not %q", o.name, o.arg.s)
			}
			return errAt(col, "unknown list or action %q: lists are exit, task, user, exclude and filesystem; actions always and never", p)
		}
		if haveList {
			return errAt(col, "two lists: -%s takes a list and an action, such as always,exit", o.name)
		}
		haveList, b.list, b.listCol = true, uint32(list), col
	}
	return nil
}

func checkWatchPath(t token) *LineError {
	p := t.s
	switch {
	case p == "":
		return errAt(t.colAt(0), "a watch needs a path")
	case p[0] != '/':
		return errAt(t.colAt(0), "the watched path must be absolute, not %q", p)
	case len(p) >= pathMax:
		return errAt(t.colAt(0), "the watched path is longer than %d bytes", pathMax-1)
	case len(path.Base(path.Clean(p))) > 255: // go-libaudit sends the cleaned path
		return errAt(t.colAt(0), "the last element of the watched path is longer than 255 bytes")
	}
	return nil
}

func (b *builder) addPerm(o option) *LineError {
	v := o.arg
	if lerr := checkPerm(v); lerr != nil {
		return lerr
	}
	f := &fieldRef{name: "perm", id: fieldPerm, op: "=", opCode: opEqual, value: strings.ToLower(v.s),
		nameCol: o.col, opCol: o.col, valCol: v.colAt(0), val: v}
	if b.op == "w" || b.op == "W" {
		b.perm = f
		return nil
	}
	for i, g := range b.fields {
		if g.id == fieldPerm {
			b.fields[i] = f
			return nil
		}
	}
	if lerr := b.checkField(f); lerr != nil {
		return lerr
	}
	b.fields = append(b.fields, f)
	return nil
}

func checkPerm(v token) *LineError {
	if v.s == "" {
		return errAt(v.colAt(0), "permissions are some of r, w, x and a")
	}
	if len(v.s) > 4 {
		return errAt(v.colAt(0), "permissions are at most four letters (rwxa), not %q", v.s)
	}
	for i := 0; i < len(v.s); i++ {
		switch v.s[i] | 0x20 {
		case 'r', 'w', 'x', 'a':
		default:
			return errAt(v.colAt(i), "%q is not a permission: use r, w, x and a", string(v.s[i]))
		}
	}
	return nil
}

func (b *builder) addKey(key string, col int) *LineError {
	switch {
	case key == "":
		return errAt(col, "a key cannot be empty")
	case strings.Contains(key, keySeparator):
		return errAt(col, "a key cannot hold byte 0x01, which separates keys")
	}
	if b.op == "" {
		if b.line.Control.DeleteKey != "" {
			return errAt(col, "-D takes one key")
		}
		b.line.Control.DeleteKey = key
		return nil
	}
	total := len(key)
	for _, k := range b.keys {
		total += len(k.key) + 1
	}
	if total > maxKeyLen {
		return errAt(col, "the keys of a rule are at most %d bytes together", maxKeyLen)
	}
	b.keys = append(b.keys, keyRef{key, col})
	return nil
}

// operators, longest first, as auditctl looks for them.
var operators = []struct {
	text string
	code uint32
}{
	{"!=", opNotEqual}, {">=", opGreaterEqual}, {"<=", opLessEqual}, {"&=", opBitTest},
	{"=", opEqual}, {">", opGreater}, {"<", opLess}, {"&", opBitMask},
}

// splitField splits "name<op>value".
func splitField(t token, flag string) (name, op string, code uint32, value token, lerr *LineError) {
	n := 0
	for n < len(t.s) && (t.s[n] == '_' || t.s[n] >= 'a' && t.s[n] <= 'z' || t.s[n] >= 'A' && t.s[n] <= 'Z' || t.s[n] >= '0' && t.s[n] <= '9') {
		n++
	}
	name = t.s[:n]
	rest := t.s[n:]
	for _, o := range operators {
		if strings.HasPrefix(rest, o.text) {
			op, code = o.text, o.code
			break
		}
	}
	switch {
	case op == "" && rest == "":
		return "", "", 0, token{}, errAt(t.colAt(0), "%s takes name, operator and value, such as auid>=1000; %q has no operator", flag, t.s)
	case op == "":
		return "", "", 0, token{}, errAt(t.colAt(n), "%q is not an operator: use =, !=, <, >, <=, >=, & or &=", rest)
	case name == "":
		return "", "", 0, token{}, errAt(t.colAt(0), "%s needs a field name before %s", flag, op)
	case len(rest) == len(op):
		return "", "", 0, token{}, errAt(t.colAt(n+len(op)), "%s needs a value after %s%s", flag, name, op)
	}
	return name, op, code, t.tail(n + len(op)), nil
}

func (b *builder) addField(o option) *LineError {
	name, op, code, val, lerr := splitField(o.arg, "-F")
	if lerr != nil {
		return lerr
	}
	nameCol, opCol := o.arg.colAt(0), o.arg.colAt(len(name))
	id, ok := fieldNames[name]
	if !ok {
		return errAt(nameCol, "unknown field %q%s", name, didYouMean(name, fieldNameList()))
	}
	if id == fieldFilterKey {
		if op != "=" {
			return errAt(opCol, "key takes only =")
		}
		return b.addKey(val.s, val.colAt(0))
	}
	if b.op == "w" || b.op == "W" {
		return errAt(nameCol, "a watch (-%s) takes only -p and -k; write it as -a always,exit -F path=... to add fields", b.op)
	}
	if id == fieldArch && len(b.syscalls) > 0 {
		return errAt(nameCol, "-F arch must come before -S: system call names are looked up for the arch")
	}
	f := &fieldRef{name: name, id: id, op: op, opCode: code, value: val.s,
		nameCol: nameCol, opCol: opCol, valCol: val.colAt(0), val: val}
	if lerr := b.checkField(f); lerr != nil {
		return lerr
	}
	b.fields = append(b.fields, f)
	return nil
}

func (b *builder) addComparison(o option) *LineError {
	name, op, code, val, lerr := splitField(o.arg, "-C")
	if lerr != nil {
		return lerr
	}
	nameCol, opCol := o.arg.colAt(0), o.arg.colAt(len(name))
	if code != opEqual && code != opNotEqual {
		return errAt(opCol, "-C compares with = or != only")
	}
	left, ok := fieldNames[name]
	if !ok {
		return errAt(nameCol, "unknown field %q%s", name, didYouMean(name, fieldNameList()))
	}
	if _, ok := fieldNames[val.s]; !ok {
		return errAt(val.colAt(0), "unknown field %q%s", val.s, didYouMean(val.s, fieldNameList()))
	}
	if b.list != listExit {
		return errAt(nameCol, "-C works on the exit list only")
	}
	f := &fieldRef{name: name, id: left, op: op, opCode: code, value: val.s, compare: true,
		nameCol: nameCol, opCol: opCol, valCol: val.colAt(0), val: val}
	b.fields = append(b.fields, f)
	return nil
}

func (b *builder) addSyscalls(o option) *LineError {
	if b.sysCol == 0 {
		b.sysCol = o.col
	}
	at := 0
	for _, name := range strings.Split(o.arg.s, ",") {
		col := o.arg.colAt(at)
		at += len(name) + 1
		if name == "" {
			return errAt(col, "empty system call name in %q", o.arg.s)
		}
		if n, err := strconv.Atoi(name); err == nil || name[0] >= '0' && name[0] <= '9' {
			if err != nil || n < 0 || n >= 2032 {
				return errAt(col, "system call numbers go from 0 to 2031, not %q", name)
			}
		} else if name != "all" && !syscallKnownSomewhere(name) {
			return errAt(col, "unknown system call %q%s", name, didYouMean(name, nil))
		}
		b.syscalls = append(b.syscalls, syscallRef{name, col})
	}
	return nil
}

// Field groups by the operators the kernel accepts (audit_field_valid).
func fieldOpAllowed(id, op uint32) bool {
	switch id {
	case fieldArg0, fieldArg1, fieldArg2, fieldArg3, fieldPers, fieldDevMinor:
		return true
	case fieldSubjUser, fieldSubjRole, fieldSubjType, fieldSubjSen, fieldSubjClr,
		fieldObjUser, fieldObjRole, fieldObjType, fieldObjLevLow, fieldObjLevHigh,
		fieldWatch, fieldDir, fieldFilterKey, fieldLoginUIDSet, fieldArch, fieldFSType,
		fieldFileType, fieldExe, fieldInode:
		return op == opEqual || op == opNotEqual
	case fieldPerm:
		return op == opEqual
	}
	return op != opBitMask && op != opBitTest
}

func isUIDField(id uint32) bool {
	switch id {
	case fieldUID, fieldEUID, fieldSUID, fieldFSUID, fieldLoginUID, fieldObjUID:
		return true
	}
	return false
}

func isGIDField(id uint32) bool {
	switch id {
	case fieldGID, fieldEGID, fieldSGID, fieldFSGID, fieldObjGID:
		return true
	}
	return false
}

// checkField checks a field against its list and its value's syntax, so
// that errors point at the right column with a clear message; go-libaudit
// then encodes it.
func (b *builder) checkField(f *fieldRef) *LineError {
	if !fieldOpAllowed(f.id, f.opCode) {
		allowed := "= and !="
		switch f.id {
		case fieldPerm:
			allowed = "="
		case fieldArg0, fieldArg1, fieldArg2, fieldArg3, fieldPers, fieldDevMinor:
		default:
			if fieldOpAllowed(f.id, opLess) {
				allowed = "=, !=, <, >, <= and >="
			}
		}
		return errAt(f.opCol, "%s takes %s, not %s", f.name, allowed, f.op)
	}
	switch f.id {
	case fieldExit, fieldPerm, fieldWatch, fieldDir, fieldFileType, fieldObjUser, fieldObjRole,
		fieldObjType, fieldObjLevLow, fieldObjLevHigh, fieldDevMajor, fieldDevMinor, fieldInode,
		fieldSuccess, fieldPPID, fieldObjUID, fieldObjGID:
		if b.list != listExit {
			return errAt(f.nameCol, "%s works on the exit list only", f.name)
		}
	case fieldMsgType:
		if b.list != listUser && b.list != listExclude {
			return errAt(f.nameCol, "msgtype works on the user and exclude lists only")
		}
	case fieldFSType:
		if b.list != listFS {
			return errAt(f.nameCol, "fstype works on the filesystem list only")
		}
	case fieldSessionID:
		if b.list != listExit && b.list != listUser && b.list != listExclude {
			return errAt(f.nameCol, "sessionid works on the exit, user and exclude lists only")
		}
	}
	switch b.list {
	case listFS:
		if f.id != fieldFSType {
			return errAt(f.nameCol, "the filesystem list takes only fstype and key")
		}
	case listExclude:
		switch f.id {
		case fieldPID, fieldUID, fieldGID, fieldLoginUID, fieldMsgType, fieldSubjUser,
			fieldSubjRole, fieldSubjType, fieldSubjSen, fieldSubjClr, fieldExe:
		default:
			return errAt(f.nameCol, "the exclude list takes only pid, uid, gid, auid, msgtype, exe and subj_* fields")
		}
	}
	v := f.value
	bad := func(what string) *LineError {
		return errAt(f.valCol, "%s takes %s, not %q", f.name, what, v)
	}
	switch f.id {
	case fieldWatch, fieldDir, fieldExe:
		if v[0] != '/' {
			return errAt(f.valCol, "%s must be an absolute path, not %q", f.name, v)
		}
		if f.id == fieldWatch && len(v) > 1 && strings.HasSuffix(v, "/") {
			return errAt(f.valCol, "path= names a file and cannot end in /; use dir= for a directory")
		}
		if len(v) >= pathMax {
			return errAt(f.valCol, "%s is longer than %d bytes", f.name, pathMax-1)
		}
	case fieldSubjUser, fieldSubjRole, fieldSubjType, fieldSubjSen, fieldSubjClr,
		fieldObjUser, fieldObjRole, fieldObjType, fieldObjLevLow, fieldObjLevHigh:
		if len(v) >= pathMax {
			return errAt(f.valCol, "%s is longer than %d bytes", f.name, pathMax-1)
		}
	case fieldArch:
		if _, ok := archValue(v); !ok {
			return bad("b64, b32 or an architecture name such as x86_64")
		}
	case fieldPerm:
		if lerr := checkPerm(f.val); lerr != nil {
			return lerr
		}
		f.value = strings.ToLower(v)
	case fieldFileType:
		if n, ok := parseUint32(v); ok {
			name, known := fileTypeNames[n]
			if !known {
				return bad("file, dir, socket, symlink, char, block or fifo")
			}
			f.value = name // go-libaudit takes names only; Canonical shows numbers
			break
		}
		switch strings.ToLower(v) {
		case "file", "dir", "socket", "symlink", "char", "block", "fifo":
		default:
			return bad("file, dir, socket, symlink, char, block or fifo")
		}
	case fieldExit:
		if _, ok := parseInt32(v); !ok {
			name := strings.TrimPrefix(v, "-")
			if _, known := auparse.AuditErrnoToNum[name]; !known {
				return bad("a number or an errno name such as -EPERM")
			}
		}
	case fieldMsgType:
		n, ok := parseUint32(v)
		if !ok {
			if _, err := auparse.GetAuditMessageType(v); err != nil {
				return bad("a record type such as USER_LOGIN, or its number")
			}
		} else if n > math.MaxUint16 {
			return bad("a record type number up to 65535")
		}
	case fieldLoginUIDSet:
		if v != "0" && v != "1" {
			return bad("0 or 1")
		}
	case fieldFSType:
		if _, ok := parseUint32(v); !ok {
			if _, known := fstypeMagic(v); !known {
				return errAt(f.valCol, "unknown filesystem type %q: use one of %s, or its magic number", v, strings.Join(fstypeNames(), ", "))
			}
		}
	case fieldSaddrFam:
		if n, ok := parseUint32(v); !ok || n != 2 && n != 10 {
			return bad("2 (AF_INET) or 10 (AF_INET6)")
		}
	case fieldSessionID:
		if _, ok := parseInt32(v); !ok && v != "unset" {
			return bad("a number or unset")
		}
	default:
		if isUIDField(f.id) || isGIDField(f.id) {
			return nil // numbers and names; resolved in build
		}
		if _, ok := parseInt32(v); !ok {
			return bad("a number")
		}
	}
	return nil
}

// fileTypeNames are the S_IFMT values filetype= compares with.
var fileTypeNames = map[uint32]string{
	0x8000: "file", 0x4000: "dir", 0xc000: "socket", 0xa000: "symlink",
	0x2000: "char", 0x6000: "block", 0x1000: "fifo",
}

// archValue resolves an arch as go-libaudit does: b64 and b32 are this
// machine's, others are names.
func archValue(v string) (uint32, bool) {
	name := v
	switch strings.ToLower(v) {
	case "b64":
		name = runtimeArch()
	case "b32":
		name = compatArchName(runtimeArch())
	}
	for a, n := range auparse.AuditArchNames {
		if n == name {
			return uint32(a), true
		}
	}
	return 0, false
}

// finish checks the line as a whole and builds its wire format.
func (b *builder) finish() *LineError {
	l := b.line
	switch {
	case b.control && (b.op != "" || len(b.syscalls) > 0):
		col := b.opCol
		if col == 0 || b.sysCol > 0 && b.sysCol < col {
			col = b.sysCol
		}
		col = max(col, b.controlCol)
		return errAt(col, "settings (-D, -b, -e, -f, -r, ...) and rules go on separate lines")
	case b.control:
		l.Kind = KindControl
		if l.Control.DeleteKey != "" && b.settingCol > 0 {
			return errAt(b.settingCol, "-D -k KEY goes on a line of its own")
		}
		return nil
	case b.op == "" && len(b.syscalls) > 0:
		return errAt(b.sysCol, "-S needs a rule: add a list and action such as -a always,exit")
	}
	l.Kind = KindRule
	if b.op == "d" || b.op == "W" {
		l.Kind = KindDelete
	}
	var wire []byte
	var lerr *LineError
	switch {
	case b.op == "w" || b.op == "W":
		wire, lerr = b.buildWatch()
	case b.list == listFS:
		wire, lerr = b.buildFilesystem()
	default:
		wire, lerr = b.buildSyscallRule()
	}
	if lerr != nil {
		return lerr
	}
	l.Wire = wire
	return nil
}

func (b *builder) keyStrings() []string {
	keys := make([]string, len(b.keys))
	for i, k := range b.keys {
		keys[i] = k.key
	}
	return keys
}

func (b *builder) buildWatch() ([]byte, *LineError) {
	w := &rule.FileWatchRule{Type: rule.FileWatchRuleType, Path: b.watch.s, Keys: b.keyStrings()}
	if b.perm != nil {
		for _, c := range b.perm.value {
			w.Permissions = append(w.Permissions, map[rune]rule.AccessType{
				'r': rule.ReadAccessType, 'w': rule.WriteAccessType,
				'x': rule.ExecuteAccessType, 'a': rule.AttributeChangeAccessType,
			}[c])
		}
	}
	wire, err := rule.Build(w)
	if err != nil {
		return nil, errAt(b.watch.colAt(0), "%v", err)
	}
	return wire, nil
}

func (b *builder) buildFilesystem() ([]byte, *LineError) {
	if len(b.syscalls) > 0 {
		return nil, errAt(b.sysCol, "-S does not work on the filesystem list")
	}
	r := &ruleData{list: listFS, prepend: b.op == "A", action: b.action}
	r.setAllSyscalls()
	for _, f := range b.fields {
		v, ok := parseUint32(f.value)
		if !ok {
			v, _ = fstypeMagic(f.value)
		}
		r.fields = append(r.fields, ruleField{id: fieldFSType, op: f.opCode, value: v})
	}
	if len(b.fields) == 0 {
		return nil, errAt(b.listCol, "a filesystem rule needs -F fstype=...")
	}
	if len(b.keys) > 0 {
		r.fields = append(r.fields, ruleField{id: fieldFilterKey, op: opEqual, str: strings.Join(b.keyStrings(), keySeparator)})
	}
	if len(r.fields) > maxFields {
		return nil, errAt(b.fields[len(b.fields)-1].nameCol, "a rule takes at most %d fields", maxFields)
	}
	wire, err := encodeRule(r)
	if err != nil {
		return nil, errAt(0, "%v", err)
	}
	return wire, nil
}

// extraField is a field go-libaudit cannot encode, placed into its output.
type extraField struct {
	at    int // index among the rule's fields
	field ruleField
}

func (b *builder) buildSyscallRule() ([]byte, *LineError) {
	if len(b.syscalls) > 0 {
		switch b.list {
		case listTask, listUser, listExclude:
			return nil, errAt(b.sysCol, "-S does not work on the %s list: it is checked before or without a system call", listNames[b.list])
		}
	}
	nFields := len(b.fields)
	if len(b.keys) > 0 {
		nFields++
	}
	if nFields > maxFields {
		return nil, errAt(b.fields[len(b.fields)-1].nameCol, "a rule takes at most %d fields", maxFields)
	}
	listName := listNames[b.list]
	sr := &rule.SyscallRule{Type: rule.AppendSyscallRuleType, List: listName, Action: "always", Keys: b.keyStrings()}
	if b.action == actionNever {
		sr.Action = "never"
	}
	var extras []extraField
	var filterRefs []*fieldRef
	var unloadable []string
	unloadCol := 0
	for i, f := range b.fields {
		if f.compare {
			lhs, rhs := f.name, f.value
			if lhs == "loginuid" {
				lhs = "auid"
			}
			if rhs == "loginuid" {
				rhs = "auid"
			}
			sr.Filters = append(sr.Filters, rule.FilterSpec{Type: rule.InterFieldFilterType, LHS: lhs, Comparator: f.op, RHS: rhs})
			filterRefs = append(filterRefs, f)
			continue
		}
		value := f.value
		switch {
		case f.id == fieldLoginUIDSet || f.id == fieldSessionID:
			v, ok := parseInt32(value)
			if !ok { // sessionid=unset
				v = math.MaxUint32
			}
			extras = append(extras, extraField{at: i, field: ruleField{id: f.id, op: f.opCode, value: v}})
			continue
		case isUIDField(f.id) || isGIDField(f.id):
			v, msg := resolveID(f.id, value)
			if msg != "" {
				if unloadCol == 0 {
					unloadCol = f.valCol
				}
				unloadable = append(unloadable, msg)
				v = 0
			}
			value = strconv.FormatUint(uint64(v), 10)
		}
		name := f.name
		if name == "loginuid" {
			name = "auid"
		}
		sr.Filters = append(sr.Filters, rule.FilterSpec{Type: rule.ValueFilterType, LHS: name, Comparator: f.op, RHS: value})
		filterRefs = append(filterRefs, f)
	}
	for _, s := range b.syscalls {
		sr.Syscalls = append(sr.Syscalls, s.name)
	}
	wire, err := rule.Build(sr)
	if err != nil {
		// Find the part go-libaudit refuses by building ever longer rules.
		part := *sr
		part.Keys, part.Syscalls = nil, nil
		for i := range sr.Filters {
			part.Filters = sr.Filters[:i+1]
			if _, err := rule.Build(&part); err != nil {
				return nil, errAt(filterRefs[i].nameCol, "%s", libauditReason(err))
			}
		}
		var kept []string
		for i, s := range sr.Syscalls {
			part.Syscalls = append(kept, s)
			if _, err := rule.Build(&part); err != nil {
				if unloadCol == 0 {
					unloadCol = b.syscalls[i].col
				}
				unloadable = append(unloadable, libauditReason(err))
				continue
			}
			kept = part.Syscalls
		}
		if len(unloadable) == 0 {
			return nil, errAt(0, "%s", libauditReason(err))
		}
		part.Keys, part.Syscalls = sr.Keys, kept
		if _, err := rule.Build(&part); err != nil {
			return nil, errAt(0, "%s", libauditReason(err))
		}
	}
	if len(unloadable) > 0 {
		b.line.Unloadable = &LineError{Column: unloadCol, Err: errors.New(strings.Join(unloadable, "; "))}
		return nil, nil
	}
	if len(extras) == 0 && b.op != "A" && !(b.list == listTask && len(b.syscalls) == 0) {
		return wire, nil
	}
	r, err := decodeRule(wire)
	if err != nil {
		return nil, errAt(0, "%v", err)
	}
	r.prepend = b.op == "A"
	if b.list == listTask && len(b.syscalls) == 0 {
		r.mask = [bitmaskWords]uint32{} // auditctl sends no syscalls for task rules
	}
	for _, x := range extras {
		r.fields = append(r.fields[:x.at], append([]ruleField{x.field}, r.fields[x.at:]...)...)
	}
	out, err := encodeRule(r)
	if err != nil {
		return nil, errAt(0, "%v", err)
	}
	return out, nil
}

// resolveID turns a uid or gid field's value into a number: a number as
// written, unset, or a user or group name looked up on this machine. A name
// unknown here is reported, not an error: the rule may be meant for
// machines that have it.
func resolveID(id uint32, v string) (uint32, string) {
	if n, ok := parseInt32(v); ok {
		return n, ""
	}
	if isUIDField(id) {
		if v == "unset" {
			return math.MaxUint32, ""
		}
		u, err := user.Lookup(v)
		if err != nil {
			return 0, fmt.Sprintf("there is no user %q on this machine", v)
		}
		n, _ := strconv.ParseUint(u.Uid, 10, 32)
		return uint32(n), ""
	}
	g, err := user.LookupGroup(v)
	if err != nil {
		return 0, fmt.Sprintf("there is no group %q on this machine", v)
	}
	n, _ := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(n), ""
}

// libauditReason strips go-libaudit's "failed to add ..." prefixes: the
// column says which part failed.
func libauditReason(err error) string {
	s := err.Error()
	for {
		i := strings.Index(s, "': ")
		if !strings.HasPrefix(s, "failed to add ") || i < 0 {
			return s
		}
		s = s[i+3:]
	}
}
