package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Between two runs of engine the kernel keeps numbering audit events. The
// last number seen is saved (with the boot it belongs to), so that the next
// run can report the events that happened while engine was not reading.

const lastSeqKey = "last_sequence"

type lastSeq struct {
	Boot     string `json:"boot"`
	Sequence uint32 `json:"sequence"`
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// loadLastSeq reads what the previous run saved, if it was this boot.
func (in *Input) loadLastSeq() {
	in.boot = bootID()
	if in.env.State == nil || in.boot == "" {
		return
	}
	data, err := in.env.State.Get(lastSeqKey)
	if err != nil || data == nil {
		return
	}
	var ls lastSeq
	if json.Unmarshal(data, &ls) == nil && ls.Boot == in.boot {
		in.prevSeq, in.havePrev = ls.Sequence, true
	}
}

// saveLastSeq records the last sequence number seen.
func (in *Input) saveLastSeq() {
	if in.env.State == nil || in.boot == "" || !in.haveSeq || in.savedSeq == in.lastSeq {
		return
	}
	data, _ := json.Marshal(lastSeq{Boot: in.boot, Sequence: in.lastSeq})
	if err := in.env.State.Put(lastSeqKey, data); err != nil {
		in.log.Warn("cannot save the last audit sequence number", "error", err)
		return
	}
	in.savedSeq = in.lastSeq
}

// firstSeq reports the events missed since the previous run, given the
// first sequence number of this run.
func (in *Input) firstSeq(seq uint32, now time.Time) {
	if !in.havePrev {
		return
	}
	in.havePrev = false
	first := in.prevSeq + 1
	if !after(seq, first) {
		return
	}
	n := int64(seq - first)
	last := seq - 1
	in.metrics.lost(causeDown).Add(float64(n))
	in.report(lossEvent(in.env.ID, now, n, "events", causeDown,
		fmt.Sprintf("%d audit events happened while engine was not reading them (sequence numbers %d to %d, since its last run in this boot)", n, first, last),
		first, last), now)
}
