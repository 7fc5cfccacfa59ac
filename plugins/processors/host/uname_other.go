//go:build !unix

package host

// uname has nothing to add where there is no uname: the architecture stays
// runtime.GOARCH and the kernel is left out.
func uname(*Facts) {}
