package sdk

import "slices"

// SetSorted sets every field of fs, as Set would one after the other. When
// fs is sorted by key without duplicates and none of its keys is in f yet,
// with no key of f between them, they go in with one search and one copy,
// which is what a processor adding a group of fields (container.*) on every
// event needs. Otherwise each field is Set in turn. fs is not retained.
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
	if found || (i < len(f.list) && f.list[i].Key <= fs[len(fs)-1].Key) {
		f.setEach(fs)
		return
	}
	f.list = slices.Insert(f.list, i, fs...)
}

func (f *Fields) setEach(fs []Field) {
	for _, fd := range fs {
		f.Set(fd.Key, fd.Value)
	}
}
