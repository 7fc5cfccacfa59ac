package resolveids

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

func event(kv ...any) sdk.Event {
	var ev sdk.Event
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			ev.Fields.Set(kv[i].(string), sdk.String(v))
		case int:
			ev.Fields.Set(kv[i].(string), sdk.Int(int64(v)))
		}
	}
	return ev
}

func newProc(t testing.TB, values map[string]any) *Processor {
	t.Helper()
	plug := sdk.Lookup(sdk.KindProcessor, "resolve_ids")
	if plug == nil {
		t.Fatal("resolve_ids is not registered")
	}
	if values == nil {
		values = map[string]any{}
	}
	if _, ok := values["passwd_file"]; !ok {
		values["passwd_file"] = "testdata/passwd"
	}
	if _, ok := values["group_file"]; !ok {
		values["group_file"] = "testdata/group"
	}
	cfg := sdktest.Config(plug, values)
	if err := plug.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	c, err := plug.New(cfg, sdktest.Env("processor.resolve_ids.t", nil))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Processor)
}

func run(t *testing.T, p *Processor, evs ...sdk.Event) []sdk.Event {
	t.Helper()
	b := sdk.NewBatch(len(evs))
	b.Events = append(b.Events, evs...)
	col := sdktest.NewCollector()
	if err := p.Process(context.Background(), b, col); err != nil {
		t.Fatal(err)
	}
	return col.Events()
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		in   sdk.Event
		want map[string]string // field -> value; "" means absent
	}{
		{"exec as a user", event(
			"user.id", "1000", "user.group.id", "1000", "user.saved.id", "1000", "user.saved.group.id", "1000",
			"user.filesystem.id", "1000", "user.filesystem.group.id", "1000", "file.uid", "0", "file.gid", "0",
			"process.pid", 42),
			map[string]string{"user.name": "alice", "user.group.name": "alice", "user.saved.name": "alice",
				"user.saved.group.name": "alice", "user.filesystem.name": "alice", "user.filesystem.group.name": "alice",
				"file.owner": "root", "file.group": "root"}},
		{"effective, audit and target ids", event(
			"user.id", "1001", "user.effective.id", "0", "user.effective.group.id", "10", "user.audit.id", "1000", "user.target.id", "1"),
			map[string]string{"user.name": "bob", "user.effective.name": "root", "user.effective.group.name": "wheel",
				"user.audit.name": "alice", "user.target.name": "daemon"}},
		{"first name of an id wins", event("user.id", "0"), map[string]string{"user.name": "root"}},
		{"top level group", event("group.id", "65534"), map[string]string{"group.name": "nogroup"}},
		{"names already set stay", event("user.id", "1000", "user.name", "someone", "file.uid", "1001", "file.owner", "x"),
			map[string]string{"user.name": "someone", "file.owner": "x"}},
		{"unknown ids stay numeric", event("user.id", "4242", "user.group.id", "4242", "file.gid", "777"),
			map[string]string{"user.name": "", "user.group.name": "", "file.group": "", "user.id": "4242"}},
		{"unset and malformed ids", event("user.audit.id", "4294967295", "user.id", "unset", "user.saved.id", "-1", "user.filesystem.id", "99999999999"),
			map[string]string{"user.audit.name": "", "user.name": "", "user.saved.name": "", "user.filesystem.name": ""}},
		{"integer ids", event("user.id", 1001, "group.id", 10), map[string]string{"user.name": "bob", "group.name": "wheel"}},
		{"ids elsewhere are not touched", event("source.user.id", "0", "auditd.data.uid", "0", "user.changes.id", "0"),
			map[string]string{"source.user.name": "", "user.name": "", "user.changes.name": ""}},
		{"no ids", event("event.action", "executed"), map[string]string{"user.name": ""}},
		{"keys that share a prefix with id and name keys", event(
			"user.id", "1000", "user.id.extra", "0", "user.idx", "0", "user.namex", "n", "user.name.x", "n",
			"file.uid", "0", "file.uidx", "0", "file.ownerx", "o", "file.owner.y", "o", "file.gid", "0", "file.gidx", "0",
			"group.idx", "0", "user.group.idx", "0"),
			map[string]string{"user.name": "alice", "file.owner": "root", "file.group": "root", "group.name": "",
				"user.group.name": "", "user.idx": "0", "user.namex": "n", "file.ownerx": "o"}},
		{"keys as long as ours with the same sixth byte", event(
			"user.axxxx.id", "0", "filexgid", "0", "fileguid", "0", "user.gxxxxxid", "0", "user.\xc3\xa9xx.id", "0", "u", "0", "zz.id", "0"),
			map[string]string{"user.axxxx.name": "", "user.name": "", "file.group": "", "file.owner": ""}},
		{"ids before and after every other key", event(
			"a", "0", "file.", "0", "file.gid", "10", "group.id", "0", "process.pid", 1, "user.target.id", "1", "user_agent.name", "x", "zzz", "0"),
			map[string]string{"file.group": "wheel", "group.name": "root", "user.target.name": "daemon"}},
	}
	p := newProc(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in.Clone()
			got := run(t, p, tc.in)[0]
			all := got.Fields.All()
			for i := 1; i < len(all); i++ {
				if all[i-1].Key >= all[i].Key {
					t.Fatalf("fields out of order: %q before %q", all[i-1].Key, all[i].Key)
				}
			}
			added := 0
			for k, want := range tc.want {
				if _, had := in.Fields.Get(k); want != "" && !had {
					added++
				}
			}
			if got.Fields.Len() != in.Fields.Len()+added {
				t.Errorf("%d fields, want %d: %v", got.Fields.Len(), in.Fields.Len()+added, all)
			}
			for _, fd := range in.Fields.All() {
				if v, _ := got.Fields.Get(fd.Key); !v.Equal(fd.Value) {
					t.Errorf("%s changed to %q", fd.Key, v.Text())
				}
			}
			for k, want := range tc.want {
				v, ok := got.Fields.Get(k)
				if want == "" {
					if ok {
						t.Errorf("%s = %q, want it absent", k, v.Text())
					}
					continue
				}
				if v.Str() != want {
					t.Errorf("%s = %q, want %q", k, v.Text(), want)
				}
			}
		})
	}
}

func TestMissingFilesLeaveIDsNumeric(t *testing.T) {
	dir := t.TempDir()
	p := newProc(t, map[string]any{"passwd_file": filepath.Join(dir, "nope"), "group_file": filepath.Join(dir, "nope2")})
	got := run(t, p, event("user.id", "0", "group.id", "0"))[0]
	if got.Fields.Has("user.name") || got.Fields.Has("group.name") {
		t.Fatalf("names set without files: %v", got.Fields.All())
	}
}

func TestRefreshWhenFileChanges(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(passwd, "root:x:0:0::/root:/bin/sh\n")
	write(group, "root:x:0:\n")
	now := time.Unix(1000, 0)
	plug := sdk.Lookup(sdk.KindProcessor, "resolve_ids")
	cfg := sdktest.Config(plug, map[string]any{"passwd_file": passwd, "group_file": group})
	p := New(Options{PasswdFile: passwd, GroupFile: group, RefreshInterval: cfg.Duration("refresh_interval"), Now: func() time.Time { return now }})

	name := func(kv ...any) string {
		t.Helper()
		got := run(t, p, event(kv...))[0]
		return got.Fields.GetString("user.name") + "/" + got.Fields.GetString("user.group.name")
	}
	if got := name("user.id", "2000", "user.group.id", "2000"); got != "/" {
		t.Fatalf("before: %q", got)
	}
	// A new user and group, in files of a different size.
	write(passwd, "root:x:0:0::/root:/bin/sh\nthrowaway:x:2000:2000::/home/t:/bin/sh\n")
	write(group, "root:x:0:\nthrowaway:x:2000:\n")
	now = now.Add(time.Second) // within refresh_interval: not checked yet
	if got := name("user.id", "2000", "user.group.id", "2000"); got != "/" {
		t.Fatalf("checked before refresh_interval: %q", got)
	}
	now = now.Add(5 * time.Second)
	if got := name("user.id", "2000", "user.group.id", "2000"); got != "throwaway/throwaway" {
		t.Fatalf("after the change: %q", got)
	}
	// Same size, new name, later mtime: renamed in place.
	write(passwd, "root:x:0:0::/root:/bin/sh\nthrowawaz:x:2000:2000::/home/t:/bin/sh\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(passwd, later, later); err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Second)
	if got := name("user.id", "2000"); got != "throwawaz/" {
		t.Fatalf("after the rename: %q", got)
	}
	// Deleted: the last names known are kept until it can be read again.
	if err := os.Remove(passwd); err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Second)
	if got := name("user.id", "2000"); got != "throwawaz/" {
		t.Fatalf("after delete: %q", got)
	}
	write(passwd, "other:x:2000:2000::/:/bin/sh\n")
	now = now.Add(5 * time.Second)
	if got := name("user.id", "2000"); got != "other/" {
		t.Fatalf("after it came back: %q", got)
	}
}

func TestValidate(t *testing.T) {
	plug := sdk.Lookup(sdk.KindProcessor, "resolve_ids")
	for _, bad := range []map[string]any{
		{"passwd_file": ""}, {"group_file": ""}, {"refresh_interval": time.Duration(0)},
	} {
		if err := sdktest.Validate(plug, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := sdktest.Validate(plug, nil); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

func TestParseID(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "1000": 1000, "4294967295": 4294967295, "4294967296": -1, "": -1, "-1": -1, "1a": -1, "12345678901": -1} {
		got, ok := parseID(s)
		if (want < 0) != !ok || (ok && int64(got) != want) {
			t.Errorf("parseID(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
}
