//go:build linux

package hash

import "syscall"

func mtimeNanos(st *syscall.Stat_t) int64 { return st.Mtim.Sec*1e9 + st.Mtim.Nsec }
