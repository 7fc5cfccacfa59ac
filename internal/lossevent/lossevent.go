// Package lossevent builds the events that report a loss — "loss is data":
// records the kernel dropped, sequence numbers that never came, batches a
// full queue or buffer dropped — so that every component reports one in
// the same shape: event.action "events_lost", event.kind "pipeline_error",
// and engine.loss.{cause,count,unit} with the sequence range when known.
package lossevent

import (
	"strconv"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// Loss describes one loss.
type Loss struct {
	Component string // the reporting component's ID
	Module    string // event.module: "auditd", "engine"
	Cause     string // engine.loss.cause and event.reason, such as "kernel_lost"
	Unit      string // what Count counts: "records", "events"
	Count     int64
	Message   string
	// First and Last bound the lost sequence numbers, when known (both 0
	// when not).
	First, Last uint32
	Time        time.Time
}

// Event returns the event reporting l. Its ID is made of the component, the
// cause and the time, so that a loss reported again is stored once.
func (l Loss) Event() sdk.Event {
	ev := sdk.Event{Time: l.Time.UTC(), Fields: sdk.MakeFields(12)}
	// Appended in key order.
	ev.Fields.Append("engine.component.id", sdk.String(l.Component))
	ev.Fields.Append("engine.loss.cause", sdk.String(l.Cause))
	ev.Fields.Append("engine.loss.count", sdk.Int(l.Count))
	if l.First != 0 || l.Last != 0 {
		ev.Fields.Append("engine.loss.sequence.first", sdk.Int(int64(l.First)))
		ev.Fields.Append("engine.loss.sequence.last", sdk.Int(int64(l.Last)))
	}
	ev.Fields.Append("engine.loss.unit", sdk.String(l.Unit))
	ev.Fields.Append("event.action", sdk.String("events_lost"))
	ev.Fields.Append("event.kind", sdk.String("pipeline_error"))
	ev.Fields.Append("event.module", sdk.String(l.Module))
	ev.Fields.Append("event.outcome", sdk.String("failure"))
	ev.Fields.Append("event.reason", sdk.String(l.Cause))
	ev.Fields.Append("message", sdk.String(l.Message))
	ev.ID = l.Component + "/loss/" + l.Cause + "/" + strconv.FormatInt(l.Time.UnixNano(), 10)
	return ev
}
