package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// realEngine returns the socket of a Docker Engine that answers, or skips
// the test (fails it when ENGINE_TEST_REQUIRE_DOCKER=1).
func realEngine(t *testing.T) string {
	t.Helper()
	socket := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		socket = strings.TrimPrefix(h, "unix://")
	}
	why := ""
	if runtime.GOOS != "linux" {
		why = "container ids come from /proc, which only Linux has"
	} else if _, err := exec.LookPath("docker"); err != nil {
		why = "no docker command in PATH"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := newEngineClient(socket).ping(ctx); err != nil {
			why = fmt.Sprintf("no Docker Engine answers on %s: %v", socket, err)
		}
	}
	if why == "" {
		return socket
	}
	if os.Getenv("ENGINE_TEST_REQUIRE_DOCKER") == "1" {
		t.Fatalf("ENGINE_TEST_REQUIRE_DOCKER=1 but %s", why)
	}
	t.Skipf("skipping the real Docker test: %s (install docker.io and start dockerd --iptables=false --bridge=none)", why)
	return ""
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRealDockerEngine runs a container from a FROM scratch image of a
// static binary and checks that an event carrying its process's pid gets
// its name, image and labels.
func TestRealDockerEngine(t *testing.T) {
	socket := realEngine(t)
	dir := t.TempDir()
	src := "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(10 * time.Minute) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", "bin", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY bin /bin\nENTRYPOINT [\"/bin\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "engine-docker-test:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	name := "engine-docker-test-" + strconv.Itoa(os.Getpid())
	docker(t, "build", "-q", "-t", tag, dir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	id := docker(t, "run", "-d", "--name", name, "--network", "none", "--label", "com.example.role=sleeper", tag)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	pid, err := strconv.ParseInt(docker(t, "inspect", "-f", "{{.State.Pid}}", name), 10, 64)
	if err != nil || pid <= 0 {
		t.Fatalf("container pid: %v", err)
	}

	env := sdktest.Env("processor.docker.real", nil)
	p := New(Options{Socket: socket, Grace: time.Minute}, env)
	defer p.Close(context.Background())
	want := map[string]string{
		"container.id":                      id,
		"container.name":                    name,
		"container.image.name":              tag,
		"container.runtime":                 "docker",
		"container.labels.com_example_role": "sleeper",
	}
	var got map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for {
		b := sdk.NewBatch(1)
		ev := sdk.Event{Fields: sdk.MakeFields(2)}
		ev.Fields.Set("process.pid", sdk.Int(pid))
		b.Events = append(b.Events, ev)
		c := sdktest.NewCollector()
		if err := p.Process(context.Background(), b, c); err != nil {
			t.Fatal(err)
		}
		got = containerFields(&c.Events()[0])
		if equalMaps(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !equalMaps(got, want) {
		t.Fatalf("event of the container's process:\n got %v\nwant %v", got, want)
	}
}
