package reporting

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reports   *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram

	// The queues, sampled every few seconds by the pipeline.
	pending   *prometheus.GaugeVec
	scheduled *prometheus.GaugeVec
	oldest    *prometheus.GaugeVec
	dead      prometheus.Gauge
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
	m.pending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "reportbot_queue_pending",
		Help: "Reports in a game's delivery queue not yet acknowledged: being delivered, or waiting for a worker.",
	}, []string{"game"})
	m.scheduled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "reportbot_queue_scheduled_retries",
		Help: "Reports of a game waiting for their next delivery attempt.",
	}, []string{"game"})
	m.oldest = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "reportbot_queue_oldest_pending_seconds",
		Help: "Age of the oldest pending entry of a game's delivery queue (0 when none).",
	}, []string{"game"})
	m.dead = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "reportbot_queue_dead_letters",
		Help: "Reports given up after a day of failed attempts and kept in the dead-letter stream.",
	})
	reg.MustRegister(m.reports, m.decisions, m.latency, m.pending, m.scheduled, m.oldest, m.dead)
	return m
}

var scopeNames = map[LimitScope]string{
	LimitNone: "none", LimitBarred: "barred", LimitDuplicate: "duplicate", LimitGuild: "guild", LimitGlobal: "global",
}

func (m metrics) limitDecision(d Decision) {
	m.decisions.WithLabelValues(scopeNames[d.Scope]).Inc()
}
