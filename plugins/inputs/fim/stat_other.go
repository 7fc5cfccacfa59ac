//go:build !linux && !darwin

package fim

import "os"

// sysStat has no inode or ownership to report on this system.
func sysStat(fi os.FileInfo) (sysInfo, bool) { return sysInfo{}, false }
