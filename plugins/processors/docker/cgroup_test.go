package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	idA = "3f2c8d1e4b5a69788a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7"
	idB = "9d4e2c4f7b2e1a0f8c6d5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170a"
)

func TestContainerFromCgroupFile(t *testing.T) {
	tests := []struct {
		name, text, id, runtime string
	}{
		{"docker v1", "12:pids:/docker/" + idA + "\n11:memory:/docker/" + idA + "\n1:name=systemd:/docker/" + idA + "\n0::/system.slice/containerd.service\n", idA, "docker"},
		{"docker v2 systemd", "0::/system.slice/docker-" + idA + ".scope\n", idA, "docker"},
		{"docker v2 cgroupfs", "0::/docker/" + idA + "\n", idA, "docker"},
		{"docker v2 nested cgroup inside container", "0::/system.slice/docker-" + idA + ".scope/init\n", idA, "docker"},
		{"containerd v1", "4:cpu,cpuacct:/containerd/" + idA + "\n", idA, "containerd"},
		{"containerd v1 namespaced", "4:cpu,cpuacct:/k8s.io/containerd/" + idA + "\n", idA, "containerd"},
		{"cri-containerd v2", "0::/system.slice/cri-containerd-" + idA + ".scope\n", idA, "containerd"},
		{"cri-o v2", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f5e2a3b_4c5d_6e7f_8091_a2b3c4d5e6f7.slice/crio-" + idA + ".scope\n", idA, "cri-o"},
		{"cri-o v1", "9:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6071_8293_a4b5c6d7e8f9.slice/crio-" + idA + ".scope\n", idA, "cri-o"},
		{"podman v2 systemd", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idA + ".scope\n", idA, "podman"},
		{"podman v2 container payload", "0::/machine.slice/libpod-" + idA + ".scope/container\n", idA, "podman"},
		{"podman v1 cgroupfs", "10:memory:/libpod_parent/libpod-" + idA + "\n", idA, "podman"},
		{"podman v1 cgroupfs bare", "10:memory:/libpod_parent/" + idA + "\n", idA, "podman"},
		{"kubepods v1 cgroupfs", "11:cpuset:/kubepods/besteffort/pod5c1e8a9f-3d2b-4c6a-9e7f-0a1b2c3d4e5f/" + idA + "\n", idA, ""},
		{"kubepods v1 guaranteed", "5:memory:/kubepods/pod5c1e8a9f-3d2b-4c6a-9e7f-0a1b2c3d4e5f/" + idA + "\n", idA, ""},
		{"kubepods v2 docker", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5c1e8a9f_3d2b_4c6a_9e7f_0a1b2c3d4e5f.slice/docker-" + idA + ".scope\n", idA, "docker"},
		{"kubepods v2 containerd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5c1e8a9f_3d2b_4c6a_9e7f_0a1b2c3d4e5f.slice/cri-containerd-" + idA + ".scope\n", idA, "containerd"},
		{"first container line wins (v1 + v2 hybrid)", "12:pids:/docker/" + idA + "\n0::/docker/" + idB + "\n", idA, "docker"},
		{"host process v2", "0::/user.slice/user-1000.slice/session-3.scope\n", "", ""},
		{"host process v1", "12:pids:/user.slice/user-0.slice/session-1.scope\n1:name=systemd:/init.scope\n", "", ""},
		{"docker service itself", "0::/system.slice/docker.service\n", "", ""},
		{"short hex is not an id", "0::/docker/3f2c8d1e4b5a\n", "", ""},
		{"uppercase hex is not an id", "0::/docker/" + strings.ToUpper(idA) + "\n", "", ""},
		{"no trailing newline", "0::/docker/" + idA, idA, "docker"},
		{"empty", "", "", ""},
		{"garbage", "not a cgroup file\n:\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, rt := containerFromCgroupFile(tt.text)
			if id != tt.id || rt != tt.runtime {
				t.Errorf("got (%q, %q), want (%q, %q)", id, rt, tt.id, tt.runtime)
			}
		})
	}
}

func TestContainerFromCgroupPathBareID(t *testing.T) {
	if id, _ := containerFromCgroupPath(idA); id != idA {
		t.Errorf("bare id: got %q", id)
	}
	if id, _ := containerFromCgroupPath("/system.slice/docker-" + idB + ".scope"); id != idB {
		t.Errorf("path: got %q", id)
	}
}

// writeProc makes a fake <dir>/<pid>/{cgroup,stat}.
func writeProc(t testing.TB, dir, pid, cgroup string, start string) {
	t.Helper()
	d := filepath.Join(dir, pid)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup"), []byte(cgroup), 0o644); err != nil {
		t.Fatal(err)
	}
	// Field 2 holds spaces and a ')' on purpose.
	stat := pid + " (my (odd) cmd) S 1 " + pid + " " + pid + " 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 " + start + " 1000000 100 18446744073709551615\n"
	if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadStartTime(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, "42", "", "987654")
	got, ok := readStartTime(dir, 42)
	if !ok || got != 987654 {
		t.Fatalf("got %d, %v; want 987654", got, ok)
	}
	if _, ok := readStartTime(dir, 43); ok {
		t.Fatal("a missing process has no start time")
	}
}

func FuzzContainerFromCgroupFile(f *testing.F) {
	f.Add("0::/system.slice/docker-" + idA + ".scope\n")
	f.Add("12:pids:/docker/" + idA + "\n")
	f.Add("11:cpuset:/kubepods/besteffort/pod5c1e/" + idA + "\n")
	f.Add("::\n:\n")
	f.Fuzz(func(t *testing.T, text string) {
		id, _ := containerFromCgroupFile(text)
		if id != "" && (!isContainerID(id) || !strings.Contains(text, id)) {
			t.Fatalf("id %q is not a 64-hex id taken from the input", id)
		}
	})
}
