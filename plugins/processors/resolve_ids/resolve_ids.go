// Package resolveids is the "resolve_ids" processor: it puts the user and
// group name beside every numeric uid and gid an event carries (user.id gets
// user.name, file.gid gets file.group, ...). Names come from passwd and group
// files read directly (the colon format of /etc/passwd and /etc/group), held
// in maps and read again when a file changes.
package resolveids

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "resolve_ids",
		Summary: "Add user and group names beside the numeric uid and gid fields of events",
		Description: "For each of user.id, user.effective.id, user.audit.id, user.saved.id, user.filesystem.id, " +
			"user.target.id, group.id, user.group.id, user.effective.group.id, user.saved.group.id, " +
			"user.filesystem.group.id, file.uid and file.gid that an event has, sets the name field beside it " +
			"(user.name, user.effective.name, ..., group.name, user.group.name, ..., file.owner, file.group) " +
			"unless the event already has it. Ids nobody has, and the unset id 4294967295, stay as they are. " +
			"The passwd and group files are checked for changes (modification time, size, inode) at most every " +
			"refresh_interval and read again when they changed.",
		Options: []sdk.Option{
			{Name: "passwd_file", Type: sdk.TypeString, Default: "/etc/passwd",
				Doc: "The passwd file user names come from (name:password:uid:gid:...)."},
			{Name: "group_file", Type: sdk.TypeString, Default: "/etc/group",
				Doc: "The group file group names come from (name:password:gid:members)."},
			{Name: "refresh_interval", Type: sdk.TypeDuration, Default: 5 * time.Second, Bound: sdk.Positive,
				Doc: "How often, at most, the files are checked for changes. Checks happen while events flow, never per event."},
		},
		Validate: func(cfg *sdk.Config) error {
			if cfg.String("passwd_file") == "" {
				return sdk.OptionErrorf("passwd_file", "must name a file, such as \"/etc/passwd\"")
			}
			if cfg.String("group_file") == "" {
				return sdk.OptionErrorf("group_file", "must name a file, such as \"/etc/group\"")
			}
			return nil
		},
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return New(Options{
				PasswdFile:      cfg.String("passwd_file"),
				GroupFile:       cfg.String("group_file"),
				RefreshInterval: cfg.Duration("refresh_interval"),
				Logger:          env.Logger,
			}), nil
		},
	})
}

// Options configure a Processor.
type Options struct {
	PasswdFile      string
	GroupFile       string
	RefreshInterval time.Duration
	Logger          *slog.Logger
	// Now returns the time; time.Now when nil.
	Now func() time.Time
}

// pair is an id field and the name field that goes beside it.
type pair struct {
	id, name string
	group    bool // a gid, named from the group file
}

var pairsInit = [...]pair{
	{"user.id", "user.name", false},
	{"user.effective.id", "user.effective.name", false},
	{"user.audit.id", "user.audit.name", false},
	{"user.saved.id", "user.saved.name", false},
	{"user.filesystem.id", "user.filesystem.name", false},
	{"user.target.id", "user.target.name", false},
	{"group.id", "group.name", true},
	{"user.group.id", "user.group.name", true},
	{"user.effective.group.id", "user.effective.group.name", true},
	{"user.saved.group.id", "user.saved.group.name", true},
	{"user.filesystem.group.id", "user.filesystem.group.name", true},
	{"file.uid", "file.owner", false},
	{"file.gid", "file.group", true},
}

var pairs = pairsInit[:]

// keyRef is an id or name key of pairs.
type keyRef struct {
	key    string
	pair   int
	isName bool
}

// keyTable holds every id and name key of pairs, sorted by key, so that
// the names to add come out in key order.
var keyTable = func() []keyRef {
	var t []keyRef
	for i, p := range pairs {
		t = append(t, keyRef{p.id, i, false}, keyRef{p.name, i, true})
	}
	slices.SortFunc(t, func(a, b keyRef) int { return strings.Compare(a.key, b.key) })
	return t
}()

// nameOrder holds the indexes of pairs in the order of their name keys.
var nameOrder = func() []int {
	var o []int
	for _, r := range keyTable {
		if r.isName {
			o = append(o, r.pair)
		}
	}
	return o
}()

// keySlot finds the one key of keyTable a field key can be from its length
// and its sixth byte (the first one after "user." or "file."), so that
// telling a key of ours from any other costs one table load and one string
// comparison. It holds the index in keyTable plus one; 0 is none.
var keySlot = func() *[32][128]uint8 {
	var s [32][128]uint8
	for i, r := range keyTable {
		if len(r.key) < minKeyLen || len(r.key) >= len(s) || r.key[5] >= 128 {
			panic("resolve_ids: key " + r.key + " does not fit the key slots")
		}
		if s[len(r.key)][r.key[5]] != 0 {
			panic("resolve_ids: keys " + r.key + " and " + keyTable[s[len(r.key)][r.key[5]]-1].key + " share a key slot")
		}
		s[len(r.key)][r.key[5]] = uint8(i + 1)
	}
	return &s
}()

// minKeyLen is the length of the shortest key of pairs ("user.id").
const minKeyLen = 7

// lookupKey returns the index in keyTable of k, or -1.
func lookupKey(k string) int {
	if len(k) < minKeyLen || len(k) >= 32 || k[5] >= 128 {
		return -1
	}
	s := keySlot[len(k)][k[5]]
	if s == 0 || keyTable[s-1].key != k {
		return -1
	}
	return int(s) - 1
}

// unsetID is how the kernel writes "no id" (-1 as an unsigned 32-bit number).
const unsetID = 4294967295

// names is one file's id-to-name map and what the file looked like when read.
type names struct {
	path    string
	byID    map[uint32]string
	table   idTable
	info    os.FileInfo // nil when the file could not be read
	failed  bool        // the last read failed and was logged
	isGroup bool
}

// Processor adds names beside ids.
type Processor struct {
	opt       Options
	users     names
	groups    names
	nextCheck time.Time
	adds      [len(pairsInit)]sdk.Field // scratch: names to add to one event
	at        [len(pairsInit)]int       // scratch: where each goes
}

// New returns a Processor and reads the files once.
func New(o Options) *Processor {
	if o.PasswdFile == "" {
		o.PasswdFile = "/etc/passwd"
	}
	if o.GroupFile == "" {
		o.GroupFile = "/etc/group"
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Processor{
		opt:    o,
		users:  names{path: o.PasswdFile, byID: map[uint32]string{}},
		groups: names{path: o.GroupFile, byID: map[uint32]string{}, isGroup: true},
	}
	p.refresh(o.Now())
	return p
}

// UserName returns the name of uid, as the processor knows it now.
func (p *Processor) UserName(uid uint32) (string, bool) { s, ok := p.users.byID[uid]; return s, ok }

// GroupName returns the name of gid, as the processor knows it now.
func (p *Processor) GroupName(gid uint32) (string, bool) { s, ok := p.groups.byID[gid]; return s, ok }

// refresh reads the files again if they changed since last read.
func (p *Processor) refresh(now time.Time) {
	p.nextCheck = now.Add(p.opt.RefreshInterval)
	p.reload(&p.users)
	p.reload(&p.groups)
}

func (p *Processor) reload(n *names) {
	fi, err := os.Stat(n.path)
	if err == nil && n.info != nil && os.SameFile(fi, n.info) && fi.Size() == n.info.Size() && fi.ModTime().Equal(n.info.ModTime()) {
		return
	}
	var m map[uint32]string
	if err == nil {
		m, err = readFile(n.path, n.isGroup)
	}
	if err != nil {
		if !n.failed {
			p.opt.Logger.Warn("cannot read the names of ids; ids stay numbers until it can", "file", n.path, "error", err)
			n.failed = true
		}
		n.info = nil
		return
	}
	if n.failed {
		p.opt.Logger.Info("names of ids read again", "file", n.path)
	}
	n.failed = false
	n.byID = m
	n.table = newIDTable(m)
	n.info = fi
}

// readFile parses a passwd or group file: the name is the first colon
// separated column, the id the third. The first name of an id wins, as
// with getpwuid. Malformed lines are skipped.
func readFile(path string, group bool) (map[uint32]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[uint32]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		cols := bytes.SplitN(line, []byte{':'}, 4)
		if len(cols) < 3 || len(cols[0]) == 0 {
			continue
		}
		id, ok := parseID(string(cols[2]))
		if !ok {
			continue
		}
		if _, dup := m[id]; !dup {
			m[id] = string(cols[0])
		}
	}
	return m, sc.Err()
}

// parseID reads a decimal uid or gid without allocating.
func parseID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > unsetID {
		return 0, false
	}
	return uint32(n), true
}

func idOf(v *sdk.Value) (uint32, bool) {
	switch v.Kind() {
	case sdk.KindString:
		return parseID(v.Str())
	case sdk.KindInt:
		i := v.Int()
		if i < 0 || i > unsetID {
			return 0, false
		}
		return uint32(i), true
	}
	return 0, false
}

// idTable answers the common question, the name of a small id, with two
// slice loads instead of a map lookup: dense[id] is one plus the index in
// names of the id's name, for ids below denseIDs. 0 sends the lookup to the
// map (an id without a name, or one past 65535 names).
type idTable struct {
	dense []uint16
	names []string
	byID  map[uint32]string
}

// denseIDs bounds the dense part: at most 128 KiB per file.
const denseIDs = 1 << 16

func newIDTable(m map[uint32]string) idTable {
	t := idTable{byID: m}
	top := -1
	for id := range m {
		if id < denseIDs && int(id) > top {
			top = int(id)
		}
	}
	t.dense = make([]uint16, top+1)
	for id, name := range m {
		if id < denseIDs && len(t.names) < 0xffff {
			t.names = append(t.names, name)
			t.dense[id] = uint16(len(t.names))
		}
	}
	return t
}

func (t *idTable) name(id uint32) (string, bool) {
	if id < uint32(len(t.dense)) {
		if i := t.dense[id]; i != 0 {
			return t.names[i-1], true
		}
	}
	s, ok := t.byID[id]
	return s, ok
}

// Process names the ids of every event and passes the batch on.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	if now := p.opt.Now(); !now.Before(p.nextCheck) {
		p.refresh(now)
	}
	for i := range in.Events {
		p.resolve(&in.Events[i].Fields)
	}
	return out.Emit(ctx, in)
}

// firstKey returns the index of the first field at or after "file.", the
// first key of ours. Most probes are settled by the first byte.
func firstKey(list []sdk.Field) int {
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		k := list[m].Key
		if k == "" || k[0] < 'f' || k[0] == 'f' && k < "file." {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// resolve sets the names of one event's ids. It walks the sorted fields
// from "file." on, tells the keys it knows by lookupKey, and then writes
// all the new names in one merge.
func (p *Processor) resolve(f *sdk.Fields) {
	var idAt [len(pairsInit)]int32
	var hasID, hasName uint32 // bit i: pairs[i]
	list := f.All()
	for i := firstKey(list); i < len(list); i++ {
		k := list[i].Key
		if k[0] > 'u' {
			break
		}
		t := lookupKey(k)
		if t < 0 {
			continue
		}
		r := &keyTable[t]
		if r.isName {
			hasName |= 1 << r.pair
		} else {
			hasID |= 1 << r.pair
			idAt[r.pair] = int32(i)
		}
	}
	need := hasID &^ hasName
	if need == 0 {
		return
	}
	n := 0
	for _, j := range nameOrder {
		if need&(1<<j) == 0 {
			continue
		}
		i := int(idAt[j])
		id, ok := idOf(&list[i].Value)
		if !ok || id == unsetID {
			continue
		}
		tab := &p.users.table
		if pairs[j].group {
			tab = &p.groups.table
		}
		if name, ok := tab.name(id); ok {
			key := pairs[j].name
			p.adds[n] = sdk.Field{Key: key, Value: sdk.String(name)}
			p.at[n] = placeNear(list, i, key)
			n++
		}
	}
	// The names come in key order and none is set yet: they go in where
	// they belong, next to their ids, in one pass.
	f.InsertAt(p.at[:n], p.adds[:n])
	clear(p.adds[:n]) // keep no names alive
}

// placeNear returns the index of the first field after key, a key f does
// not have, looking from index i, the key's id field: a name usually
// comes right after its id (user.id, user.name), and file.owner a few
// fields before file.uid.
func placeNear(list []sdk.Field, i int, key string) int {
	if key > list[i].Key {
		for i++; i < len(list) && list[i].Key < key; i++ {
		}
		return i
	}
	for i > 0 && list[i-1].Key > key {
		i--
	}
	return i
}
