// Package docker is the "docker" processor: it adds the container an
// event's process runs in. The container id comes from the process's
// cgroup (/proc/<pid>/cgroup) or from a field an input provides; the name,
// image and labels come from the Docker Engine API on its unix socket,
// fetched in the background and kept current from the engine's event
// stream. The pipeline never waits for Docker: an event whose container is
// not known yet goes on with container.id alone.
package docker

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "docker",
		Summary: "Add the container (id, name, image, labels) an event's process runs in, from its cgroup and the Docker Engine API",
		Description: "The container id is read from /proc/<process.pid>/cgroup (cgroup v1 and v2; docker, containerd, " +
			"cri-o, podman and kubepods layouts), or from `cgroup_field`. Metadata comes from the Docker Engine API " +
			"on `socket`, fetched in the background on first sight of an id and kept current from Docker's event " +
			"stream; a container that died is remembered for `grace`. Events never wait: one whose container is not " +
			"known yet gets container.id only. Without Docker, events pass with container.id from the cgroup, and " +
			"the processor retries in the background (logged once, metric docker_connected).",
		Options: []sdk.Option{
			{Name: "socket", Type: sdk.TypeString, Default: "/var/run/docker.sock",
				Doc: "Path of the Docker Engine API unix socket."},
			{Name: "proc_dir", Type: sdk.TypeString, Default: "/proc",
				Doc: "Where the process tree is mounted; <proc_dir>/<pid>/cgroup names the container of a process."},
			{Name: "cgroup_field", Type: sdk.TypeString, Default: "",
				Doc: "A field holding a cgroup path (or a bare container id) set by an input; used before process.pid when present."},
			{Name: "grace", Type: sdk.TypeDuration, Default: time.Minute, Bound: sdk.NonNegative,
				Doc: "How long a container's metadata is kept after it dies or is removed, so that late events are still enriched."},
			{Name: "pid_ttl", Type: sdk.TypeDuration, Default: 5 * time.Second, Bound: sdk.NonNegative,
				Doc: "How long the container of a pid is trusted before its start time in <proc_dir>/<pid>/stat is checked again (pids are reused)."},
			{Name: "lookup_timeout", Type: sdk.TypeDuration, Default: 2 * time.Second, Bound: sdk.Positive,
				Doc: "Timeout of one background metadata request to the Docker Engine. Events never wait for it."},
		},
		Validate: func(cfg *sdk.Config) error {
			if cfg.String("socket") == "" {
				return sdk.OptionErrorf("socket", "must name the Docker Engine socket, such as \"/var/run/docker.sock\"")
			}
			return nil
		},
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return New(Options{
				Socket:        cfg.String("socket"),
				ProcDir:       cfg.String("proc_dir"),
				CgroupField:   cfg.String("cgroup_field"),
				Grace:         cfg.Duration("grace"),
				PidTTL:        cfg.Duration("pid_ttl"),
				LookupTimeout: cfg.Duration("lookup_timeout"),
			}, env), nil
		},
	})
}

// Options configure a Processor.
type Options struct {
	Socket        string
	ProcDir       string
	CgroupField   string
	Grace         time.Duration
	PidTTL        time.Duration
	LookupTimeout time.Duration
	// MaxBackoff bounds the wait between attempts to reach the engine.
	MaxBackoff time.Duration
	// Now returns the time; time.Now when nil.
	Now func() time.Time
}

// Field names set on events.
const (
	fieldID      = "container.id"
	fieldName    = "container.name"
	fieldImage   = "container.image.name"
	fieldRuntime = "container.runtime"
	labelPrefix  = "container.labels."
)

// container is what the engine said about one container. It is never
// changed once published in the cache; updates replace it.
type container struct {
	name    string
	image   string
	labels  []sdk.Field // keys "container.labels.<key>", dots in key as "_"
	fields  []sdk.Field // every field set on an event, sorted by key
	missing bool        // the engine does not know this id
	diedAt  time.Time   // zero while alive
}

// pidEntry is the container of one pid, as last read from /proc.
type pidEntry struct {
	id, runtime string
	start       uint64 // process start time, 0 if unknown
	checked     time.Time
}

// Processor adds container metadata to events.
type Processor struct {
	opt    Options
	log    *slog.Logger
	client *engineClient

	// pids is only used from Process, which is never called concurrently.
	pids      map[int64]pidEntry
	lastPrune time.Time

	mu         sync.RWMutex
	containers map[string]*container
	queued     map[string]bool // ids waiting for a fetch
	connected  bool

	want      chan string
	connGauge sdk.Gauge
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New returns a Processor and starts its background connection to the
// Docker Engine. Close stops it.
func New(o Options, env sdk.Env) *Processor {
	if o.Socket == "" {
		o.Socket = "/var/run/docker.sock"
	}
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
	if o.PidTTL <= 0 {
		o.PidTTL = 5 * time.Second
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	metrics := env.Metrics
	if metrics == nil {
		metrics = sdk.NopMetrics{}
	}
	p := &Processor{
		opt:        o,
		log:        log,
		client:     newEngineClient(o.Socket),
		pids:       map[int64]pidEntry{},
		containers: map[string]*container{},
		queued:     map[string]bool{},
		want:       make(chan string, 1024),
		connGauge:  metrics.Gauge("docker_connected", "1 while the Docker Engine event stream is connected, 0 otherwise"),
	}
	p.connGauge.Set(0)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(3)
	go p.watch(ctx)
	go p.fetcher(ctx)
	go p.janitor(ctx)
	return p
}

// Process adds container fields to the events of a batch and passes it on.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	now := p.opt.Now()
	p.prunePids(now)
	for i := range in.Events {
		p.enrich(&in.Events[i], now)
	}
	return out.Emit(ctx, in)
}

// enrich sets the container fields of one event. On a cache hit it reads
// no file and takes one read lock.
func (p *Processor) enrich(ev *sdk.Event, now time.Time) {
	var id, runtime string
	if p.opt.CgroupField != "" {
		if v, ok := ev.Fields.Get(p.opt.CgroupField); ok {
			id, runtime = containerFromCgroupPath(v.Str())
		}
	}
	if id == "" {
		v, ok := ev.Fields.Get("process.pid")
		if !ok || v.Int() <= 0 {
			return
		}
		var known bool
		id, runtime, known = p.containerOfPid(v.Int(), now)
		if !known {
			// The process has exited already (short-lived commands often
			// have by the time their event arrives). A child starts in its
			// parent's cgroup, so the parent, usually still running (a
			// shell in the same container), says where it ran.
			if pv, ok := ev.Fields.Get("process.parent.pid"); ok && pv.Int() > 0 {
				id, runtime, _ = p.containerOfPid(pv.Int(), now)
			}
		}
		if id == "" {
			return
		}
	}
	p.mu.RLock()
	c := p.containers[id]
	p.mu.RUnlock()
	if c != nil && !c.missing {
		ev.Fields.SetSorted(c.fields)
		return
	}
	if c == nil {
		p.request(id)
	}
	ev.Fields.Set(fieldID, sdk.String(id))
	if runtime != "" {
		ev.Fields.Set(fieldRuntime, sdk.String(runtime))
	}
}

// containerOfPid returns the container a pid runs in ("" for none), from
// the cache or from /proc; known is false when the process is gone and was
// never seen. A cached answer older than PidTTL is checked against the
// process's start time, so a reused pid is read again.
func (p *Processor) containerOfPid(pid int64, now time.Time) (id, runtime string, known bool) {
	e, ok := p.pids[pid]
	if ok && now.Sub(e.checked) < p.opt.PidTTL {
		return e.id, e.runtime, true
	}
	start, haveStart := readStartTime(p.opt.ProcDir, pid)
	if ok && haveStart && e.start == start && e.start != 0 {
		e.checked = now
		p.pids[pid] = e
		return e.id, e.runtime, true
	}
	id, runtime, read := readCgroup(p.opt.ProcDir, pid)
	if !read {
		// The process is gone (or /proc is not there): keep what we knew
		// of this pid until the TTL says otherwise; remember nothing new.
		if ok {
			return e.id, e.runtime, true
		}
		return "", "", false
	}
	p.pids[pid] = pidEntry{id: id, runtime: runtime, start: start, checked: now}
	return id, runtime, true
}

// prunePids forgets pids not checked for a while, at most once per PidTTL.
func (p *Processor) prunePids(now time.Time) {
	if now.Sub(p.lastPrune) < p.opt.PidTTL {
		return
	}
	p.lastPrune = now
	for pid, e := range p.pids {
		if now.Sub(e.checked) > 4*p.opt.PidTTL {
			delete(p.pids, pid)
		}
	}
}

// request asks the background fetcher for a container's metadata, once.
// It never blocks: when the queue is full the id is asked again on a
// later event.
func (p *Processor) request(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued[id] {
		return
	}
	select {
	case p.want <- id:
		p.queued[id] = true
	default:
	}
}

// fetcher inspects the containers asked for.
func (p *Processor) fetcher(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-p.want:
			p.fetch(ctx, id)
		}
	}
}

// fetch inspects one container and publishes the result. When the engine
// cannot be reached the id stays queued, to be asked again on reconnect.
func (p *Processor) fetch(ctx context.Context, id string) {
	p.mu.RLock()
	up := p.connected
	p.mu.RUnlock()
	if !up {
		return // stays in queued; refetchQueued sends it again on connect
	}
	lctx, cancel := context.WithTimeout(ctx, p.opt.LookupTimeout)
	r, err := p.client.inspect(lctx, id)
	cancel()
	var c *container
	switch {
	case err == nil:
		c = fromInspect(id, r)
	case errors.Is(err, errNotFound):
		c = &container{missing: true}
	default:
		p.log.Debug("docker: inspect failed; will ask again on reconnect", "container", id, "error", err)
		return
	}
	p.mu.Lock()
	delete(p.queued, id)
	if old := p.containers[id]; old != nil && c.missing && !old.missing {
		// Removed while we asked: keep what we knew for the grace period.
		if old.diedAt.IsZero() {
			cp := *old
			cp.diedAt = p.opt.Now()
			old = &cp
		}
		c = old
	}
	p.containers[id] = c
	p.mu.Unlock()
}

// fromInspect builds the cached form of an inspect answer.
func fromInspect(id string, r *inspectResult) *container {
	c := &container{name: strings.TrimPrefix(r.Name, "/"), image: r.Config.Image}
	for k, v := range r.Config.Labels {
		c.labels = append(c.labels, sdk.Field{Key: labelPrefix + strings.ReplaceAll(k, ".", "_"), Value: sdk.String(v)})
	}
	sort.Slice(c.labels, func(i, j int) bool { return c.labels[i].Key < c.labels[j].Key })
	c.setFields(id)
	return c
}

// setFields computes the fields an event of this container gets, sorted
// by key so that they go into an event in one step. Two labels that differ
// only by dots and underscores collide; one of them wins.
func (c *container) setFields(id string) {
	byKey := map[string]sdk.Value{
		fieldID:      sdk.String(id),
		fieldName:    sdk.String(c.name),
		fieldImage:   sdk.String(c.image),
		fieldRuntime: sdk.String(runtimeDocker),
	}
	for _, l := range c.labels {
		byKey[l.Key] = l.Value
	}
	c.fields = make([]sdk.Field, 0, len(byKey))
	for k, v := range byKey {
		c.fields = append(c.fields, sdk.Field{Key: k, Value: v})
	}
	sort.Slice(c.fields, func(i, j int) bool { return c.fields[i].Key < c.fields[j].Key })
}

// watch keeps the event stream open, reconnecting with backoff.
func (p *Processor) watch(ctx context.Context) {
	defer p.wg.Done()
	backoff := 250 * time.Millisecond
	reported := false // whether the current outage was logged
	for {
		err := p.client.events(ctx, func() {
			p.setConnected(true)
			backoff = 250 * time.Millisecond
			if reported {
				p.log.Info("docker: connected to the Docker Engine again", "socket", p.opt.Socket)
			}
			reported = false
			p.resync(ctx)
		}, p.onEngineEvent)
		p.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		if !reported {
			if _, serr := os.Stat(p.opt.Socket); errors.Is(serr, fs.ErrNotExist) {
				// No Docker on this host (yet): not a fault, since the
				// default pipeline runs this processor everywhere.
				p.log.Info("docker: no Docker socket; events get container.id from cgroups only, and names and images once the socket appears",
					"socket", p.opt.Socket)
			} else {
				p.log.Warn("docker: Docker Engine not reachable; events get container.id only until it is, retrying in the background",
					"socket", p.opt.Socket, "error", err)
			}
			reported = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, p.opt.MaxBackoff)
	}
}

func (p *Processor) setConnected(up bool) {
	p.mu.Lock()
	p.connected = up
	p.mu.Unlock()
	if up {
		p.connGauge.Set(1)
	} else {
		p.connGauge.Set(0)
	}
}

// resync runs on each (re)connect: what happened while disconnected is
// unknown, so the running containers are listed (their first events are
// then enriched without waiting for a lookup), and every other cached
// container and queued id is asked again. Cached entries stay in use until
// their new answer arrives.
func (p *Processor) resync(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, p.opt.LookupTimeout)
	running, err := p.client.list(lctx)
	cancel()
	if err != nil {
		p.log.Debug("docker: listing the running containers failed; each is looked up on its first event", "error", err)
	}
	listed := make(map[string]bool, len(running))
	p.mu.Lock()
	for _, l := range running {
		if !isContainerID(l.ID) {
			continue
		}
		r := inspectResult{ID: l.ID, Config: inspectConfig{Image: l.Image, Labels: l.Labels}}
		if len(l.Names) > 0 {
			r.Name = l.Names[0]
		}
		p.containers[l.ID] = fromInspect(l.ID, &r)
		delete(p.queued, l.ID)
		listed[l.ID] = true
	}
	ids := make([]string, 0, len(p.containers)+len(p.queued))
	for id := range p.containers {
		if !listed[id] {
			ids = append(ids, id)
		}
	}
	for id := range p.queued {
		if p.containers[id] == nil {
			ids = append(ids, id)
		}
	}
	clear(p.queued)
	p.mu.Unlock()
	go func() {
		for _, id := range ids {
			p.mu.Lock()
			if p.queued[id] {
				p.mu.Unlock()
				continue
			}
			p.queued[id] = true
			p.mu.Unlock()
			select {
			case p.want <- id:
			default:
				p.mu.Lock()
				delete(p.queued, id) // asked again on its next event
				p.mu.Unlock()
			}
		}
	}()
}

// onEngineEvent keeps the cache current from one Docker event.
func (p *Processor) onEngineEvent(ev engineEvent) {
	id := ev.Actor.ID
	if !isContainerID(id) {
		return
	}
	switch ev.Action {
	case "die", "destroy":
		p.mu.Lock()
		if c := p.containers[id]; c != nil && !c.missing && c.diedAt.IsZero() {
			cp := *c
			cp.diedAt = p.opt.Now()
			p.containers[id] = &cp
		}
		p.mu.Unlock()
	case "rename":
		p.mu.Lock()
		if c := p.containers[id]; c != nil && !c.missing {
			cp := *c
			cp.name = strings.TrimPrefix(ev.Actor.Attributes["name"], "/")
			cp.setFields(id)
			p.containers[id] = &cp
		}
		p.mu.Unlock()
	case "create", "start", "restart", "update":
		// A new container, or one back from the dead: fetch it afresh
		// (also replacing an earlier "no such container").
		p.mu.Lock()
		_, known := p.containers[id]
		p.mu.Unlock()
		if known || ev.Action == "start" {
			p.mu.Lock()
			p.queued[id] = false
			p.mu.Unlock()
			p.request(id)
		}
	}
}

// janitor drops the metadata of containers dead for longer than Grace.
func (p *Processor) janitor(ctx context.Context) {
	defer p.wg.Done()
	every := p.opt.Grace / 2
	if every < 100*time.Millisecond {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.expire(p.opt.Now())
		}
	}
}

// expire drops containers dead for longer than Grace.
func (p *Processor) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.containers {
		if !c.diedAt.IsZero() && now.Sub(c.diedAt) > p.opt.Grace {
			delete(p.containers, id)
		}
	}
}

// Connected reports whether the Docker Engine event stream is up.
func (p *Processor) Connected() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.connected
}

// Close stops the background connection.
func (p *Processor) Close(ctx context.Context) error {
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
