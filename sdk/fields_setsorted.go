package sdk

import "slices"

// SetSorted sets every field of fs, as Set would one after the other. When
// fs is sorted by key without duplicates — the case it is made for: a
// processor adding a group of fields (container.*, user names) to every
// event — the fields go in with one pass that moves each existing field at
// most once; with no key of f between them, one search and one copy. Keys
// already in f take the new value. Otherwise each field is Set in turn. fs
// is not retained.
func (f *Fields) SetSorted(fs []Field) {
	if len(fs) == 0 {
		return
	}
	for j := 1; j < len(fs); j++ {
		if fs[j-1].Key >= fs[j].Key {
			f.setEach(fs)
			return
		}
	}
	i, found := f.search(fs[0].Key)
	if !found && (i == len(f.list) || f.list[i].Key > fs[len(fs)-1].Key) {
		f.list = slices.Insert(f.list, i, fs...)
		return
	}
	f.mergeFrom(i, fs)
}

// mergeFrom merges sorted fs into the sorted list, whose fields from index
// lo on are the only ones that can be at or after fs[0]. It grows the list
// by len(fs) and fills it from the back, so that each field moves once. A
// key in both is kept twice, the new value after the old, and the list
// marked for normalizing, which keeps the last.
func (f *Fields) mergeFrom(lo int, fs []Field) {
	n := len(f.list)
	f.list = slices.Grow(f.list, len(fs))[:n+len(fs)]
	i, j, k := n-1, len(fs)-1, n+len(fs)-1
	for j >= 0 {
		if i >= lo && f.list[i].Key > fs[j].Key {
			f.list[k] = f.list[i]
			i--
		} else {
			if i >= lo && f.list[i].Key == fs[j].Key {
				f.dirty = true
			}
			f.list[k] = fs[j]
			j--
		}
		k--
	}
}

func (f *Fields) setEach(fs []Field) {
	for _, fd := range fs {
		f.Set(fd.Key, fd.Value)
	}
}
