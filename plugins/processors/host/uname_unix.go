//go:build unix

package host

import "golang.org/x/sys/unix"

// uname sets the kernel release and machine architecture.
func uname(f *Facts) {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return
	}
	if s := unix.ByteSliceToString(u.Release[:]); s != "" {
		f.Kernel = s
	}
	if s := unix.ByteSliceToString(u.Machine[:]); s != "" {
		f.Architecture = s
	}
}
