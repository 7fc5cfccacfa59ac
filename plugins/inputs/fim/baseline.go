package fim

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketFiles = []byte("files")
	bucketMeta  = []byte("meta")
	keyScanned  = []byte("scanned") // a start-up scan was delivered once
)

// entry is what the baseline knows about one path.
type entry struct {
	Type    string            `json:"type"` // file, dir, symlink
	Target  string            `json:"target,omitempty"`
	Inode   uint64            `json:"inode,omitempty"`
	Device  uint64            `json:"device,omitempty"`
	UID     uint32            `json:"uid"`
	GID     uint32            `json:"gid"`
	HasIDs  bool              `json:"has_ids,omitempty"`
	Mode    uint32            `json:"mode"`
	Size    int64             `json:"size"`
	Mtime   int64             `json:"mtime"` // unix ns
	Ctime   int64             `json:"ctime,omitempty"`
	Hashes  map[string]string `json:"hashes,omitempty"`
	Skipped string            `json:"skipped,omitempty"` // why there is no hash
	Seq     uint64            `json:"seq"`               // order of the change that wrote it
}

// update is one change to apply to the baseline once delivered; e == nil
// deletes the path.
type update struct {
	path string
	e    *entry
	seq  uint64
}

// baseline is the persistent path -> entry store. Delivered changes are
// queued by the acknowledgement callbacks, which must be quick, and written
// by one goroutine, several batches to a transaction.
type baseline struct {
	db *bolt.DB

	mu     sync.Mutex
	queue  [][]update
	signal chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// enqueue queues the changes of one delivered batch.
func (b *baseline) enqueue(ups []update) {
	b.mu.Lock()
	b.queue = append(b.queue, ups)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// writer applies queued changes until close; each batch written is marked
// done in pending.
func (b *baseline) writer(log *slog.Logger, pending *sync.WaitGroup) {
	defer close(b.done)
	for {
		select {
		case <-b.signal:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		var all []update
		for _, ups := range q {
			all = append(all, ups...)
		}
		if err := b.apply(all); err != nil {
			log.Error("fim: writing the baseline", "error", err)
		}
		for range q {
			pending.Done()
		}
	}
}

func openBaseline(dir string) (*baseline, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "baseline.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketMeta); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketFiles)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &baseline{db: db, signal: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// scanned reports whether a start-up scan was ever delivered: if not, the
// next scan is a first one (initial_scan events), even for an empty tree.
func (b *baseline) scanned() bool {
	var ok bool
	b.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketMeta).Get(keyScanned) != nil
		return nil
	})
	return ok
}

// load returns every entry.
func (b *baseline) load() (map[string]*entry, error) {
	out := map[string]*entry{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFiles).ForEach(func(k, v []byte) error {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return nil // a damaged record is reported again as created
			}
			out[string(k)] = &e
			return nil
		})
	})
	return out, err
}

// apply writes delivered changes. A change older than what is stored (a
// batch acknowledged out of order) is skipped.
func (b *baseline) apply(ups []update) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketFiles)
		for _, u := range ups {
			if u.path == "" { // the marker of a delivered scan
				if err := tx.Bucket(bucketMeta).Put(keyScanned, []byte("1")); err != nil {
					return err
				}
				continue
			}
			if old := bk.Get([]byte(u.path)); old != nil {
				var oe entry
				if json.Unmarshal(old, &oe) == nil && oe.Seq > u.seq {
					continue
				}
			}
			if u.e == nil {
				if err := bk.Delete([]byte(u.path)); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(u.e)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(u.path), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// close stops the writer (started by Run) and closes the database.
func (b *baseline) close() error {
	close(b.stop)
	<-b.done
	return b.db.Close()
}
