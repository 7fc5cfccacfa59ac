//go:build unix

package buffer

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive lock on f, failing at once if another
// process holds it.
func lockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }
