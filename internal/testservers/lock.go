package testservers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// lockWait bounds the wait for the lock while other processes hold it. A
// fault test holds it for a minute or so, but the packages that take it
// queue behind each other (cmd/engine's fault tests alone take minutes on
// a loaded machine); far longer means a stuck holder, which the error then
// names. It stays well under the suite's 30m test timeout.
const lockWait = 15 * time.Minute

// machineLock is the one lock state of this test binary: flock(2) locks
// belong to an open file, so the process must share one file and count its
// holders itself.
var machineLock = newLockState("")

// lockState keeps the machine-wide lock (a flock on one file) for the tests
// of one process. Holders are test names: a test's subtests are named
// "parent/sub", which is how a subtest is found to share its ancestors'
// hold.
//
// The process holds the flock shared while any of its tests holds the lock
// shared, and exclusive while one test holds it exclusive. It never converts
// a held flock (Linux does that by unlocking first, so a conversion is no
// atomic upgrade); it waits until its own tests hold nothing, unlocks, and
// locks anew. The wait for another process's hold is made with mu held,
// and only when no test of this process holds anything, so nothing here
// waits for it.
type lockState struct {
	path string        // "" resolves to the default path on first use
	wait time.Duration // how long to wait for another process's hold

	mu          sync.Mutex
	cond        sync.Cond
	file        *os.File
	shared      map[string]int // test name -> shared holds
	exclusive   string         // test holding the lock exclusive, or ""
	exclWaiting int            // tests waiting to hold it exclusive
	sharedWait  int            // tests waiting to hold it shared
}

func newLockState(path string) *lockState {
	l := &lockState{path: path, wait: lockWait, shared: map[string]int{}}
	l.cond.L = &l.mu
	return l
}

// within reports whether test is holder itself or one of its subtests.
func within(holder, test string) bool {
	return test == holder || strings.HasPrefix(test, holder+"/")
}

// sharedByLineage reports whether test or one of its ancestors holds the
// lock shared. Called with mu held.
func (l *lockState) sharedByLineage(test string) bool {
	for holder := range l.shared {
		if within(holder, test) {
			return true
		}
	}
	return false
}

func (l *lockState) sharedHolds() int {
	n := 0
	for _, c := range l.shared {
		n += c
	}
	return n
}

// acquireShared holds the lock shared for test and returns its release.
func (l *lockState) acquireShared(test string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.exclusive != "" && within(l.exclusive, test) {
			return func() {}, nil // covered by its own or an ancestor's exclusive hold
		}
		// A test whose ancestor already holds the lock goes ahead of
		// waiting fault tests: the ancestor cannot end before it.
		if l.exclusive == "" && (l.exclWaiting == 0 || l.sharedByLineage(test)) {
			break
		}
		l.sharedWait++
		l.cond.Wait()
		l.sharedWait--
	}
	if l.sharedHolds() == 0 {
		if err := l.flock(lockShared); err != nil {
			return nil, err
		}
	}
	l.shared[test]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.shared[test]--; l.shared[test] <= 0 {
				delete(l.shared, test)
			}
			if l.sharedHolds() == 0 {
				l.unlock()
			}
			l.cond.Broadcast()
		})
	}, nil
}

// acquireExclusive holds the lock exclusive for test and returns its
// release.
func (l *lockState) acquireExclusive(test string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exclusive != "" && within(l.exclusive, test) {
		return func() {}, nil
	}
	if l.sharedByLineage(test) {
		return nil, fmt.Errorf("%s already uses the test servers (ES or Kafka was called first); "+
			"a fault test must call testservers.Lock (or Stop/Start/Restart) before ES or Kafka", test)
	}
	l.exclWaiting++
	for l.exclusive != "" || l.sharedHolds() > 0 {
		l.cond.Wait()
	}
	l.exclWaiting--
	if err := l.flock(lockExclusive); err != nil {
		l.cond.Broadcast()
		return nil, err
	}
	l.exclusive = test
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.exclusive = ""
			l.unlock()
			l.cond.Broadcast()
		})
	}, nil
}

// flock opens the lock file if needed and locks it in mode. Called with mu
// held.
func (l *lockState) flock(mode int) error {
	if l.file == nil {
		path := l.path
		if path == "" {
			path = defaultLockPath()
		}
		// Read-only is enough for flock, and lets a user other than the
		// file's creator lock it too.
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
		if err != nil {
			return fmt.Errorf("opening the test server lock: %w", err)
		}
		l.file = f
	}
	deadline := time.Now().Add(l.wait)
	for {
		busy, err := tryLock(l.file, mode)
		switch {
		case err == nil && !busy:
			return nil
		case err != nil:
			return fmt.Errorf("locking %s: %w", l.file.Name(), err)
		case time.Now().After(deadline):
			return fmt.Errorf("the test server lock %s is still held by another process after %v (%s); "+
				"a fault test in another package may be stuck", l.file.Name(), l.wait, lockHolders(l.file))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unlock drops the flock. Called with mu held. The file stays open for the
// next holder; closing it would also drop the lock.
func (l *lockState) unlock() {
	if l.file != nil {
		unlockFile(l.file)
	}
}

// defaultLockPath is ENGINE_TEST_LOCK_FILE, else the file in /run if it
// exists or can be made there (root, as CI runs), else one in the temporary
// directory.
func defaultLockPath() string {
	if p := os.Getenv(EnvLockFile); p != "" {
		return p
	}
	const name = "engine-testservers.lock"
	inRun := filepath.Join("/run", name)
	if _, err := os.Stat(inRun); err == nil {
		return inRun
	}
	if writable("/run") {
		return inRun
	}
	return filepath.Join(os.TempDir(), name)
}
