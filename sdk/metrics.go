package sdk

// Metrics lets a component export metrics of its own, beside the ones the
// core keeps for every component (received, sent, discarded, errors, queue).
// Names are full Prometheus names, such as "engine_audit_kernel_backlog";
// the core adds the component's labels (component_id, component_kind,
// component_type). labels are extra label pairs, key then value; every call
// for one name must use the same keys. Asking twice for the same name and
// labels returns the same metric.
type Metrics interface {
	Counter(name, help string, labels ...string) Counter
	Gauge(name, help string, labels ...string) Gauge
}

// Counter only goes up.
type Counter interface {
	Add(delta float64)
}

// Gauge goes up and down.
type Gauge interface {
	Set(value float64)
}

// NopMetrics discards everything; tests and tools use it.
type NopMetrics struct{}

type nopMetric struct{}

func (nopMetric) Add(float64) {}
func (nopMetric) Set(float64) {}

// Counter implements Metrics.
func (NopMetrics) Counter(string, string, ...string) Counter { return nopMetric{} }

// Gauge implements Metrics.
func (NopMetrics) Gauge(string, string, ...string) Gauge { return nopMetric{} }
