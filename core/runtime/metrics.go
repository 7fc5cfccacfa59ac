package runtime

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/engine-audit/engine/core/buffer"
	"github.com/engine-audit/engine/sdk"
)

// Metrics holds the per-component telemetry every component emits, whatever
// its type (the same names for all, so dashboards and tests can rely on them).
// One Metrics lives for the whole process, across pipeline reloads.
type Metrics struct {
	Registry *prometheus.Registry

	received    *prometheus.CounterVec
	sent        *prometheus.CounterVec
	discarded   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	queueEvents *prometheus.GaugeVec
	queueCap    *prometheus.GaugeVec
	queueDepth  *prometheus.GaugeVec
	bufferBytes *prometheus.GaugeVec
	Reloads     *prometheus.CounterVec

	customMu sync.Mutex
	custom   map[string]*customVec // metrics components declared through sdk.Metrics
}

// customVec is one metric a component declared, with its extra label keys.
type customVec struct {
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	keys    []string
}

var componentLabels = []string{"component_id", "component_kind", "component_type"}

// NewMetrics registers the engine's metrics in a new registry, together
// with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_component_received_events_total",
			Help: "Events a component took from its input queue.",
		}, componentLabels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_component_sent_events_total",
			Help: "Events a component passed on: emitted downstream (inputs, processors) or delivered (outputs).",
		}, componentLabels),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_component_discarded_events_total",
			Help: "Events a component dropped, by reason.",
		}, append(componentLabels, "reason")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_component_errors_total",
			Help: "Errors a component reported, by type (retryable, permanent, processing, panic, run).",
		}, append(componentLabels, "error_type")),
		queueEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "engine_component_queue_events",
			Help: "Events waiting in a component's input queue.",
		}, componentLabels),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "engine_component_queue_batches",
			Help: "Batches waiting in a component's input queue.",
		}, componentLabels),
		queueCap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "engine_component_queue_capacity_batches",
			Help: "Capacity of a component's input queue, in batches.",
		}, componentLabels),
		bufferBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "engine_component_buffer_bytes",
			Help: "Bytes an output's buffer holds that are not delivered yet (on disk for disk buffers; an estimate for memory buffers with max_size).",
		}, componentLabels),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_pipeline_reloads_total",
			Help: "Pipeline reloads (SIGHUP), by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.received, m.sent, m.discarded, m.errors, m.queueEvents, m.queueDepth, m.queueCap, m.bufferBytes, m.Reloads,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// componentMetrics are one component's bound counters, so the hot path does
// no label lookups.
type componentMetrics struct {
	received, sent prometheus.Counter
	queueEvents    prometheus.Gauge
	queueBatches   prometheus.Gauge
	bufferBytes    prometheus.Gauge
	labels         []string
	m              *Metrics
}

func (m *Metrics) component(id, kind, typ string) *componentMetrics {
	l := []string{id, kind, typ}
	return &componentMetrics{
		received:     m.received.WithLabelValues(l...),
		sent:         m.sent.WithLabelValues(l...),
		queueEvents:  m.queueEvents.WithLabelValues(l...),
		queueBatches: m.queueDepth.WithLabelValues(l...),
		bufferBytes:  m.bufferBytes.WithLabelValues(l...),
		labels:       l,
		m:            m,
	}
}

// enqueued and dequeued keep the queue gauges current: n events moved, and
// the queue now holds depth batches.
func (c *componentMetrics) enqueued(n, depth int) {
	c.queueEvents.Add(float64(n))
	c.queueBatches.Set(float64(depth))
}

func (c *componentMetrics) dequeued(n, depth int) {
	c.queueEvents.Sub(float64(n))
	c.queueBatches.Set(float64(depth))
	c.received.Add(float64(n))
}

// buffered sets an output's queue gauges from its buffer.
func (c *componentMetrics) buffered(s buffer.Stats) {
	c.queueEvents.Set(float64(s.Events))
	c.queueBatches.Set(float64(s.Batches))
	c.bufferBytes.Set(float64(s.Bytes))
}

func (c *componentMetrics) discard(reason string, n int) {
	c.m.discarded.WithLabelValues(append(c.labels[:3:3], reason)...).Add(float64(n))
}

func (c *componentMetrics) error(typ string) {
	c.m.errors.WithLabelValues(append(c.labels[:3:3], typ)...).Inc()
}

// forget removes a component's series, after a reload dropped it.
func (c *componentMetrics) forget() {
	p := prometheus.Labels{"component_id": c.labels[0]}
	c.m.received.DeletePartialMatch(p)
	c.m.sent.DeletePartialMatch(p)
	c.m.discarded.DeletePartialMatch(p)
	c.m.errors.DeletePartialMatch(p)
	c.m.queueEvents.DeletePartialMatch(p)
	c.m.queueDepth.DeletePartialMatch(p)
	c.m.queueCap.DeletePartialMatch(p)
	c.m.bufferBytes.DeletePartialMatch(p)
	c.m.customMu.Lock()
	defer c.m.customMu.Unlock()
	for _, v := range c.m.custom {
		if v.counter != nil {
			v.counter.DeletePartialMatch(p)
		}
		if v.gauge != nil {
			v.gauge.DeletePartialMatch(p)
		}
	}
}

// componentSDKMetrics implements sdk.Metrics for one component.
type componentSDKMetrics struct {
	m      *Metrics
	labels []string // component_id, component_kind, component_type values
}

func (m *Metrics) forComponent(c *componentMetrics) sdk.Metrics {
	return &componentSDKMetrics{m: m, labels: c.labels}
}

type nopMetric struct{}

func (nopMetric) Add(float64) {}
func (nopMetric) Set(float64) {}

// vec returns the vector declared under name, creating and registering it
// on first use. A second declaration with another kind or other label keys
// gets nil: the caller then hands out a no-op metric rather than failing a
// running pipeline.
func (m *Metrics) vec(name, help string, gauge bool, keys []string) *customVec {
	m.customMu.Lock()
	defer m.customMu.Unlock()
	if m.custom == nil {
		m.custom = map[string]*customVec{}
	}
	if v, ok := m.custom[name]; ok {
		if (v.gauge != nil) != gauge || !slices.Equal(v.keys, keys) {
			return nil
		}
		return v
	}
	labelNames := append(append([]string(nil), componentLabels...), keys...)
	v := &customVec{keys: keys}
	var c prometheus.Collector
	if gauge {
		v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labelNames)
		c = v.gauge
	} else {
		v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labelNames)
		c = v.counter
	}
	if err := m.Registry.Register(c); err != nil {
		return nil
	}
	m.custom[name] = v
	return v
}

func splitLabels(pairs []string) (keys, values []string, ok bool) {
	if len(pairs)%2 != 0 {
		return nil, nil, false
	}
	for i := 0; i < len(pairs); i += 2 {
		keys = append(keys, pairs[i])
		values = append(values, pairs[i+1])
	}
	return keys, values, true
}

// Counter implements sdk.Metrics.
func (c *componentSDKMetrics) Counter(name, help string, labels ...string) sdk.Counter {
	keys, values, ok := splitLabels(labels)
	if !ok {
		return nopMetric{}
	}
	v := c.m.vec(name, help, false, keys)
	if v == nil {
		return nopMetric{}
	}
	return v.counter.WithLabelValues(append(append([]string(nil), c.labels...), values...)...)
}

// Gauge implements sdk.Metrics.
func (c *componentSDKMetrics) Gauge(name, help string, labels ...string) sdk.Gauge {
	keys, values, ok := splitLabels(labels)
	if !ok {
		return nopMetric{}
	}
	v := c.m.vec(name, help, true, keys)
	if v == nil {
		return nopMetric{}
	}
	return v.gauge.WithLabelValues(append(append([]string(nil), c.labels...), values...)...)
}

// Forget removes every series of a component, after a reload dropped it.
func (m *Metrics) Forget(componentID string) {
	(&componentMetrics{labels: []string{componentID}, m: m}).forget()
}
