//go:build linux || darwin

package hash

import (
	"os"
	"syscall"
)

// statFile stats path (following symlinks, like os.Stat) and returns its
// cache key: device, inode, size and modification time, so that a file
// changed in place or replaced under the same name is hashed again. It
// avoids os.Stat's allocations: it runs for every event.
func statFile(path string) (fileKey, os.FileMode, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileKey{}, 0, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		break
	}
	k := fileKey{
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		size:  st.Size,
		mtime: mtimeNanos(&st),
	}
	var mode os.FileMode
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		mode = os.ModeDir
	default:
		mode = os.ModeIrregular
	}
	return k, mode, nil
}
