package sdk

import (
	"encoding/json"
	"testing"
	"time"
)

// auditFields lists the fields of a coalesced execve audit event, in the
// order a producer naturally writes them (record by record, not sorted).
// 44 fields plus two auditd.paths objects; about 1.2 KB of JSON.
func auditFields() []Field {
	path := func(name, inode, item string) Fields {
		var f Fields
		f.Append("dev", String("fe:00"))
		f.Append("inode", String(inode))
		f.Append("item", String(item))
		f.Append("mode", String("0100755"))
		f.Append("name", String(name))
		f.Append("nametype", String("NORMAL"))
		f.Append("ogid", String("0"))
		f.Append("ouid", String("0"))
		return f
	}
	return []Field{
		{"event.kind", String("event")},
		{"event.module", String("auditd")},
		{"event.action", String("executed")},
		{"event.category", Strings([]string{"process"})},
		{"event.type", Strings([]string{"start"})},
		{"event.outcome", String("success")},
		{"auditd.message_type", String("syscall")},
		{"auditd.sequence", Int(31)},
		{"auditd.result", String("success")},
		{"auditd.session", String("unset")},
		{"auditd.data.arch", String("x86_64")},
		{"auditd.data.syscall", String("execve")},
		{"auditd.data.exit", String("0")},
		{"auditd.data.a0", String("55c359643d30")},
		{"auditd.data.a1", String("55c359641410")},
		{"auditd.data.tty", String("(none)")},
		{"process.pid", Int(5384)},
		{"process.parent.pid", Int(5383)},
		{"user.id", String("0")},
		{"user.group.id", String("0")},
		{"user.effective.id", String("0")},
		{"user.effective.group.id", String("0")},
		{"user.name", String("root")},
		{"user.group.name", String("root")},
		{"process.name", String("mkdir")},
		{"process.executable", String("/usr/bin/mkdir")},
		{"tags", Strings([]string{"exec"})},
		{"process.args", Strings([]string{"mkdir", "-p", "/tmp/wl"})},
		{"process.args_count", Int(3)},
		{"process.working_directory", String("/tmp/probe")},
		{"file.path", String("/usr/bin/mkdir")},
		{"file.inode", String("247538")},
		{"file.device", String("00:00")},
		{"file.mode", String("0755")},
		{"auditd.paths", Objects([]Fields{path("/usr/bin/mkdir", "247538", "0"), path("/lib64/ld-linux-x86-64.so.2", "325835", "1")})},
		{"process.title", String("mkdir -p /tmp/wl")},
		{"auditd.summary.actor.primary", String("unset")},
		{"auditd.summary.actor.secondary", String("root")},
		{"auditd.summary.how", String("/usr/bin/mkdir")},
		{"auditd.summary.object.type", String("file")},
		{"auditd.summary.object.primary", String("/usr/bin/mkdir")},
		{"service.type", String("auditd")},
		{"host.name", String("build-07.example.internal")},
		{"event.sequence", Int(31)},
	}
}

func auditEvent() Event {
	e := Event{Time: time.Date(2026, 11, 23, 13, 36, 5, 285_000_000, time.UTC), ID: "kernel-31"}
	for _, fd := range auditFields() {
		e.Fields.Append(fd.Key, fd.Value)
	}
	return e
}

func TestAuditEventIsRealistic(t *testing.T) {
	e := auditEvent()
	out := e.AppendJSON(nil)
	if !json.Valid(out) || e.Fields.Len() < 40 || len(out) < 1000 {
		t.Errorf("benchmark event: %d fields, %d bytes, valid %v", e.Fields.Len(), len(out), json.Valid(out))
	}
}

// BenchmarkAppendJSON encodes a realistic audit event into a reused buffer.
//
//	go test ./sdk -run '^$' -bench 'AppendJSON|Fields' -benchmem
func BenchmarkAppendJSON(b *testing.B) {
	e := auditEvent()
	e.Fields.All() // normalized, as events are once a processor has read them
	buf := e.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
}

// BenchmarkAppendJSONStdlib is the reference point: encoding/json marshalling
// the same document from nested maps, as a reflection-based encoder would.
func BenchmarkAppendJSONStdlib(b *testing.B) {
	e := auditEvent()
	var doc map[string]any
	if err := json.Unmarshal(e.AppendJSON(nil), &doc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFieldsBuild builds the event's fields the ways a producer can:
// Append in its natural order and normalize on first read, Append in sorted
// order (no sort needed), or Set field by field (sorted insert).
func BenchmarkFieldsBuild(b *testing.B) {
	natural := auditFields()
	ev := auditEvent()
	sorted := ev.Fields.All()
	run := func(name string, build func(f *Fields)) {
		b.Run(name, func(b *testing.B) {
			f := MakeFields(len(natural))
			b.ReportAllocs()
			for b.Loop() {
				f.Reset()
				build(&f)
				f.All()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(natural)), "ns/field")
		})
	}
	run("append+normalize", func(f *Fields) {
		for _, fd := range natural {
			f.Append(fd.Key, fd.Value)
		}
	})
	run("append-sorted", func(f *Fields) {
		for _, fd := range sorted {
			f.Append(fd.Key, fd.Value)
		}
	})
	run("set", func(f *Fields) {
		for _, fd := range natural {
			f.Set(fd.Key, fd.Value)
		}
	})
}

// BenchmarkFieldsGet looks up keys of a realistic audit event, present and
// absent, as processors do for every event.
func BenchmarkFieldsGet(b *testing.B) {
	e := auditEvent()
	e.Fields.All()
	keys := []string{"process.pid", "user.id", "event.action", "host.name", "container.id", "file.path"}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			e.Fields.Get(k)
		}
	}
}
