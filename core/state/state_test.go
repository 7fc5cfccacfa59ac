package state

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoresArePrivateAndSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := db.Store("input.logfile.a"), db.Store("input.logfile.b")
	if err := a.Put("k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Put("k0", []byte("v0")); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("k1"); v != nil {
		t.Fatalf("store b sees store a's key: %q", v)
	}
	if v, _ := b.Get("missing"); v != nil {
		t.Fatal("a missing key returned a value")
	}
	if err := b.Delete("missing"); err != nil {
		t.Fatalf("deleting from an empty store: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a = db.Store("input.logfile.a")
	if v, _ := a.Get("k1"); !bytes.Equal(v, []byte("v1")) {
		t.Fatalf("after reopen k1 = %q, want v1", v)
	}
	keys, err := a.Keys()
	if err != nil || strings.Join(keys, ",") != "k0,k1" {
		t.Fatalf("Keys = %v, %v; want k0,k1 in order", keys, err)
	}
	if err := a.Delete("k0"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := a.Keys(); len(keys) != 1 {
		t.Fatalf("Keys after delete = %v", keys)
	}
	if db.Dir() != dir {
		t.Fatalf("Dir = %s", db.Dir())
	}
}

func TestSecondEngineOnTheSameDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(dir)
	if err == nil || !strings.Contains(err.Error(), "locked by another engine") {
		t.Fatalf("second Open = %v, want a lock error that says what to do", err)
	}
}

func TestUnwritableDirectoryIsExplained(t *testing.T) {
	_, err := Open(filepath.Join("/proc", "engine-state"))
	if err == nil || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("Open = %v, want an error pointing at --state-dir", err)
	}
}
