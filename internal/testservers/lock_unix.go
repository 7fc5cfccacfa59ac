//go:build unix

package testservers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	lockShared    = syscall.LOCK_SH
	lockExclusive = syscall.LOCK_EX
)

// tryLock takes a flock on f in mode without waiting: busy when another
// process holds a conflicting one.
func tryLock(f *os.File, mode int) (busy bool, err error) {
	for {
		err := syscall.Flock(int(f.Fd()), mode|syscall.LOCK_NB)
		switch err {
		case nil:
			return false, nil
		case syscall.EINTR:
			continue
		case syscall.EWOULDBLOCK:
			return true, nil
		default:
			return false, err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// writable reports whether this process may create files in dir.
func writable(dir string) bool { return syscall.Access(dir, 2 /* W_OK */) == nil }

// lockHolders describes the processes holding a flock on f, from
// /proc/locks, for the error of a wait that took too long.
func lockHolders(f *os.File) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return "holders unknown"
	}
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "holders unknown"
	}
	// A line: "3: FLOCK  ADVISORY  WRITE 908 fe:00:9773057 0 EOF"; waiters
	// have "->" after the number.
	suffix := fmt.Sprintf(":%d", st.Ino)
	var holders []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" || !strings.HasSuffix(fields[5], suffix) {
			continue
		}
		pid := fields[4]
		cmd, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		desc := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		if len(desc) > 120 {
			desc = desc[:120] + "..."
		}
		if desc == "" {
			desc = "exited; its open file lives on in a child"
		}
		holders = append(holders, fmt.Sprintf("%s by pid %s: %s", strings.ToLower(fields[3]), pid, desc))
	}
	if len(holders) == 0 {
		return "no holder found in /proc/locks"
	}
	return "held " + strings.Join(holders, "; ")
}
