// Package filehash computes the content hashes file integrity monitoring
// reports (file.hash.<type>), several at once in one read of the file.
package filehash

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/blake2b"
)

// Types lists every hash type by the name used in configuration and in the
// field file.hash.<name>.
var Types = []string{
	"blake2b_256", "blake2b_384", "blake2b_512",
	"md5", "sha1",
	"sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256",
	"sha3_224", "sha3_256", "sha3_384", "sha3_512",
	"xxh64",
}

var constructors = map[string]func() hash.Hash{
	"blake2b_256": func() hash.Hash { h, _ := blake2b.New256(nil); return h },
	"blake2b_384": func() hash.Hash { h, _ := blake2b.New384(nil); return h },
	"blake2b_512": func() hash.Hash { h, _ := blake2b.New512(nil); return h },
	"md5":         md5.New,
	"sha1":        sha1.New,
	"sha224":      sha256.New224,
	"sha256":      sha256.New,
	"sha384":      sha512.New384,
	"sha512":      sha512.New,
	"sha512_224":  sha512.New512_224,
	"sha512_256":  sha512.New512_256,
	"sha3_224":    func() hash.Hash { return sha3.New224() },
	"sha3_256":    func() hash.Hash { return sha3.New256() },
	"sha3_384":    func() hash.Hash { return sha3.New384() },
	"sha3_512":    func() hash.Hash { return sha3.New512() },
	"xxh64":       func() hash.Hash { return xxhash.New() },
}

// ErrTooLarge is returned (wrapped) for a file larger than the size limit.
var ErrTooLarge = errors.New("file larger than max_file_size")

// Check reports the first unknown hash type in names.
func Check(names []string) error {
	for _, n := range names {
		if _, ok := constructors[n]; !ok {
			return fmt.Errorf("unknown hash type %q; the types are %s", n, strings.Join(Types, ", "))
		}
	}
	return nil
}

// Hasher computes a fixed set of hash types. It reuses its state and buffer
// between files and is not safe for concurrent use.
type Hasher struct {
	names  []string
	hashes []hash.Hash
	w      io.Writer
	buf    []byte
	sum    []byte
}

// New returns a Hasher for the given types (duplicates are ignored).
func New(types []string) (*Hasher, error) {
	if err := Check(types); err != nil {
		return nil, err
	}
	h := &Hasher{buf: make([]byte, 128<<10)}
	seen := map[string]bool{}
	var ws []io.Writer
	for _, t := range types {
		if seen[t] {
			continue
		}
		seen[t] = true
		hh := constructors[t]()
		h.names = append(h.names, t)
		h.hashes = append(h.hashes, hh)
		ws = append(ws, hh)
	}
	if len(ws) == 1 {
		h.w = ws[0]
	} else {
		h.w = io.MultiWriter(ws...)
	}
	return h, nil
}

// Names returns the hash types, in the order given to New.
func (h *Hasher) Names() []string { return h.names }

// Sum is one file's hashes, lowercase hex, in the order of Names.
type Sum struct {
	Names  []string
	Hex    []string
	Length int64 // bytes hashed
}

// Get returns the hex digest of one type, or "".
func (s Sum) Get(name string) string {
	for i, n := range s.Names {
		if n == name {
			return s.Hex[i]
		}
	}
	return ""
}

// Reader hashes everything r yields. ctx is checked between reads, so a
// large input can be abandoned.
func (h *Hasher) Reader(ctx context.Context, r io.Reader) (Sum, error) {
	for _, hh := range h.hashes {
		hh.Reset()
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return Sum{}, err
		}
		m, err := r.Read(h.buf)
		if m > 0 {
			h.w.Write(h.buf[:m])
			n += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Sum{}, err
		}
	}
	s := Sum{Names: h.names, Hex: make([]string, len(h.hashes)), Length: n}
	for i, hh := range h.hashes {
		h.sum = hh.Sum(h.sum[:0])
		s.Hex[i] = hex.EncodeToString(h.sum)
	}
	return s, nil
}

// File hashes the regular file at path. With maxSize > 0, a file larger
// than maxSize is not read and the error wraps ErrTooLarge.
func (h *Hasher) File(ctx context.Context, path string, maxSize int64) (Sum, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Sum{}, err
	}
	if !st.Mode().IsRegular() {
		return Sum{}, fmt.Errorf("%s is not a regular file", path)
	}
	if maxSize > 0 && st.Size() > maxSize {
		return Sum{}, fmt.Errorf("%s: %d bytes: %w (%d)", path, st.Size(), ErrTooLarge, maxSize)
	}
	var r io.Reader = f
	if maxSize > 0 {
		// The file may grow while it is read: never read past the limit.
		r = io.LimitReader(f, maxSize+1)
	}
	s, err := h.Reader(ctx, r)
	if err != nil {
		return Sum{}, err
	}
	if maxSize > 0 && s.Length > maxSize {
		return Sum{}, fmt.Errorf("%s grew past the limit while it was read: %w (%d)", path, ErrTooLarge, maxSize)
	}
	return s, nil
}
