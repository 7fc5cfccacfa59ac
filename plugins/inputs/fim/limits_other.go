//go:build !linux

package fim

func inotifyLimit(string) string { return "unknown" }
