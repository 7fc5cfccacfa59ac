// Package hash implements the "hash" processor: it hashes the file named by
// an event field (file.path, process.executable, ...) and adds the digests
// beside it, caching them by device, inode, size and modification time.
package hash

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/engine-audit/engine/internal/filehash"
	"github.com/engine-audit/engine/sdk"
)

const (
	defaultMaxFileSize = 100 << 20
	defaultCacheSize   = 10000
	defaultTimeout     = 5 * time.Second
	// workers hash the distinct uncached files of one batch at once.
	workers = 2
)

// Reasons written to <target>_skipped_reason when a file is not hashed.
const (
	ReasonNotFound   = "not_found"
	ReasonPermission = "permission_denied"
	ReasonNotRegular = "not_regular_file"
	ReasonTooLarge   = "too_large"
	ReasonTimeout    = "timeout"
	ReasonError      = "error"
)

var reasons = []string{ReasonNotFound, ReasonPermission, ReasonNotRegular, ReasonTooLarge, ReasonTimeout, ReasonError}

var options = []sdk.Option{
	{Name: "fields", Type: sdk.TypeStringList, Default: []string{"file.path"},
		Doc: "Fields that name a file to hash, such as \"file.path\" or \"process.executable\". Events without the field pass unchanged."},
	{Name: "target", Type: sdk.TypeString, Default: "",
		Doc: "Prefix of the hash fields. Empty: the field's parent plus \".hash\" (file.path -> file.hash.sha256, process.executable -> process.hash.sha256), as in ECS. Set only with a single field."},
	{Name: "hash_types", Type: sdk.TypeStringList, Default: []string{"sha256"}, Enum: filehash.Types,
		Doc: "Hash types to compute, all in one read of the file."},
	{Name: "max_file_size", Type: sdk.TypeSize, Default: int64(defaultMaxFileSize), Bound: sdk.NonNegative,
		Doc: "Larger files are not read: the event gets <target>_skipped_reason = \"too_large\" instead of hashes. 0 means no limit."},
	{Name: "cache_size", Type: sdk.TypeInt, Default: int64(defaultCacheSize),
		Doc: "Files whose hashes are remembered, by device, inode, size and modification time; the least recently used is forgotten first. 0 turns the cache off."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: defaultTimeout, Bound: sdk.Positive,
		Doc: "Longest time spent hashing one file; a file not done by then gets <target>_skipped_reason = \"timeout\"."},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "hash",
		Summary: "Hashes the file named by an event field and adds the digests to the event",
		Description: "For each field in `fields` that names a file, the file is hashed with `hash_types` and the " +
			"digests are written to `<parent>.hash.<type>`. Results are cached by device, inode, size and " +
			"modification time. A file that cannot be hashed (missing, unreadable, not a regular file, " +
			"too large, too slow) passes through without hashes and with `<parent>.hash_skipped_reason`.",
		Options:  options,
		Validate: validate,
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			if err := validate(cfg); err != nil {
				return nil, err
			}
			return New(Options{
				Fields:      cfg.Strings("fields"),
				Target:      cfg.String("target"),
				HashTypes:   cfg.Strings("hash_types"),
				MaxFileSize: cfg.Size("max_file_size"),
				CacheSize:   int(cfg.Int("cache_size")),
				Timeout:     cfg.Duration("timeout"),
				Logger:      env.Logger,
				Metrics:     env.Metrics,
			})
		},
	})
}

func validate(cfg *sdk.Config) error {
	fields := cfg.Strings("fields")
	if len(fields) == 0 {
		return sdk.OptionErrorf("fields", "must name at least one field")
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") {
			return sdk.OptionErrorf("fields", "%q is not a field name", f)
		}
		if seen[f] {
			return sdk.OptionErrorf("fields", "%q is listed twice", f)
		}
		seen[f] = true
	}
	if t := cfg.String("target"); t != "" {
		if len(fields) > 1 {
			return sdk.OptionErrorf("target", "can be set only with a single field (%d fields given): each field's hashes need their own prefix", len(fields))
		}
		if strings.HasPrefix(t, ".") || strings.HasSuffix(t, ".") {
			return sdk.OptionErrorf("target", "%q is not a field name", t)
		}
	}
	types := cfg.Strings("hash_types")
	if len(types) == 0 {
		return sdk.OptionErrorf("hash_types", "must name at least one hash type")
	}
	if err := filehash.Check(types); err != nil {
		return sdk.OptionErrorf("hash_types", "%v", err)
	}
	if n := cfg.Int("cache_size"); n < 0 || n > 1<<24 {
		return sdk.OptionErrorf("cache_size", "must be between 0 and 16777216, got %d", n)
	}
	return nil
}

// Options configure a Processor.
type Options struct {
	Fields      []string
	Target      string // with a single field; "" derives it from the field
	HashTypes   []string
	MaxFileSize int64 // 0: no limit
	CacheSize   int   // 0: no cache
	Timeout     time.Duration
	Logger      *slog.Logger
	Metrics     sdk.Metrics
}

// fileKey identifies one version of a file. path is set only where the
// system gives no device and inode numbers.
type fileKey struct {
	dev, ino    uint64
	size, mtime int64
	path        string
}

// Stats counts what the processor did; tests read it.
type Stats struct {
	Hits, Misses, Hashed int64
	Skipped              map[string]int64
}

type fieldSpec struct {
	source    string
	hashKeys  []string // <target>.<type>, in the order of hash_types
	reasonKey string   // <target>_skipped_reason
}

// job is one distinct path of a batch.
type job struct {
	path   string
	key    fileKey
	hex    []string // digests; nil when skipped
	reason string
	err    error
}

// Processor hashes files named by event fields.
type Processor struct {
	fields  []fieldSpec
	types   []string
	maxSize int64
	timeout time.Duration
	log     *slog.Logger

	cache *lru

	hashers []*filehash.Hasher // one per worker

	// Per batch, reused.
	jobs    map[string]*job
	pending []*job
	free    []*job

	hits, misses, hashed sdk.Counter
	skipped              map[string]sdk.Counter
	stats                Stats

	// testHook, if set, runs on the worker before each file is read, once
	// the file's timeout has started.
	testHook func(path string)
}

// New builds a Processor.
func New(o Options) (*Processor, error) {
	if len(o.Fields) == 0 {
		o.Fields = []string{"file.path"}
	}
	if len(o.HashTypes) == 0 {
		o.HashTypes = []string{"sha256"}
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = sdk.NopMetrics{}
	}
	p := &Processor{
		types:   o.HashTypes,
		maxSize: o.MaxFileSize,
		timeout: o.Timeout,
		log:     o.Logger,
		cache:   newLRU(o.CacheSize),
		jobs:    map[string]*job{},
		skipped: map[string]sdk.Counter{},
		stats:   Stats{Skipped: map[string]int64{}},
	}
	for i := 0; i < workers; i++ {
		h, err := filehash.New(o.HashTypes)
		if err != nil {
			return nil, sdk.OptionErrorf("hash_types", "%v", err)
		}
		p.hashers = append(p.hashers, h)
	}
	for _, f := range o.Fields {
		target := o.Target
		if target == "" {
			target = DefaultTarget(f)
		}
		fs := fieldSpec{source: f, reasonKey: target + "_skipped_reason"}
		for _, t := range o.HashTypes {
			fs.hashKeys = append(fs.hashKeys, target+"."+t)
		}
		p.fields = append(p.fields, fs)
	}
	p.hits = o.Metrics.Counter("engine_hash_cache_hits_total", "Files whose hashes came from the cache.")
	p.misses = o.Metrics.Counter("engine_hash_cache_misses_total", "Files looked up and not found in the cache.")
	p.hashed = o.Metrics.Counter("engine_hash_files_hashed_total", "Files read and hashed.")
	for _, r := range reasons {
		p.skipped[r] = o.Metrics.Counter("engine_hash_files_skipped_total", "Files not hashed, by reason.", "reason", r)
	}
	return p, nil
}

// DefaultTarget is the prefix of the hash fields of a field: its parent plus
// ".hash" (file.path -> file.hash), or the field plus ".hash" at the top
// level.
func DefaultTarget(field string) string {
	if i := strings.LastIndexByte(field, '.'); i > 0 {
		return field[:i] + ".hash"
	}
	return field + ".hash"
}

// Stats returns a copy of the counters.
func (p *Processor) Stats() Stats {
	s := p.stats
	s.Skipped = map[string]int64{}
	for k, v := range p.stats.Skipped {
		s.Skipped[k] = v
	}
	return s
}

// Process implements sdk.Processor.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	clear(p.jobs)
	p.pending = p.pending[:0]
	for i := range in.Events {
		ev := &in.Events[i]
		for _, f := range p.fields {
			v, ok := ev.Fields.Get(f.source)
			if !ok {
				continue
			}
			path := v.Str()
			if path == "" || p.jobs[path] != nil {
				continue
			}
			p.jobs[path] = p.lookup(path)
		}
	}
	p.run(ctx)
	for i := range in.Events {
		ev := &in.Events[i]
		for _, f := range p.fields {
			v, ok := ev.Fields.Get(f.source)
			if !ok {
				continue
			}
			j := p.jobs[v.Str()]
			if j == nil {
				continue
			}
			if j.hex == nil {
				ev.Fields.Set(f.reasonKey, sdk.String(j.reason))
				continue
			}
			for k, key := range f.hashKeys {
				ev.Fields.Set(key, sdk.String(j.hex[k]))
			}
		}
	}
	for _, j := range p.jobs {
		*j = job{}
		p.free = append(p.free, j)
	}
	return out.Emit(ctx, in)
}

func (p *Processor) newJob(path string) *job {
	if n := len(p.free); n > 0 {
		j := p.free[n-1]
		p.free = p.free[:n-1]
		j.path = path
		return j
	}
	return &job{path: path}
}

// lookup stats path and resolves it from the cache, or queues it.
func (p *Processor) lookup(path string) *job {
	j := p.newJob(path)
	key, mode, err := statFile(path)
	switch {
	case err != nil:
		p.skip(j, err)
	case mode&fs.ModeType != 0 || mode&os.ModeIrregular != 0:
		p.skip(j, errNotRegular)
	case p.maxSize > 0 && key.size > p.maxSize:
		p.skip(j, filehash.ErrTooLarge)
	default:
		j.key = key
		if hex, ok := p.cache.get(key); ok {
			j.hex = hex
			p.stats.Hits++
			p.hits.Add(1)
			break
		}
		p.stats.Misses++
		p.misses.Add(1)
		p.pending = append(p.pending, j)
	}
	return j
}

var errNotRegular = errors.New("not a regular file")

func (p *Processor) skip(j *job, err error) {
	j.err = err
	j.hex = nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		j.reason = ReasonNotFound
	case errors.Is(err, fs.ErrPermission):
		j.reason = ReasonPermission
	case errors.Is(err, errNotRegular):
		j.reason = ReasonNotRegular
	case errors.Is(err, filehash.ErrTooLarge):
		j.reason = ReasonTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		j.reason = ReasonTimeout
	default:
		j.reason = ReasonError
		p.log.Debug("hash: file not hashed", "path", j.path, "error", err)
	}
	p.stats.Skipped[j.reason]++
	p.skipped[j.reason].Add(1)
}

// run hashes the pending files, on up to `workers` goroutines, and caches
// the results.
func (p *Processor) run(ctx context.Context) {
	switch n := len(p.pending); {
	case n == 0:
		return
	case n == 1:
		p.hashOne(ctx, p.hashers[0], p.pending[0])
	default:
		var wg sync.WaitGroup
		next := make(chan *job)
		for w := 0; w < workers && w < n; w++ {
			wg.Add(1)
			go func(h *filehash.Hasher) {
				defer wg.Done()
				for j := range next {
					p.hashOne(ctx, h, j)
				}
			}(p.hashers[w])
		}
		for _, j := range p.pending {
			next <- j
		}
		close(next)
		wg.Wait()
	}
	for _, j := range p.pending {
		if j.err != nil {
			p.skip(j, j.err)
			continue
		}
		p.stats.Hashed++
		p.hashed.Add(1)
		p.cache.put(j.key, j.hex)
	}
}

// hashOne runs on a worker: it touches only j.
func (p *Processor) hashOne(ctx context.Context, h *filehash.Hasher, j *job) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if p.testHook != nil {
		p.testHook(j.path)
	}
	sum, err := h.File(cctx, j.path, p.maxSize)
	if err == nil && cctx.Err() != nil {
		err = cctx.Err()
	}
	if err != nil {
		j.err = fmt.Errorf("hashing %s: %w", j.path, err)
		return
	}
	// Cache only if the file did not change while it was read.
	if after, _, err := statFile(j.path); err != nil || after != j.key {
		j.key = fileKey{}
	}
	j.hex = sum.Hex
}

// lru is a least-recently-used map from file versions to digests. It is
// used from the Process goroutine only.
type lru struct {
	max   int
	order *list.List // front: most recent
	items map[fileKey]*list.Element
}

type lruEntry struct {
	key fileKey
	hex []string
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: map[fileKey]*list.Element{}}
}

func (c *lru) get(k fileKey) ([]string, bool) {
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).hex, true
}

func (c *lru) put(k fileKey, hex []string) {
	if c.max <= 0 || k == (fileKey{}) {
		return
	}
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry).hex = hex
		c.order.MoveToFront(e)
		return
	}
	if c.order.Len() >= c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lruEntry).key)
	}
	c.items[k] = c.order.PushFront(&lruEntry{key: k, hex: hex})
}

func (c *lru) len() int { return c.order.Len() }
