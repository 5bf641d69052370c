// Package upstream is the HTTP plumbing every upstream client of the bot shares
// (Discord's REST API, RallyHere, Bungie.net, a studio's webhook): a pooled transport,
// instrumentation through promhttp's round-tripper middleware, the test of whether a
// failure may pass, and the rule that a retry never waits past its context's
// deadline. Each client keeps only the decoding of its own API's errors.
package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics count and time the requests to every upstream, by upstream, operation,
// method and status code. Make one per registry; Client makes a client of it per
// upstream.
type Metrics struct {
	requests *prometheus.CounterVec
	failed   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the upstream metrics in reg (nil: a throwaway registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_upstream_requests_total",
			Help: "Requests to an upstream API that got an answer, by upstream, operation, method and HTTP status code.",
		}, []string{"upstream", "op", "method", "code"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_upstream_request_errors_total",
			Help: "Requests to an upstream API that got no answer (timeouts, connection errors), by upstream and operation.",
		}, []string{"upstream", "op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reportbot_upstream_request_seconds",
			Help:    "Latency of requests to an upstream API that got an answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"upstream", "op", "method", "code"}),
	}
	reg.MustRegister(m.requests, m.failed, m.latency)
	return m
}

// Client returns an HTTP client for the upstream named name: pooled connections, the
// given timeout per request, and every request counted and timed.
func (m *Metrics) Client(name string, timeout time.Duration) *http.Client {
	labels := prometheus.Labels{"upstream": name}
	opOf := promhttp.WithLabelFromCtx("op", OpOf)
	failed := m.failed.MustCurryWith(labels)
	var rt http.RoundTripper = Transport()
	rt = promhttp.InstrumentRoundTripperDuration(m.latency.MustCurryWith(labels), rt, opOf)
	rt = promhttp.InstrumentRoundTripperCounter(m.requests.MustCurryWith(labels), rt, opOf)
	return &http.Client{Timeout: timeout, Transport: promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err != nil {
			failed.WithLabelValues(OpOf(r.Context())).Inc()
		}
		return resp, err
	})}
}

// Transport keeps enough idle connections for the bot's concurrency: Go's default
// keeps two per host, and every call past those would open a new connection.
func Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
	return t
}

type opKey struct{}

// WithOp names the operation of the requests made with ctx, for the metrics.
func WithOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// OpOf is the operation WithOp put in ctx ("" when none).
func OpOf(ctx context.Context) string {
	op, _ := ctx.Value(opKey{}).(string)
	return op
}

// Temporary reports whether err, from sending a request, may pass if tried again: a
// timeout, a connection refused or dropped, an answer cut short. A client adds the
// answers of its API that mean the same (5xx, 429, throttles).
func Temporary(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// margin is what a wait must leave of a context's deadline: time for the next try.
const margin = 100 * time.Millisecond

// Retry calls try until it returns no error, or a negative wait (do not try again),
// or a wait that would not fit before ctx's deadline (with room for the next try to
// be answered): an interaction callback never sleeps past Discord's 3 seconds. It
// returns try's last error.
func Retry(ctx context.Context, try func(attempt int) (wait time.Duration, err error)) error {
	for attempt := 0; ; attempt++ {
		wait, err := try(attempt)
		if err == nil || wait < 0 || !Fits(ctx, wait) || !Sleep(ctx, wait) {
			return err
		}
	}
}

// Fits reports whether waiting d still leaves ctx time for a request.
func Fits(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) >= d+margin
}

// Sleep waits d unless ctx ends first; it reports whether it waited.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// RetryAfter reads a Retry-After header: seconds (fractions allowed) or an HTTP date;
// zero when absent or unreadable.
func RetryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
