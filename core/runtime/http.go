package runtime

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthFunc reports whether the engine is healthy and each component's
// state.
type HealthFunc func() (healthy bool, components map[string]ComponentHealth)

// Handler serves /metrics (Prometheus text format) and /healthz (JSON; 200
// when healthy, 503 otherwise).
func Handler(m *Metrics, health HealthFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, comps := health()
		status := "ok"
		code := http.StatusOK
		if !ok {
			status, code = "unhealthy", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(struct {
			Status     string                     `json:"status"`
			Components map[string]ComponentHealth `json:"components"`
		}{status, comps})
	})
	return mux
}
