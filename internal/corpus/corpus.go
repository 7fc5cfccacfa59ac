// Package corpus gives tests and benchmarks the repository's corpus of real
// kernel audit records (testdata/corpus/kernel-mixed.log.gz), wherever the
// checkout is.
package corpus

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Path returns the gzipped corpus. ENGINE_CORPUS overrides it, to run the
// same tests on another log.
func Path(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("ENGINE_CORPUS"); p != "" {
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("corpus: cannot locate the repository")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "corpus", "kernel-mixed.log.gz")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return p
}

// Open returns a reader of the decompressed corpus; close it when done.
func Open(tb testing.TB) io.ReadCloser {
	tb.Helper()
	f, err := os.Open(Path(tb))
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}
}

// Lines returns every record of the corpus, one string per line.
func Lines(tb testing.TB) []string {
	tb.Helper()
	r := Open(tb)
	defer r.Close()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// WriteFile decompresses the corpus into dir/audit.log and returns its path.
func WriteFile(tb testing.TB, dir string) string {
	tb.Helper()
	r := Open(tb)
	defer r.Close()
	path := filepath.Join(dir, "audit.log")
	out, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
