package docker

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/engine-audit/engine/internal/dockertest"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// TestRealDockerEngine runs a container from a FROM scratch image of a
// static binary and checks that an event carrying its process's pid gets
// its name, image and labels.
func TestRealDockerEngine(t *testing.T) {
	socket := dockertest.Engine(t)
	tag := dockertest.ScratchImage(t, "sleeper", "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(10 * time.Minute) }\n")
	name := "engine-docker-test-" + strconv.Itoa(os.Getpid())
	id := dockertest.Run(t, name, tag, "--label", "com.example.role=sleeper")
	pid, err := strconv.ParseInt(dockertest.Docker(t, "inspect", "-f", "{{.State.Pid}}", name), 10, 64)
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
