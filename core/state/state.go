// Package state is the engine's persistent store for component state such as
// checkpoints. It keeps one bbolt database in the state directory, with one
// bucket per component; the database's file lock stops two engines from
// sharing a state directory.
package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database's name inside the state directory.
const FileName = "engine.db"

// DB is an open state database.
type DB struct {
	db  *bolt.DB
	dir string
}

// Open opens (creating if needed) the state database in dir.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w (set --state-dir to a writable directory)", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("state database %s is locked by another engine process; stop it or use a different --state-dir", path)
		}
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	return &DB{db: db, dir: dir}, nil
}

// Dir returns the state directory.
func (d *DB) Dir() string { return d.dir }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Store returns the key/value store of one component.
func (d *DB) Store(componentID string) *Store { return &Store{db: d.db, bucket: []byte(componentID)} }

// Store is one component's bucket. It implements sdk.StateStore.
type Store struct {
	db     *bolt.DB
	bucket []byte
}

// Get returns the value under key, or nil.
func (s *Store) Get(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.bucket)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// Put stores value under key and syncs it to disk.
func (s *Store) Put(key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(s.bucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

// Delete removes key.
func (s *Store) Delete(key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.bucket)
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// Keys lists the component's keys in order.
func (s *Store) Keys() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}
