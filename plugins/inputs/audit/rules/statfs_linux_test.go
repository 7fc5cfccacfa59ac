package rules

import "syscall"

func statfsType(path string) (uint32, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint32(st.Type), nil
}
