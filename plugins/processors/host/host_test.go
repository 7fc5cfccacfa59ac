package host

import (
	"context"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

func TestGatherFiles(t *testing.T) {
	tests := []struct {
		root                                string
		id, name, version, platform, family string
	}{
		{"testdata/debian", "0123456789abcdef0123456789abcdef", "Debian GNU/Linux", "13 (trixie)", "debian", "debian"},
		{"testdata/dbus", "fedcba9876543210fedcba9876543210", "Rocky Linux", "9.4", "rocky", "rhel"},
		{"testdata/empty", "", "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			f := Gather(tc.root)
			got := []string{f.ID, f.OSName, f.OSVersion, f.OSPlatform, f.OSFamily}
			want := []string{tc.id, tc.name, tc.version, tc.platform, tc.family}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if f.OSType != runtime.GOOS || f.Architecture == "" {
				t.Errorf("type %q architecture %q", f.OSType, f.Architecture)
			}
			if h, _ := os.Hostname(); f.Hostname != h {
				t.Errorf("hostname %q, want %q", f.Hostname, h)
			}
		})
	}
}

func TestGatherThisHost(t *testing.T) {
	f := Gather("/")
	if runtime.GOOS == "linux" {
		if f.Kernel == "" {
			t.Error("no kernel release")
		}
		if runtime.GOARCH == "amd64" && f.Architecture != "x86_64" {
			t.Errorf("architecture %q, want x86_64", f.Architecture)
		}
	}
	for _, ip := range f.IPs {
		if ip == "127.0.0.1" || ip == "::1" {
			t.Errorf("loopback address %s listed", ip)
		}
	}
}

var facts = Facts{Hostname: "box", ID: "abc", OSType: "linux", OSFamily: "debian", OSName: "Debian GNU/Linux",
	OSVersion: "13", OSPlatform: "debian", Kernel: "6.1.0", Architecture: "x86_64",
	IPs: []string{"10.0.0.5", "fd00::5"}, MACs: []string{"02:42:ac:11:00:02"}}

func newProc(t testing.TB, replace bool, gather func(string) Facts) *Processor {
	t.Helper()
	p := New(Options{ReplaceFields: replace, Gather: gather, RefreshInterval: time.Millisecond})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func ev(kv ...string) sdk.Event {
	var e sdk.Event
	for i := 0; i < len(kv); i += 2 {
		e.Fields.Set(kv[i], sdk.String(kv[i+1]))
	}
	return e
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name    string
		replace bool
		in      sdk.Event
		want    map[string]string
	}{
		{"adds everything", false, ev("event.module", "auditd", "process.pid", "1", "auditd.sequence", "7", "user.id", "0"),
			map[string]string{"host.name": "box", "host.hostname": "box", "host.id": "abc", "host.os.type": "linux",
				"host.os.family": "debian", "host.os.name": "Debian GNU/Linux", "host.os.version": "13",
				"host.os.platform": "debian", "host.os.kernel": "6.1.0", "host.architecture": "x86_64",
				"host.ip": "10.0.0.5,fd00::5", "host.mac": "02:42:ac:11:00:02", "process.pid": "1", "user.id": "0"}},
		{"empty event", false, ev(), map[string]string{"host.name": "box"}},
		{"keeps a remote node's host", false, ev("host.name", "node7", "user.id", "0"),
			map[string]string{"host.name": "node7", "host.id": "", "host.os.type": ""}},
		{"replace_fields overwrites", true, ev("host.name", "node7", "host.extra", "x"),
			map[string]string{"host.name": "box", "host.id": "abc", "host.extra": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProc(t, tc.replace, func(string) Facts { return facts })
			b := sdk.NewBatch(1)
			b.Events = append(b.Events, tc.in)
			col := sdktest.NewCollector()
			if err := p.Process(context.Background(), b, col); err != nil {
				t.Fatal(err)
			}
			got := col.Events()[0]
			keys := []string{}
			for _, fd := range got.Fields.All() {
				keys = append(keys, fd.Key)
			}
			if !slices.IsSorted(keys) {
				t.Errorf("fields out of order: %v", keys)
			}
			for k, want := range tc.want {
				v, ok := got.Fields.Get(k)
				text := v.Text()
				if v.Kind() == sdk.KindStrings {
					text = joinComma(v.StringList())
				}
				if want == "" && ok || want != "" && text != want {
					t.Errorf("%s = %q (set %v), want %q", k, text, ok, want)
				}
			}
		})
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func TestRefreshInBackground(t *testing.T) {
	var n atomic.Int64
	p := newProc(t, false, func(string) Facts {
		f := facts
		if n.Add(1) > 1 {
			f.Hostname = "renamed"
		}
		return f
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		fs := p.Fields()
		i := slices.IndexFunc(fs, func(f sdk.Field) bool { return f.Key == "host.name" })
		if i >= 0 && fs[i].Value.Str() == "renamed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("facts were not gathered again")
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := n.Load()
	time.Sleep(20 * time.Millisecond)
	if n.Load() != before {
		t.Error("still gathering after Close")
	}
}

func TestRegistered(t *testing.T) {
	plug := sdk.Lookup(sdk.KindProcessor, "host")
	if plug == nil {
		t.Fatal("host is not registered")
	}
	sdktest.CheckOptionError(t, sdktest.Validate(plug, map[string]any{"refresh_interval": time.Duration(0)}), "refresh_interval")
	if err := sdktest.Validate(plug, nil); err != nil {
		t.Fatal(err)
	}
	cfg := sdktest.Config(plug, nil)
	c, err := plug.New(cfg, sdktest.Env("processor.host.t", nil))
	if err != nil {
		t.Fatal(err)
	}
	p := c.(*Processor)
	defer p.Close(context.Background())
	if h, _ := os.Hostname(); h != "" && !slices.ContainsFunc(p.Fields(), func(f sdk.Field) bool { return f.Key == "host.name" && f.Value.Str() == h }) {
		t.Errorf("host.name is not %q: %v", h, p.Fields())
	}
}
