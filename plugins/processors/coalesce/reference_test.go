//go:build linux

package coalesce

import (
	"strconv"
	"strings"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"
)

// The reference pipeline: go-libaudit's parser, reassembler and coalescer,
// followed by the document mapping Auditbeat's auditd module applies. It is
// what the differential test and BenchmarkGoLibaudit measure against.

// refCollector receives reassembled events.
type refCollector struct {
	events [][]*auparse.AuditMessage
}

func (c *refCollector) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	c.events = append(c.events, msgs)
}
func (c *refCollector) EventsLost(int) {}

// refLine prepares a line for auparse.ParseLogLine, which reads neither a
// node= prefix nor an ENRICHED part (Auditbeat reads netlink, which has
// neither).
func refLine(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "node=") {
		if sp := strings.IndexByte(line, ' '); sp >= 0 {
			line = strings.TrimLeft(line[sp:], " ")
		}
	}
	if i := strings.IndexByte(line, 0x1d); i >= 0 {
		line = line[:i]
	}
	return line
}

// refRun pushes lines through go-libaudit and returns the reassembled
// record groups, in the order the reassembler completes them.
func refRun(lines []string, maxInFlight int, timeout time.Duration) [][]*auparse.AuditMessage {
	c := &refCollector{}
	r, err := libaudit.NewReassembler(maxInFlight, timeout, c)
	if err != nil {
		panic(err)
	}
	for _, l := range lines {
		msg, err := auparse.ParseLogLine(refLine(l))
		if err != nil {
			continue
		}
		r.PushMessage(msg)
	}
	_ = r.Close()
	return c.events
}

// refDoc coalesces one record group and maps it to a flat document keyed by
// dotted field names, with the values Auditbeat writes: strings, []string,
// int64 and []map[string]string.
func refDoc(msgs []*auparse.AuditMessage) map[string]any {
	d := map[string]any{}
	put := func(k string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
		}
		d[k] = v
	}
	ev, err := aucoalesce.CoalesceMessages(msgs)
	if err != nil {
		put("error.message", err.Error())
		if len(msgs) > 0 {
			put("auditd.sequence", int64(msgs[0].Sequence))
		}
		return d
	}
	d["@timestamp"] = ev.Timestamp

	outcome := ev.Result
	if outcome == "fail" {
		outcome = "failure"
	}
	if ev.ECS.Event.Outcome != "" {
		outcome = ev.ECS.Event.Outcome
	}
	put("event.outcome", outcome)
	put("event.action", ev.Summary.Action)
	if len(ev.ECS.Event.Category) > 0 {
		put("event.category", ev.ECS.Event.Category)
	} else {
		// Auditbeat writes this fallback as a string; we compare it as the
		// list of one that the processor writes (see README).
		put("event.category", []string{ev.Category.String()})
	}
	put("event.type", ev.ECS.Event.Type)
	put("auditd.message_type", strings.ToLower(ev.Type.String()))
	put("auditd.sequence", int64(ev.Sequence))
	put("auditd.result", ev.Result)
	if ev.Session != "unset" {
		put("auditd.session", ev.Session)
	}
	for k, v := range ev.Data {
		if rest, ok := strings.CutPrefix(k, "socket_"); ok {
			k = "socket." + rest
		}
		put("auditd.data."+k, v)
	}

	// Subject ids, skipping unset ones; SELinux labels come with them.
	idKeys := map[string]string{
		"uid": "user.id", "gid": "user.group.id", "euid": "user.effective.id",
		"egid": "user.effective.group.id", "suid": "user.saved.id", "sgid": "user.saved.group.id",
		"fsuid": "user.filesystem.id", "fsgid": "user.filesystem.group.id", "auid": "user.audit.id",
	}
	for k, v := range ev.User.IDs {
		if v == "unset" {
			continue
		}
		key, ok := idKeys[k]
		if !ok {
			key = "user." + k + ".id"
		}
		put(key, v)
		for l, lv := range ev.User.SELinux {
			put("user.selinux."+l, lv)
		}
	}

	s := ev.Summary
	put("auditd.summary.actor.primary", s.Actor.Primary)
	put("auditd.summary.actor.secondary", s.Actor.Secondary)
	put("auditd.summary.object.primary", s.Object.Primary)
	put("auditd.summary.object.secondary", s.Object.Secondary)
	put("auditd.summary.object.type", s.Object.Type)
	put("auditd.summary.how", s.How)
	if len(ev.Paths) > 0 {
		d["auditd.paths"] = ev.Paths
	}

	p := ev.Process
	if n, err := strconv.Atoi(p.PID); err == nil {
		put("process.pid", int64(n))
	}
	if n, err := strconv.Atoi(p.PPID); err == nil {
		put("process.parent.pid", int64(n))
	}
	put("process.title", p.Title)
	put("process.name", p.Name)
	put("process.executable", p.Exe)
	put("process.working_directory", p.CWD)
	put("process.args", p.Args)

	if f := ev.File; f != nil {
		put("file.path", f.Path)
		put("file.device", f.Device)
		put("file.inode", f.Inode)
		put("file.mode", f.Mode)
		put("file.uid", f.UID)
		put("file.gid", f.GID)
		put("file.owner", f.Owner)
		put("file.group", f.Group)
		for l, v := range f.SELinux {
			put("file.selinux."+l, v)
		}
	}
	addr := func(prefix string, a *aucoalesce.Address) {
		if a == nil {
			return
		}
		put(prefix+".domain", a.Hostname)
		put(prefix+".ip", a.IP)
		put(prefix+".port", a.Port)
		put(prefix+".path", a.Path)
	}
	addr("source", ev.Source)
	addr("destination", ev.Dest)
	if ev.Net != nil {
		put("network.direction", ev.Net.Direction.String())
	}
	put("tags", ev.Tags)

	// ECS user and group entities overwrite (or remove) what the ids gave.
	entity := func(prefix string, e aucoalesce.ECSEntityData) {
		if e.ID == "" && e.Name == "" {
			return
		}
		if e.ID == "unset" {
			e.ID = ""
		}
		delete(d, prefix+".id")
		delete(d, prefix+".name")
		put(prefix+".id", e.ID)
		put(prefix+".name", e.Name)
	}
	entity("user", ev.ECS.User.ECSEntityData)
	entity("user.effective", ev.ECS.User.Effective)
	entity("user.target", ev.ECS.User.Target)
	entity("user.changes", ev.ECS.User.Changes)
	entity("group", ev.ECS.Group)

	// user.effective goes when it says the same as user.
	for _, suffix := range []string{".id", ".name"} {
		v, _ := d["user"+suffix].(string)
		if w, _ := d["user.effective"+suffix].(string); v != "" && v == w {
			for k := range d {
				if strings.HasPrefix(k, "user.effective.") {
					delete(d, k)
				}
			}
			break
		}
	}
	return d
}
