//go:build linux

package coalesce

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

// Run for a while with:
//
//	go test -run '^$' -fuzz FuzzRecord -fuzztime 2m ./plugins/processors/coalesce/
//	go test -run '^$' -fuzz FuzzProcessor -fuzztime 2m ./plugins/processors/coalesce/

func fuzzSeeds(f *testing.F) []string {
	var seeds []string
	files, _ := filepath.Glob("testdata/*.log")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(raw))
	}
	return seeds
}

func checkEvent(t *testing.T, ev *sdk.Event) {
	t.Helper()
	doc := ev.AppendJSON(nil)
	if !json.Valid(doc) {
		t.Fatalf("invalid JSON: %s", doc)
	}
	if ev.Fields.GetString(sdk.FieldEventKind) == "" {
		t.Fatalf("event without event.kind: %s", doc)
	}
}

// FuzzRecord parses one record and builds an event from it alone.
func FuzzRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		for _, line := range strings.Split(s, "\n") {
			f.Add(line)
		}
	}
	f.Add("type=AVC msg=audit(1.2:3): avc:  denied  { read } for  pid=1 comm=\"x\"")
	f.Add("type=EXECVE msg=audit(1.2:3): argc=2 a0=\"x\" a1_len=4 a1[0]=41 a1[1]=\"BC\"")
	f.Add("type=SOCKADDR msg=audit(1.2:3): saddr=0A00")
	f.Add("type=USER_LOGIN msg=audit(1.2:3): msg='a=\"b\\' c=d'")
	b := newBuilder()
	b.checkOrder = true
	f.Fuzz(func(t *testing.T, line string) {
		h, err := parseHeader(line)
		if err != nil {
			return
		}
		if h.typ == typeEOE {
			return
		}
		ev := b.build([]header{h})
		checkEvent(t, &ev)
	})
}

// FuzzProcessor feeds lines (one record each) through the whole processor,
// a few per batch, and checks that every emitted event is valid JSON and
// that nothing is held after a drain.
func FuzzProcessor(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, per uint8) {
		lines := strings.Split(text, "\n")
		if len(lines) > 2000 {
			lines = lines[:2000]
		}
		size := int(per%16) + 1
		p := New(Options{MaxInFlight: 4, IncludeOriginal: per&1 == 0})
		p.b.checkOrder = true
		col := sdktest.NewCollector()
		ctx := context.Background()
		n := 0
		for i := 0; i < len(lines); i += size {
			b := batchOf(lines[i:min(i+size, len(lines))]...)
			n += b.Len()
			if err := p.Process(ctx, b, col); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Tick(ctx, time.Now().Add(time.Hour), col); err != nil {
			t.Fatal(err)
		}
		if err := p.Drain(ctx, col, true); err != nil {
			t.Fatal(err)
		}
		if p.Pending() != 0 {
			t.Fatal("events held after drain")
		}
		evs := col.Events()
		if len(evs) > n {
			t.Fatalf("%d events from %d records", len(evs), n)
		}
		for i := range evs {
			checkEvent(t, &evs[i])
		}
	})
}

// fuzzKVTypes are the record types FuzzKeyValues writes: one without
// type-specific handling, and those with it.
var fuzzKVTypes = []string{
	"BPRM_FCAPS", "PATH", "SYSCALL", "SECCOMP", "SOCKADDR", "EXECVE", "PROCTITLE", "USER_CMD",
	"USER_LOGIN", "TTY", "LOGIN", "CRED_DISP", "USER_START", "USER_END", "AVC", "CWD",
}

// FuzzKeyValues compares the parsing and enrichment of one record with
// go-libaudit's (auparse: key=value grammar, unset ids, SELinux contexts,
// result, exit codes, rule keys, hex values, names, socket addresses) for
// every record go-libaudit accepts.
func FuzzKeyValues(f *testing.F) {
	f.Add(uint8(0), `fver=0 fp=0 auid=4294967295 ses=-1 res=1 key="a=b"`)
	f.Add(uint8(8), `pid=1 uid=0 subj=u:r:t:s0-s0:c0.c1023 msg='op=x acct="root" exe="/bin/x" res=success'`)
	f.Add(uint8(2), `arch=c000003e syscall=59 success=no exit=-13 key=6578656301657463 cwd=2F746D70 exe=2F62696E`)
	f.Add(uint8(0), `a="x\"y" b='p\'q' c=d"e f= g=? h=(null) i=?, msg="k=v"`)
	f.Add(uint8(0), `Ab=1 x-y_z=2 =3 k==4 k2=" spaced " tail=`)
	f.Add(uint8(1), `item=0 name=2F746D70 obj=system_u:object_r:tmp_t:s0 nametype=NORMAL`)
	f.Add(uint8(4), `saddr=0A000050000000000000000000000000000000000000000100000000`)
	f.Add(uint8(4), `saddr=01002F746D702F736F636B00`)
	f.Add(uint8(5), `argc=3 a0="ls" a1=2D6C61 a2=2F746D70`)
	f.Add(uint8(10), `pid=1 uid=0 old auid=4294967295 new auid=0 old ses=4294967295 new ses=1 res=1`)
	f.Add(uint8(14), `avc:  denied  { read write } for  pid=1 comm="x" scontext=a:b:c:s0 tclass=file`)
	f.Add(uint8(12), `pid=1 uid=0 msg='op=PAM:session_open acct="root" exe="/bin/su" (hostname=?, addr=?, terminal=pts/0 res=success)'`)
	b := newBuilder()
	f.Fuzz(func(t *testing.T, typ uint8, body string) {
		if strings.ContainsAny(body, "\n\r\x1d") || strings.Count(body, "msg=") > 8 {
			return
		}
		line := "type=" + fuzzKVTypes[int(typ)%len(fuzzKVTypes)] + " msg=audit(1700000000.001:1): " + body
		msg, err := auparse.ParseLogLine(line)
		if err != nil {
			return
		}
		want, err := msg.Data()
		if err != nil {
			return
		}
		wantTags, _ := msg.Tags()

		h, err := parseHeader(line)
		if err != nil {
			t.Fatalf("we reject %q: %v", line, err)
		}
		b.resetEvent()
		ri := b.parseRecord(&h)
		got := map[string]string{}
		for k := ri.start; k < ri.end; k++ {
			if p := &b.kvs[k]; !p.dead {
				got[p.key] = p.val
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q:\n got %v\nwant %v", body, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%q: field %q: got %q, want %q\n got %v\nwant %v", body, k, got[k], v, got, want)
			}
		}
		var gotTags []string
		if ri.hasTags {
			gotTags = b.tagsOf(ri.tagsVal, ri.tagsQuoted)
		}
		if strings.Join(gotTags, "\x00") != strings.Join(wantTags, "\x00") || len(gotTags) != len(wantTags) {
			t.Fatalf("%q: tags %q, want %q", body, gotTags, wantTags)
		}
	})
}

// FuzzCoalesce compares whole events with go-libaudit's aucoalesce and
// Auditbeat's mapping: up to eight records of one event, of types chosen by
// the fuzzer. Inputs where go-libaudit gives up on a record (see README) are
// skipped; the differences of allowedDifferences are allowed.
func FuzzCoalesce(f *testing.F) {
	f.Add([]byte{2, 5, 15, 1, 6}, "arch=c000003e syscall=59 success=yes exit=0 items=1 pid=3 ppid=2 auid=1000 uid=0 gid=0 euid=0 ses=1 comm=\"ls\" exe=\"/bin/ls\" key=\"exec\"\nargc=2 a0=\"ls\" a1=2D6C\ncwd=\"/tmp\"\nitem=0 name=\"/bin/ls\" inode=5 mode=0100755 ouid=0 ogid=0 nametype=NORMAL\nproctitle=6C73002D6C")
	f.Add([]byte{2, 4}, "arch=c000003e syscall=42 success=no exit=-111 pid=3 uid=1 auid=1 comm=\"curl\" exe=\"/usr/bin/curl\"\nsaddr=0200005009080706")
	f.Add([]byte{8}, "pid=1 uid=0 auid=1000 ses=2 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=h addr=10.1.2.3 terminal=ssh res=success'")
	f.Add([]byte{10}, "pid=1 uid=0 old-auid=4294967295 auid=1000 tty=(none) old-ses=4294967295 ses=1 res=1")
	f.Add([]byte{0, 2}, "op=set audit_pid=1 old=0 auid=4294967295 ses=4294967295 res=1\narch=c000003e syscall=44 success=yes exit=60 pid=1 uid=0 comm=\"auditd\" exe=\"/sbin/auditd\"")
	b := newBuilder()
	b.checkOrder = true
	f.Fuzz(func(t *testing.T, types []byte, text string) {
		if len(types) == 0 || strings.ContainsAny(text, "\r\x1d") || strings.Count(text, "msg=") > 8 {
			return
		}
		bodies := strings.Split(text, "\n")
		if len(bodies) > 8 {
			bodies = bodies[:8]
		}
		var lines []string
		var msgs []*auparse.AuditMessage
		for i, body := range bodies {
			typ := fuzzKVTypes[int(types[i%len(types)])%len(fuzzKVTypes)]
			line := "type=" + typ + " msg=audit(1700000000.001:7): " + body
			msg, err := auparse.ParseLogLine(line)
			if err != nil {
				return
			}
			if _, err := msg.Data(); err != nil {
				return // go-libaudit gives up on this record
			}
			lines = append(lines, line)
			msgs = append(msgs, msg)
		}
		ref := refDoc(msgs)
		hs := make([]header, len(lines))
		for i, l := range lines {
			h, err := parseHeader(l)
			if err != nil {
				t.Fatalf("we reject %q: %v", l, err)
			}
			hs[i] = h
		}
		ev := b.build(hs)
		checkEvent(t, &ev)
		ours := flatten(&ev)
	next:
		for _, field := range compareDocs(ref, ours) {
			for _, a := range allowedDifferences {
				if a.applies(field, ref[field], ours[field], lines) {
					continue next
				}
			}
			t.Fatalf("field %s: go-libaudit %#v, ours %#v\nrecords: %q", field, ref[field], ours[field], lines)
		}
	})
}
