//go:build !windows

package rules

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/elastic/go-libaudit/v2/rule"
)

const keySeparator = "\x01" // AUDIT_KEY_SEPARATOR, between the keys of one rule

// Canonical returns a rule's stable text form, the way auditctl -l prints
// it: rules that differ only in how they were written (-w or -F path, -k or
// -F key, the order of -S names) have the same form, and rules that differ
// for the kernel have different ones. Compare rule sets by comparing these.
//
// Two exceptions, both as auditctl -l has them: a watch on a file and one
// on a directory print alike (-w PATH), and a rule added with -A prints as
// -a: the prepend flag says where to insert the rule, and the kernel drops
// it once the rule is in (it lists the rule without it, and -d matches it).
//
// go-libaudit's rule.ToCommandLine renders the rules it can (numeric uids,
// no name lookups, so the form does not depend on /etc/passwd); rules on
// the filesystem list and fields go-libaudit does not know (loginuid_set,
// sessionid, fstype) are rendered here in the same style.
func Canonical(wire []byte) (string, error) {
	r, err := decodeRule(wire)
	if err != nil {
		return "", err
	}
	if r.prepend {
		wire = bytes.Clone(wire)
		setPrepend(wire, false)
		r.prepend = false
	}
	if r.list != listFS && !hasFieldsLibauditLacks(r) && plainStrings(r) &&
		!(isWatchLike(r) && !isWatch(r)) {
		if s, err := rule.ToCommandLine(wire, false); err == nil {
			return s, nil
		}
	}
	return render(r)
}

// plainStrings reports whether every string in the rule can be written as
// is; ToCommandLine does not escape spaces and backslashes, nor split the
// keys of a rule with several.
func plainStrings(r *ruleData) bool {
	for _, f := range r.fields {
		if isStringField(f.id) && strings.ContainsAny(f.str, " \\\x01\t") || f.id == fieldFilterKey && strings.HasPrefix(f.str, "#") {
			return false
		}
	}
	return true
}

// isWatch reports whether a rule is what -w adds: always, on the exit
// list, for every syscall, with a path or dir, a perm and perhaps keys.
func isWatch(r *ruleData) bool {
	if !isWatchLike(r) || r.action != actionAlways || r.list != listExit {
		return false
	}
	for _, f := range r.fields {
		if f.id == fieldWatch || f.id == fieldDir {
			return true
		}
	}
	return false
}

// isWatchLike reports whether ToCommandLine prints the rule as -w: every
// syscall, a perm field, and nothing but path or dir, perm and key. It
// does so for never rules and for rules without a path too, wrongly.
func isWatchLike(r *ruleData) bool {
	if !r.allSyscalls() {
		return false
	}
	perm := false
	for _, f := range r.fields {
		switch f.id {
		case fieldPerm:
			perm = true
		case fieldWatch, fieldDir, fieldFilterKey:
		default:
			return false
		}
	}
	return perm
}

// escape writes a string so that tokenize reads it back.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(s)
}

func hasFieldsLibauditLacks(r *ruleData) bool {
	for _, f := range r.fields {
		switch f.id {
		case fieldLoginUIDSet, fieldSessionID, fieldFSType:
			return true
		}
	}
	return false
}

// render writes a rule in ToCommandLine's layout: -a action,list, then
// the arch, then -S, then every other field in order.
func render(r *ruleData) (string, error) {
	list, ok := listNames[r.list]
	if !ok {
		list = strconv.FormatUint(uint64(r.list), 10)
	}
	var action string
	switch r.action {
	case actionNever:
		action = "never"
	case actionAlways:
		action = "always"
	default:
		return "", fmt.Errorf("audit rule with unknown action %d", r.action)
	}
	var b strings.Builder
	if isWatch(r) {
		var path, perm string
		var keys []string
		for _, f := range r.fields {
			switch f.id {
			case fieldWatch, fieldDir:
				path = f.str
			case fieldPerm:
				perm = permString(f.value)
			case fieldFilterKey:
				keys = append(keys, strings.Split(f.str, keySeparator)...)
			}
		}
		b.WriteString("-w " + escape(path) + " -p " + perm)
		for _, k := range keys {
			if strings.HasPrefix(k, "#") {
				b.WriteString(" -F key=" + escape(k))
			} else {
				b.WriteString(" -k " + escape(k))
			}
		}
		return b.String(), nil
	}
	b.WriteString("-a " + action + "," + list)
	arch := ""
	for _, f := range r.fields {
		if f.id == fieldArch {
			arch = archDisplay(f.value)
			b.WriteString(" -F arch" + opNames[f.op] + arch)
			break
		}
	}
	if r.list == listExit || r.list == listEntry {
		switch {
		case r.allSyscalls():
			b.WriteString(" -S all")
		default:
			if nums := r.syscalls(); len(nums) > 0 {
				names := make([]string, len(nums))
				table := syscallTable(arch)
				for i, n := range nums {
					if name, ok := table[n]; ok {
						names[i] = name
					} else {
						names[i] = strconv.Itoa(n)
					}
				}
				b.WriteString(" -S " + strings.Join(names, ","))
			}
		}
	}
	for _, f := range r.fields {
		if f.id == fieldArch {
			continue
		}
		op, ok := opNames[f.op]
		if !ok {
			op = fmt.Sprintf("(op %#x)", f.op)
		}
		if f.id == fieldFieldCompare {
			if pair, ok := comparisons[f.value]; ok {
				b.WriteString(" -C " + fieldDisplay[pair[0]] + op + fieldDisplay[pair[1]])
				continue
			}
		}
		if f.id == fieldFilterKey {
			for _, k := range strings.Split(f.str, keySeparator) {
				b.WriteString(" -F key=" + escape(k))
			}
			continue
		}
		name, ok := fieldDisplay[f.id]
		if !ok {
			name = "field" + strconv.FormatUint(uint64(f.id), 10)
		}
		var value string
		switch {
		case isStringField(f.id):
			value = escape(f.str)
		case f.id == fieldFSType:
			value = fstypeName(f.value)
		case f.id == fieldExit:
			value = exitName(int32(f.value))
		case f.id == fieldPerm:
			value = permString(f.value)
		case f.id == fieldMsgType && f.value <= 0xffff:
			value = auparse.AuditMessageType(f.value).String()
		default:
			value = strconv.FormatInt(int64(int32(f.value)), 10)
			if f.id == fieldInode || f.id >= fieldArg0 && f.id <= fieldArg3 {
				value = strconv.FormatUint(uint64(f.value), 10)
			}
		}
		b.WriteString(" -F " + name + op + value)
	}
	return b.String(), nil
}

func permString(v uint32) string {
	var s []byte
	for _, p := range []struct {
		bit uint32
		c   byte
	}{{4, 'r'}, {2, 'w'}, {1, 'x'}, {8, 'a'}} {
		if v&p.bit != 0 {
			s = append(s, p.c)
		}
	}
	return string(s)
}

func exitName(code int32) string {
	if code < 0 {
		if name, ok := auparse.AuditErrnoToName[int(-code)]; ok {
			return "-" + name
		}
	}
	return strconv.Itoa(int(code))
}

// archDisplay shows the machine's own architectures as b64 and b32, as
// auditctl does, and others by name.
func archDisplay(v uint32) string {
	native, compat := nativeArches()
	switch v {
	case native:
		return "b64"
	case compat:
		if compat != 0 {
			return "b32"
		}
	}
	if name, ok := auparse.AuditArchNames[auparse.AuditArch(v)]; ok {
		return name
	}
	return fmt.Sprintf("%#x", v)
}

// syscallTable returns go-libaudit's table of syscall names for the arch
// as archDisplay shows it.
func syscallTable(display string) map[int]string {
	name := runtimeArch()
	switch display {
	case "", "b64":
	case "b32":
		name = compatArchName(name)
	default:
		name = display
	}
	return auparse.AuditSyscalls[name]
}

// comparisons maps AUDIT_COMPARE_* values to their two fields, lower field
// id first, as ToCommandLine prints them.
var comparisons = map[uint32][2]uint32{
	1: {fieldUID, fieldObjUID}, 2: {fieldGID, fieldObjGID}, 3: {fieldEUID, fieldObjUID},
	4: {fieldEGID, fieldObjGID}, 5: {fieldLoginUID, fieldObjUID}, 6: {fieldSUID, fieldObjUID},
	7: {fieldSGID, fieldObjGID}, 8: {fieldFSUID, fieldObjUID}, 9: {fieldFSGID, fieldObjGID},
	10: {fieldUID, fieldLoginUID}, 11: {fieldUID, fieldEUID}, 12: {fieldUID, fieldFSUID},
	13: {fieldUID, fieldSUID}, 14: {fieldFSUID, fieldLoginUID}, 15: {fieldSUID, fieldLoginUID},
	16: {fieldEUID, fieldLoginUID}, 17: {fieldEUID, fieldSUID}, 18: {fieldEUID, fieldFSUID},
	19: {fieldSUID, fieldFSUID}, 20: {fieldGID, fieldEGID}, 21: {fieldGID, fieldFSGID},
	22: {fieldGID, fieldSGID}, 23: {fieldEGID, fieldFSGID}, 24: {fieldEGID, fieldSGID},
	25: {fieldSGID, fieldFSGID},
}
