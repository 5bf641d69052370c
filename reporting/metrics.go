package reporting

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reports   *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_reports_total",
			Help: "Reports by game and what happened to them (stored, delivered, retried, failed, dead).",
		}, []string{"game", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_limit_decisions_total",
			Help: "Rate-limit decisions when filing, by the rule that decided (none = allowed).",
		}, []string{"rule"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reportbot_report_delivery_seconds",
			Help:    "Time from a report being filed to the upstream accepting it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, 1, 10, 60, 600, 3600, 86400},
		}),
	}
	reg.MustRegister(m.reports, m.decisions, m.latency)
	return m
}

var scopeNames = map[LimitScope]string{
	LimitNone: "none", LimitBarred: "barred", LimitDuplicate: "duplicate", LimitGuild: "guild", LimitGlobal: "global",
}

func (m metrics) limitDecision(d Decision) {
	m.decisions.WithLabelValues(scopeNames[d.Scope]).Inc()
}

// UpstreamObserver returns a function that counts and times the requests to one
// upstream, for the upstream clients' Observe options.
func UpstreamObserver(reg prometheus.Registerer, upstream string) func(op string, status int, d time.Duration) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "reportbot_upstream_requests_total",
		Help:        "Requests to an upstream API by operation and HTTP status (0: no answer).",
		ConstLabels: prometheus.Labels{"upstream": upstream},
	}, []string{"op", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "reportbot_upstream_request_seconds",
		Help:        "Latency of requests to an upstream API.",
		ConstLabels: prometheus.Labels{"upstream": upstream},
		Buckets:     prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"op"})
	reg.MustRegister(requests, latency)
	return func(op string, status int, d time.Duration) {
		requests.WithLabelValues(op, statusLabel(status)).Inc()
		latency.WithLabelValues(op).Observe(d.Seconds())
	}
}

// knownStatuses are the HTTP statuses the upstream clients tell apart; each is a label
// value of its own.
var knownStatuses = []int{0, 200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 425, 429,
	500, 501, 502, 503, 504}

// statusLabel is an upstream's HTTP status as a metric label: the status when the bot
// knows it, else its class ("4xx"), else "other". The status is the upstream's to
// choose, and a label value must come from a closed set.
func statusLabel(status int) string {
	if slices.Contains(knownStatuses, status) {
		return strconv.Itoa(status)
	}
	if status >= 100 && status <= 599 {
		return strconv.Itoa(status/100) + "xx"
	}
	return "other"
}
