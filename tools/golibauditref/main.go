//go:build linux

// Command golibauditref is the reference the audit benchmark compares engine
// with besides auditd: the path Auditbeat's auditd module is built on, with
// nothing of engine in it. It takes the kernel's audit PID (unicast, like
// auditd and engine), receives records with go-libaudit's AuditClient,
// reassembles them with libaudit.Reassembler, coalesces each event with
// aucoalesce.CoalesceMessages, encodes it with encoding/json and appends it
// to a file.
//
// Like Auditbeat, it receives on one goroutine and coalesces and encodes on
// another, with a queue of reassembled events between them, and runs the
// Reassembler's maintenance every 500 ms (in-flight limit 50, timeout 2 s,
// Auditbeat's defaults). It leaves out what Auditbeat adds on top (user and
// group name lookups, its document mapping, the publishing pipeline). The
// output is buffered and flushed once a second, never fsynced.
//
// It loads no rules and changes no settings: scripts/bench-audit loads them
// with auditctl, as for auditd. On SIGTERM or SIGINT it flushes, releases
// the audit PID and prints a summary as JSON on stderr.
//
//	golibauditref -out /tmp/events.ndjson
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"
)

// stream hands reassembled events to the encoding goroutine.
type stream struct {
	events chan []*auparse.AuditMessage
	lost   atomic.Int64
}

func (s *stream) ReassemblyComplete(msgs []*auparse.AuditMessage) { s.events <- msgs }
func (s *stream) EventsLost(n int)                                { s.lost.Add(int64(n)) }

func main() {
	outPath := flag.String("out", "", "file the coalesced events are appended to, one JSON document a line")
	queue := flag.Int("queue", 8192, "reassembled events waiting to be encoded")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file, to see where the time goes")
	flag.Parse()
	if *outPath == "" {
		fmt.Fprintln(os.Stderr, "golibauditref: -out is required")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "golibauditref: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "golibauditref: %v\n", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*outPath, *queue); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "golibauditref: %v\n", err)
		os.Exit(1)
	}
}

func run(outPath string, queue int) error {
	f, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()

	client, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return err
	}
	st, err := client.GetStatus()
	if err != nil {
		return fmt.Errorf("read the audit status: %w", err)
	}
	if st.PID != 0 && syscall.Kill(int(st.PID), 0) == nil {
		return fmt.Errorf("the audit PID is held by process %d; stop it first", st.PID)
	}
	if err := client.SetPID(libaudit.WaitForReply); err != nil {
		return fmt.Errorf("take the audit PID: %w", err)
	}

	s := &stream{events: make(chan []*auparse.AuditMessage, queue)}
	reasm, err := libaudit.NewReassembler(50, 2*time.Second, s)
	if err != nil {
		return err
	}

	// Encoding goroutine: coalesce, marshal, append; flush once a second.
	// quit makes it encode what is queued, flush and stop.
	var written, failed atomic.Int64
	quit := make(chan struct{})
	encDone := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(f, 64<<10)
		encode := func(msgs []*auparse.AuditMessage) {
			ev, err := aucoalesce.CoalesceMessages(msgs)
			if err != nil {
				failed.Add(1)
				return
			}
			b, err := json.Marshal(ev)
			if err != nil {
				failed.Add(1)
				return
			}
			w.Write(b)
			w.WriteByte('\n')
			written.Add(1)
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case msgs := <-s.events:
				encode(msgs)
			case <-tick.C:
				if err := w.Flush(); err != nil {
					encDone <- err
					return
				}
			case <-quit:
				for {
					select {
					case msgs := <-s.events:
						encode(msgs)
					default:
						encDone <- w.Flush()
						return
					}
				}
			}
		}
	}()

	// Maintenance: evict events whose EOE never came.
	stopMaintain := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = reasm.Maintain()
			case <-stopMaintain:
				return
			}
		}
	}()

	// Receiving goroutine. Receive blocks; a signal closes the client,
	// which ends it.
	var records atomic.Int64
	recvDone := make(chan error, 1)
	go func() {
		for {
			raw, err := client.Receive(false)
			if err != nil {
				if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ENOBUFS) {
					continue
				}
				recvDone <- err
				return
			}
			// Replies to requests, the kernel's liveness probes and
			// anything outside the audit record range are not records.
			if raw.Type < auparse.AUDIT_USER_AUTH || raw.Type > 2999 || raw.Type == auparse.AUDIT_REPLACE {
				continue
			}
			records.Add(1)
			if err := reasm.Push(raw.Type, raw.Data); err != nil {
				failed.Add(1)
			}
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var recvErr error
	select {
	case <-sig:
	case recvErr = <-recvDone:
	}
	// Close unsets the audit PID, so no more records come. The receiving
	// goroutine may stay blocked in recvfrom; it is not waited for. Let it
	// push what the socket still held, then flush the Reassembler and the
	// queue.
	closeErr := client.Close()
	for n := records.Load(); ; {
		time.Sleep(200 * time.Millisecond)
		if m := records.Load(); m == n {
			break
		} else {
			n = m
		}
	}
	close(stopMaintain)
	_ = reasm.Close()
	close(quit)
	encErr := <-encDone
	sum, _ := json.Marshal(map[string]int64{
		"records": records.Load(), "events": written.Load(), "failed": failed.Load(), "lost": s.lost.Load(),
	})
	fmt.Fprintln(os.Stderr, string(sum))
	return errors.Join(recvErr, closeErr, encErr)
}
