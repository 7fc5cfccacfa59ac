package audit

import (
	libaudit "github.com/elastic/go-libaudit/v2"

	"github.com/engine-audit/engine/sdk"
)

// inputMetrics are the audit input's own metrics, beside the ones the core
// keeps for every component.
type inputMetrics struct {
	m                                        sdk.Metrics
	records, overflows, drift                sdk.Counter
	backlog, backlogLimit, lostCounter, rate sdk.Gauge
	enabled, failure, backlogWait, pid       sdk.Gauge
}

func newInputMetrics(m sdk.Metrics) inputMetrics {
	return inputMetrics{
		m:            m,
		records:      m.Counter("engine_audit_records_received_total", "Audit records received from the kernel."),
		overflows:    m.Counter("engine_audit_socket_overflows_total", "Times the netlink socket's receive buffer overflowed (records dropped for engine)."),
		drift:        m.Counter("engine_audit_rule_changes_total", "Times the kernel's audit rules were found changed by someone else."),
		backlog:      m.Gauge("engine_audit_kernel_backlog", "Records waiting in the kernel's audit queue."),
		backlogLimit: m.Gauge("engine_audit_kernel_backlog_limit", "The kernel's audit backlog limit."),
		lostCounter:  m.Gauge("engine_audit_kernel_lost", "The kernel's count of audit records lost since boot."),
		rate:         m.Gauge("engine_audit_kernel_rate_limit", "The kernel's audit rate limit, records per second (0 = none)."),
		enabled:      m.Gauge("engine_audit_kernel_enabled", "Kernel audit: 0 disabled, 1 enabled, 2 enabled and immutable."),
		failure:      m.Gauge("engine_audit_kernel_failure_mode", "Kernel audit failure mode: 0 silent, 1 printk, 2 panic."),
		backlogWait:  m.Gauge("engine_audit_kernel_backlog_wait_time", "The kernel's backlog wait time, in ticks."),
		pid:          m.Gauge("engine_audit_kernel_pid", "The process holding the audit PID (0 = none)."),
	}
}

// lost counts lost records or events by cause.
func (im inputMetrics) lost(cause string) sdk.Counter {
	return im.m.Counter("engine_audit_lost_total", "Audit records or events lost, by cause (kernel_lost, sequence_gap, pipeline_full, engine_stopped).", "cause", cause)
}

func (im inputMetrics) status(st *libaudit.AuditStatus) {
	im.backlog.Set(float64(st.Backlog))
	im.backlogLimit.Set(float64(st.BacklogLimit))
	im.lostCounter.Set(float64(st.Lost))
	im.rate.Set(float64(st.RateLimit))
	im.enabled.Set(float64(st.Enabled))
	im.failure.Set(float64(st.Failure))
	im.backlogWait.Set(float64(st.BacklogWaitTime))
	im.pid.Set(float64(st.PID))
}
