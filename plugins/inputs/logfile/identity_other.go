//go:build !unix

package logfile

import "os"

// identity is not available here: files have no device and inode, and the
// plugin is declared for Linux only.
func identity(os.FileInfo) (fileID, bool) { return fileID{}, false }
