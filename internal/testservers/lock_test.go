//go:build unix

package testservers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engine-audit/engine/sdk/sdktest"
)

// liveness bounds how long a test waits for something that must happen;
// reaching it means a deadlock, not slowness.
const liveness = 30 * time.Second

// probe opens the lock file separately, as another process would, and
// reports which flock modes it could take right now.
func probe(t *testing.T, path string) (shared, exclusive bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	try := func(mode int) bool {
		err := syscall.Flock(int(f.Fd()), mode|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			t.Fatal(err)
		}
		return true
	}
	return try(syscall.LOCK_SH), try(syscall.LOCK_EX)
}

func newTestLock(t *testing.T) (*lockState, string) {
	path := filepath.Join(t.TempDir(), "servers.lock")
	return newLockState(path), path
}

// TestLockModesAcrossProcesses checks what another process sees while this
// one holds the lock shared or exclusive.
func TestLockModesAcrossProcesses(t *testing.T) {
	l, path := newTestLock(t)
	check := func(when string, wantShared, wantExclusive bool) {
		t.Helper()
		sh, ex := probe(t, path)
		if sh != wantShared || ex != wantExclusive {
			t.Errorf("%s: another process could take shared=%v exclusive=%v, want shared=%v exclusive=%v",
				when, sh, ex, wantShared, wantExclusive)
		}
	}

	check("unlocked", true, true)

	releaseA, err := l.acquireShared("TestA")
	if err != nil {
		t.Fatal(err)
	}
	releaseB, err := l.acquireShared("TestB")
	if err != nil {
		t.Fatal(err)
	}
	check("two tests hold it shared", true, false)
	releaseA()
	check("one test still holds it shared", true, false)
	releaseB()
	releaseB() // a second release is harmless
	check("all shared holds released", true, true)

	releaseX, err := l.acquireExclusive("TestFault")
	if err != nil {
		t.Fatal(err)
	}
	check("a fault test holds it", false, false)
	releaseX()
	check("the fault test ended", true, true)
}

// TestExclusiveWaitsForOtherProcess: a fault test waits while another
// process's test holds the lock shared, and gets it once that ends.
func TestExclusiveWaitsForOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.lock")
	other, ours := newLockState(path), newLockState(path) // two open files, as two processes have
	releaseOther, err := other.acquireShared("TestElsewhere")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		release, err := ours.acquireExclusive("TestFault")
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- release
	}()
	// While the other process holds it shared, nobody can hold it
	// exclusive, so the fault test cannot have it.
	if _, ex := probe(t, path); ex {
		t.Fatal("the lock could be taken exclusive while another process held it shared")
	}
	releaseOther()
	select {
	case release, ok := <-got:
		if !ok {
			return
		}
		if sh, _ := probe(t, path); sh {
			t.Error("the fault test has the lock, yet another process could take it shared")
		}
		release()
	case <-time.After(liveness):
		t.Fatal("the fault test never got the lock after the other process released it")
	}
}

func TestSubtestsShareTheirAncestorsHold(t *testing.T) {
	l, path := newTestLock(t)
	release, err := l.acquireExclusive("TestFault")
	if err != nil {
		t.Fatal(err)
	}
	// ES/Kafka inside the fault test and its subtests, and Stop in a
	// subtest, must not wait for the fault test itself.
	for _, name := range []string{"TestFault", "TestFault/case_1", "TestFault/case_1/deeper"} {
		done := make(chan error, 1)
		go func() {
			r1, err := l.acquireShared(name)
			if err != nil {
				done <- err
				return
			}
			r2, err := l.acquireExclusive(name)
			if err != nil {
				done <- err
				return
			}
			r2()
			r1()
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(liveness):
			t.Fatalf("%s waited for its own fault test's lock", name)
		}
	}
	if _, ex := probe(t, path); ex {
		t.Error("releasing a subtest's hold dropped the fault test's exclusive lock")
	}
	release()
}

func TestExclusiveAfterSharedIsRefused(t *testing.T) {
	l, _ := newTestLock(t)
	release, err := l.acquireShared("TestMixed")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, name := range []string{"TestMixed", "TestMixed/sub"} {
		_, err := l.acquireExclusive(name)
		if err == nil || !strings.Contains(err.Error(), "before ES or Kafka") {
			t.Errorf("%s: exclusive after the shared lock: err = %v, want the ordering advice", name, err)
		}
	}
	// An unrelated test whose name merely starts the same way is no subtest.
	got := make(chan error, 1)
	go func() {
		r, err := l.acquireExclusive("TestMixedOther")
		if err == nil {
			r()
		}
		got <- err
	}()
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("TestMixedOther: %v", err)
		}
	case <-time.After(liveness):
		t.Fatal("TestMixedOther never got the lock")
	}
}

// TestWaitingFaultTestGoesFirst: once a fault test waits, new tests wait
// behind it, except subtests of tests that already hold the lock.
func TestWaitingFaultTestGoesFirst(t *testing.T) {
	l, _ := newTestLock(t)
	releaseA, err := l.acquireShared("TestA")
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var order []string
	record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }

	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		release, err := l.acquireExclusive("TestFault")
		if err != nil {
			t.Error(err)
			return
		}
		record("fault")
		release()
	}()
	sdktest.WaitFor(t, "the exclusive waiter to queue", liveness, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.exclWaiting == 1 })

	lateDone := make(chan struct{})
	go func() {
		defer close(lateDone)
		release, err := l.acquireShared("TestLate")
		if err != nil {
			t.Error(err)
			return
		}
		record("late")
		release()
	}()
	sdktest.WaitFor(t, "the shared waiter to queue", liveness, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.sharedWait == 1 })

	// TestA's subtest is not held up by the waiting fault test.
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		release, err := l.acquireShared("TestA/sub")
		if err != nil {
			t.Error(err)
			return
		}
		record("sub")
		release()
	}()
	select {
	case <-subDone:
	case <-time.After(liveness):
		t.Fatal("a subtest of a holder waited behind the fault test: deadlock")
	}

	releaseA()
	for _, ch := range []chan struct{}{faultDone, lateDone} {
		select {
		case <-ch:
		case <-time.After(liveness):
			t.Fatal("deadlock after the holder released")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ","); got != "sub,fault,late" {
		t.Errorf("order = %s, want sub,fault,late", got)
	}
}

// TestStuckHolderIsNamed: a wait that outlasts the limit fails, naming the
// process that holds the lock, instead of hanging the test.
func TestStuckHolderIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.lock")
	holder, waiter := newLockState(path), newLockState(path)
	waiter.wait = 100 * time.Millisecond
	release, err := holder.acquireExclusive("TestFault")
	if err != nil {
		t.Fatal(err)
	}
	_, err = waiter.acquireShared("TestOther")
	if err == nil {
		t.Fatal("got the lock while another open file held it exclusive")
	}
	if want := fmt.Sprintf("write by pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%q)", err, want)
	}
	release()
	release, err = waiter.acquireShared("TestOther")
	if err != nil {
		t.Fatalf("after the holder released: %v", err)
	}
	release()
}
