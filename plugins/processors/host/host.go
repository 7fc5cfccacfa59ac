// Package host is the "host" processor: it adds what the machine is —
// host.name, host.id, host.os.*, host.ip, host.mac, host.architecture — to
// every event. The facts are gathered in the background every
// refresh_interval; an event only gets a copy of the prepared fields.
package host

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engine-audit/engine/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindProcessor,
		Type:    "host",
		Summary: "Add the host's name, id, operating system, addresses and architecture to every event",
		Description: "Sets host.name, host.hostname, host.id (the machine id), host.os.type, host.os.family, " +
			"host.os.name, host.os.version, host.os.platform, host.os.kernel, host.ip, host.mac and " +
			"host.architecture. The facts are gathered when the processor starts and again every " +
			"refresh_interval in the background, never per event. Facts that cannot be found are left out. " +
			"Unless replace_fields is true, host fields an event already has (such as from a remote node) are kept.",
		Options: []sdk.Option{
			{Name: "refresh_interval", Type: sdk.TypeDuration, Default: 5 * time.Minute, Bound: sdk.Positive,
				Doc: "How often the host facts are gathered again (address or hostname changes show up after at most this long)."},
			{Name: "replace_fields", Type: sdk.TypeBool, Default: false,
				Doc: "Overwrite host.* fields an event already has. When false, an event that has any host.* field keeps its own host fields and gets none of this host's."},
		},
		New: func(cfg *sdk.Config, env sdk.Env) (any, error) {
			return New(Options{
				RefreshInterval: cfg.Duration("refresh_interval"),
				ReplaceFields:   cfg.Bool("replace_fields"),
				Logger:          env.Logger,
			}), nil
		},
	})
}

// Options configure a Processor.
type Options struct {
	RefreshInterval time.Duration
	ReplaceFields   bool
	Logger          *slog.Logger
	// Root is prepended to the files read (/etc/os-release,
	// /etc/machine-id, ...); tests point it at testdata. Empty means "/".
	Root string
	// Gather returns the facts; Gather(Root) when nil. Tests replace it.
	Gather func(root string) Facts
}

// Facts is what the processor knows about the host.
type Facts struct {
	Hostname     string
	ID           string
	OSType       string // runtime.GOOS
	OSFamily     string // ID_LIKE's first word, else ID
	OSName       string // NAME
	OSVersion    string // VERSION, else VERSION_ID
	OSPlatform   string // ID
	Kernel       string // uname release
	Architecture string // uname machine, else GOARCH
	IPs          []string
	MACs         []string
}

// fields returns the facts as host.* fields in key order.
func (f Facts) fields() []sdk.Field {
	var out []sdk.Field
	add := func(k, v string) {
		if v != "" {
			out = append(out, sdk.Field{Key: k, Value: sdk.String(v)})
		}
	}
	add("host.architecture", f.Architecture)
	add("host.hostname", f.Hostname)
	add("host.id", f.ID)
	if len(f.IPs) > 0 {
		out = append(out, sdk.Field{Key: "host.ip", Value: sdk.Strings(f.IPs)})
	}
	if len(f.MACs) > 0 {
		out = append(out, sdk.Field{Key: "host.mac", Value: sdk.Strings(f.MACs)})
	}
	add("host.name", f.Hostname)
	add("host.os.family", f.OSFamily)
	add("host.os.kernel", f.Kernel)
	add("host.os.name", f.OSName)
	add("host.os.platform", f.OSPlatform)
	add("host.os.type", f.OSType)
	add("host.os.version", f.OSVersion)
	slices.SortFunc(out, func(a, b sdk.Field) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Processor adds host fields to events.
type Processor struct {
	opt     Options
	current atomic.Pointer[[]sdk.Field]
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New gathers the facts once and starts refreshing them in the background.
func New(o Options) *Processor {
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Gather == nil {
		o.Gather = Gather
	}
	p := &Processor{opt: o, stop: make(chan struct{}), done: make(chan struct{})}
	p.refresh()
	go p.loop()
	return p
}

func (p *Processor) refresh() {
	fs := p.opt.Gather(p.opt.Root).fields()
	p.current.Store(&fs)
}

func (p *Processor) loop() {
	defer close(p.done)
	t := time.NewTicker(p.opt.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.refresh()
		}
	}
}

// Close stops the background refresh.
func (p *Processor) Close(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fields returns the host fields events get now.
func (p *Processor) Fields() []sdk.Field { return *p.current.Load() }

// Process adds the host fields to every event and passes the batch on.
func (p *Processor) Process(ctx context.Context, in *sdk.Batch, out sdk.Emitter) error {
	hf := *p.current.Load()
	if len(hf) > 0 {
		for i := range in.Events {
			p.add(&in.Events[i].Fields, hf)
		}
	}
	return out.Emit(ctx, in)
}

func cmpKey(fd sdk.Field, k string) int { return strings.Compare(fd.Key, k) }

// add writes hf into f: in one merge when f has no host.* field, else one
// by one (replace_fields) or not at all.
func (p *Processor) add(f *sdk.Fields, hf []sdk.Field) {
	list := f.All()
	i, _ := slices.BinarySearchFunc(list, "host.", cmpKey)
	if i < len(list) && strings.HasPrefix(list[i].Key, "host.") {
		if !p.opt.ReplaceFields {
			return
		}
		for _, fd := range hf {
			f.Set(fd.Key, fd.Value)
		}
		return
	}
	// No host.* field: the sorted host fields go in at i, in one step.
	f.SetSorted(hf)
}

// Gather finds the facts of the host this runs on; root is prepended to
// the files it reads.
func Gather(root string) Facts {
	var f Facts
	f.Hostname, _ = os.Hostname()
	f.OSType = runtime.GOOS
	f.Architecture = runtime.GOARCH
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(joinRoot(root, p)); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				f.ID = id
				break
			}
		}
	}
	if rel, err := os.ReadFile(joinRoot(root, "etc/os-release")); err == nil {
		osRelease(rel, &f)
	} else if rel, err := os.ReadFile(joinRoot(root, "usr/lib/os-release")); err == nil {
		osRelease(rel, &f)
	}
	uname(&f)
	f.IPs, f.MACs = addresses()
	return f
}

func joinRoot(root, p string) string {
	return strings.TrimSuffix(root, "/") + "/" + p
}

// osRelease reads the KEY=value lines of os-release(5).
func osRelease(b []byte, f *Facts) {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		kv[k] = v
	}
	f.OSName = kv["NAME"]
	f.OSPlatform = kv["ID"]
	f.OSVersion = kv["VERSION"]
	if f.OSVersion == "" {
		f.OSVersion = kv["VERSION_ID"]
	}
	f.OSFamily = kv["ID"]
	if like := strings.Fields(kv["ID_LIKE"]); len(like) > 0 {
		f.OSFamily = like[0]
	}
}

// addresses lists the addresses and hardware addresses of the interfaces
// that are up, leaving out loopback and link-local addresses.
func addresses() (ips, macs []string) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if mac := ifc.HardwareAddr.String(); mac != "" && !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			ips = append(ips, ip.String())
		}
	}
	return ips, macs
}
