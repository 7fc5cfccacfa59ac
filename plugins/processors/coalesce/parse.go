package coalesce

import (
	"strconv"
	"strings"

	"github.com/engine-audit/engine/sdk"
)

// kv is one key=value pair of a record. All strings are slices of the record
// line or of the builder's slab.
type kv struct {
	key    string
	val    string // value without quotes, enriched (decoded, named)
	id     uint16 // key id, 0 for names outside the key table
	quoted bool   // the value was written in quotes (so it is not hex)
	dead   bool   // removed by enrichment
}

// hexValue reports whether the value was written as upper-case hex, the
// encoding auditd uses for values with special characters.
func (p *kv) hexValue() bool { return !p.quoted && isUpperHex(p.val) }

// recInfo is what parsing one record leaves besides its key/value pairs.
type recInfo struct {
	start, end int // range of its pairs in builder.kvs
	tagsVal    string
	tagsQuoted bool
	hasTags    bool
	sysNorm    int  // normalization of its syscall field, -1 if it has none
	argLens    bool // an EXECVE record with aN_len fields (long arguments)
}

// parseRecord splits a record's content into key/value pairs and enriches
// them the way go-libaudit's auparse does: ids set to -1 become "unset",
// SELinux contexts are split, success/res become result, negative exit codes
// and syscall numbers get names, the rule key becomes tags, and hex-encoded
// values are decoded. Where go-libaudit gives up on the whole record (a
// required field is missing or malformed), this keeps what it can.
func (b *builder) parseRecord(h *header) recInfo {
	b.gen++
	if b.gen == 0 { // wrapped: forget every slot
		clear(b.slotGen[:])
		b.gen = 1
	}
	ri := recInfo{start: len(b.kvs), sysNorm: -1}
	b.recStart = ri.start
	b.keyPos = 0
	b.keySeq = nil
	if int(h.typ) < len(b.keySeqs) {
		b.keySeq = &b.keySeqs[h.typ]
	}
	if !h.noData {
		body := b.normalizeBody(h.typ, h.body)
		b.scan(body, 0)
	}
	b.enrich(h, &ri)
	ri.end = len(b.kvs)
	return ri
}

// normalizeBody rewrites the few record types whose content is not plain
// key=value text, as go-libaudit does before parsing.
func (b *builder) normalizeBody(typ uint16, s string) string {
	switch typ {
	case typeAVC:
		return b.normalizeAVC(s)
	case typeLogin:
		if strings.Contains(s, "old ") || strings.Contains(s, "new ") {
			s = strings.Replace(s, "old ", "old_", 2)
			s = strings.Replace(s, "new ", "new_", 2)
		}
	case typeCredDisp, typeUserStart, typeUserEnd:
		if strings.Contains(s, " (hostname=") {
			s = strings.Replace(s, " (hostname=", " hostname=", 2)
		}
		s = strings.TrimRight(s, ")'")
	}
	return s
}

// normalizeAVC turns an SELinux "avc:  denied  { read write } for  ..."
// prefix into "seresult=denied seperms=read,write ...". AppArmor AVC records
// are plain key=value text and pass unchanged.
func (b *builder) normalizeAVC(s string) string {
	from := 0
	for {
		i := strings.Index(s[from:], "avc:")
		if i < 0 {
			return s
		}
		p := from + i
		from = p + 1
		q := p + 4
		sp := skipSpace(s, q)
		if sp == q {
			continue
		}
		w := sp
		for w < len(s) && isWordChar(s[w]) {
			w++
		}
		if w == sp {
			continue
		}
		result := s[sp:w]
		sp2 := skipSpace(s, w)
		if sp2 == w || sp2 >= len(s) || s[sp2] != '{' {
			continue
		}
		inner := skipSpace(s, sp2+1)
		// The perms run to the last "}" that is followed by " for ".
		end := -1
		matchEnd := 0
		for r := len(s) - 1; r >= inner; r-- {
			if s[r] != '}' {
				continue
			}
			a := skipSpace(s, r+1)
			if a == r+1 || !strings.HasPrefix(s[a:], "for") {
				continue
			}
			c := skipSpace(s, a+3)
			if c == a+3 {
				continue
			}
			end, matchEnd = r, c
			break
		}
		if end < 0 {
			continue
		}
		perms := strings.Fields(s[inner:end])
		n := len("seresult=") + len(result) + len(" seperms= ") + len(s) - matchEnd
		for _, p := range perms {
			n += len(p) + 1
		}
		b.slab.reserve(n)
		m := b.slab.mark()
		b.slab.buf = append(b.slab.buf, "seresult="...)
		b.slab.buf = append(b.slab.buf, result...)
		b.slab.buf = append(b.slab.buf, " seperms="...)
		for k, p := range perms {
			if k > 0 {
				b.slab.buf = append(b.slab.buf, ',')
			}
			b.slab.buf = append(b.slab.buf, p...)
		}
		b.slab.buf = append(b.slab.buf, ' ')
		b.slab.buf = append(b.slab.buf, s[matchEnd:]...)
		return b.slab.since(m)
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpaceChar[s[i]] {
		i++
	}
	return i
}

func isWordChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// maxMsgDepth bounds the nesting of msg='...' values that are parsed for
// pairs (auditd nests one level; a deeper value stays a plain field).
const maxMsgDepth = 64

// scan finds the key=value pairs in s. A key is a maximal run of key
// characters directly followed by '='; text that does not form a pair is
// skipped. The pairs of a nested msg='...' value are added in its place.
func (b *builder) scan(s string, depth int) {
	i := 0
	for i < len(s) {
		if !isKeyChar[s[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isKeyChar[s[j]] {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			i = j
			continue
		}
		end, ok := scanValue(s, j+1)
		if !ok {
			i = j + 1
			continue
		}
		key, val := s[i:j], s[j+1:end]
		i = end
		quoted := false
		if c := val[0]; c == '"' || c == '\'' {
			val, quoted = trimValue(val), true
		}
		if uselessValue(val) {
			continue
		}
		if key == "msg" && depth < maxMsgDepth {
			b.scan(val, depth+1)
			continue
		}
		b.putKV(key, val, quoted)
	}
}

// putKV adds a pair to the current record; a repeated key replaces the value.
func (b *builder) putKV(key, val string, quoted bool) {
	// Records of one type name their fields in the same order: try the
	// id the key at this position had last time before hashing.
	var id uint16
	if s, pos := b.keySeq, b.keyPos; s != nil && pos < len(s.names) && s.names[pos] == key {
		id = s.ids[pos]
		b.keyPos++
	} else {
		id = keyID(key)
		if s != nil && pos < maxKeySeq {
			if pos < len(s.names) {
				s.names[pos], s.ids[pos] = key, id
			} else if pos == len(s.names) {
				s.names = append(s.names, key)
				s.ids = append(s.ids, id)
			}
		}
		b.keyPos++
	}
	if id != 0 {
		if b.slotGen[id] == b.gen {
			p := &b.kvs[b.slot[id]]
			p.val, p.quoted, p.dead = val, quoted, false
			return
		}
		b.slotGen[id] = b.gen
		b.slot[id] = int32(len(b.kvs))
	} else {
		for k := b.recStart; k < len(b.kvs); k++ {
			if p := &b.kvs[k]; p.id == 0 && p.key == key {
				p.val, p.quoted, p.dead = val, quoted, false
				return
			}
		}
	}
	b.kvs = append(b.kvs, kv{key: key, val: val, quoted: quoted, id: id})
}

// keySeq remembers the field names of the last record of a type, in order,
// with their key ids.
type keySeq struct {
	names []string
	ids   []uint16
}

// maxKeySeq bounds the names remembered per record type.
const maxKeySeq = 64

// putID adds a pair whose key is known to be in the key table.
func (b *builder) putID(id uint16, val string) {
	if b.slotGen[id] == b.gen {
		p := &b.kvs[b.slot[id]]
		p.val, p.quoted, p.dead = val, false, false
		return
	}
	b.slotGen[id] = b.gen
	b.slot[id] = int32(len(b.kvs))
	b.kvs = append(b.kvs, kv{key: keyTable[id].name, val: val, id: id})
}

// find returns the index in b.kvs of the current record's live pair with
// key id, or -1.
func (b *builder) find(id uint16) int {
	if b.slotGen[id] != b.gen {
		return -1
	}
	k := int(b.slot[id])
	if b.kvs[k].dead {
		return -1
	}
	return k
}

func (b *builder) del(k int) { b.kvs[k].dead = true }

func (b *builder) enrich(h *header, ri *recInfo) {
	if k := b.find(kAuid); k >= 0 {
		unsetID(&b.kvs[k])
	}
	if k := b.find(kOldAuid); k >= 0 {
		unsetID(&b.kvs[k])
	}
	if k := b.find(kSes); k >= 0 {
		unsetID(&b.kvs[k])
	}
	if k := b.find(kSubj); k >= 0 {
		b.splitContext(k, "subj_")
	}
	// SYSCALL records say success=, others res=; a res= next to a
	// success= stays as it is.
	if k := b.find(kSuccess); k >= 0 {
		b.setResult(k)
	} else if k := b.find(kRes); k >= 0 {
		b.setResult(k)
	}
	if k := b.find(kExit); k >= 0 {
		p := &b.kvs[k]
		if n, err := strconv.Atoi(p.val); err == nil && n < 0 {
			if name := errnoName(-n); name != "" {
				p.val = name
			}
		}
	}
	if k := b.find(kKey); k >= 0 {
		ri.hasTags = true
		ri.tagsVal, ri.tagsQuoted = b.kvs[k].val, b.kvs[k].quoted
		b.del(k)
	}
	if k := b.find(kCwd); k >= 0 {
		b.hexDecodeJoined(k)
	}

	switch h.typ {
	case typeSeccomp:
		if k := b.find(kSig); k >= 0 {
			p := &b.kvs[k]
			if n, err := strconv.Atoi(p.val); err == nil && n >= 0 && n < len(signalNames) && signalNames[n] != "" {
				p.val = signalNames[n]
			}
		}
		b.enrichSyscall(ri)
	case typeSyscall:
		b.enrichSyscall(ri)
	case typeSockaddr:
		if k := b.find(kSaddr); k >= 0 {
			if sa, ok := b.parseSockaddr(b.kvs[k].val); ok {
				b.del(k)
				b.putID(kFamily, sa.family)
				if sa.addr != "" {
					b.putID(kAddr, sa.addr)
				}
				if sa.port != "" {
					b.putID(kPort, sa.port)
				}
				if sa.family == "unix" {
					b.putID(kPath, sa.path)
				}
				if sa.flow != "" {
					b.putID(kFlow, sa.flow)
				}
				if sa.saddr != "" {
					b.putID(kSaddr, sa.saddr)
				}
			}
		}
	case typeProctitle:
		if k := b.find(kProctitle); k >= 0 {
			b.hexDecodeJoined(k)
		}
	case typeUserCmd:
		if k := b.find(kCmd); k >= 0 {
			b.hexDecodeJoined(k)
		}
	case typeTTY, typeUserTTY:
		if k := b.find(kData); k >= 0 {
			b.hexDecodeJoined(k)
		}
	case typeExecve:
		// Arguments a0 ... a(argc-1) are decoded (all of them when a
		// record continues an earlier one and has no argc).
		limit := 1 << 30
		if k := b.find(kArgc); k >= 0 {
			if n, err := strconv.ParseUint(b.kvs[k].val, 10, 32); err == nil {
				limit = int(min(n, 1<<30))
			}
		}
		for k := ri.start; k < len(b.kvs); k++ {
			p := &b.kvs[k]
			if i, suffix, ok := argIndex(p.key); ok && suffix == "" && !p.dead && i < limit {
				p.val = b.decodeArg(p)
			}
		}
	case typePath:
		if k := b.find(kObj); k >= 0 {
			b.splitContext(k, "obj_")
		}
		if k := b.find(kName); k >= 0 {
			b.hexDecodeJoined(k)
		}
	case typeUserLogin:
		if k := b.find(kAcct); k >= 0 {
			b.hexDecodeJoined(k)
		}
	}
	if ri.sysNorm < 0 {
		if k := b.find(kSyscall); k >= 0 {
			ri.sysNorm = syscallNormByName(b.kvs[k].val)
		}
	}
}

func unsetID(p *kv) {
	if p.val == "4294967295" || p.val == "-1" {
		p.val = "unset"
	}
}

// enrichSyscall names the architecture and syscall and decodes exe.
func (b *builder) enrichSyscall(ri *recInfo) {
	archIdx := -1
	if k := b.find(kArch); k >= 0 {
		p := &b.kvs[k]
		if p.val == b.lastArchVal {
			archIdx = b.lastArchIdx
			p.val = b.lastArchName
		} else if code, err := strconv.ParseInt(p.val, 16, 64); err == nil {
			orig := p.val
			archIdx = archIndex(uint32(code))
			if archIdx >= 0 {
				p.val = arches[archIdx].name
			} else {
				p.val = "unknown[" + strconv.FormatUint(uint64(uint32(code)), 16) + "]"
			}
			b.lastArchVal, b.lastArchIdx, b.lastArchName = orig, archIdx, p.val
		}
	}
	if k := b.find(kSyscall); k >= 0 {
		p := &b.kvs[k]
		if n, err := strconv.Atoi(p.val); err == nil && archIdx >= 0 {
			a := &arches[archIdx]
			if n >= 0 && n < len(a.syscalls) && a.syscalls[n] != "" {
				p.val = a.syscalls[n]
				ri.sysNorm = int(a.norms[n])
			}
		}
		if ri.sysNorm < 0 {
			ri.sysNorm = syscallNormByName(p.val)
		}
	}
	if k := b.find(kExe); k >= 0 {
		b.hexDecodeJoined(k)
	}
}

// setResult replaces success= or res= (at index k) with result=.
func (b *builder) setResult(k int) {
	v := b.kvs[k].val
	b.del(k)
	res := "fail"
	if v == "1" || asciiFold(v) == "yes" || len(v) >= 3 && asciiFold(v[:3]) == "suc" {
		res = "success"
	}
	b.putID(kResult, res)
}

var contextSuffixes = [...]string{"user", "role", "domain", "level", "category"}

// splitContext splits an SELinux context user:role:domain:level:category
// (at index k) into prefix+part fields; the last part keeps any further
// colons ("s0-s0:c0.c1023" is level "s0-s0", category "c0.c1023").
func (b *builder) splitContext(k int, prefix string) {
	v := b.kvs[k].val
	b.del(k)
	for i := range contextSuffixes {
		part := v
		c := strings.IndexByte(v, ':')
		if i < len(contextSuffixes)-1 && c >= 0 {
			part, v = v[:c], v[c+1:]
		} else {
			c = -1
		}
		name := prefix + contextSuffixes[i]
		if id := keyID(name); id != 0 {
			b.putID(id, part)
		} else {
			b.putKV(name, part, false)
		}
		if c < 0 {
			return
		}
	}
}

// hexDecodeJoined decodes an upper-case hex value in place, turning NUL
// separators into spaces (proctitle, cwd, exe, path names, ...).
func (b *builder) hexDecodeJoined(k int) {
	p := &b.kvs[k]
	if !p.hexValue() {
		return
	}
	n := len(p.val) / 2
	b.slab.reserve(n)
	m := b.slab.mark()
	b.slab.buf = appendHex(b.slab.buf, p.val)
	seg := b.slab.buf[m:]
	for i, c := range seg {
		if c == 0 {
			seg[i] = ' '
		}
	}
	p.val = b.slab.since(m)
}

// decodeArg decodes one EXECVE argument value: hex up to the first NUL, or
// the quoted text.
func (b *builder) decodeArg(p *kv) string {
	if !p.hexValue() {
		return p.val
	}
	b.slab.reserve(len(p.val) / 2)
	m := b.slab.mark()
	b.slab.buf = appendHexUntilNUL(b.slab.buf, p.val)
	return b.slab.since(m)
}

// tagsOf returns the tags of a rule key value: a hex-encoded key holds
// several keys separated by 0x01; key="key=value" keeps value.
func (b *builder) tagsOf(val string, quoted bool) []string {
	// Events of one rule repeat the key: keep the last list (read-only).
	if val == b.lastTagsVal && quoted == b.lastTagsQuoted && b.lastTags != nil {
		return b.lastTags
	}
	var tags []string
	if !quoted && isUpperHex(val) {
		b.slab.reserve(len(val) / 2)
		m := b.slab.mark()
		b.slab.buf = appendHex(b.slab.buf, val)
		s := b.slab.since(m)
		tags = strings.Split(s, "\x01")
	} else {
		v := val
		if i := strings.IndexByte(v, '='); i >= 0 {
			v = v[i+1:]
		}
		tags = []string{v}
	}
	tags = tags[:len(tags):len(tags)]
	b.lastTagsVal, b.lastTagsQuoted, b.lastTags, b.lastTagsValue = val, quoted, tags, sdk.Strings(tags)
	return tags
}

// asciiFold lower-cases short ASCII strings without allocating when they
// are lower case already.
func asciiFold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
