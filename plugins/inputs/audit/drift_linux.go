package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// checkDrift compares the kernel's audit rules with the ones engine loaded.
// A difference means someone else changed them (auditctl -D, say): it is
// reported as an alert and, with reassert_rules, undone.
func (in *Input) checkDrift(now time.Time) {
	have, err := canonicalRules(in.ctl)
	if err != nil {
		in.log.Warn("cannot read the kernel's audit rules to check them", "error", err)
		return
	}
	missing, unexpected := diffRules(in.expected, have)
	if len(missing) == 0 && len(unexpected) == 0 {
		return
	}
	in.metrics.drift.Add(1)
	reasserted := false
	if in.cfg.reassertRules {
		if err := in.reassert(); err != nil {
			in.log.Error("cannot load the configured audit rules again", "error", err)
		} else {
			reasserted = true
		}
	}
	msg := fmt.Sprintf("the kernel's audit rules were changed by someone else: %d configured rules missing, %d unexpected", len(missing), len(unexpected))
	if reasserted {
		msg += "; the configured rules were loaded again"
	}
	in.log.Warn(msg, "missing", len(missing), "unexpected", len(unexpected))
	ev := sdk.Event{Time: now.UTC(), Fields: sdk.MakeFields(10)}
	ev.Fields.Append("engine.component.id", sdk.String(in.env.ID))
	ev.Fields.Append("engine.rules.missing", sdk.Strings(missing))
	ev.Fields.Append("engine.rules.reasserted", sdk.Bool(reasserted))
	ev.Fields.Append("engine.rules.unexpected", sdk.Strings(unexpected))
	ev.Fields.Append("event.action", sdk.String("audit_rules_changed"))
	ev.Fields.Append("event.category", sdk.Strings([]string{"configuration"}))
	ev.Fields.Append("event.kind", sdk.String("alert"))
	ev.Fields.Append("event.module", sdk.String("auditd"))
	ev.Fields.Append("event.type", sdk.Strings([]string{"change"}))
	ev.Fields.Append("message", sdk.String(msg))
	in.report(ev, now)
}

// diffRules lists the rules of want missing from have and the rules of have
// not in want, each as often as they differ.
func diffRules(want, have []string) (missing, unexpected []string) {
	count := map[string]int{}
	for _, r := range have {
		count[r]++
	}
	for _, r := range want {
		if count[r] > 0 {
			count[r]--
			continue
		}
		missing = append(missing, r)
	}
	for _, r := range have {
		if count[r] > 0 {
			count[r]--
			unexpected = append(unexpected, r)
		}
	}
	if len(missing) == 0 && len(unexpected) == 0 && strings.Join(want, "\n") != strings.Join(have, "\n") {
		// Same rules, another order: order decides which rule matches first.
		return want, have
	}
	return missing, unexpected
}
