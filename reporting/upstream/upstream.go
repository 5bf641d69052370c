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
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics count and time the requests to every upstream, by upstream, operation,
// method and status. Make one per registry; Client makes a client of it per upstream.
// Every label value is from a closed set: the operation is the client's, and the
// status is the upstream's to choose (a proxy, an outage page), so it is a label of
// its own only when the bot knows it, and its class ("4xx") or "other" when not.
type Metrics struct {
	// transport is the connection pool the clients share.
	transport *http.Transport
	requests  *prometheus.CounterVec
	failed    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

// NewMetrics registers the upstream metrics in reg (nil: a throwaway registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		transport: Transport(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_upstream_requests_total",
			Help: "Requests to an upstream API that got an answer, by upstream, operation, method and HTTP status.",
		}, []string{"upstream", "op", "method", "status"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_upstream_request_errors_total",
			Help: "Requests to an upstream API that got no answer (timeouts, connection errors), by upstream and operation.",
		}, []string{"upstream", "op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reportbot_upstream_request_seconds",
			Help:    "Latency of requests to an upstream API that got an answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"upstream", "op", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.failed, m.latency)
	return m
}

// Client returns an HTTP client for the upstream named name: pooled connections, the
// given timeout per request, and every request counted and timed.
func (m *Metrics) Client(name string, timeout time.Duration) *http.Client {
	labels := prometheus.Labels{"upstream": name}
	opts := []promhttp.Option{promhttp.WithLabelFromCtx("op", OpOf), promhttp.WithLabelFromCtx("status", statusOf)}
	failed := m.failed.MustCurryWith(labels)
	// The status label is read from the request's context once the answer is in:
	// the innermost round-tripper writes it there.
	var rt http.RoundTripper = promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := m.transport.RoundTrip(r)
		if s, ok := r.Context().Value(statusKey{}).(*string); ok && err == nil {
			*s = StatusLabel(resp.StatusCode)
		}
		return resp, err
	})
	rt = promhttp.InstrumentRoundTripperDuration(m.latency.MustCurryWith(labels), rt, opts...)
	rt = promhttp.InstrumentRoundTripperCounter(m.requests.MustCurryWith(labels), rt, opts...)
	return &http.Client{Timeout: timeout, Transport: promhttp.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		status := "other"
		resp, err := rt.RoundTrip(r.WithContext(context.WithValue(r.Context(), statusKey{}, &status)))
		if err != nil {
			failed.WithLabelValues(OpOf(r.Context())).Inc()
		}
		return resp, err
	})}
}

type statusKey struct{}

func statusOf(ctx context.Context) string {
	if s, ok := ctx.Value(statusKey{}).(*string); ok {
		return *s
	}
	return "other"
}

// knownStatuses are the HTTP statuses the upstream clients tell apart; each is a label
// value of its own.
var knownStatuses = []int{200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 425, 429,
	500, 501, 502, 503, 504}

// StatusLabel is an upstream's HTTP status as a metric label: the status when the bot
// knows it, else its class ("4xx"), else "other".
func StatusLabel(status int) string {
	if slices.Contains(knownStatuses, status) {
		return strconv.Itoa(status)
	}
	if status >= 100 && status <= 599 {
		return strconv.Itoa(status/100) + "xx"
	}
	return "other"
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
