//go:build unix

package testservers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeTB records what a helper does to its test instead of ending it.
type fakeTB struct {
	testing.TB // nil: calling anything not overridden panics
	name       string
	skipped    string
	fatal      string
	cleanups   []func()
}

func (f *fakeTB) Name() string                  { return f.name }
func (f *fakeTB) Helper()                       {}
func (f *fakeTB) Cleanup(fn func())             { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Logf(string, ...any)           {}
func (f *fakeTB) Skipf(format string, a ...any) { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
}

func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestUnreachableServerSkipsOrFails(t *testing.T) {
	addr := ClosedAddr(t)
	servers := []struct {
		name string
		call func(tb testing.TB, l *lockState) bool // reports whether it returned an address
	}{
		{"es", func(tb testing.TB, l *lockState) bool { return es(tb, l) != "" }},
		{"kafka", func(tb testing.TB, l *lockState) bool { return kafka(tb, l) != nil }},
	}
	for _, srv := range servers {
		for _, require := range []string{"", "0", "1"} {
			t.Run(srv.name+"/require="+require, func(t *testing.T) {
				t.Setenv(EnvESURL, "http://"+addr)
				t.Setenv(EnvKafkaBrokers, addr)
				t.Setenv(EnvRequireServers, require)
				l, path := newTestLock(t)
				tb := &fakeTB{name: t.Name()}
				if srv.call(tb, l) {
					t.Fatal("returned an address for a server that does not answer")
				}
				if require == "1" {
					if tb.fatal == "" || tb.skipped != "" {
						t.Errorf("with %s=1: fatal=%q skipped=%q, want a failure", EnvRequireServers, tb.fatal, tb.skipped)
					}
				} else if tb.skipped == "" || tb.fatal != "" {
					t.Errorf("with %s=%q: fatal=%q skipped=%q, want a skip", EnvRequireServers, require, tb.fatal, tb.skipped)
				}
				if msg := tb.fatal + tb.skipped; !strings.Contains(msg, "scripts/testenv up") {
					t.Errorf("message %q does not say how to start the servers", msg)
				}
				tb.end()
				if _, ex := probe(t, path); !ex {
					t.Error("the shared lock is still held after the test ended")
				}
			})
		}
	}
}

func TestESChecksClusterHealth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"green", 200, `{"cluster_name":"x","status":"green"}`, true},
		{"yellow", 200, `{"status":"yellow"}`, true},
		{"red", 200, `{"status":"red"}`, false},
		{"timed out waiting", 408, `{"status":"red","timed_out":true}`, false},
		{"not elasticsearch", 200, `<html>hello</html>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			t.Setenv(EnvESURL, srv.URL+"/")
			t.Setenv(EnvRequireServers, "1")
			l, _ := newTestLock(t)
			tb := &fakeTB{name: t.Name()}
			defer tb.end()
			url := es(tb, l)
			if gotPath != "/_cluster/health" {
				t.Errorf("asked %q, want /_cluster/health", gotPath)
			}
			if tc.ok {
				if url != srv.URL || tb.fatal != "" {
					t.Errorf("url=%q fatal=%q, want %q and no failure", url, tb.fatal, srv.URL)
				}
			} else if url != "" || tb.fatal == "" {
				t.Errorf("url=%q fatal=%q, want a failure", url, tb.fatal)
			}
		})
	}
}

func TestSplitBrokers(t *testing.T) {
	for in, want := range map[string][]string{
		"127.0.0.1:9092":              {"127.0.0.1:9092"},
		" a:1, b:2 ,,c:3,":            {"a:1", "b:2", "c:3"},
		"":                            nil,
		"[::1]:9092,127.0.0.1:19092 ": {"[::1]:9092", "127.0.0.1:19092"},
	} {
		if got := splitBrokers(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitBrokers(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Dir(filepath.Dir(wd)); root != want {
		t.Errorf("repoRoot() = %q, want %q", root, want)
	}
}

func TestUnknownServerIsRefused(t *testing.T) {
	err := runTestenv(t, "stop", "mysql")
	if err == nil || !strings.Contains(err.Error(), "es or kafka") {
		t.Errorf("runTestenv(stop, mysql) = %v, want an error naming the servers", err)
	}
}
