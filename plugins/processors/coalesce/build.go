package coalesce

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// store is a set of fields keyed by key id, with a side list for names
// outside the key table.
type store struct {
	bits  keyBits
	val   [maxKeys]string
	extra []namedVal
}

type namedVal struct{ name, val string }

func (s *store) reset() {
	s.bits.reset()
	s.extra = s.extra[:0]
}

func (s *store) get(id uint16, name string) (string, bool) {
	if id != 0 {
		if s.bits.has(id) {
			return s.val[id], true
		}
		return "", false
	}
	for _, e := range s.extra {
		if e.name == name {
			return e.val, true
		}
	}
	return "", false
}

func (s *store) has(id uint16, name string) bool {
	_, ok := s.get(id, name)
	return ok
}

// set writes a field; with first, an existing value is kept.
func (s *store) set(id uint16, name, val string, first bool) {
	if id != 0 {
		if first && s.bits.has(id) {
			return
		}
		s.bits.set(id)
		s.val[id] = val
		return
	}
	for i := range s.extra {
		if s.extra[i].name == name {
			if !first {
				s.extra[i].val = val
			}
			return
		}
	}
	s.extra = append(s.extra, namedVal{name, val})
}

// take returns a field and removes it.
func (s *store) take(id uint16) (string, bool) {
	if s.bits.has(id) {
		s.bits.clear(id)
		return s.val[id], true
	}
	return "", false
}

func (s *store) delete(id uint16, name string) {
	if id != 0 {
		s.bits.clear(id)
		return
	}
	for i := range s.extra {
		if s.extra[i].name == name {
			s.extra = append(s.extra[:i], s.extra[i+1:]...)
			return
		}
	}
}

// address is a source or destination.
type address struct {
	ip, port, path string
	set            bool
}

// builder turns the records of one event into one output event. It is
// reused for every event, so that its scratch space is allocated once.
type builder struct {
	slab     slab
	kvs      []kv
	recStart int
	slotGen  [maxKeys]uint32
	slot     [maxKeys]int32
	gen      uint32

	keySeqs [maxKnownType]keySeq
	keySeq  *keySeq // of the record being parsed
	keyPos  int

	lastArchVal, lastArchName string
	lastArchIdx               int
	lastTagsVal               string
	lastTagsQuoted            bool
	lastTags                  []string

	// Per event.
	recs          []recInfo
	data          store
	ids           store
	subj          store
	dataSysNorm   int
	result        string
	session       string
	tags          []string
	actorP        string
	actorS        string
	objP          string
	objS          string
	objType       string
	how           string
	action        string
	category      sdk.Value // event.category, null when no normalization applies
	ecsType       sdk.Value
	tagsValue     sdk.Value
	lastTagsValue sdk.Value
	source        address
	dest          address
	direction     string
	paths         []int // indexes into recs of the PATH records
	args          []string
	argSet        []bool
	argc          int // from argc=, or -1
	filePath      int // index into recs of the file object's PATH record, or -1
	file          fileInfo
	users         [numUserSlots]string
	userExtra     []namedVal
	groupID       string
	groupName     string
	enriched      []enrichedName
	ecsUser       [4]ecsEntity // user, effective, target, changes
	ecsGroup      ecsEntity
	fields        sdk.Fields
	lastExtra     int
	pathSlot      [maxKeys]int32
	scratchIdx    []int
	hash          [sha256.Size]byte
	hashInput     []byte
	includeOrig   bool
	checkOrder    bool   // tests: verify the key order of appended fields
	lastKey       string // with checkOrder
}

type fileInfo struct {
	path, device, inode, mode, uid, gid, owner, group string
	selinux                                           [5]string
	set                                               bool
}

func newBuilder() *builder {
	return &builder{gen: 1}
}

// Event-level errors, as go-libaudit reports them.

func (b *builder) resetEvent() {
	b.kvs = b.kvs[:0]
	b.recs = b.recs[:0]
	b.data.reset()
	b.ids.reset()
	b.subj.reset()
	b.dataSysNorm = -1
	b.result, b.session = "", ""
	b.tags = nil
	b.tagsValue = sdk.Value{}
	b.actorP, b.actorS, b.objP, b.objS, b.objType, b.how, b.action = "", "", "", "", "", "", ""
	b.category, b.ecsType = sdk.Value{}, sdk.Value{}
	b.source, b.dest = address{}, address{}
	b.direction = ""
	b.paths = b.paths[:0]
	b.args = b.args[:0]
	b.argSet = b.argSet[:0]
	b.argc = -1
	b.filePath = -1
	b.file = fileInfo{}
	b.users = [numUserSlots]string{}
	b.userExtra = b.userExtra[:0]
	b.groupID, b.groupName = "", ""
	b.enriched = b.enriched[:0]
	b.ecsUser = [4]ecsEntity{}
	b.ecsGroup = ecsEntity{}
}

// build coalesces the records of one event (EOE records excluded) into an
// output event. It reports an error event when the records cannot form one.
func (b *builder) build(hs []header) sdk.Event {
	b.resetEvent()
	n := len(hs)
	primary, special := 0, -1
	if n > 1 {
		sc := -1
		for i := range hs {
			if i == 0 && hs[i].typ != typeSyscall {
				special = 0
				continue
			}
			if hs[i].typ == typeSyscall {
				sc = i
				break
			}
		}
		if sc < 0 {
			// go-libaudit gives up on such an event; auditd's ausearch
			// reads it as an event of its first record's type, and so do
			// we: the first record is primary, the others add to it.
			special = -1
		} else {
			primary = sc
		}
	}
	first := primary
	if special >= 0 {
		first = special
	}
	evType := hs[first].typ
	for range hs {
		b.recs = append(b.recs, recInfo{start: -1})
	}

	// The primary record (the SYSCALL of a compound event) supplies the
	// result, session, subject ids and the first data fields.
	b.recs[primary] = b.parseRecord(&hs[primary])
	b.newEvent(&hs[primary], &b.recs[primary])

	if n > 1 {
		for i := range hs {
			h := &hs[i]
			switch {
			case h.typ == typeSyscall:
				b.data.delete(kItems, "")
				continue
			case i == primary:
				continue // a compound event without SYSCALL: already taken
			}
			b.recs[i] = b.parseRecord(h)
			ri := &b.recs[i]
			switch h.typ {
			case typePath:
				b.paths = append(b.paths, i)
			case typeSockaddr:
				b.addSockaddr(ri)
			case typeExecve:
				b.addExecve(h, ri)
			default:
				b.addData(ri)
			}
		}
	}

	b.normalize(evType)
	return b.output(hs, primary, first, evType)
}

// newEvent takes the fields of the primary record.
func (b *builder) newEvent(h *header, ri *recInfo) {
	b.result = "unknown"
	for k := ri.start; k < ri.end; k++ {
		p := &b.kvs[k]
		if p.dead {
			continue
		}
		switch p.id {
		case kResult:
			b.result = p.val
			continue
		case kSes:
			b.session = p.val
			continue
		case kAuid:
			b.actorP = p.val
		case kUid:
			b.actorS = p.val
		}
		var flags uint8
		if p.id != 0 {
			flags = keyTable[p.id].flags
		} else {
			flags = unknownKeyFlags(p.key)
		}
		switch {
		case flags&keyIsID != 0:
			b.ids.set(p.id, p.key, p.val, false)
		case flags&keyIsSubj != 0:
			b.subj.set(p.id, p.key, p.val, false)
		default:
			b.setData(p, ri, false)
		}
	}
	if ri.hasTags {
		b.tags = b.tagsOf(ri.tagsVal, ri.tagsQuoted)
		b.tagsValue = b.lastTagsValue
	}
	if h.enriched != "" {
		b.parseEnriched(h.enriched, ri)
	}
}

func unknownKeyFlags(name string) uint8 {
	var f uint8
	if strings.HasSuffix(name, "uid") || strings.HasSuffix(name, "gid") {
		f |= keyIsID
	}
	if strings.HasPrefix(name, "subj_") {
		f |= keyIsSubj
	}
	return f
}

// setData writes one field into the event data, remembering where the
// syscall name came from.
func (b *builder) setData(p *kv, ri *recInfo, first bool) {
	if p.id == kSyscall {
		if first && b.data.bits.has(kSyscall) {
			return
		}
		b.dataSysNorm = ri.sysNorm
	}
	b.data.set(p.id, p.key, p.val, first)
}

// addData adds the fields of a secondary record; fields already present
// keep their value.
func (b *builder) addData(ri *recInfo) {
	for k := ri.start; k < ri.end; k++ {
		if p := &b.kvs[k]; !p.dead {
			b.setData(p, ri, true)
		}
	}
}

// addSockaddr adds the decoded socket address as socket_* fields and, by
// the direction of the syscall, as source or destination.
func (b *builder) addSockaddr(ri *recInfo) {
	sc, ok := b.data.get(kSyscall, "")
	if !ok {
		return
	}
	var ip, port, path string
	for k := ri.start; k < ri.end; k++ {
		p := &b.kvs[k]
		if p.dead {
			continue
		}
		name := "socket_" + p.key
		if id := keyID(name); id != 0 {
			b.data.set(id, name, p.val, false)
		} else {
			b.data.set(0, name, p.val, false)
		}
		switch p.id {
		case kAddr:
			ip = p.val
		case kPort:
			port = p.val
		case kPath:
			path = p.val
		}
	}
	var dst *address
	switch sc {
	case "recvfrom", "recvmsg", "accept", "accept4":
		dst = &b.source
		b.direction = "ingress"
	case "connect", "sendto", "sendmsg":
		dst = &b.dest
		b.direction = "egress"
	default:
		return
	}
	if ip != "" || port != "" || path != "" {
		*dst = address{ip: ip, port: port, path: path, set: true}
	}
}

// addExecve collects the arguments of an EXECVE record. Long arguments are
// split by the kernel into aN_len=L aN[0]=... aN[1]=...; they are joined
// here. Arguments of one execve may also span several EXECVE records.
func (b *builder) addExecve(h *header, ri *recInfo) {
	longArgs := false
	for k := ri.start; k < ri.end; k++ {
		p := &b.kvs[k]
		if p.dead {
			continue
		}
		if p.id == kArgc {
			b.data.set(kArgc, "argc", p.val, false)
			if n, err := strconv.ParseUint(p.val, 10, 32); err == nil {
				b.argc = int(min(n, 1<<30))
			}
			continue
		}
		idx, suffix, ok := argIndex(p.key)
		if !ok {
			continue
		}
		if suffix == "_len" {
			longArgs = true
			continue
		}
		if suffix != "" {
			continue
		}
		b.setArg(idx, p.val)
	}
	if longArgs {
		b.joinLongArgs(h.body)
	}
}

// argIndex parses "a12" (or "a12_len") into 12 and the suffix.
func argIndex(key string) (int, string, bool) {
	if len(key) < 2 || key[0] != 'a' || key[1] < '0' || key[1] > '9' {
		return 0, "", false
	}
	n, i := 0, 1
	for i < len(key) && key[i] >= '0' && key[i] <= '9' {
		n = n*10 + int(key[i]-'0')
		if n > 1<<20 {
			return 0, "", false
		}
		i++
	}
	return n, key[i:], true
}

func (b *builder) setArg(i int, v string) {
	if i >= 1<<16 {
		return
	}
	for len(b.args) <= i {
		b.args = append(b.args, "")
		b.argSet = append(b.argSet, false)
	}
	b.args[i], b.argSet[i] = v, true
}

// joinLongArgs finds the aN[M]=piece fields of a record and joins the
// pieces of each argument in order.
func (b *builder) joinLongArgs(body string) {
	type piece struct {
		arg, part int
		orig      string
	}
	var pieces []piece
	for i := 0; i < len(body); i++ {
		if body[i] != 'a' || (i > 0 && body[i-1] != ' ') {
			continue
		}
		j := i + 1
		arg := 0
		for j < len(body) && body[j] >= '0' && body[j] <= '9' && arg < 1<<20 {
			arg = arg*10 + int(body[j]-'0')
			j++
		}
		if j == i+1 || j >= len(body) || body[j] != '[' {
			continue
		}
		j++
		part, ps := 0, j
		for j < len(body) && body[j] >= '0' && body[j] <= '9' && part < 1<<20 {
			part = part*10 + int(body[j]-'0')
			j++
		}
		if j == ps || j+1 >= len(body) || body[j] != ']' || body[j+1] != '=' {
			continue
		}
		end, ok := scanValue(body, j+2)
		if !ok {
			continue
		}
		pieces = append(pieces, piece{arg, part, body[j+2 : end]})
		i = end - 1
	}
	for start := 0; start < len(pieces); {
		arg := pieces[start].arg
		end := start
		size := 0
		for end < len(pieces) && pieces[end].arg == arg {
			size += len(pieces[end].orig)
			end++
		}
		group := pieces[start:end]
		// Pieces are written in order; sort defensively by part number.
		for x := 1; x < len(group); x++ {
			for y := x; y > 0 && group[y].part < group[y-1].part; y-- {
				group[y], group[y-1] = group[y-1], group[y]
			}
		}
		b.slab.reserve(size)
		m := b.slab.mark()
		for _, pc := range group {
			if isUpperHex(pc.orig) {
				b.slab.buf = appendHex(b.slab.buf, pc.orig)
			} else {
				b.slab.buf = append(b.slab.buf, trimValue(pc.orig)...)
			}
		}
		v := b.slab.since(m)
		if nul := strings.IndexByte(v, 0); nul >= 0 {
			v = v[:nul]
		}
		b.setArg(arg, v)
		start = end
	}
}

// getValue looks a field up in the data, then in the subject ids.
func (b *builder) getValue(id uint16) (string, bool) {
	if v, ok := b.data.get(id, ""); ok {
		return v, true
	}
	return b.ids.get(id, "")
}

func (b *builder) firstValue(ids []uint16) (string, bool) {
	for _, id := range ids {
		if v, ok := b.getValue(id); ok {
			return v, true
		}
	}
	return "", false
}

// normalize applies the summary and ECS normalization of the event's
// syscall or record type.
func (b *builder) normalize(evType uint16) {
	// How: the executable, or for interpreters the command name.
	if exe, ok := b.data.get(kExe, ""); ok {
		b.how = exe
		if strings.HasPrefix(exe, "/usr/bin/python") || strings.HasPrefix(exe, "/usr/bin/sh") ||
			strings.HasPrefix(exe, "/usr/bin/bash") || strings.HasPrefix(exe, "/usr/bin/perl") {
			if comm, ok := b.data.get(kComm, ""); ok {
				b.how = comm
			}
		}
	} else if comm, ok := b.data.get(kComm, ""); ok {
		b.how = comm
	}

	sysNorm := -1
	if b.data.bits.has(kSyscall) {
		sysNorm = b.dataSysNorm
		if sysNorm < 0 {
			sysNorm = syscallNormByName(b.data.val[kSyscall])
		}
	}
	norm := -1
	if evType == typeSyscall {
		norm = sysNorm
	} else {
		cands := typeNorms(evType)
		switch len(cands) {
		case 0:
		case 1:
			norm = cands[0]
		default:
		next:
			for _, c := range cands {
				for _, f := range normalizations[c].hasFieldsIDs {
					if !b.data.bits.has(f) {
						continue next
					}
				}
				norm = c
			}
		}
	}
	if norm < 0 {
		return
	}
	nm := &normalizations[norm]
	b.category, b.ecsType = nm.categoryValue, nm.typeValue
	if sysNorm >= 0 && sysNorm != norm {
		// A record type with a syscall gets both categorizations.
		sn := &normalizations[sysNorm]
		if len(sn.ecsCategory) > 0 {
			b.category = sdk.Strings(append(nm.ecsCategory, sn.ecsCategory...))
		}
		if len(sn.ecsType) > 0 {
			b.ecsType = sdk.Strings(append(nm.ecsType, sn.ecsType...))
		}
	}
	b.action = nm.action

	b.objType = nm.objectWhat
	switch nm.objectWhat {
	case "file", "filesystem":
		if len(b.paths) > 0 {
			b.setFileObject(nm.objectPathIndex)
		}
	case "socket":
		if v, ok := b.data.get(keySocketAddr, ""); ok {
			b.objP = v
		} else if v, ok := b.data.get(keySocketPath, ""); ok {
			b.objP = v
		}
		if v, ok := b.data.get(keySocketPort, ""); ok {
			b.objS = v
		}
	}
	if v, ok := b.firstValue(nm.subjectPrimaryIDs); ok {
		b.actorP = v
	}
	if v, ok := b.firstValue(nm.subjectSecondaryIDs); ok {
		b.actorS = v
	}
	if v, ok := b.firstValue(nm.objectPrimaryIDs); ok {
		b.objP = v
	}
	if v, ok := b.firstValue(nm.objectSecondaryIDs); ok {
		b.objS = v
	}
	if v, ok := b.firstValue(nm.howIDs); ok {
		b.how = v
	}
	if !b.source.set {
		for _, id := range nm.sourceIPIDs {
			if v, ok := b.data.take(id); ok {
				b.source = address{ip: v, set: true}
				b.direction = "ingress"
				break
			}
		}
	}
	for _, m := range nm.mappings {
		var v string
		switch m.from {
		case fromSubjectPrimary:
			v = b.actorP
		case fromSubjectSecondary:
			v = b.actorS
		case fromObjectPrimary:
			v = b.objP
		case fromObjectSecondary:
			v = b.objS
		case fromData:
			v, _ = b.data.get(m.fromID, "")
		case fromIDs:
			v, _ = b.ids.get(m.fromID, "")
		}
		switch m.to {
		case toUser:
			b.ecsUser[0].set(v)
		case toUserEffective:
			b.ecsUser[1].set(v)
		case toUserTarget:
			b.ecsUser[2].set(v)
		case toUserChanges:
			b.ecsUser[3].set(v)
		case toGroup:
			b.ecsGroup.set(v)
		}
	}
}

// setFileObject describes the file the event is about from one of its PATH
// records: the one at the normalization's index, skipping parent
// directories.
func (b *builder) setFileObject(hint int) {
	idx := 0
	if len(b.paths) > hint {
		idx = hint
	}
	chosen := b.paths[idx]
	for _, pi := range b.paths[idx:] {
		ri := &b.recs[pi]
		nt := b.recField(ri, kNametype)
		if nt != "PARENT" && nt != "UNKNOWN" {
			chosen = pi
			break
		}
	}
	b.filePath = chosen
	ri := &b.recs[chosen]
	f := &b.file
	f.set = true
	var name, inode, rdev, mode, ouid, ogid string
	var hasName, hasMode bool
	for k := ri.start; k < ri.end; k++ {
		p := &b.kvs[k]
		if p.dead {
			continue
		}
		switch p.id {
		case kName:
			name, hasName = p.val, true
		case kInode:
			inode = p.val
		case kRdev:
			rdev = p.val
		case kMode:
			mode, hasMode = p.val, true
		case kOuid:
			ouid = p.val
		case kOgid:
			ogid = p.val
		}
	}
	if hasName {
		b.objP = name
		f.path = name
	}
	f.inode, f.device = inode, rdev
	if hasMode {
		m, err := strconv.ParseUint(mode, 8, 64)
		if err != nil {
			return
		}
		f.mode = modeStrings[m&0o7777]
		// aucoalesce tests the kernel mode bits with os.FileMode's methods,
		// which never see a type bit there: every file reads as regular.
		b.objType = "file"
	}
	f.uid, f.gid = ouid, ogid
	for k := ri.start; k < ri.end; k++ {
		p := &b.kvs[k]
		if p.dead || p.id == 0 || keyTable[p.id].flags&keyIsObj == 0 {
			continue
		}
		if s := selinuxSlot(keyTable[p.id].label); s >= 0 {
			f.selinux[s] = p.val
		}
	}
}

// recField returns a field of a parsed record.
func (b *builder) recField(ri *recInfo, id uint16) string {
	for k := ri.start; k < ri.end; k++ {
		if p := &b.kvs[k]; p.id == id && !p.dead {
			return p.val
		}
	}
	return ""
}

func (b *builder) errorEvent(hs []header, msg string) sdk.Event {
	ev := sdk.Event{Fields: sdk.MakeFields(4)}
	h := &hs[0]
	ev.Time = time.Unix(h.sec, h.msec*int64(time.Millisecond)).UTC()
	orig := make([]string, len(hs))
	for i := range hs {
		orig[i] = hs[i].line
	}
	ev.Fields.Append("auditd.sequence", sdk.Int(int64(h.seq)))
	ev.Fields.Append(sdk.FieldErrorMessage, sdk.String(msg))
	ev.Fields.Append(sdk.FieldEventKind, sdk.String("pipeline_error"))
	ev.Fields.Append("event.module", sdk.String("auditd"))
	ev.Fields.Append("event.original", sdk.Strings(orig))
	ev.ID = b.eventID(h)
	return ev
}

// eventID hashes what identifies an event in its source: the node, the
// timestamp, the sequence number and the text of the primary record.
func (b *builder) eventID(h *header) string {
	in := b.hashInput[:0]
	in = append(in, h.node...)
	in = append(in, 0)
	in = strconv.AppendInt(in, h.sec, 10)
	in = append(in, '.')
	in = strconv.AppendInt(in, h.msec, 10)
	in = append(in, ':')
	in = strconv.AppendUint(in, uint64(h.seq), 10)
	in = append(in, 0)
	in = append(in, h.text...)
	b.hashInput = in
	sum := sha256.Sum256(in)
	b.slab.reserve(32)
	m := b.slab.mark()
	b.slab.buf = hex.AppendEncode(b.slab.buf, sum[:16])
	return b.slab.since(m)
}
