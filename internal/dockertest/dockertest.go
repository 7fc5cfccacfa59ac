// Package dockertest gives tests a real Docker Engine: it finds one (or
// skips, or fails when ENGINE_TEST_REQUIRE_DOCKER=1), runs the docker
// command, and builds FROM scratch images of small static Go programs, since
// there is no image registry to pull from.
package dockertest

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
)

// Engine returns the unix socket of a Docker Engine that answers. Without
// one it skips the test, or fails it when ENGINE_TEST_REQUIRE_DOCKER=1
// (scripts/test sets it after scripts/dockerenv up).
func Engine(t testing.TB) string {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err != nil {
			why = fmt.Sprintf("no Docker Engine answers on %s: %v: %s", socket, err, strings.TrimSpace(string(out)))
		}
	}
	if why == "" {
		return socket
	}
	if os.Getenv("ENGINE_TEST_REQUIRE_DOCKER") == "1" {
		t.Fatalf("ENGINE_TEST_REQUIRE_DOCKER=1 but %s", why)
	}
	t.Skipf("skipping the real Docker test: %s (run scripts/dockerenv up)", why)
	return ""
}

// Docker runs the docker command and returns its trimmed output; it fails
// the test when the command fails.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	// The classic builder: BuildKit would want to pull its frontend image.
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// ScratchImage builds the Go program src (a main package using only the
// standard library) as a static binary /name in a FROM scratch image that
// runs it, and returns the image's tag. The image is removed when the test
// ends.
func ScratchImage(t testing.TB, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(file, content string) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", src)
	write("go.mod", "module "+name+"\n\ngo 1.21\n")
	build := exec.Command("go", "build", "-trimpath", "-o", name, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the %s image's program: %v\n%s", name, err, out)
	}
	write("Dockerfile", fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", name, name, name))
	tag := "engine-test-" + name + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	Docker(t, "build", "-q", "-t", tag, dir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// Run starts a container with docker run -d, no network, and the given
// extra arguments before the image, and returns its 64-hex id. The
// container is removed when the test ends.
func Run(t testing.TB, name, image string, args ...string) string {
	t.Helper()
	full := append([]string{"run", "-d", "--name", name, "--network", "none"}, args...)
	full = append(full, image)
	id := Docker(t, full...)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	return id
}
