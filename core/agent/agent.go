// Package agent is the long-running engine process: it loads a pipeline,
// opens the state directory, serves metrics and health, runs the pipeline,
// reloads it on request and drains it on shutdown.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/core/deadletter"
	"github.com/engine-audit/engine/core/runtime"
	"github.com/engine-audit/engine/core/state"
	"github.com/engine-audit/engine/sdk"
)

// Options configure an Agent. Flag values, when set, override the
// pipeline's engine block.
type Options struct {
	Paths   []string          // pipeline files and directories
	Sources map[string][]byte // or a pipeline held in memory (used when Paths is empty)
	Load    config.LoadOptions

	StateDir        string        // overrides engine.state_dir when not ""
	HTTPAddress     *string       // overrides engine.http_address when not nil ("" turns it off)
	ShutdownTimeout time.Duration // overrides engine.shutdown_timeout when > 0
	LogLevelSet     bool          // the log level came from a flag; ignore engine.log_level
	Once            bool          // inputs stop when their sources are read (see sdk.Env.Once)

	Logger   *slog.Logger
	LogLevel *slog.LevelVar // adjusted to engine.log_level unless LogLevelSet
}

// DiagnosticsError is returned when the pipeline does not load. It carries
// the diagnostics and the files, to be rendered by the caller.
type DiagnosticsError struct {
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
}

func (e *DiagnosticsError) Error() string {
	return fmt.Sprintf("pipeline is invalid (%d errors)", len(e.Diags.Errs()))
}

// Agent runs one pipeline at a time.
type Agent struct {
	opts     Options
	log      *slog.Logger
	metrics  *runtime.Metrics
	db       *state.DB
	settings config.Settings
	loaded   *config.Pipeline                 // the config the running pipeline was built from
	current  atomic.Pointer[runtime.Pipeline] // read by the HTTP handlers
	ids      map[string]bool

	abandon     chan struct{} // closed by Abandon
	abandonOnce sync.Once
}

// New returns an agent; Run starts it.
func New(opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Agent{opts: opts, log: opts.Logger, metrics: runtime.NewMetrics(), abandon: make(chan struct{})}
}

// Abandon cuts short a drain that is under way, or the next one, as if its
// deadline had passed: batches still in flight are given up (inputs that
// can replay read them again; a disk buffer keeps what it holds), and the
// components are still closed, so that each puts back what it changed
// (the audit input restores the kernel's rules and settings). It is safe
// to call from any goroutine, more than once.
func (a *Agent) Abandon() { a.abandonOnce.Do(func() { close(a.abandon) }) }

// Metrics returns the agent's metrics registry holder.
func (a *Agent) Metrics() *runtime.Metrics { return a.metrics }

func (a *Agent) load() (*config.Pipeline, error) {
	var p *config.Pipeline
	var diags hcl.Diagnostics
	if len(a.opts.Paths) > 0 {
		p, diags = config.Load(a.opts.Paths, a.opts.Load)
	} else {
		p, diags = config.LoadSource(a.opts.Sources, a.opts.Load)
	}
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diags: diags, Files: p.Files}
	}
	for _, d := range diags {
		a.log.Warn("pipeline warning", "summary", d.Summary, "detail", d.Detail, "at", rangeString(d.Subject))
	}
	return p, nil
}

func rangeString(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// DefaultStateDir is /var/lib/engine for root, and a per-user state
// directory otherwise.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/engine"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "engine")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "engine")
	}
	if u, err := user.Current(); err == nil {
		return filepath.Join(os.TempDir(), "engine-"+u.Username)
	}
	return filepath.Join(os.TempDir(), "engine")
}

func (a *Agent) resolveSettings(p *config.Pipeline) config.Settings {
	s := p.Settings
	if a.opts.StateDir != "" {
		s.StateDir = a.opts.StateDir
	}
	if s.StateDir == "" {
		s.StateDir = DefaultStateDir()
	}
	if a.opts.HTTPAddress != nil {
		s.HTTPAddress = *a.opts.HTTPAddress
	}
	if a.opts.ShutdownTimeout > 0 {
		s.ShutdownTimeout = a.opts.ShutdownTimeout
	}
	if s.ShutdownTimeout <= 0 {
		s.ShutdownTimeout = config.DefaultShutdownTimeout
	}
	if !a.opts.LogLevelSet && a.opts.LogLevel != nil && s.LogLevel != "" {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(s.LogLevel)); err == nil {
			a.opts.LogLevel.Set(lvl)
		}
	}
	return s
}

func (a *Agent) build(p *config.Pipeline) (*runtime.Pipeline, error) {
	specs := make([]runtime.ComponentSpec, 0, len(p.Components))
	ids := map[string]bool{}
	for _, c := range p.Components {
		specs = append(specs, runtime.ComponentSpec{
			ID: c.ID, Kind: c.Kind, Type: c.Type, Plugin: c.Plugin, Config: c.Config,
			Inputs: c.Inputs, Batch: c.Batch, QueueSize: c.QueueSize,
			Buffer: buffer.ConfigFrom(c.Buffer, c.QueueSize), DeadLetter: deadletter.ConfigFrom(c.DeadLetter),
		})
		ids[c.ID] = true
	}
	rp, err := runtime.Build(specs, runtime.Options{
		Logger:  a.log,
		State:   func(id string) sdk.StateStore { return a.db.Store(id) },
		DataDir: filepath.Join(a.settings.StateDir, "data"),
		Metrics: a.metrics,
		Once:    a.opts.Once,
	})
	if err != nil {
		return nil, err
	}
	// Drop the metric series of components that no longer exist.
	for id := range a.ids {
		if !ids[id] {
			a.metrics.Forget(id)
		}
	}
	a.ids = ids
	return rp, nil
}

// Run loads the pipeline and runs it until ctx ends (then drains within the
// shutdown timeout) or until every input has finished by itself. A value on
// reload re-reads the pipeline: if it is valid, the running pipeline is
// drained and replaced; if not, the error is logged and the old one keeps
// running.
func (a *Agent) Run(ctx context.Context, reload <-chan struct{}) error {
	p, err := a.load()
	if err != nil {
		return err
	}
	a.settings = a.resolveSettings(p)
	a.db, err = state.Open(a.settings.StateDir)
	if err != nil {
		return err
	}
	defer a.db.Close()

	stopHTTP, err := a.serveHTTP(a.settings.HTTPAddress)
	if err != nil {
		return err
	}
	defer stopHTTP()

	rp, err := a.build(p)
	if err != nil {
		return err
	}
	a.loaded = p
	in, pr, out := p.Counts()
	a.log.Info("pipeline started", "inputs", in, "processors", pr, "outputs", out,
		"state_dir", a.settings.StateDir, "http_address", a.settings.HTTPAddress)
	a.current.Store(rp)
	rp.Start()

	for {
		select {
		case <-ctx.Done():
			a.log.Info("shutting down: draining events in flight", "deadline", a.settings.ShutdownTimeout)
			return a.stop(a.settings.ShutdownTimeout)
		case <-a.current.Load().Done():
			a.log.Info("all inputs finished and their events were delivered; exiting")
			return a.stop(a.settings.ShutdownTimeout)
		case <-a.current.Load().Failed():
			err := a.current.Load().Err()
			a.log.Error("stopping: a component failed", "error", err)
			_ = a.stop(a.settings.ShutdownTimeout)
			return err
		case <-reload:
			if err := a.reload(); err != nil {
				return err
			}
		}
	}
}

func (a *Agent) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-a.abandon:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := a.current.Load().Stop(ctx)
	if err == nil {
		a.log.Info("pipeline drained", "took", time.Since(start).Round(time.Millisecond))
	}
	return err
}

func (a *Agent) reload() error {
	a.log.Info("reloading pipeline")
	p, err := a.load()
	if err != nil {
		var de *DiagnosticsError
		if errors.As(err, &de) {
			for _, d := range de.Diags.Errs() {
				a.log.Error("reload rejected: pipeline is invalid", "error", d.Error())
			}
		}
		a.log.Error("keeping the running pipeline", "error", err)
		a.metrics.Reloads.WithLabelValues("invalid").Inc()
		return nil
	}
	next := a.resolveSettings(p)
	if next.StateDir != a.settings.StateDir || next.HTTPAddress != a.settings.HTTPAddress {
		a.log.Warn("state_dir and http_address changes take effect only after a restart")
	}
	a.settings.ShutdownTimeout = next.ShutdownTimeout
	// The old pipeline must stop before the new one is built: both may
	// need the same files, sockets and checkpoints.
	if err := a.stop(a.settings.ShutdownTimeout); err != nil {
		a.log.Error("old pipeline did not drain cleanly", "error", err)
	}
	np, err := a.build(p)
	if err != nil {
		a.metrics.Reloads.WithLabelValues("failed").Inc()
		a.log.Error("reload failed: the new pipeline could not be built; restarting the previous one", "error", err)
		np, err = a.build(a.loaded)
		if err != nil {
			return fmt.Errorf("reload failed and the previous pipeline could not be restarted: %w", err)
		}
		p = a.loaded
	} else {
		a.metrics.Reloads.WithLabelValues("ok").Inc()
		a.log.Info("pipeline reloaded")
	}
	a.loaded = p
	a.current.Store(np)
	np.Start()
	return nil
}

func (a *Agent) health() (bool, map[string]runtime.ComponentHealth) {
	p := a.current.Load()
	if p == nil {
		return false, nil
	}
	return p.Healthy(), p.Health()
}

func (a *Agent) serveHTTP(addr string) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http_address %s: %w (choose a free address with --http-address, or \"\" to turn it off)", addr, err)
	}
	srv := &http.Server{Handler: runtime.Handler(a.metrics, a.health), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server failed", "error", err)
		}
	}()
	a.log.Info("serving /metrics and /healthz", "address", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
