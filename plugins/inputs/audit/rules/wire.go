//go:build !windows

package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The kernel's rule format is struct audit_rule_data from
// include/uapi/linux/audit.h, every word a native-endian __u32:
//
//	offset  size  field
//	     0     4  flags       list number (AUDIT_FILTER_*), | 0x10 (AUDIT_FILTER_PREPEND) for -A
//	     4     4  action      0 never, 1 possible (deprecated), 2 always
//	     8     4  field_count number of fields used, at most 64
//	    12   256  mask[64]    syscall bitmap; bit n of word n/32 is syscall n. The top 16
//	                          bits of word 63 name syscall classes, which the kernel expands
//	                          and clears, so it lists a full mask as 63×0xffffffff, 0x0000ffff
//	   268   256  fields[64]  field ids (AUDIT_UID, AUDIT_ARCH, ... AUDIT_FILTERKEY)
//	   524   256  values[64]  the value, or for a string field its length in buf
//	   780   256  fieldflags[64]  the operator (AUDIT_EQUAL, AUDIT_BIT_MASK, ...)
//	  1036     4  buflen      bytes of buf used
//	  1040     -  buf         the string fields' bytes, in field order, no terminators
//
// go-libaudit pads the message to a multiple of 4 bytes with zeros; so does
// encodeRule, so that the two produce identical bytes.
const (
	bitmaskWords = 64 // AUDIT_BITMASK_SIZE
	maxFields    = 64 // AUDIT_MAX_FIELDS
	maxKeyLen    = 256
	pathMax      = 4096

	offFlags      = 0
	offAction     = 4
	offFieldCount = 8
	offMask       = 12
	offFields     = offMask + 4*bitmaskWords
	offValues     = offFields + 4*maxFields
	offFieldFlags = offValues + 4*maxFields
	offBufLen     = offFieldFlags + 4*maxFields
	ruleHeaderLen = offBufLen + 4 // 1040
)

// Filter lists (AUDIT_FILTER_*).
const (
	listUser    = 0
	listTask    = 1
	listEntry   = 2
	listWatch   = 3
	listExit    = 4
	listExclude = 5
	listFS      = 6
	listURing   = 7
	prependFlag = 0x10
)

var listNames = map[uint32]string{
	listUser: "user", listTask: "task", listEntry: "entry", listWatch: "watch",
	listExit: "exit", listExclude: "exclude", listFS: "filesystem", listURing: "io_uring",
}

// Actions (AUDIT_NEVER, AUDIT_POSSIBLE, AUDIT_ALWAYS).
const (
	actionNever    = 0
	actionPossible = 1
	actionAlways   = 2
)

// Operators (fieldflags).
const (
	opBitMask      = 0x08000000
	opLess         = 0x10000000
	opGreater      = 0x20000000
	opNotEqual     = 0x30000000
	opEqual        = 0x40000000
	opBitTest      = opBitMask | opEqual
	opLessEqual    = opLess | opEqual
	opGreaterEqual = opGreater | opEqual
)

var opNames = map[uint32]string{
	opBitMask: "&", opLess: "<", opGreater: ">", opNotEqual: "!=", opEqual: "=",
	opBitTest: "&=", opLessEqual: "<=", opGreaterEqual: ">=",
}

// Field ids (AUDIT_*), as many as auditctl knows by name.
const (
	fieldPID          = 0
	fieldUID          = 1
	fieldEUID         = 2
	fieldSUID         = 3
	fieldFSUID        = 4
	fieldGID          = 5
	fieldEGID         = 6
	fieldSGID         = 7
	fieldFSGID        = 8
	fieldLoginUID     = 9
	fieldPers         = 10
	fieldArch         = 11
	fieldMsgType      = 12
	fieldSubjUser     = 13
	fieldSubjRole     = 14
	fieldSubjType     = 15
	fieldSubjSen      = 16
	fieldSubjClr      = 17
	fieldPPID         = 18
	fieldObjUser      = 19
	fieldObjRole      = 20
	fieldObjType      = 21
	fieldObjLevLow    = 22
	fieldObjLevHigh   = 23
	fieldLoginUIDSet  = 24
	fieldSessionID    = 25
	fieldFSType       = 26
	fieldDevMajor     = 100
	fieldDevMinor     = 101
	fieldInode        = 102
	fieldExit         = 103
	fieldSuccess      = 104
	fieldWatch        = 105
	fieldPerm         = 106
	fieldDir          = 107
	fieldFileType     = 108
	fieldObjUID       = 109
	fieldObjGID       = 110
	fieldFieldCompare = 111
	fieldExe          = 112
	fieldSaddrFam     = 113
	fieldArg0         = 200
	fieldArg1         = 201
	fieldArg2         = 202
	fieldArg3         = 203
	fieldFilterKey    = 210
)

// fieldNames maps the names auditctl accepts after -F to field ids.
var fieldNames = map[string]uint32{
	"pid": fieldPID, "uid": fieldUID, "euid": fieldEUID, "suid": fieldSUID, "fsuid": fieldFSUID,
	"gid": fieldGID, "egid": fieldEGID, "sgid": fieldSGID, "fsgid": fieldFSGID,
	"auid": fieldLoginUID, "loginuid": fieldLoginUID, "pers": fieldPers, "arch": fieldArch,
	"msgtype": fieldMsgType, "subj_user": fieldSubjUser, "subj_role": fieldSubjRole,
	"subj_type": fieldSubjType, "subj_sen": fieldSubjSen, "subj_clr": fieldSubjClr,
	"ppid": fieldPPID, "obj_user": fieldObjUser, "obj_role": fieldObjRole, "obj_type": fieldObjType,
	"obj_lev_low": fieldObjLevLow, "obj_lev_high": fieldObjLevHigh, "loginuid_set": fieldLoginUIDSet,
	"sessionid": fieldSessionID, "fstype": fieldFSType, "devmajor": fieldDevMajor,
	"devminor": fieldDevMinor, "inode": fieldInode, "exit": fieldExit, "success": fieldSuccess,
	"path": fieldWatch, "perm": fieldPerm, "dir": fieldDir, "filetype": fieldFileType,
	"obj_uid": fieldObjUID, "obj_gid": fieldObjGID, "exe": fieldExe, "saddr_fam": fieldSaddrFam,
	"a0": fieldArg0, "a1": fieldArg1, "a2": fieldArg2, "a3": fieldArg3, "key": fieldFilterKey,
}

// fieldDisplay is the name a field id is shown with (auid, not loginuid).
var fieldDisplay = func() map[uint32]string {
	m := make(map[uint32]string, len(fieldNames))
	for name, id := range fieldNames {
		if name != "loginuid" {
			m[id] = name
		}
	}
	m[fieldFieldCompare] = "field_compare"
	return m
}()

// isStringField reports whether a field's value lives in buf.
func isStringField(id uint32) bool {
	switch id {
	case fieldSubjUser, fieldSubjRole, fieldSubjType, fieldSubjSen, fieldSubjClr,
		fieldObjUser, fieldObjRole, fieldObjType, fieldObjLevLow, fieldObjLevHigh,
		fieldWatch, fieldDir, fieldFilterKey, fieldExe:
		return true
	}
	return false
}

// ruleData is struct audit_rule_data decoded.
type ruleData struct {
	list    uint32 // without the prepend flag
	prepend bool
	action  uint32
	mask    [bitmaskWords]uint32
	fields  []ruleField
}

type ruleField struct {
	id    uint32
	op    uint32
	value uint32 // for string fields, len(str)
	str   string
}

// setAllSyscalls sets the mask the way the kernel lists a rule for every
// syscall: all bits but the class bits of the last word.
func (r *ruleData) setAllSyscalls() {
	for i := range r.mask {
		r.mask[i] = 0xffffffff
	}
	r.mask[bitmaskWords-1] = 0x0000ffff
}

// allSyscalls reports whether the mask covers every syscall (class bits
// ignored).
func (r *ruleData) allSyscalls() bool {
	for i := 0; i < bitmaskWords-1; i++ {
		if r.mask[i] != 0xffffffff {
			return false
		}
	}
	return r.mask[bitmaskWords-1]&0xffff == 0xffff
}

func (r *ruleData) syscalls() []int {
	var out []int
	for w, bits := range r.mask {
		for b := 0; b < 32; b++ {
			if bits&(1<<b) != 0 {
				out = append(out, w*32+b)
			}
		}
	}
	return out
}

var errShortRule = errors.New("truncated audit rule")

// decodeRule parses struct audit_rule_data.
func decodeRule(wire []byte) (*ruleData, error) {
	if len(wire) < ruleHeaderLen {
		return nil, errShortRule
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(wire[off:]) }
	r := &ruleData{
		list:    u32(offFlags) &^ prependFlag,
		prepend: u32(offFlags)&prependFlag != 0,
		action:  u32(offAction),
	}
	n := u32(offFieldCount)
	if n > maxFields {
		return nil, fmt.Errorf("audit rule has %d fields, at most %d are possible", n, maxFields)
	}
	for i := range r.mask {
		r.mask[i] = u32(offMask + 4*i)
	}
	buflen := u32(offBufLen)
	if uint64(buflen) > uint64(len(wire)-ruleHeaderLen) {
		return nil, errShortRule
	}
	buf := wire[ruleHeaderLen : ruleHeaderLen+int(buflen)]
	r.fields = make([]ruleField, n)
	for i := range r.fields {
		f := ruleField{
			id:    u32(offFields + 4*i),
			op:    u32(offFieldFlags + 4*i),
			value: u32(offValues + 4*i),
		}
		if isStringField(f.id) {
			if uint64(f.value) > uint64(len(buf)) {
				return nil, fmt.Errorf("audit rule field %d overruns the string buffer", i)
			}
			f.str = string(buf[:f.value])
			buf = buf[f.value:]
		}
		r.fields[i] = f
	}
	return r, nil
}

// encodeRule builds struct audit_rule_data.
func encodeRule(r *ruleData) ([]byte, error) {
	if len(r.fields) > maxFields {
		return nil, fmt.Errorf("a rule takes at most %d fields, this one has %d", maxFields, len(r.fields))
	}
	buflen := 0
	for _, f := range r.fields {
		if isStringField(f.id) {
			buflen += len(f.str)
		}
	}
	n := ruleHeaderLen + buflen
	n += (4 - n%4) % 4
	wire := make([]byte, n)
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(wire[off:], v) }
	flags := r.list
	if r.prepend {
		flags |= prependFlag
	}
	put(offFlags, flags)
	put(offAction, r.action)
	put(offFieldCount, uint32(len(r.fields)))
	for i, m := range r.mask {
		put(offMask+4*i, m)
	}
	at := ruleHeaderLen
	for i, f := range r.fields {
		put(offFields+4*i, f.id)
		put(offFieldFlags+4*i, f.op)
		v := f.value
		if isStringField(f.id) {
			v = uint32(len(f.str))
			at += copy(wire[at:], f.str)
		}
		put(offValues+4*i, v)
	}
	put(offBufLen, uint32(buflen))
	return wire, nil
}

// setPrepend sets or clears the prepend flag of a rule in wire format, in place.
func setPrepend(wire []byte, on bool) {
	v := binary.NativeEndian.Uint32(wire[offFlags:])
	if on {
		v |= prependFlag
	} else {
		v &^= prependFlag
	}
	binary.NativeEndian.PutUint32(wire[offFlags:], v)
}
