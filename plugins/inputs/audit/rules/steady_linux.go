package rules

import (
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
)

// SteadyClient is a go-libaudit client that stays usable when the kernel
// answers late.
//
// The kernel acknowledges a request at once but sends the answer to
// AUDIT_GET and AUDIT_LIST_RULES from a kernel thread; on a loaded machine
// that thread can run after go-libaudit has stopped waiting (half a second).
// go-libaudit then returns an error and leaves the late answer on the
// socket, where the next request reads it as its own, fails on its
// sequence number and leaves its own answer behind: from then on every
// request on that client fails. SteadyClient throws away whatever is left
// on the socket before each request, and asks again, for up to
// readPatience, when a request that only reads failed.
type SteadyClient struct {
	*libaudit.AuditClient
}

// NewSteadyClient opens a control connection to the kernel's audit
// subsystem.
func NewSteadyClient() (*SteadyClient, error) {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return nil, err
	}
	return &SteadyClient{c}, nil
}

// readPatience is how long a request that only reads is sent again while
// it fails.
const readPatience = 5 * time.Second

// discard drops the messages waiting on the socket: answers to earlier
// requests that came after their caller stopped waiting.
func (c *SteadyClient) discard() {
	for range 1000 {
		if msgs, err := c.Netlink.Receive(true, parseNetlinkReply); err != nil || len(msgs) == 0 {
			return
		}
	}
}

// GetStatus reads the kernel's audit status.
func (c *SteadyClient) GetStatus() (st *libaudit.AuditStatus, err error) {
	for deadline := time.Now().Add(readPatience); ; {
		c.discard()
		if st, err = c.AuditClient.GetStatus(); err == nil || time.Now().After(deadline) {
			return st, err
		}
	}
}

// GetRules lists the kernel's audit rules.
func (c *SteadyClient) GetRules() (rs [][]byte, err error) {
	for deadline := time.Now().Add(readPatience); ; {
		c.discard()
		if rs, err = c.AuditClient.GetRules(); err == nil || time.Now().After(deadline) {
			return rs, err
		}
	}
}

// The requests that change something are sent once: the kernel may have
// done what a failed one asked.

// AddRule adds a rule.
func (c *SteadyClient) AddRule(rule []byte) error { c.discard(); return c.AuditClient.AddRule(rule) }

// DeleteRule deletes a rule.
func (c *SteadyClient) DeleteRule(rule []byte) error {
	c.discard()
	return c.AuditClient.DeleteRule(rule)
}

// DeleteRules deletes every rule.
func (c *SteadyClient) DeleteRules() (int, error) { c.discard(); return c.AuditClient.DeleteRules() }

// SetEnabled enables or disables auditing.
func (c *SteadyClient) SetEnabled(enabled bool, wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetEnabled(enabled, wm)
}

// SetFailure sets the failure mode.
func (c *SteadyClient) SetFailure(fm libaudit.FailureMode, wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetFailure(fm, wm)
}

// SetRateLimit sets the rate limit.
func (c *SteadyClient) SetRateLimit(perSecondLimit uint32, wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetRateLimit(perSecondLimit, wm)
}

// SetBacklogLimit sets the backlog limit.
func (c *SteadyClient) SetBacklogLimit(limit uint32, wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetBacklogLimit(limit, wm)
}

// SetBacklogWaitTime sets the backlog wait time.
func (c *SteadyClient) SetBacklogWaitTime(waitTime int32, wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetBacklogWaitTime(waitTime, wm)
}

// SetImmutable makes the configuration immutable until reboot.
func (c *SteadyClient) SetImmutable(wm libaudit.WaitMode) error {
	c.discard()
	return c.AuditClient.SetImmutable(wm)
}

// LockLoginuidImmutable sets --loginuid-immutable (see LoginuidLocker).
func (c *SteadyClient) LockLoginuidImmutable() error {
	c.discard()
	return Request(c.AuditClient, auditSetFeature, loginuidFeatureRequest())
}
