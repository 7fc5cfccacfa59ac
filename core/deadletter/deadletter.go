// Package deadletter keeps the events an output's destination refused for
// good (a document Elasticsearch cannot map, a message larger than Kafka
// accepts), each with the reason, in an NDJSON file, so that nothing is
// dropped without a trace and an operator can fix the cause and send them
// again. Each line is
//
//	{"@timestamp":"…","component":"output.elasticsearch.main","reason":"…","event":{…the document…}}
//
// The file is synced after each write. When it passes max_size it is
// renamed to PATH.1 (replacing an older one) and a new file is started.
package deadletter

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// DefaultMaxSize bounds a dead-letter file before it is rotated.
const DefaultMaxSize = 100 << 20

// Options is the schema of an output's dead_letter block.
var Options = []sdk.Option{
	{Name: "path", Type: sdk.TypeString, Required: true,
		Doc: "File the refused events are appended to, one JSON object per line with the reason; created with mode 0600."},
	{Name: "max_size", Type: sdk.TypeSize, Default: int64(DefaultMaxSize),
		Doc: "Size at which the file is renamed to PATH.1 (replacing the previous one) and a new file started."},
}

// Config is an output's dead_letter block.
type Config struct {
	Path    string
	MaxSize int64
}

// ConfigFrom reads a decoded dead_letter block; nil when none was written.
func ConfigFrom(c *sdk.Config) *Config {
	if c == nil {
		return nil
	}
	return &Config{Path: c.String("path"), MaxSize: c.Size("max_size")}
}

// Writer appends refused events to a dead-letter file.
type Writer struct {
	cfg       Config
	component string
	mu        sync.Mutex
	f         *os.File
	size      int64
	buf       []byte
}

// Open opens (creating if needed) the dead-letter file.
func Open(cfg Config, component string) (*Writer, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	w := &Writer{cfg: cfg, component: component}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	if err := os.MkdirAll(filepath.Dir(w.cfg.Path), 0o750); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dead letter: %w; check that the directory exists and is writable by engine", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead letter: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Entry is one refused event.
type Entry struct {
	Event  *sdk.Event
	Reason string
}

// Write appends entries and syncs the file. It returns an error only when
// the file cannot be written; the entries are then not recorded.
func (w *Writer) Write(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("dead letter %s is closed", w.cfg.Path)
	}
	now := sdk.Time(time.Now())
	b := w.buf[:0]
	for _, e := range entries {
		var line sdk.Fields
		line.Append("@timestamp", now)
		line.Append("component", sdk.String(w.component))
		line.Append("event", sdk.RawJSON(e.Event.AppendJSON(nil)))
		line.Append("reason", sdk.String(e.Reason))
		b = line.AppendJSON(b)
		b = append(b, '\n')
	}
	w.buf = b
	if w.size > 0 && w.size+int64(len(b)) > w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("dead letter %s: %w", w.cfg.Path, err)
	}
	w.size += int64(len(b))
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("dead letter %s: %w", w.cfg.Path, err)
	}
	return nil
}

func (w *Writer) rotate() error {
	w.f.Close()
	w.f = nil
	if err := os.Rename(w.cfg.Path, w.cfg.Path+".1"); err != nil {
		return fmt.Errorf("dead letter: rotate: %w", err)
	}
	return w.open()
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
