//go:build !unix

package buffer

import "os"

// lockFile is a no-op where flock is not available; one engine per state
// directory is then the operator's to ensure.
func lockFile(*os.File) error { return nil }
