package docker

import (
	"os"
	"strconv"
	"strings"
)

// Container runtimes as a cgroup path names them.
const (
	runtimeDocker     = "docker"
	runtimeContainerd = "containerd"
	runtimeCRIO       = "cri-o"
	runtimePodman     = "podman"
)

// scopePrefixes are the unit-name prefixes systemd-managed runtimes put
// before a container id ("docker-<id>.scope").
var scopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", runtimeDocker},
	{"cri-containerd-", runtimeContainerd},
	{"crio-", runtimeCRIO},
	{"libpod-", runtimePodman},
}

// containerFromCgroupFile finds the container id in the text of a
// /proc/<pid>/cgroup file: lines "hierarchy-id:controllers:path", one for
// cgroup v2 ("0::/path") and one per controller for v1. The first line
// that names a container wins; the runtime is "" when the layout does not
// tell (a bare id under kubepods).
func containerFromCgroupFile(text string) (id, runtime string) {
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		// The path is after the second colon; controllers never hold one.
		i := strings.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := strings.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		if id, runtime = containerFromCgroupPath(line[i+1+j+1:]); id != "" {
			return id, runtime
		}
	}
	return "", ""
}

// containerFromCgroupPath finds the container id in one cgroup path, or in
// a bare 64-hex id. It looks at the components from the last one up, so
// that a nested cgroup inside a container does not hide it.
func containerFromCgroupPath(path string) (id, runtime string) {
	path = strings.TrimSpace(path)
	for path != "" {
		comp := path
		if i := strings.LastIndexByte(path, '/'); i >= 0 {
			comp, path = path[i+1:], path[:i]
		} else {
			path = ""
		}
		if id, runtime = containerFromComponent(comp, path); id != "" {
			return id, runtime
		}
	}
	return "", ""
}

// containerFromComponent recognises one path component: "<id>",
// "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
// "libpod-<id>.scope" or "libpod-<id>". parent is the path above it, which
// names the runtime of a bare id (/docker/<id>, /containerd/<id>).
func containerFromComponent(comp, parent string) (id, runtime string) {
	comp = strings.TrimSuffix(comp, ".scope")
	if isContainerID(comp) {
		last := parent
		if i := strings.LastIndexByte(parent, '/'); i >= 0 {
			last = parent[i+1:]
		}
		switch {
		case last == "docker":
			return comp, runtimeDocker
		case last == "containerd" || strings.Contains(parent, "/containerd"):
			return comp, runtimeContainerd
		case last == "libpod_parent":
			return comp, runtimePodman
		}
		return comp, ""
	}
	for _, p := range scopePrefixes {
		if s, ok := strings.CutPrefix(comp, p.prefix); ok && isContainerID(s) {
			return s, p.runtime
		}
	}
	return "", ""
}

// isContainerID reports whether s is 64 lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// readCgroup returns the container id of a process from procDir/<pid>/cgroup.
func readCgroup(procDir string, pid int64) (id, runtime string, ok bool) {
	b, err := os.ReadFile(procDir + "/" + strconv.FormatInt(pid, 10) + "/cgroup")
	if err != nil {
		return "", "", false
	}
	id, runtime = containerFromCgroupFile(string(b))
	return id, runtime, true
}

// readStartTime returns field 22 of procDir/<pid>/stat, the process's start
// time in clock ticks since boot, which tells a reused pid from the process
// that held it before. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func readStartTime(procDir string, pid int64) (uint64, bool) {
	b, err := os.ReadFile(procDir + "/" + strconv.FormatInt(pid, 10) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	// After ')' come field 3 (state) onwards; field 22 is the 20th of them.
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	return v, err == nil
}
