// Package audit implements the "audit" input: it reads Linux kernel audit
// records over netlink, loads the operator's audit rules, and reports every
// lost record in the stream itself.
package audit

import (
	"errors"
	"time"

	"github.com/engine-audit/engine/sdk"
)

// Socket types.
const (
	socketUnicast   = "unicast"
	socketMulticast = "multicast"
)

// Backpressure policies.
const (
	whenFullBlock = "block"
	whenFullDrop  = "drop"
)

var failureModes = map[string]uint32{"silent": 0, "printk": 1, "panic": 2}

var options = []sdk.Option{
	{Name: "socket_type", Type: sdk.TypeString, Default: socketUnicast, Enum: []string{socketUnicast, socketMulticast},
		Doc: `"unicast" takes the kernel's audit PID and receives every record, as auditd does (engine replaces auditd; it loads the rules and settings below). "multicast" reads a copy of the records beside a running auditd and changes no rules or settings.`},
	{Name: "rules", Type: sdk.TypeStringList, Default: []string{},
		Doc: "Audit rules in auditctl syntax, one per element (\"-w /etc/passwd -p wa -k identity\"). Loaded after rule_files. Unicast only."},
	{Name: "rule_files", Type: sdk.TypeStringList, Default: []string{}, Format: sdk.FormatGlob,
		Doc: "Rule files in auditctl syntax (as in /etc/audit/rules.d), by glob; files load in name order, like augenrules. Control lines (-D, -b, -f, -r, -e, --backlog_wait_time) set the matching audit settings. Unicast only."},
	{Name: "immutable", Type: sdk.TypeBool, Default: false,
		Doc: "Allow rules to make the audit configuration immutable (-e 2, --loginuid-immutable). Without it such lines are refused: they cannot be undone until reboot."},
	{Name: "backlog_limit", Type: sdk.TypeInt, Default: int64(8192),
		Doc: "Kernel queue of records waiting for engine (auditctl -b). When it is full the kernel waits backlog_wait_time, then drops records and counts them as lost. 0 leaves the kernel's value."},
	{Name: "rate_limit", Type: sdk.TypeInt, Default: int64(0),
		Doc: "Records per second the kernel lets through before dropping (auditctl -r); 0 means no limit."},
	{Name: "backlog_wait_time", Type: sdk.TypeInt, Default: int64(-1),
		Doc: "How long, in kernel ticks, an audited process waits when the backlog is full before its record is dropped (auditctl --backlog_wait_time; the kernel's default is 60000). -1 leaves the kernel's value."},
	{Name: "failure_mode", Type: sdk.TypeString, Default: "", Enum: []string{"", "silent", "printk", "panic"},
		Doc: `What the kernel does on a critical audit error such as a lost record (auditctl -f): "silent", "printk" or "panic". "" leaves the kernel's value.`},
	{Name: "restore_on_exit", Type: sdk.TypeBool, Default: true,
		Doc: "When engine stops, put back the audit rules and settings it found, and release the audit PID. Unicast only."},
	{Name: "reassert_rules", Type: sdk.TypeBool, Default: true,
		Doc: "When the loaded rules change under engine (someone runs auditctl -D), report it as an alert event and load the configured rules again. When false, only report."},
	{Name: "ignore_self", Type: sdk.TypeBool, Default: true,
		Doc: "Add a rule that excludes engine's own system calls, so that its file writes and network traffic do not feed back into the stream. Unicast only."},
	{Name: "status_interval", Type: sdk.TypeDuration, Default: 2 * time.Second,
		Doc: "How often to read the kernel's audit status: its lost-record counter (each increase becomes a loss event) and the backlog and settings exported as metrics."},
	{Name: "gap_grace", Type: sdk.TypeDuration, Default: 3 * time.Second,
		Doc: "How long a missing sequence number may be awaited (records of different events can arrive slightly out of order) before it is reported lost."},
	{Name: "when_full", Type: sdk.TypeString, Default: whenFullBlock, Enum: []string{whenFullBlock, whenFullDrop},
		Doc: `What to do when the pipeline cannot take records as fast as the kernel sends them: "block" stops reading, so the kernel's backlog absorbs the burst (beyond it the kernel drops and counts them); "drop" keeps reading and drops whole batches, each drop reported as a loss event.`},
	{Name: "receive_buffer", Type: sdk.TypeSize, Default: int64(8 << 20),
		Doc: "Size of the netlink socket's receive buffer. A larger buffer rides out longer pauses before the kernel's backlog fills."},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindInput,
		Type:    "audit",
		Summary: "Read kernel audit records over netlink, load audit rules, report every lost record",
		Description: "Receives Linux kernel audit records over netlink, one event per record in audit.log " +
			"format (`message`), for the coalesce processor. In unicast mode it replaces auditd: it takes " +
			"the audit PID, loads the rules (inline and from rule files, control lines included) and " +
			"restores what it found on exit. In multicast mode it reads beside auditd. The kernel's lost " +
			"counter, sequence gaps and drops are reported as events with event.action \"events_lost\".",
		Options:   options,
		Platforms: []string{"linux"},
		Validate:  validate,
		New:       newInput,
	})
}

// settings is the decoded configuration.
type settings struct {
	multicast       bool
	rules           []string
	ruleFiles       []string
	immutable       bool
	backlogLimit    int64
	rateLimit       int64
	backlogWaitTime int64
	failureMode     string
	restoreOnExit   bool
	reassertRules   bool
	ignoreSelf      bool
	statusInterval  time.Duration
	gapGrace        time.Duration
	dropWhenFull    bool
	receiveBuffer   int64
	set             map[string]bool // options written in the pipeline
}

func parseSettings(cfg *sdk.Config) settings {
	return settings{
		multicast:       cfg.String("socket_type") == socketMulticast,
		rules:           cfg.Strings("rules"),
		ruleFiles:       cfg.Strings("rule_files"),
		immutable:       cfg.Bool("immutable"),
		backlogLimit:    cfg.Int("backlog_limit"),
		rateLimit:       cfg.Int("rate_limit"),
		backlogWaitTime: cfg.Int("backlog_wait_time"),
		failureMode:     cfg.String("failure_mode"),
		restoreOnExit:   cfg.Bool("restore_on_exit"),
		reassertRules:   cfg.Bool("reassert_rules"),
		ignoreSelf:      cfg.Bool("ignore_self"),
		statusInterval:  cfg.Duration("status_interval"),
		gapGrace:        cfg.Duration("gap_grace"),
		dropWhenFull:    cfg.String("when_full") == whenFullDrop,
		receiveBuffer:   cfg.Size("receive_buffer"),
		set: map[string]bool{
			"backlog_limit": cfg.IsSet("backlog_limit"), "rate_limit": cfg.IsSet("rate_limit"),
			"backlog_wait_time": cfg.IsSet("backlog_wait_time"), "failure_mode": cfg.IsSet("failure_mode"),
		},
	}
}

func validate(cfg *sdk.Config) error {
	s := parseSettings(cfg)
	var errs []error
	if s.backlogLimit < 0 || s.backlogLimit > 1<<31 {
		errs = append(errs, sdk.OptionErrorf("backlog_limit", "must be between 0 and 2147483648, got %d", s.backlogLimit))
	}
	if s.rateLimit < 0 || s.rateLimit > 1<<31 {
		errs = append(errs, sdk.OptionErrorf("rate_limit", "must be between 0 and 2147483648, got %d", s.rateLimit))
	}
	if s.backlogWaitTime < -1 || s.backlogWaitTime > 600000 {
		errs = append(errs, sdk.OptionErrorf("backlog_wait_time", "must be -1 (keep the kernel's) or between 0 and 600000 ticks, got %d", s.backlogWaitTime))
	}
	if s.statusInterval < 100*time.Millisecond {
		errs = append(errs, sdk.OptionErrorf("status_interval", "must be at least 100ms, got %v", s.statusInterval))
	}
	if s.gapGrace < 100*time.Millisecond {
		errs = append(errs, sdk.OptionErrorf("gap_grace", "must be at least 100ms, got %v", s.gapGrace))
	}
	if s.multicast && (len(s.rules) > 0 || len(s.ruleFiles) > 0) {
		errs = append(errs, sdk.Warning(sdk.OptionErrorf("rules", "rules are not loaded in multicast mode: the process holding the audit PID (auditd) owns them")))
	}
	errs = append(errs, validateRules(s)...)
	return errors.Join(errs...)
}
