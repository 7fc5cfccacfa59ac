//go:build !unix

package testservers

import "os"

// Without flock, the lock is this process's alone: tests on such systems
// do not share the servers with tests in other processes. The test servers
// run on Linux (scripts/testenv); this file only lets the package build.
const (
	lockShared    = 1
	lockExclusive = 2
)

func tryLock(*os.File, int) (busy bool, err error) { return false, nil }

func unlockFile(*os.File) {}

func lockHolders(*os.File) string { return "holders unknown" }

func writable(string) bool { return false }
