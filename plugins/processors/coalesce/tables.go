package coalesce

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The lookup tables below are built once at init from ztables.go (go-libaudit's
// tables as plain data, see internal/gentables), so that the hot path indexes
// arrays instead of hashing into maps, and the processor reads Linux audit
// logs the same way on every GOOS.

//go:generate go run ./internal/gentables -o ztables.go

// maxKnownType bounds the record types that get array slots; larger numbers
// are looked up the slow way.
const maxKnownType = 4096

// Record types the reassembler and the coalescer treat specially (numbers
// from linux/audit.h).
const (
	typeSyscall   = uint16(1300)
	typePath      = uint16(1302)
	typeSockaddr  = uint16(1306)
	typeExecve    = uint16(1309)
	typeEOE       = uint16(1320)
	typeProctitle = uint16(1327)
	typeSeccomp   = uint16(1326)
	typeAVC       = uint16(1400)
	typeLogin     = uint16(1006)
	typeCredDisp  = uint16(1104)
	typeUserStart = uint16(1105)
	typeUserEnd   = uint16(1106)
	typeUserCmd   = uint16(1123)
	typeTTY       = uint16(1319)
	typeUserTTY   = uint16(1124)
	typeUserLogin = uint16(1112)
	typeCWD       = uint16(1307)

	// standalone record types complete an event on their own: userspace and
	// daemon messages below this bound ...
	lastStandaloneLow = uint16(1299) // AUDIT_LAST_DAEMON
	// ... and everything from the anomaly range on.
	firstStandaloneHigh = uint16(2100) // AUDIT_ANOM_LOGIN_FAILURES
)

type typeInfo struct {
	name     string // "SYSCALL"
	lower    string // "syscall"
	category string // aucoalesce's event category ("audit-rule")
	norms    []int  // candidate record-type normalizations
}

type archInfo struct {
	code     uint32
	name     string
	syscalls []string // by number; "" when unknown
	norms    []int16  // normalization index by syscall number
}

var (
	types      [maxKnownType]typeInfo
	typeByName symtab

	arches []archInfo

	errnoNames  []string // by positive errno
	signalNames [65]string
	modeStrings [4096]string // "%04o"

	defaultSyscallNorm = -1
)

// The tables depend on each other; build them in order.
func init() {
	initTables()
	initKeys()
	initNormalizations()
	initOutput()
}

func initTables() {
	// Record types: the names go-libaudit prints and parses.
	for t, name := range genTypeNames {
		if int(t) >= maxKnownType {
			continue
		}
		types[t] = typeInfo{
			name:  name,
			lower: strings.ToLower(name),
			norms: recordTypeNormalizations[name],
		}
		typeByName.add(name, int32(t))
	}
	// Record types newer kernels write that go-libaudit v2.6.2 does not
	// name (numbers from linux/audit.h). auditd versions that know them log
	// them by name.
	for name, t := range genNewerTypes {
		if types[t].name == "" {
			types[t] = typeInfo{name: name, lower: strings.ToLower(name)}
			typeByName.add(name, int32(t))
		}
	}
	for _, r := range genCategories {
		for t := int(r.from); t <= int(r.to) && t < maxKnownType; t++ {
			types[t].category = r.category
		}
	}
	typeByName.build()

	if n, ok := syscallNormalizations["*"]; ok {
		defaultSyscallNorm = n
	}

	// Architectures and their syscall tables.
	codes := make([]uint32, 0, len(genArches))
	for code := range genArches {
		codes = append(codes, code)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	for _, code := range codes {
		name := genArches[code]
		a := archInfo{code: code, name: name}
		if table, ok := genSyscalls[name]; ok {
			maxNum := 0
			for num := range table {
				maxNum = max(maxNum, num)
			}
			if maxNum < 1<<16 {
				a.syscalls = make([]string, maxNum+1)
				a.norms = make([]int16, maxNum+1)
				for i := range a.norms {
					a.norms[i] = int16(defaultSyscallNorm)
				}
				for num, sc := range table {
					if num < 0 {
						continue
					}
					a.syscalls[num] = sc
					if n, ok := syscallNormalizations[sc]; ok {
						a.norms[num] = int16(n)
					}
				}
			}
		}
		arches = append(arches, a)
	}

	maxErrno := 0
	for n := range genErrnos {
		maxErrno = max(maxErrno, n)
	}
	errnoNames = make([]string, maxErrno+1)
	for n, name := range genErrnos {
		if n >= 0 {
			errnoNames[n] = name
		}
	}

	signalNames = genSignals
	for i := range modeStrings {
		modeStrings[i] = fmt.Sprintf("%04o", i)
	}
}

// lookupType resolves a record type name as go-libaudit does, including the
// "UNKNOWN[1234]" form.
func lookupType(name string) (uint16, bool) {
	if t, ok := typeByName.get(name); ok {
		return uint16(t), true
	}
	// As go-libaudit: its names are case-insensitive, and "UNKNOWN[1234]" (or
	// anything with a number in brackets) names the number.
	if t, ok := typeByName.get(strings.ToUpper(name)); ok && genTypeNames[uint16(t)] != "" {
		return uint16(t), true
	}
	start := strings.IndexByte(name, '[')
	if start < 0 {
		return 0, false
	}
	rest := name[start+1:]
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:end], 10, 16)
	if err != nil {
		return 0, false
	}
	return uint16(n), true
}

func typeName(t uint16) string {
	if int(t) < maxKnownType && types[t].name != "" {
		return types[t].name
	}
	return "UNKNOWN[" + strconv.Itoa(int(t)) + "]"
}

func typeLower(t uint16) string {
	if int(t) < maxKnownType && types[t].lower != "" {
		return types[t].lower
	}
	return "unknown[" + strconv.Itoa(int(t)) + "]"
}

func typeCategory(t uint16) string {
	if int(t) < maxKnownType {
		return types[t].category
	}
	return genCategoryAbove
}

func typeNorms(t uint16) []int {
	if int(t) < maxKnownType {
		return types[t].norms
	}
	return nil
}

// archIndex returns the index in arches of an architecture code, or -1.
func archIndex(code uint32) int {
	lo, hi := 0, len(arches)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case arches[m].code == code:
			return m
		case arches[m].code < code:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

// syscallNormByName is the slow path for syscall names that do not come from
// a SYSCALL record's number.
func syscallNormByName(name string) int {
	if n, ok := syscallNormalizations[name]; ok {
		return n
	}
	return defaultSyscallNorm
}

func errnoName(n int) string {
	if n >= 0 && n < len(errnoNames) {
		return errnoNames[n]
	}
	return ""
}

// symtab is a read-only open-addressing hash table from short strings to
// small integers, cheaper than a Go map for the parser's lookups.
type symtab struct {
	names []string
	vals  []int32
	slots []int32 // index+1 into names, 0 = empty
	mask  uint32
}

func (t *symtab) add(name string, v int32) {
	t.names = append(t.names, name)
	t.vals = append(t.vals, v)
}

func (t *symtab) build() {
	size := 16
	for size < 4*len(t.names) {
		size <<= 1
	}
	t.slots = make([]int32, size)
	t.mask = uint32(size - 1)
	for i, name := range t.names {
		h := strHash(name) & t.mask
		for t.slots[h] != 0 {
			h = (h + 1) & t.mask
		}
		t.slots[h] = int32(i + 1)
	}
}

func (t *symtab) get(name string) (int32, bool) {
	if t.slots == nil {
		return 0, false
	}
	h := strHash(name) & t.mask
	for {
		s := t.slots[h]
		if s == 0 {
			return 0, false
		}
		if t.names[s-1] == name {
			return t.vals[s-1], true
		}
		h = (h + 1) & t.mask
	}
}

// strHash mixes the first and last eight bytes and the length of s. Field
// names and record type names are short, so this sees most of them whole.
func strHash(s string) uint32 {
	n := len(s)
	var a, b uint64
	switch {
	case n >= 8:
		a = le64(s[:8])
		b = le64(s[n-8:])
	case n >= 4:
		a = uint64(le32(s[:4]))
		b = uint64(le32(s[n-4:]))
	default:
		for i := 0; i < n; i++ {
			a = a<<8 | uint64(s[i])
		}
	}
	h := a*0x9E3779B97F4A7C15 ^ b*0xC2B2AE3D27D4EB4F ^ uint64(n)
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return uint32(h)
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// itoa is strconv.Itoa; kept as a name so the few formatting sites read alike.
func itoa(n int) string { return strconv.Itoa(n) }
