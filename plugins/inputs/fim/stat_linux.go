package fim

import (
	"os"
	"syscall"
	"time"
)

// sysStat returns the unix identity and ownership of a file.
func sysStat(fi os.FileInfo) (s sysInfo, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sysInfo{}, false
	}
	return sysInfo{
		inode: uint64(st.Ino), device: uint64(st.Dev), uid: st.Uid, gid: st.Gid,
		ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)),
	}, true
}
