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

// InsertAt adds fields none of whose keys f has, for a caller that has just
// walked All() and knows where they go: fs[k] goes before the field at
// index at[k] of All() (len for the end), so at is non-decreasing and fs
// sorted within each gap. The fields around each place are compared to
// check it, and when fs and at do not fit (a key already set, a wrong or
// stale index, f written since), InsertAt does what SetSorted does: it is
// never wrong, only slower. Then no search is needed and the fields after
// each place move in blocks. fs and at are not retained.
func (f *Fields) InsertAt(at []int, fs []Field) {
	if len(fs) == 0 {
		return
	}
	if len(at) != len(fs) || f.dirty || !f.fitsAt(at, fs) {
		f.SetSorted(fs)
		return
	}
	n := len(f.list)
	f.list = slices.Grow(f.list, len(fs))[:n+len(fs)]
	end := n // list[at[k]:end] moves up by k+1
	for k := len(fs) - 1; k >= 0; k-- {
		copy(f.list[at[k]+k+1:end+k+1], f.list[at[k]:end])
		f.list[at[k]+k] = fs[k]
		end = at[k]
	}
}

// fitsAt reports whether each fs[k] sorts strictly between the fields it
// would have on either side at at[k].
func (f *Fields) fitsAt(at []int, fs []Field) bool {
	n := len(f.list)
	for k := range fs {
		p := at[k]
		if p < 0 || p > n || k > 0 && p < at[k-1] {
			return false
		}
		if k > 0 && at[k-1] == p {
			if fs[k-1].Key >= fs[k].Key {
				return false
			}
		} else if p > 0 && f.list[p-1].Key >= fs[k].Key {
			return false
		}
		if (k+1 == len(fs) || at[k+1] != p) && p < n && fs[k].Key >= f.list[p].Key {
			return false
		}
	}
	return true
}
