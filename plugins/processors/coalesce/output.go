package coalesce

import (
	"math/bits"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// User fields Auditbeat writes, in key order.
const (
	uAuditID = iota
	uAuditName
	uChangesID
	uChangesName
	uEffGroupID
	uEffGroupName
	uEffID
	uEffName
	uFsGroupID
	uFsGroupName
	uFsID
	uFsName
	uGroupID
	uGroupName
	uID
	uName
	uSavedGroupID
	uSavedGroupName
	uSavedID
	uSavedName
	uSelCategory
	uSelDomain
	uSelLevel
	uSelRole
	uSelUser
	uTargetID
	uTargetName
	numUserSlots
)

var userSlotKeys = [numUserSlots]string{
	"user.audit.id", "user.audit.name", "user.changes.id", "user.changes.name",
	"user.effective.group.id", "user.effective.group.name", "user.effective.id", "user.effective.name",
	"user.filesystem.group.id", "user.filesystem.group.name", "user.filesystem.id", "user.filesystem.name",
	"user.group.id", "user.group.name", "user.id", "user.name",
	"user.saved.group.id", "user.saved.group.name", "user.saved.id", "user.saved.name",
	"user.selinux.category", "user.selinux.domain", "user.selinux.level", "user.selinux.role", "user.selinux.user",
	"user.target.id", "user.target.name",
}

// SELinux label slots, in key order.
var selinuxLabels = [5]string{"category", "domain", "level", "role", "user"}

var fileSelinuxKeys = [5]string{
	"file.selinux.category", "file.selinux.domain", "file.selinux.level", "file.selinux.role", "file.selinux.user",
}

func selinuxSlot(label string) int {
	for i, l := range selinuxLabels {
		if l == label {
			return i
		}
	}
	return -1
}

// userSlotOfKey maps the subject id fields with a fixed place to their
// id slot and the slot of the name ENRICHED gives for them.
var (
	userIDSlot   [maxKeys]int8
	userNameSlot [maxKeys]int8
	// categoryValues holds a one-element list per record type category,
	// the event.category Auditbeat writes when no ECS category applies.
	categoryValues = map[string]sdk.Value{}
)

func initOutput() {
	for i := 1; i < numUserSlots; i++ {
		if userSlotKeys[i-1] >= userSlotKeys[i] {
			panic("coalesce: user slots out of order")
		}
	}
	for i := range userIDSlot {
		userIDSlot[i], userNameSlot[i] = -1, -1
	}
	for _, x := range []struct {
		key      string
		id, name int8
	}{
		{"auid", uAuditID, uAuditName}, {"uid", uID, uName}, {"gid", uGroupID, uGroupName},
		{"euid", uEffID, uEffName}, {"egid", uEffGroupID, uEffGroupName},
		{"suid", uSavedID, uSavedName}, {"sgid", uSavedGroupID, uSavedGroupName},
		{"fsuid", uFsID, uFsName}, {"fsgid", uFsGroupID, uFsGroupName},
	} {
		id := keyID(x.key)
		userIDSlot[id], userNameSlot[id] = x.id, x.name
	}
	for t := range types {
		c := types[t].category
		if _, ok := categoryValues[c]; !ok {
			categoryValues[c] = sdk.Strings([]string{c})
		}
	}
}

func categoryValue(c string) sdk.Value {
	if v, ok := categoryValues[c]; ok {
		return v
	}
	return sdk.Strings([]string{c})
}

// enrichedName is a name auditd resolved for an id field (ENRICHED part).
type enrichedName struct {
	id    uint16 // key id of the lower-case id field ("uid")
	name  string
	group bool
}

// parseEnriched reads auditd's ENRICHED part (UID="root" GID="root" ...),
// keeping the names given for subject and object ids.
func (b *builder) parseEnriched(s string, ri *recInfo) {
	_ = ri
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			continue
		}
		key := s[k:i]
		i++
		var val string
		switch {
		case i < len(s) && s[i] == '"':
			e := strings.IndexByte(s[i+1:], '"')
			if e < 0 {
				return
			}
			val = s[i+1 : i+1+e]
			i += e + 2
		case i < len(s) && s[i] == '{':
			e := strings.IndexByte(s[i:], '}')
			if e < 0 {
				return
			}
			i += e + 1
			continue
		default:
			v := i
			for i < len(s) && s[i] != ' ' {
				i++
			}
			val = s[v:i]
		}
		var id uint16
		group := false
		switch key {
		case "AUID":
			id = kAuid
		case "UID":
			id = kUid
		case "EUID", "SUID", "FSUID", "OUID":
			id = keyID(strings.ToLower(key))
		case "GID", "EGID", "SGID", "FSGID", "OGID":
			id, group = keyID(strings.ToLower(key)), true
		default:
			continue
		}
		if id != 0 && val != "" && val != "unset" && val != "?" {
			b.enriched = append(b.enriched, enrichedName{id: id, name: val, group: group})
		}
	}
}

// enrichedLookup resolves an ECS entity's missing id or name from the names
// auditd gave for the event's ids.
func (b *builder) enrichedLookup(e *ecsEntity, group bool) {
	if (e.id == "") == (e.name == "") || len(b.enriched) == 0 {
		return
	}
	for _, en := range b.enriched {
		if en.group != group {
			continue
		}
		v, ok := b.ids.get(en.id, "")
		if !ok {
			continue
		}
		if e.id != "" && v == e.id {
			e.name = en.name
			return
		}
		if e.name != "" && en.name == e.name {
			e.id = v
			return
		}
	}
}

func (b *builder) put(key string, v sdk.Value) {
	if b.checkOrder {
		b.checkKey(key)
	}
	b.fields.Append(key, v)
}

func (b *builder) putStr(key, v string) {
	if v != "" {
		b.put(key, sdk.String(v))
	}
}

// checkKey panics when fields are not appended in strictly ascending key
// order, which would cost a sort or lose a value. Tests turn it on.
func (b *builder) checkKey(key string) {
	if b.lastKey != "" && key <= b.lastKey {
		panic("coalesce: field " + key + " appended after " + b.lastKey)
	}
	b.lastKey = key
}

// output writes the event in Auditbeat's auditd document shape, appending
// fields in key order.
func (b *builder) output(hs []header, primary, firstIdx int, evType uint16) sdk.Event {
	first := &hs[firstIdx]
	ev := sdk.Event{Time: time.Unix(first.sec, first.msec*int64(time.Millisecond)).UTC()}
	// Room for the fields: the data fields plus what an event of this
	// shape had last time, and 12 more for processors after this one
	// (resolve_ids adds 8 names to an exec event), so that the list does
	// not grow (an allocation and a copy of every field) downstream.
	n := b.lastExtra
	for _, w := range b.data.bits {
		n += bits.OnesCount64(w)
	}
	b.fields = sdk.MakeFields(n + len(b.data.extra) + 12)
	b.lastKey = ""
	dataFields := n - b.lastExtra

	pid, _ := b.data.take(kPid)
	ppid, _ := b.data.take(kPpid)
	title, _ := b.data.take(kProctitle)
	comm, _ := b.data.take(kComm)
	exe, _ := b.data.take(kExe)
	cwd, _ := b.data.take(kCwd)

	b.emitData()
	b.put("auditd.message_type", sdk.String(typeLower(evType)))
	if len(b.paths) > 0 {
		b.put("auditd.paths", sdk.Objects(b.pathObjects()))
	}
	b.putStr("auditd.result", b.result)
	b.put("auditd.sequence", sdk.Int(int64(first.seq)))
	if b.session != "unset" {
		b.putStr("auditd.session", b.session)
	}
	b.putStr("auditd.summary.actor.primary", b.actorP)
	b.putStr("auditd.summary.actor.secondary", b.actorS)
	b.putStr("auditd.summary.how", b.how)
	b.putStr("auditd.summary.object.primary", b.objP)
	b.putStr("auditd.summary.object.secondary", b.objS)
	b.putStr("auditd.summary.object.type", b.objType)
	if b.dest.set {
		b.putStr("destination.ip", b.dest.ip)
		b.putStr("destination.path", b.dest.path)
		b.putStr("destination.port", b.dest.port)
	}

	b.putStr("event.action", b.action)
	if !b.category.IsNull() {
		b.put("event.category", b.category)
	} else {
		b.put("event.category", categoryValue(typeCategory(evType)))
	}
	b.put("event.kind", sdk.String("event"))
	b.put("event.module", sdk.String("auditd"))
	if b.includeOrig {
		orig := make([]string, len(hs))
		for i := range hs {
			orig[i] = hs[i].line
		}
		b.put("event.original", sdk.Strings(orig))
	}
	switch b.result {
	case "fail":
		b.put("event.outcome", sdk.String("failure"))
	case "":
	default:
		b.put("event.outcome", sdk.String(b.result))
	}
	if !b.ecsType.IsNull() {
		b.put("event.type", b.ecsType)
	}

	if b.file.set {
		f := &b.file
		if b.filePath >= 0 && hs[b.filePath].enriched != "" {
			f.owner, f.group = b.pathOwner(hs[b.filePath].enriched)
		}
		b.putStr("file.device", f.device)
		b.putStr("file.gid", f.gid)
		b.putStr("file.group", f.group)
		b.putStr("file.inode", f.inode)
		b.putStr("file.mode", f.mode)
		b.putStr("file.owner", f.owner)
		b.putStr("file.path", f.path)
		for i, v := range f.selinux {
			b.putStr(fileSelinuxKeys[i], v)
		}
		b.putStr("file.uid", f.uid)
	}

	b.computeUsers()
	b.putStr("group.id", b.groupID)
	b.putStr("group.name", b.groupName)
	if first.node != "" {
		b.put("host.name", sdk.String(first.node))
	}
	b.putStr("network.direction", b.direction)

	if args := b.argList(); len(args) > 0 {
		b.put("process.args", sdk.Strings(args))
	}
	b.putStr("process.executable", exe)
	b.putStr("process.name", comm)
	if n, ok := atoiStrict(ppid); ok {
		b.put("process.parent.pid", sdk.Int(n))
	}
	if n, ok := atoiStrict(pid); ok {
		b.put("process.pid", sdk.Int(n))
	}
	b.putStr("process.title", title)
	b.putStr("process.working_directory", cwd)

	if b.source.set {
		b.putStr("source.ip", b.source.ip)
		b.putStr("source.path", b.source.path)
		b.putStr("source.port", b.source.port)
	}
	if len(b.tags) > 0 {
		b.put(sdk.FieldTags, b.tagsValue)
	}
	b.emitUsers()

	ev.Fields = b.fields
	b.fields = sdk.Fields{}
	b.lastExtra = max(ev.Fields.Len()-dataFields, 24)
	ev.ID = b.eventID(&hs[primary])
	return ev
}

// atoiStrict parses a decimal int64 as strconv.Atoi does on 64-bit
// platforms, without allocating on failure.
func atoiStrict(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n > 1<<63-1, neg && n > 1<<63:
		return 0, false
	case neg:
		return -int64(n), true
	}
	return int64(n), true
}

// argList returns the collected execve arguments: a0 ... a(argc-1), or
// all of them when no record said argc.
func (b *builder) argList() []string {
	set := b.argSet
	if b.argc >= 0 && b.argc < len(set) {
		set = set[:b.argc]
	}
	n := 0
	for _, ok := range set {
		if ok {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i, ok := range set {
		if ok {
			out = append(out, b.args[i])
		}
	}
	return out
}

// emitData writes auditd.data.*: known names in id order (which is key
// order), merged with the rare unknown names. Empty values (an empty unix
// socket path, an empty SELinux level) are left out.
func (b *builder) emitData() {
	extra := b.data.extra
	var extraKeys []string
	if len(extra) > 0 {
		extraKeys = make([]string, len(extra))
		for i := range extra {
			extraKeys[i] = "auditd.data." + dataName(extra[i].name)
		}
		for x := 1; x < len(extra); x++ {
			for y := x; y > 0 && extraKeys[y] < extraKeys[y-1]; y-- {
				extraKeys[y], extraKeys[y-1] = extraKeys[y-1], extraKeys[y]
				extra[y], extra[y-1] = extra[y-1], extra[y]
			}
		}
	}
	e := 0
	for w, word := range b.data.bits {
		for word != 0 {
			bit := word & -word
			id := uint16(w*64 + trailingZeros(bit))
			word &^= bit
			key := keyTable[id].dataKey
			for e < len(extra) && extraKeys[e] < key {
				b.putStr(extraKeys[e], extra[e].val)
				e++
			}
			b.putStr(key, b.data.val[id])
		}
	}
	for ; e < len(extra); e++ {
		b.putStr(extraKeys[e], extra[e].val)
	}
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }

// pathObjects returns auditd.paths: one object per PATH record with all
// its fields.
func (b *builder) pathObjects() []sdk.Fields {
	objs := make([]sdk.Fields, len(b.paths))
	for i, pi := range b.paths {
		ri := &b.recs[pi]
		// Known names are ordered by their ids (a socket_ name would not
		// be: its id follows its auditd.data name); others by sorting.
		var set keyBits
		n, sorted := 0, true
		for k := ri.start; k < ri.end; k++ {
			p := &b.kvs[k]
			if p.dead {
				continue
			}
			n++
			if p.id == 0 || keyTable[p.id].flags&keySocket != 0 {
				sorted = false
			}
			set.set(p.id)
			b.pathSlot[p.id] = int32(k)
		}
		f := sdk.MakeFields(n)
		last := ""
		check := func(key string) {
			if b.checkOrder {
				if last != "" && key <= last {
					panic("coalesce: path field " + key + " appended after " + last)
				}
				last = key
			}
		}
		if sorted {
			for w, word := range set {
				for word != 0 {
					bit := word & -word
					word &^= bit
					p := &b.kvs[b.pathSlot[w*64+trailingZeros(bit)]]
					check(p.key)
					f.Append(p.key, sdk.String(p.val))
				}
			}
		} else {
			idx := b.scratchIdx[:0]
			for k := ri.start; k < ri.end; k++ {
				if !b.kvs[k].dead {
					idx = append(idx, k)
				}
			}
			for x := 1; x < len(idx); x++ {
				for y := x; y > 0 && b.kvs[idx[y]].key < b.kvs[idx[y-1]].key; y-- {
					idx[y], idx[y-1] = idx[y-1], idx[y]
				}
			}
			for _, k := range idx {
				check(b.kvs[k].key)
				f.Append(b.kvs[k].key, sdk.String(b.kvs[k].val))
			}
			b.scratchIdx = idx
		}
		objs[i] = f
	}
	return objs
}

// pathOwner returns the owner and group names ENRICHED gives for a PATH
// record.
func (b *builder) pathOwner(s string) (owner, group string) {
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "OUID="); ok {
			owner = strings.Trim(v, `"`)
		} else if v, ok := strings.CutPrefix(f, "OGID="); ok {
			group = strings.Trim(v, `"`)
		}
	}
	if owner == "unset" {
		owner = ""
	}
	if group == "unset" {
		group = ""
	}
	return owner, group
}

// computeUsers fills the user and group fields as Auditbeat does: the
// subject ids, their SELinux labels and names, then the ECS entities of the
// normalization, then drops user.effective when it repeats user.
func (b *builder) computeUsers() {
	u := &b.users
	anyID := false
	for w, word := range b.ids.bits {
		for word != 0 {
			bit := word & -word
			id := uint16(w*64 + trailingZeros(bit))
			word &^= bit
			v := b.ids.val[id]
			if v == "unset" {
				continue
			}
			anyID = true
			if s := userIDSlot[id]; s >= 0 {
				u[s] = v
			} else {
				b.userExtra = append(b.userExtra, namedVal{keyTable[id].userKey, v})
			}
		}
	}
	for _, e := range b.ids.extra {
		if e.val == "unset" {
			continue
		}
		anyID = true
		b.userExtra = append(b.userExtra, namedVal{"user." + e.name + ".id", e.val})
	}
	if anyID {
		for w, word := range b.subj.bits {
			for word != 0 {
				bit := word & -word
				id := uint16(w*64 + trailingZeros(bit))
				word &^= bit
				if s := selinuxSlot(keyTable[id].label); s >= 0 {
					u[uSelCategory+s] = b.subj.val[id]
				}
			}
		}
		for _, e := range b.subj.extra {
			b.userExtra = append(b.userExtra, namedVal{"user.selinux." + strings.TrimPrefix(e.name, "subj_"), e.val})
		}
	}
	for _, en := range b.enriched {
		if s := userNameSlot[en.id]; s >= 0 {
			if v, ok := b.ids.get(en.id, ""); ok && v != "unset" {
				u[s] = en.name
			}
		}
	}

	set := func(e ecsEntity, group bool, idSlot, nameSlot *string) {
		b.enrichedLookup(&e, group)
		if e.id == "" && e.name == "" {
			return
		}
		if e.id == "unset" {
			e.id = ""
		}
		*idSlot, *nameSlot = e.id, e.name
	}
	set(b.ecsUser[0], false, &u[uID], &u[uName])
	set(b.ecsUser[1], false, &u[uEffID], &u[uEffName])
	set(b.ecsUser[2], false, &u[uTargetID], &u[uTargetName])
	set(b.ecsUser[3], false, &u[uChangesID], &u[uChangesName])
	set(b.ecsGroup, true, &b.groupID, &b.groupName)

	if u[uID] != "" && u[uEffID] == u[uID] || u[uName] != "" && u[uEffName] == u[uName] {
		u[uEffID], u[uEffName], u[uEffGroupID], u[uEffGroupName] = "", "", "", ""
		ex := b.userExtra[:0]
		for _, e := range b.userExtra {
			if !strings.HasPrefix(e.name, "user.effective.") {
				ex = append(ex, e)
			}
		}
		b.userExtra = ex
	}
}

func (b *builder) emitUsers() {
	ex := b.userExtra
	for x := 1; x < len(ex); x++ {
		for y := x; y > 0 && ex[y].name < ex[y-1].name; y-- {
			ex[y], ex[y-1] = ex[y-1], ex[y]
		}
	}
	e := 0
	for i, v := range b.users {
		if v == "" {
			continue
		}
		key := userSlotKeys[i]
		for e < len(ex) && ex[e].name < key {
			b.putStr(ex[e].name, ex[e].val)
			e++
		}
		if e < len(ex) && ex[e].name == key {
			e++ // a fixed slot wins over a generic field of the same name
		}
		b.put(key, sdk.String(v))
	}
	for ; e < len(ex); e++ {
		b.putStr(ex[e].name, ex[e].val)
	}
}
