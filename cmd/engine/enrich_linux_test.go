package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/audittest"
	"github.com/engine-audit/engine/internal/dockertest"
)

// reexecSource is a program that executes itself again with the next
// number every 200ms, so that a container of it keeps making exec events
// of one living process; each time it also runs itself as a child that
// exits at once, whose process is gone by the time its event is enriched.
const reexecSource = `package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		return
	}
	n := 0
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	exec.Command("/reexec", "child").Run()
	time.Sleep(200 * time.Millisecond)
	if n < 3000 {
		syscall.Exec("/reexec", []string{"/reexec", strconv.Itoa(n + 1)}, nil)
	}
	for {
		time.Sleep(time.Hour)
	}
}
`

// TestDefaultPipelineSaysWhoAndWhere runs the shipped default pipeline
// (audit -> coalesce -> resolve_ids -> docker -> host -> file) while a
// container of a FROM scratch image executes itself over and over and a
// user created for the test runs a command. The container's exec events
// must name the container, its image and its 64-hex id; the user's event
// must carry the user's name; every event must carry host.name.
func TestDefaultPipelineSaysWhoAndWhere(t *testing.T) {
	audittest.Lock(t)
	dockertest.Engine(t)
	bin := engineBinary(t)
	dir := t.TempDir()

	user := fmt.Sprintf("engt%d", os.Getpid())
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", user).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", user, err, out)
		}
	})
	uid, gid := idOf(t, "-u", user), idOf(t, "-g", user)

	tag := dockertest.ScratchImage(t, "reexec", reexecSource)
	name := "engine-e2e-" + strconv.Itoa(os.Getpid())
	id := dockertest.Run(t, name, tag, "--label", "com.example.test=e2e")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("docker run printed %q, not a container id", id)
	}

	out := filepath.Join(dir, "events.ndjson")
	cmd := startEngine(t, bin, filepath.Join(dir, "engine.log"), "--state-dir", filepath.Join(dir, "state"),
		"--var", "output="+out, "../../pipelines/default.hcl")

	marker := fmt.Sprintf("engine-e2e-user-%d", time.Now().UnixNano())
	isUsers := func(doc map[string]any) bool {
		args, _ := field(doc, "process.args").([]any)
		return field(doc, "event.action") == "executed" && len(args) == 2 && args[1] == marker
	}
	isContainers := func(doc map[string]any) bool {
		args, _ := field(doc, "process.args").([]any)
		return field(doc, "event.action") == "executed" && len(args) == 2 && args[0] == "/reexec"
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// The throwaway user runs a command (again, until it is seen).
		echo := exec.Command("/bin/echo", marker)
		echo.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
		if b, err := echo.CombinedOutput(); err != nil {
			t.Fatalf("running a command as %s: %v\n%s", user, err, b)
		}
		time.Sleep(500 * time.Millisecond)
		// Wait for everything the checks below count on: the container
		// re-executes itself every 200ms, but under load the first enriched
		// event can come well before the third, or before a child's.
		var seenUsers, seenContainers, seenChildren int
		for _, d := range readDocs(out) {
			switch {
			case isUsers(d):
				seenUsers++
			case isContainers(d) && field(d, "container.name") != nil:
				seenContainers++
				if args, _ := field(d, "process.args").([]any); args[1] == "child" {
					seenChildren++
				}
			}
		}
		if seenUsers > 0 && seenContainers >= 3 && seenChildren > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 2m, %d exec events of the user's command, %d enriched ones of the container, %d of them of its children in %s; want at least 1, 3 and 1",
				seenUsers, seenContainers, seenChildren, out)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, 30*time.Second)

	docs := readDocs(out)
	host, _ := os.Hostname()
	var users, containers, children, early int
	for _, d := range docs {
		if got := field(d, "host.name"); got != host {
			t.Fatalf("host.name = %v, want %q, in %v", got, host, d)
		}
		switch {
		case isUsers(d):
			users++
			// Each of the user's ids (real, saved, filesystem; effective ones
			// when they differ) has the name beside it.
			named := 0
			var walk func(prefix string, m map[string]any)
			walk = func(prefix string, m map[string]any) {
				if v, ok := m["id"]; ok && (v == strconv.Itoa(int(uid)) || v == strconv.Itoa(int(gid))) {
					if m["name"] != user {
						t.Errorf("%sname = %v beside %sid %v on the user's exec event, want %q", prefix, m["name"], prefix, v, user)
					}
					named++
				}
				for k, sub := range m {
					if sm, ok := sub.(map[string]any); ok {
						walk(prefix+k+".", sm)
					}
				}
			}
			u, _ := d["user"].(map[string]any)
			walk("user.", u)
			if field(d, "user.name") != user || field(d, "user.group.name") != user || named < 4 {
				t.Errorf("the user's exec event names %d ids; want user.name and user.group.name %q among them: %v", named, user, u)
			}
			if got := field(d, "user.id"); got != strconv.Itoa(int(uid)) {
				t.Errorf("user.id = %v, want %d", got, uid)
			}
		case isContainers(d):
			if field(d, "container.id") != id {
				t.Errorf("container.id = %v on the container's exec event, want %s; event: %v", field(d, "container.id"), id, d)
				continue
			}
			if field(d, "container.name") == nil && containers == 0 {
				// Before the processor's first connection to Docker an event
				// has the id from the cgroup only: never after.
				early++
				continue
			}
			containers++
			if args, _ := field(d, "process.args").([]any); args[1] == "child" {
				children++
			}
			want := map[string]any{"container.name": name, "container.image.name": tag,
				"container.runtime": "docker", "container.labels.com_example_test": "e2e"}
			for k, v := range want {
				if got := field(d, k); got != v {
					t.Errorf("%s = %v on the container's exec event, want %v; container: %v", k, got, v, d["container"])
				}
			}
		default:
			if c := field(d, "container.id"); c == id && field(d, "event.action") == "executed" {
				t.Errorf("an exec event with the container's id but not its program: %v", d)
			}
		}
	}
	if users == 0 || containers < 3 || children == 0 {
		t.Fatalf("%d exec events of the user's command, %d enriched ones of the container, %d of them of its short-lived children; want at least 1, 3 and 1",
			users, containers, children)
	}
	t.Logf("%d events, all with host.name %q; %d of the user's commands named %s; %d container exec events (%d of exited children) named %s (%s), %d before Docker was reached",
		len(docs), host, users, user, containers, children, name, tag, early)
}

// idOf runs id(1) with flag ("-u" or "-g") for user.
func idOf(t *testing.T, flag, user string) uint32 {
	t.Helper()
	b, err := exec.Command("id", flag, user).Output()
	if err != nil {
		t.Fatalf("id %s %s: %v", flag, user, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

// field returns the value at a dotted path of a nested JSON document, or
// nil.
func field(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
