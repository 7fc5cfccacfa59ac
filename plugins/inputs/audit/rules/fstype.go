//go:build !windows

package rules

import (
	"fmt"
	"sort"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/engine-audit/engine/internal/suggest"
)

// fstypes are the filesystem names -F fstype= accepts, with the magic
// numbers of linux/magic.h that the kernel compares with the superblock's
// s_magic. auditctl knows the first four; the others are pseudo
// filesystems that flood PATH records as the first two do.
var fstypes = []struct {
	name  string
	magic uint32
}{
	{"tracefs", 0x74726163},
	{"debugfs", 0x64626720},
	{"cgroup", 0x0027e0eb},
	{"cgroup2", 0x63677270},
	{"proc", 0x00009fa0},
	{"sysfs", 0x62656572},
	{"securityfs", 0x73636673},
	{"selinuxfs", 0xf97cff8c},
	{"bpf", 0xcafe4a11},
	{"configfs", 0x62656570},
	{"pstore", 0x6165676c},
	{"tmpfs", 0x01021994},
	{"devpts", 0x00001cd1},
	{"hugetlbfs", 0x958458f6},
	{"autofs", 0x00000187},
	{"binfmt_misc", 0x42494e4d},
	{"fusectl", 0x65735543},
	{"efivarfs", 0xde5e81e4},
	{"nsfs", 0x6e736673},
	{"ramfs", 0x858458f6},
	{"overlay", 0x794c7630},
}

func fstypeMagic(name string) (uint32, bool) {
	for _, f := range fstypes {
		if f.name == name {
			return f.magic, true
		}
	}
	return 0, false
}

func fstypeName(magic uint32) string {
	for _, f := range fstypes {
		if f.magic == magic {
			return f.name
		}
	}
	return fmt.Sprintf("%#x", magic)
}

func fstypeNames() []string {
	out := make([]string, len(fstypes))
	for i, f := range fstypes {
		out[i] = f.name
	}
	return out
}

func fieldNameList() []string {
	out := make([]string, 0, len(fieldNames))
	for name := range fieldNames {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// didYouMean returns `; did you mean "x"?` for the candidate closest to
// given, if one is close enough to be a typo. With no candidates it looks
// among system call names.
func didYouMean(given string, candidates []string) string {
	if candidates == nil {
		seen := map[string]bool{}
		for _, table := range auparse.AuditSyscalls {
			for _, name := range table {
				if !seen[name] {
					seen[name] = true
					candidates = append(candidates, name)
				}
			}
		}
		sort.Strings(candidates)
	}
	best := suggest.Closest(given, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}
