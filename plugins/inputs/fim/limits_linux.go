package fim

import (
	"os"
	"strings"
)

// inotifyLimit reads the current value of a /proc/sys/fs/inotify setting.
func inotifyLimit(name string) string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
