package elasticsearch

import "github.com/engine-audit/engine/sdk"

// metrics are the output's own counters, beside the core's per-component
// ones.
type metrics struct {
	requestsOK     sdk.Counter
	requestsFailed sdk.Counter
	bulkBytes      sdk.Counter
	docs           [deadLettered + 1]sdk.Counter
}

func newMetrics(m sdk.Metrics) metrics {
	const docsName = "engine_elasticsearch_documents_total"
	const docsHelp = "Documents by result: created, duplicate (stored by an earlier attempt), retry, rejected, dead_lettered."
	out := metrics{
		requestsOK:     m.Counter("engine_elasticsearch_requests_total", "Bulk requests by result: ok (answered 200), failed (no answer or an error status).", "result", "ok"),
		requestsFailed: m.Counter("engine_elasticsearch_requests_total", "Bulk requests by result: ok (answered 200), failed (no answer or an error status).", "result", "failed"),
		bulkBytes:      m.Counter("engine_elasticsearch_bulk_bytes_total", "Bytes of bulk request bodies before compression."),
	}
	out.docs[created] = m.Counter(docsName, docsHelp, "result", "created")
	out.docs[duplicate] = m.Counter(docsName, docsHelp, "result", "duplicate")
	out.docs[retry] = m.Counter(docsName, docsHelp, "result", "retry")
	out.docs[rejected] = m.Counter(docsName, docsHelp, "result", "rejected")
	out.docs[deadLettered] = m.Counter(docsName, docsHelp, "result", "dead_lettered")
	return out
}

func (m *metrics) count(n [deadLettered + 1]int) {
	for k, c := range n {
		if c > 0 && m.docs[k] != nil {
			m.docs[k].Add(float64(c))
		}
	}
}
