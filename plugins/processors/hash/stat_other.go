//go:build !linux && !darwin

package hash

import "os"

// statFile stats path and returns its cache key. Without device and inode
// numbers the key is the path itself, with size and modification time.
func statFile(path string) (fileKey, os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, 0, err
	}
	k := fileKey{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	return k, fi.Mode() & (os.ModeType | os.ModeIrregular), nil
}
