package filehash

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Published test vectors for "abc" (FIPS 180-4 and 202 examples, RFC 1321,
// RFC 7693, xxHash's reference) and for the empty input.
var vectors = map[string][2]string{ // type -> {"abc", ""}
	"blake2b_256": {"bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
	"blake2b_384": {"6f56a82c8e7ef526dfe182eb5212f7db9df1317e57815dbda46083fc30f54ee6c66ba83be64b302d7cba6ce15bb556f4", "b32811423377f52d7862286ee1a72ee540524380fda1724a6f25d7978c6fd3244a6caf0498812673c5e05ef583825100"},
	"blake2b_512": {"ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923", "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"},
	"md5":         {"900150983cd24fb0d6963f7d28e17f72", "d41d8cd98f00b204e9800998ecf8427e"},
	"sha1":        {"a9993e364706816aba3e25717850c26c9cd0d89d", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
	"sha224":      {"23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7", "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"},
	"sha256":      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	"sha384":      {"cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7", "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"},
	"sha512":      {"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
	"sha512_224":  {"4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa", "6ed0dd02806fa89e25de060c19d3ac86cabb87d6a0ddd05c333b84f4"},
	"sha512_256":  {"53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23", "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a"},
	"sha3_224":    {"e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf", "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"},
	"sha3_256":    {"3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"},
	"sha3_384":    {"ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25", "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004"},
	"sha3_512":    {"b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0", "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26"},
	"xxh64":       {"44bc2cf5ad770999", "ef46db3751d8e999"},
}

func TestVectors(t *testing.T) {
	if len(vectors) != len(Types) {
		t.Fatalf("%d vectors for %d types", len(vectors), len(Types))
	}
	// All types at once, in one pass over the input, as fim does.
	h, err := New(Types)
	if err != nil {
		t.Fatal(err)
	}
	for i, input := range []string{"abc", ""} {
		s, err := h.Reader(context.Background(), strings.NewReader(input))
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range Types {
			if got, want := s.Get(typ), vectors[typ][i]; got != want {
				t.Errorf("%s(%q) = %s, want %s", typ, input, got, want)
			}
		}
	}
	// And each type alone.
	for _, typ := range Types {
		h, _ := New([]string{typ})
		s, _ := h.Reader(context.Background(), strings.NewReader("abc"))
		if s.Get(typ) != vectors[typ][0] {
			t.Errorf("%s alone: %s", typ, s.Get(typ))
		}
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("abc"), 0o600)
	h, _ := New([]string{"sha256", "md5", "sha256"})
	if got := strings.Join(h.Names(), ","); got != "sha256,md5" {
		t.Fatalf("Names() = %s", got)
	}
	s, err := h.File(context.Background(), path, 0)
	if err != nil || s.Get("sha256") != vectors["sha256"][0] || s.Length != 3 {
		t.Fatalf("File = %+v, %v", s, err)
	}
	if _, err := h.File(context.Background(), path, 2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := h.File(context.Background(), dir, 0); err == nil {
		t.Fatal("hashed a directory")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.File(ctx, path, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestCheck(t *testing.T) {
	if err := Check([]string{"sha256", "sha3_512"}); err != nil {
		t.Fatal(err)
	}
	if err := Check([]string{"sha265"}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("Check(sha265) = %v", err)
	}
}
