//go:build linux

// Command execload puts a known exec load on the kernel's audit rules: it
// runs a program (by default /bin/true) at a fixed rate for a fixed time and
// reports how many it ran and the rate it achieved. scripts/bench-audit uses
// it to drive the same load through engine and through auditd.
//
// Exec i is due at start + i/rate, whatever happened to the ones before, so
// the rate does not drift with the time each exec takes; a pool of workers
// forks and waits, and an exec that finds every worker busy starts late
// (reported as lag) rather than being skipped. The achieved rate falls below
// the target only when the machine cannot run the programs that fast, or
// when the kernel makes the execs wait (a full audit backlog with a
// backlog_wait_time).
//
//	execload -rate 1000 -duration 30s
//
// prints one JSON object on stdout when done, for example
//
//	{"pid":4242,"target_rate":1000,"duration_s":30.0004,"execs":30000,"failed":0,"achieved_rate":999.99,"late":3,"max_lag_ms":2.1}
//
// pid is execload's own process id: every program it runs has it as parent
// pid, which is how an audit log's records of this load are told apart from
// the rest of the machine's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type report struct {
	PID          int     `json:"pid"`
	TargetRate   float64 `json:"target_rate"`
	DurationS    float64 `json:"duration_s"`
	Execs        int64   `json:"execs"`
	Failed       int64   `json:"failed"`
	AchievedRate float64 `json:"achieved_rate"`
	Late         int64   `json:"late"` // execs started more than 1 ms after they were due
	MaxLagMs     float64 `json:"max_lag_ms"`
	Interrupted  bool    `json:"interrupted,omitempty"`
}

func main() {
	rate := flag.Float64("rate", 1000, "execs per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to run")
	path := flag.String("path", "/bin/true", "program to run (with no arguments)")
	workers := flag.Int("workers", 64, "most programs running at once")
	flag.Parse()
	if *rate <= 0 || *duration <= 0 || *workers <= 0 {
		fmt.Fprintln(os.Stderr, "execload: -rate, -duration and -workers must be positive")
		os.Exit(2)
	}
	if _, err := os.Stat(*path); err != nil {
		fmt.Fprintf(os.Stderr, "execload: %v\n", err)
		os.Exit(2)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "execload: %v\n", err)
		os.Exit(1)
	}
	attr := &syscall.ProcAttr{
		Env:   []string{"PATH=/usr/bin:/bin"},
		Files: []uintptr{devnull.Fd(), devnull.Fd(), devnull.Fd()},
	}
	argv := []string{*path}

	var execs, failed atomic.Int64
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				pid, err := syscall.ForkExec(*path, argv, attr)
				if err != nil {
					failed.Add(1)
					continue
				}
				var ws syscall.WaitStatus
				for {
					_, err = syscall.Wait4(pid, &ws, 0, nil)
					if err != syscall.EINTR {
						break
					}
				}
				if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
					failed.Add(1)
					continue
				}
				execs.Add(1)
			}
		}()
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	period := time.Duration(float64(time.Second) / *rate)
	total := int64(float64(*duration) / float64(period))
	var late int64
	var maxLag time.Duration
	interrupted := false
	start := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
loop:
	for i := int64(0); i < total; i++ {
		due := start.Add(time.Duration(i) * period)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stop:
				interrupted = true
				break loop
			}
		}
		select {
		case jobs <- struct{}{}:
		case <-stop:
			interrupted = true
			break loop
		}
		if lag := time.Since(due); lag > time.Millisecond {
			late++
			maxLag = max(maxLag, lag)
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	r := report{
		PID:          os.Getpid(),
		TargetRate:   *rate,
		DurationS:    elapsed.Seconds(),
		Execs:        execs.Load(),
		Failed:       failed.Load(),
		AchievedRate: float64(execs.Load()) / elapsed.Seconds(),
		Late:         late,
		MaxLagMs:     float64(maxLag) / float64(time.Millisecond),
		Interrupted:  interrupted,
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if interrupted {
		os.Exit(130)
	}
}
