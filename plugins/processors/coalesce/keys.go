package coalesce

import (
	"sort"
	"strconv"
	"strings"
)

// Record field names are interned into small integers ("key ids") so that the
// coalescer can keep an event's fields in bitsets instead of maps. Ids are
// assigned in the order of the name each field gets under auditd.data, so
// walking a bitset yields the fields already sorted. Names that are not in
// the table still work; they take a slower path.

// commonKeys are field names seen in kernel and userspace audit records. The
// list need not be complete; it only decides which names take the fast path.
var commonKeys = strings.Fields(`
	acct addr apparmor arch argc audit_backlog_limit audit_backlog_wait_time audit_enabled
	audit_failure audit_pid auid banners bool bus cap_fe cap_fi cap_fp cap_frootid cap_fver
	capability capname cgroup cipher cmd code comm compat cwd daddr data default-context
	denied_mask dev device dir direction dmac dport egid enforcing entries errcodes euid exe exit
	fam family fd fe feature fi file flags flow format fp frootid fsgid fsuid fver gid grantors grp
	hook hostname icmp_type id igid img-ctx inif ino inode ioctlcmd ip ipid item items iuid kernel
	key kind ksize laddr len list lport macproto maj major minor mode model msg nargs name nametype
	net new new-chardev new-disk new-enabled new-fs new-gid new-level new-log_passwd new-mem
	new-net new-range new-rng new-role new-seuser new-vcpu new_gid new_lock new_pa new_pe new_pi
	new_pp new-auid new_auid nlnk-fam nlnk-grp nlnk-pid nsec oauid obj obj_gid obj_uid objtype
	ocomm oflag ogid old old-auid old-chardev old-disk old-enabled old-fs old-level
	old-log_passwd old-mem old-net old-range old-rng old-role old-ses old-seuser old-vcpu
	old_auid old_enforcing old_lock old_pa old_pe old_pi old_pp old_prom old_val op operation opid
	oses ouid outif pa parent path pe peer per perm perm_mask permissive pfs pi pid port pp ppid
	printer profile prom proctitle proto qbytes range rdev reason removed requested_mask res
	resrc result role rport saddr sauid scontext sec selected-context seperms seqno seresult ses
	seuser sgid sig sigev_signo smac sport spid state subj success suid syscall table tclass
	tcontext terminal tty type uid unit uri user uuid val ver virt vm vm-ctx vm-pid watch
	subj_user subj_role subj_domain subj_level subj_category
	obj_user obj_role obj_domain obj_level obj_category
	socket_family socket_addr socket_port socket_path socket_flow socket_saddr
`)

// maxExecveArgKeys is how many aN argument names get ids (a0 ... a63).
const maxExecveArgKeys = 64

// Key flags.
const (
	keyIsID   = 1 << iota // name ends in "uid" or "gid": a subject id
	keyIsSubj             // name starts with "subj_": a subject SELinux label
	keyIsObj              // name starts with "obj_": an object SELinux label
	keySocket             // name starts with "socket_"
)

type keyInfo struct {
	name    string // field name in the record ("socket_addr")
	dataKey string // full output key under auditd.data ("auditd.data.socket.addr")
	userKey string // for ids: the user.* key Auditbeat writes ("user.audit.id")
	label   string // for subj_/obj_ names: the label part ("user")
	flags   uint8
}

// keyCount bounds the ids, so that bitsets have a fixed size.
const keyWords = 8
const maxKeys = keyWords * 64

var (
	keyTable []keyInfo // index = key id; 0 is the unknown name
	keyIndex symtab

	// Ids of the names the coalescer looks at. They are set at init.
	kA0, kAcct, kAddr, kArch, kArgc, kAuid, kComm, kCmd, kCwd, kData, kExe, kExit, kFamily,
	kFlow, kItems, kKey, kMode, kName, kNametype, kObj, kOgid, kOldAuid, kOuid, kPath, kPid, kPort,
	kPpid, kProctitle, kRdev, kInode, kRes, kResult, kSaddr, kSes, kSig, kSubj, kSuccess, kSyscall,
	kUid, keySocketAddr, keySocketPath, keySocketPort uint16
)

func initKeys() {
	names := map[string]bool{"": true}
	for _, k := range commonKeys {
		names[k] = true
	}
	for _, k := range normalizationKeys {
		names[k] = true
	}
	for i := 0; i < maxExecveArgKeys; i++ {
		names["a"+strconv.Itoa(i)] = true
	}
	list := make([]string, 0, len(names))
	for k := range names {
		list = append(list, k)
	}
	if len(list) > maxKeys {
		panic("coalesce: too many known field names")
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := dataName(list[i]), dataName(list[j])
		if a != b {
			return a < b
		}
		return list[i] < list[j]
	})
	// The unknown name sorts first as "", so it gets id 0.
	keyTable = make([]keyInfo, len(list))
	for id, name := range list {
		keyTable[id] = newKeyInfo(name)
		if id > 0 {
			keyIndex.add(name, int32(id))
		}
	}
	keyIndex.build()

	id := func(name string) uint16 {
		v, ok := keyIndex.get(name)
		if !ok {
			panic("coalesce: missing key " + name)
		}
		return uint16(v)
	}
	kA0, kAcct, kAddr, kArch, kArgc, kAuid = id("a0"), id("acct"), id("addr"), id("arch"), id("argc"), id("auid")
	kComm, kCmd, kCwd, kData, kExe, kExit = id("comm"), id("cmd"), id("cwd"), id("data"), id("exe"), id("exit")
	kFamily, kFlow, kItems, kKey, kMode, kName = id("family"), id("flow"), id("items"), id("key"), id("mode"), id("name")
	kNametype, kObj, kOgid, kOldAuid, kOuid = id("nametype"), id("obj"), id("ogid"), id("old-auid"), id("ouid")
	kPath, kPid, kPort, kPpid, kProctitle = id("path"), id("pid"), id("port"), id("ppid"), id("proctitle")
	kRdev, kInode, kRes, kResult, kSaddr, kSes = id("rdev"), id("inode"), id("res"), id("result"), id("saddr"), id("ses")
	kSig, kSubj, kSuccess, kSyscall, kUid = id("sig"), id("subj"), id("success"), id("syscall"), id("uid")
	keySocketAddr, keySocketPath, keySocketPort = id("socket_addr"), id("socket_path"), id("socket_port")
}

// dataName is the name a field gets under auditd.data: socket_* fields
// become an object.
func dataName(name string) string {
	if rest, ok := strings.CutPrefix(name, "socket_"); ok {
		return "socket." + rest
	}
	return name
}

func newKeyInfo(name string) keyInfo {
	ki := keyInfo{name: name}
	if name == "" {
		return ki
	}
	ki.dataKey = "auditd.data." + dataName(name)
	if strings.HasSuffix(name, "uid") || strings.HasSuffix(name, "gid") {
		ki.flags |= keyIsID
		ki.userKey = userIDKey(name)
	}
	if rest, ok := strings.CutPrefix(name, "subj_"); ok {
		ki.flags |= keyIsSubj
		ki.label = rest
	}
	if strings.HasPrefix(name, "socket_") {
		ki.flags |= keySocket
	}
	if rest, ok := strings.CutPrefix(name, "obj_"); ok {
		ki.flags |= keyIsObj
		ki.label = rest
	}
	return ki
}

// userIDKey is where Auditbeat puts a subject id field.
func userIDKey(name string) string {
	switch name {
	case "uid":
		return "user.id"
	case "gid":
		return "user.group.id"
	case "euid":
		return "user.effective.id"
	case "egid":
		return "user.effective.group.id"
	case "suid":
		return "user.saved.id"
	case "sgid":
		return "user.saved.group.id"
	case "fsuid":
		return "user.filesystem.id"
	case "fsgid":
		return "user.filesystem.group.id"
	case "auid":
		return "user.audit.id"
	}
	return "user." + name + ".id"
}

func keyID(name string) uint16 {
	if v, ok := keyIndex.get(name); ok {
		return uint16(v)
	}
	return 0
}

// keyBits is a set of key ids.
type keyBits [keyWords]uint64

func (b *keyBits) has(id uint16) bool { return b[id>>6]&(1<<(id&63)) != 0 }
func (b *keyBits) set(id uint16)      { b[id>>6] |= 1 << (id & 63) }
func (b *keyBits) clear(id uint16)    { b[id>>6] &^= 1 << (id & 63) }
func (b *keyBits) reset()             { *b = keyBits{} }
