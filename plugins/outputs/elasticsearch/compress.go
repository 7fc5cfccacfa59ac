package elasticsearch

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// compressor gzips bulk bodies at the fastest level. klauspost/compress
// does it in half the time of compress/gzip with a slightly better ratio
// (BenchmarkCompress): for 1024 audit documents, 1.5 ms instead of 3 ms,
// against 2.7 ms to encode them.
type compressor struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

var compressors = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return &compressor{zw: zw}
}}

func getCompressor() *compressor  { return compressors.Get().(*compressor) }
func putCompressor(z *compressor) { compressors.Put(z) }

// compress returns p gzipped. The result is valid until the next call.
func (z *compressor) compress(p []byte) []byte {
	z.buf.Reset()
	z.zw.Reset(&z.buf)
	// Writes to a bytes.Buffer do not fail.
	z.zw.Write(p)
	z.zw.Close()
	return z.buf.Bytes()
}
