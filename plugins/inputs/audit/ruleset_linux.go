package audit

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
)

// foundStateKey holds, while engine runs, the audit rules and status it
// found at start. A clean stop restores them and deletes the key; after a
// crash the next run finds the key and restores that state, not the one
// the crashed run left behind.
const foundStateKey = "found_state"

// snapshot saves the kernel's rules and status (or takes over the ones a
// run that did not stop cleanly saved) and returns the function that puts
// them back.
func (in *Input) snapshot(c rules.Client) (func() error, error) {
	var found *rules.State
	if in.env.State != nil {
		if data, err := in.env.State.Get(foundStateKey); err == nil && data != nil {
			var st rules.State
			if json.Unmarshal(data, &st) == nil {
				found = &st
				in.log.Warn("engine did not stop cleanly last time: on exit it will restore the audit rules and status found before that run", "rules", len(st.Rules))
			}
		}
	}
	if found == nil {
		st, err := rules.Snapshot(c)
		if err != nil {
			return nil, err
		}
		found = st
		if in.env.State != nil {
			data, err := json.Marshal(found)
			if err == nil {
				err = in.env.State.Put(foundStateKey, data)
			}
			if err != nil {
				return nil, fmt.Errorf("save the audit state found at start: %w", err)
			}
		}
	}
	return func() error {
		if err := found.Restore(c); err != nil {
			return err
		}
		if in.env.State != nil {
			return in.env.State.Delete(foundStateKey)
		}
		return nil
	}, nil
}

// applyConfig makes the kernel's audit configuration the one configured:
// every rule deleted, the status options set, audit enabled (so that the
// records of the rule changes are received), engine's own system calls
// excluded (ignore_self), then the rule files and inline rules loaded in
// augenrules order — their control lines win over the options, unless an
// option was written explicitly in the pipeline.
func (in *Input) applyConfig() error {
	c := in.ctl
	lines, err := rules.Load(rules.Config{Rules: in.cfg.rules, RuleFiles: in.cfg.ruleFiles, Immutable: in.cfg.immutable})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	var pre []rules.Line
	add := func(text string) error {
		l, err := rules.Parse(text, rules.Source{File: "(engine)"})
		if err != nil {
			return fmt.Errorf("audit: built-in rule %q: %w", text, err)
		}
		pre = append(pre, *l)
		return nil
	}
	if err := add("-D"); err != nil {
		return err
	}
	if err := add("-e 1"); err != nil {
		return err
	}
	for _, s := range in.statusLines(false) {
		if err := add(s); err != nil {
			return err
		}
	}
	if in.cfg.ignoreSelf {
		if err := add(fmt.Sprintf("-a never,exit -F pid=%d -S all", os.Getpid())); err != nil {
			return err
		}
	}
	// The configured lines come after, but a -D among them must not delete
	// the exclusion of engine itself: it goes first, where the built-in -D
	// already stands.
	var body []rules.Line
	for _, l := range lines {
		if l.Kind == rules.KindControl && l.Control.DeleteAll && l.Control.DeleteKey == "" {
			continue
		}
		body = append(body, l)
	}
	var post []rules.Line
	for _, s := range in.statusLines(true) {
		l, err := rules.Parse(s, rules.Source{File: "(engine options)"})
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		post = append(post, *l)
	}
	all := append(append(pre, body...), post...)
	rep, err := rules.Apply(c, all, rules.ApplyOptions{AllowImmutable: in.cfg.immutable})
	for _, w := range rep.Warnings {
		in.log.Warn("audit rule not loaded", "at", w.Src.String(), "rule", w.Text, "reason", w.Err.Error())
	}
	if err != nil {
		return fmt.Errorf("audit: load rules: %w", err)
	}
	in.loaded = len(rep.Added)
	in.expected, err = canonicalRules(c)
	if err != nil {
		return fmt.Errorf("audit: read back the loaded rules: %w", err)
	}
	return nil
}

// statusLines renders the status options as control lines. explicit selects
// the options written in the pipeline (applied after the rule files, so
// they win); the others are defaults, applied before.
func (in *Input) statusLines(explicit bool) []string {
	var out []string
	pick := func(name string) bool { return in.cfg.set[name] == explicit }
	if pick("backlog_limit") && in.cfg.backlogLimit > 0 {
		out = append(out, fmt.Sprintf("-b %d", in.cfg.backlogLimit))
	}
	if pick("rate_limit") && (explicit || in.cfg.rateLimit > 0) {
		out = append(out, fmt.Sprintf("-r %d", in.cfg.rateLimit))
	}
	if pick("backlog_wait_time") && in.cfg.backlogWaitTime >= 0 {
		out = append(out, fmt.Sprintf("--backlog_wait_time %d", in.cfg.backlogWaitTime))
	}
	if pick("failure_mode") && in.cfg.failureMode != "" {
		out = append(out, fmt.Sprintf("-f %d", failureModes[in.cfg.failureMode]))
	}
	return out
}

// reassert loads the configured rules again, after someone changed them.
func (in *Input) reassert() error { return in.applyConfig() }

// canonicalRules lists the kernel's rules in a stable text form.
func canonicalRules(c interface{ GetRules() ([][]byte, error) }) ([]string, error) {
	rs, err := c.GetRules()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		s, err := rules.Canonical(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
