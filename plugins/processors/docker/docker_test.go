package docker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// fakeEngine serves the few Docker Engine API calls the processor makes on
// a unix socket, so that tests can change containers, send events and take
// the engine down.
type fakeEngine struct {
	t      *testing.T
	socket string
	srv    *httptest.Server

	mu         sync.Mutex
	containers map[string]inspectResult
	inspects   int
	lists      int
	events     chan engineEvent
}

func newFakeEngine(t *testing.T, socket string) *fakeEngine {
	t.Helper()
	e := &fakeEngine{t: t, socket: socket, containers: map[string]inspectResult{}, events: make(chan engineEvent, 16)}
	e.start()
	return e
}

func (e *fakeEngine) start() {
	ln, err := net.Listen("unix", e.socket)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("OK")) })
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		c, ok := e.containers[r.PathValue("id")]
		e.inspects++
		e.mu.Unlock()
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(c)
	})
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		var running []listed
		for id, c := range e.containers {
			if c.State.Running {
				running = append(running, listed{ID: id, Names: []string{c.Name}, Image: c.Config.Image, Labels: c.Config.Labels})
			}
		}
		e.lists++
		e.mu.Unlock()
		_ = json.NewEncoder(w).Encode(running)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		if f := r.URL.Query().Get("filters"); f != `{"type":["container"]}` {
			http.Error(w, "unexpected filters "+f, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-e.events:
				_ = json.NewEncoder(w).Encode(ev)
				w.(http.Flusher).Flush()
			}
		}
	})
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Listener = ln
	e.srv.Start()
}

// setRunning adds a running container, which the list of containers shows.
func (e *fakeEngine) setRunning(id, name, image string, labels map[string]string) {
	e.set(id, name, image, labels)
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.containers[id]
	c.State.Running = true
	e.containers[id] = c
}

// stop takes the engine down: connections break and the socket is gone.
func (e *fakeEngine) stop() {
	e.srv.CloseClientConnections()
	e.srv.Close()
}

func (e *fakeEngine) set(id, name, image string, labels map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var r inspectResult
	r.ID, r.Name, r.Config.Image, r.Config.Labels = id, "/"+name, image, labels
	e.containers[id] = r
}

func (e *fakeEngine) remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.containers, id)
}

func (e *fakeEngine) send(action, id string, attrs map[string]string) {
	var ev engineEvent
	ev.Type, ev.Action, ev.Actor.ID, ev.Actor.Attributes = "container", action, id, attrs
	e.events <- ev
}

type setup struct {
	p       *Processor
	proc    string
	socket  string
	metrics *sdktest.Metrics
	log     *sdktest.LogBuffer
	now     time.Time
	mu      sync.Mutex
}

func (s *setup) clock() time.Time        { s.mu.Lock(); defer s.mu.Unlock(); return s.now }
func (s *setup) advance(d time.Duration) { s.mu.Lock(); s.now = s.now.Add(d); s.mu.Unlock() }

func newSetup(t *testing.T, o Options) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{proc: filepath.Join(dir, "proc"), socket: filepath.Join(dir, "docker.sock"),
		metrics: sdktest.NewMetrics(), log: &sdktest.LogBuffer{}, now: time.Unix(1_800_000_000, 0)}
	writeProc(t, s.proc, "100", "0::/system.slice/docker-"+idA+".scope\n", "5000")
	writeProc(t, s.proc, "200", "0::/user.slice/user-1000.slice/session-3.scope\n", "6000")
	writeProc(t, s.proc, "300", "12:pids:/kubepods/besteffort/pod5c1e8a9f-3d2b-4c6a-9e7f-0a1b2c3d4e5f/"+idB+"\n", "7000")
	if o.Socket == "" {
		o.Socket = s.socket
	}
	o.ProcDir = s.proc
	o.Now = s.clock
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Millisecond
	}
	env := sdktest.Env("processor.docker.test", nil)
	env.Metrics = s.metrics
	env.Logger = s.log.Logger(slog.LevelInfo)
	s.p = New(o, env)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// process runs one event through the processor and returns its fields.
func (s *setup) process(t *testing.T, fields map[string]sdk.Value) *sdk.Event {
	t.Helper()
	b := sdk.NewBatch(1)
	ev := sdk.Event{Fields: sdk.MakeFields(len(fields))}
	for k, v := range fields {
		ev.Fields.Set(k, v)
	}
	b.Events = append(b.Events, ev)
	c := sdktest.NewCollector()
	if err := s.p.Process(context.Background(), b, c); err != nil {
		t.Fatal(err)
	}
	got := c.Events()
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1", len(got))
	}
	return &got[0]
}

func pidEvent(pid int64) map[string]sdk.Value {
	return map[string]sdk.Value{"process.pid": sdk.Int(pid), "event.action": sdk.String("executed")}
}

func containerFields(ev *sdk.Event) map[string]string {
	out := map[string]string{}
	ev.Fields.Range(func(k string, v sdk.Value) bool {
		if strings.HasPrefix(k, "container.") {
			out[k] = v.Text()
		}
		return true
	})
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMetadataFromEngine(t *testing.T) {
	s := newSetup(t, Options{Grace: time.Minute})
	e := newFakeEngine(t, s.socket)
	defer e.stop()
	e.set(idA, "web", "nginx:1.27", map[string]string{"com.example.team": "audit", "maintainer": "ops"})
	sdktest.WaitFor(t, "the event stream", 10*time.Second, s.p.Connected)
	if s.metrics.Value("docker_connected") != 1 {
		t.Errorf("docker_connected = %v, want 1", s.metrics.Value("docker_connected"))
	}

	// First sight: the event goes on at once with the id only.
	first := containerFields(s.process(t, pidEvent(100)))
	if want := map[string]string{"container.id": idA, "container.runtime": "docker"}; !equalMaps(first, want) {
		t.Errorf("first event: got %v, want %v", first, want)
	}
	want := map[string]string{
		"container.id":                      idA,
		"container.name":                    "web",
		"container.image.name":              "nginx:1.27",
		"container.runtime":                 "docker",
		"container.labels.com_example_team": "audit",
		"container.labels.maintainer":       "ops",
	}
	var got map[string]string
	sdktest.WaitFor(t, "metadata", 10*time.Second, func() bool {
		got = containerFields(s.process(t, pidEvent(100)))
		return equalMaps(got, want)
	})

	// A host process and an event without a pid are left alone.
	if got := containerFields(s.process(t, pidEvent(200))); len(got) != 0 {
		t.Errorf("host process got %v", got)
	}
	ev := s.process(t, map[string]sdk.Value{"message": sdk.String("x")})
	if ev.Fields.Len() != 1 {
		t.Errorf("event without pid changed: %v", ev.Fields.All())
	}
	// A process gone from /proc: nothing to say.
	if got := containerFields(s.process(t, pidEvent(999))); len(got) != 0 {
		t.Errorf("unknown pid got %v", got)
	}

	// A container the engine does not know (here, a kubepods one of
	// another runtime) keeps its id and is asked about once.
	sdktest.WaitFor(t, "the unknown container to be asked about", 10*time.Second, func() bool {
		s.process(t, pidEvent(300))
		s.p.mu.RLock()
		defer s.p.mu.RUnlock()
		c := s.p.containers[idB]
		return c != nil && c.missing
	})
	e.mu.Lock()
	before := e.inspects
	e.mu.Unlock()
	for range 10 {
		if got := containerFields(s.process(t, pidEvent(300))); !equalMaps(got, map[string]string{"container.id": idB}) {
			t.Fatalf("unknown container: got %v", got)
		}
	}
	e.mu.Lock()
	after := e.inspects
	e.mu.Unlock()
	if after != before {
		t.Errorf("an unknown container was inspected %d more times", after-before)
	}
}

func TestEventStreamRenameDestroyAndGrace(t *testing.T) {
	s := newSetup(t, Options{Grace: time.Minute})
	e := newFakeEngine(t, s.socket)
	defer e.stop()
	e.set(idA, "web", "nginx:1.27", nil)
	sdktest.WaitFor(t, "the event stream", 10*time.Second, s.p.Connected)
	sdktest.WaitFor(t, "metadata", 10*time.Second, func() bool {
		return containerFields(s.process(t, pidEvent(100)))["container.name"] == "web"
	})

	e.set(idA, "frontend", "nginx:1.27", nil)
	e.send("rename", idA, map[string]string{"name": "frontend", "oldName": "/web"})
	sdktest.WaitFor(t, "the rename", 10*time.Second, func() bool {
		return containerFields(s.process(t, pidEvent(100)))["container.name"] == "frontend"
	})

	// Dead and removed: still enriched during the grace period.
	e.remove(idA)
	e.send("die", idA, nil)
	e.send("destroy", idA, nil)
	sdktest.WaitFor(t, "the death to be noted", 10*time.Second, func() bool {
		s.p.mu.RLock()
		defer s.p.mu.RUnlock()
		return !s.p.containers[idA].diedAt.IsZero()
	})
	s.advance(59 * time.Second)
	s.p.expire(s.clock())
	if got := containerFields(s.process(t, pidEvent(100))); got["container.name"] != "frontend" || got["container.image.name"] != "nginx:1.27" {
		t.Errorf("within grace: got %v", got)
	}
	// After the grace period only the id is left.
	s.advance(2 * time.Second)
	s.p.expire(s.clock())
	got := containerFields(s.process(t, pidEvent(100)))
	if want := map[string]string{"container.id": idA, "container.runtime": "docker"}; !equalMaps(got, want) {
		t.Errorf("after grace: got %v, want %v", got, want)
	}
}

func TestWithoutDocker(t *testing.T) {
	s := newSetup(t, Options{Grace: time.Minute})
	// No engine on the socket: events pass at once with the cgroup's id.
	for range 3 {
		got := containerFields(s.process(t, pidEvent(100)))
		if want := map[string]string{"container.id": idA, "container.runtime": "docker"}; !equalMaps(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := containerFields(s.process(t, pidEvent(200))); len(got) != 0 {
		t.Errorf("host process got %v", got)
	}
	// There is no socket file at all: Docker is absent rather than broken,
	// which is said once, as information.
	sdktest.WaitFor(t, "several connection attempts", 10*time.Second, func() bool { return outagesLogged(s) > 0 })
	time.Sleep(100 * time.Millisecond) // room for more attempts (backoff 20ms): they must not log
	if n := outagesLogged(s); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, s.log.String())
	}
	if !strings.Contains(s.log.String(), "level=INFO msg=\"docker: no Docker socket") {
		t.Errorf("a missing socket should be logged as information:\n%s", s.log.String())
	}
	if s.p.Connected() || s.metrics.Value("docker_connected") != 0 {
		t.Errorf("connected while no engine answers")
	}

	// Docker comes up: the processor connects by itself and the id asked
	// about during the outage is fetched.
	e := newFakeEngine(t, s.socket)
	e.set(idA, "web", "nginx:1.27", nil)
	sdktest.WaitFor(t, "the reconnection", 10*time.Second, s.p.Connected)
	sdktest.WaitFor(t, "docker_connected 1", 10*time.Second, func() bool { return s.metrics.Value("docker_connected") == 1 })
	sdktest.WaitFor(t, "metadata after reconnection", 10*time.Second, func() bool {
		return containerFields(s.process(t, pidEvent(100)))["container.name"] == "web"
	})

	// Docker goes down again: cached metadata still applies, the gauge
	// drops, and the outage is logged once more.
	e.stop()
	sdktest.WaitFor(t, "the disconnection", 10*time.Second, func() bool { return !s.p.Connected() })
	if got := s.metrics.Value("docker_connected"); got != 0 {
		t.Errorf("docker_connected = %v after the engine stopped", got)
	}
	if got := containerFields(s.process(t, pidEvent(100))); got["container.name"] != "web" {
		t.Errorf("cached metadata lost when the engine went down: %v", got)
	}
	sdktest.WaitFor(t, "the second outage to be logged", 10*time.Second, func() bool { return outagesLogged(s) == 2 })
}

// outagesLogged counts the log lines that report Docker unreachable or absent.
func outagesLogged(s *setup) int {
	l := s.log.String()
	return strings.Count(l, "not reachable") + strings.Count(l, "no Docker socket")
}

// Containers running when the processor connects are listed at once: the
// first event of one already has its name, with no lookup of its own.
func TestRunningContainersAreListedOnConnect(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "docker.sock")
	e := newFakeEngine(t, socket)
	e.setRunning(idA, "web", "nginx:1.27", map[string]string{"com.example.tier": "front"})
	s := newSetup(t, Options{Socket: socket})
	sdktest.WaitFor(t, "the connection", 10*time.Second, s.p.Connected)
	sdktest.WaitFor(t, "the list", 10*time.Second, func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.lists > 0 })
	want := map[string]string{"container.id": idA, "container.name": "web", "container.image.name": "nginx:1.27",
		"container.runtime": "docker", "container.labels.com_example_tier": "front"}
	sdktest.WaitFor(t, "the listed container in the cache", 10*time.Second, func() bool {
		s.p.mu.RLock()
		defer s.p.mu.RUnlock()
		return s.p.containers[idA] != nil
	})
	if got := containerFields(s.process(t, pidEvent(100))); !equalMaps(got, want) {
		t.Errorf("first event: got %v, want %v", got, want)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inspects != 0 {
		t.Errorf("%d inspects for a container the list gave", e.inspects)
	}
}

// A process that has exited before its event arrives is placed by its
// parent, which it forked from and whose cgroup it started in; a process
// that still runs is never placed by its parent.
func TestGoneProcessTakesItsParentsContainer(t *testing.T) {
	s := newSetup(t, Options{})
	ev := func(pid, ppid int64) map[string]sdk.Value {
		return map[string]sdk.Value{"process.pid": sdk.Int(pid), "process.parent.pid": sdk.Int(ppid)}
	}
	tests := []struct {
		name      string
		pid, ppid int64
		want      string
	}{
		{"gone, parent in a container", 999, 100, idA},
		{"gone, parent on the host", 999, 200, ""},
		{"gone, parent gone too", 999, 998, ""},
		{"running on the host, parent in a container", 200, 100, ""},
		{"running in a container, parent on the host", 100, 200, idA},
	}
	for _, tc := range tests {
		got := containerFields(s.process(t, ev(tc.pid, tc.ppid)))["container.id"]
		if got != tc.want {
			t.Errorf("%s: container.id = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A socket file nobody listens on is a Docker fault, worth a warning.
func TestDeadSocketIsAWarning(t *testing.T) {
	// A file nobody listens on, as a crashed dockerd leaves behind.
	stale := filepath.Join(t.TempDir(), "docker.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSetup(t, Options{Socket: stale})
	sdktest.WaitFor(t, "the outage to be logged", 10*time.Second, func() bool { return outagesLogged(s) > 0 })
	if !strings.Contains(s.log.String(), "level=WARN msg=\"docker: Docker Engine not reachable") {
		t.Errorf("want a warning for a socket that does not answer:\n%s", s.log.String())
	}
}

func TestCgroupField(t *testing.T) {
	s := newSetup(t, Options{CgroupField: "container.cgroup"})
	got := containerFields(s.process(t, map[string]sdk.Value{
		"container.cgroup": sdk.String("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5c1e.slice/crio-" + idB + ".scope"),
		"process.pid":      sdk.Int(100), // the field wins over the pid
	}))
	if got["container.id"] != idB || got["container.runtime"] != "cri-o" {
		t.Errorf("got %v", got)
	}
	// Without the field, the pid's cgroup is used.
	if got := containerFields(s.process(t, pidEvent(100))); got["container.id"] != idA {
		t.Errorf("fallback to pid: got %v", got)
	}
}

func TestReusedPid(t *testing.T) {
	s := newSetup(t, Options{PidTTL: 5 * time.Second})
	if got := containerFields(s.process(t, pidEvent(100))); got["container.id"] != idA {
		t.Fatalf("got %v", got)
	}
	// pid 100 exits and is reused by a process of another container.
	writeProc(t, s.proc, "100", "0::/docker/"+idB+"\n", "9999")
	if got := containerFields(s.process(t, pidEvent(100))); got["container.id"] != idA {
		t.Errorf("within the TTL the cached answer stands: got %v", got)
	}
	s.advance(6 * time.Second)
	if got := containerFields(s.process(t, pidEvent(100))); got["container.id"] != idB {
		t.Errorf("after the TTL a new start time is read again: got %v", got)
	}
	// Same process (same start time): the cached answer is kept.
	writeProc(t, s.proc, "100", "0::/docker/"+idA+"\n", "9999")
	s.advance(6 * time.Second)
	if got := containerFields(s.process(t, pidEvent(100))); got["container.id"] != idB {
		t.Errorf("same start time: got %v", got)
	}
}

func TestPluginConfig(t *testing.T) {
	p := sdk.Lookup(sdk.KindProcessor, "docker")
	if p == nil {
		t.Fatal("processor docker is not registered")
	}
	if err := sdktest.Validate(p, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, bad := range []map[string]any{
		{"socket": ""},
		{"grace": -time.Second},
		{"lookup_timeout": time.Duration(0)},
	} {
		if err := sdktest.Validate(p, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
