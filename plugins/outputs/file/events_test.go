package file

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// auditEvent builds an execve event shaped like the coalesced audit events
// the pipeline writes: about 40 fields, about 1 KB of JSON. i varies the
// values that change from event to event.
func auditEvent(i int) sdk.Event {
	base := time.Date(2026, 11, 23, 13, 36, 5, 281_000_000, time.UTC)
	seq := int64(25 + i)
	pid := int64(5383 + i%977)
	exe := [...]string{"/usr/bin/mkdir", "/usr/bin/cat", "/usr/bin/bash", "/usr/bin/curl"}[i%4]
	name := exe[strings.LastIndexByte(exe, '/')+1:]
	path := func(item int, name string, inode int64) sdk.Fields {
		f := sdk.MakeFields(8)
		f.Append("dev", sdk.String("fe:00"))
		f.Append("inode", sdk.String(strconv.FormatInt(inode, 10)))
		f.Append("item", sdk.String(strconv.Itoa(item)))
		f.Append("mode", sdk.String("0100755"))
		f.Append("name", sdk.String(name))
		f.Append("nametype", sdk.String("NORMAL"))
		f.Append("ogid", sdk.String("0"))
		f.Append("ouid", sdk.String("0"))
		return f
	}
	e := sdk.Event{
		Time:   base.Add(time.Duration(i) * time.Millisecond),
		ID:     fmt.Sprintf("kernel-%d", seq),
		Fields: sdk.MakeFields(48),
	}
	f := &e.Fields
	f.Set("auditd.data.a0", sdk.String("55c359643d30"))
	f.Set("auditd.data.a1", sdk.String("55c359641410"))
	f.Set("auditd.data.arch", sdk.String("x86_64"))
	f.Set("auditd.data.exit", sdk.String("0"))
	f.Set("auditd.data.syscall", sdk.String("execve"))
	f.Set("auditd.data.tty", sdk.String("(none)"))
	f.Set("auditd.message_type", sdk.String("syscall"))
	f.Set("auditd.paths", sdk.Objects([]sdk.Fields{path(0, exe, 247538), path(1, "/lib64/ld-linux-x86-64.so.2", 325835)}))
	f.Set("auditd.result", sdk.String("success"))
	f.Set("auditd.sequence", sdk.Int(seq))
	f.Set("auditd.session", sdk.String("unset"))
	f.Set("auditd.summary.actor.primary", sdk.String("unset"))
	f.Set("auditd.summary.actor.secondary", sdk.String("root"))
	f.Set("auditd.summary.how", sdk.String(exe))
	f.Set("auditd.summary.object.primary", sdk.String(exe))
	f.Set("auditd.summary.object.type", sdk.String("file"))
	f.Set("event.action", sdk.String("executed"))
	f.Set("event.category", sdk.Strings([]string{"process"}))
	f.Set("event.kind", sdk.String("event"))
	f.Set("event.module", sdk.String("auditd"))
	f.Set("event.outcome", sdk.String("success"))
	f.Set("event.type", sdk.Strings([]string{"start"}))
	f.Set("file.device", sdk.String("00:00"))
	f.Set("file.inode", sdk.String("247538"))
	f.Set("file.mode", sdk.String("0755"))
	f.Set("file.path", sdk.String(exe))
	f.Set("host.name", sdk.String("build-07.example.internal"))
	f.Set("process.args", sdk.Strings([]string{name, "-p", "/tmp/wl/" + strconv.Itoa(i)}))
	f.Set("process.args_count", sdk.Int(3))
	f.Set("process.executable", sdk.String(exe))
	f.Set("process.name", sdk.String(name))
	f.Set("process.parent.pid", sdk.Int(5372))
	f.Set("process.pid", sdk.Int(pid))
	f.Set("process.title", sdk.String(name+" -p /tmp/wl"))
	f.Set("process.working_directory", sdk.String("/tmp/probe"))
	f.Set("service.type", sdk.String("auditd"))
	f.Set("tags", sdk.Strings([]string{"exec"}))
	f.Set("user.effective.group.id", sdk.String("0"))
	f.Set("user.effective.id", sdk.String("0"))
	f.Set("user.group.id", sdk.String("0"))
	f.Set("user.group.name", sdk.String("root"))
	f.Set("user.id", sdk.String("0"))
	f.Set("user.name", sdk.String("root"))
	return e
}

// batchOf returns a batch of n audit events numbered from first.
func batchOf(first, n int) *sdk.Batch {
	b := sdk.NewBatch(n)
	for i := range n {
		b.Events = append(b.Events, auditEvent(first+i))
	}
	return b
}

// lines returns the NDJSON lines the events encode to, newline included.
func lines(events []sdk.Event) []string {
	out := make([]string, len(events))
	for i := range events {
		out[i] = string(events[i].AppendJSON(nil)) + "\n"
	}
	return out
}
