// Package redishealth watches whether Redis can be reached, so that the rest of the
// bot can tell an outage from a fault: people are told reports are paused (with the
// outage's ref), /readyz says Redis is down, and the outage is logged once when it
// starts, once when it ends and at most once a minute in between, instead of a
// line per failed call. go-redis's own log lines go through it too (Logger).
package redishealth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/ref"
)

// Pinger is what the monitor needs of a Redis client.
type Pinger interface {
	Ping(ctx context.Context) *redis.StatusCmd
}

// Monitor tracks Redis's availability. The zero value is not usable: use New.
type Monitor struct {
	rdb   Pinger
	log   zerolog.Logger
	every time.Duration
	up    prometheus.Gauge
	now   func() time.Time

	mu      sync.Mutex
	down    bool
	since   time.Time // when the outage began
	ref     string    // the outage's ref, shown to people and logged
	lastErr error
	logged  time.Time // when the outage was last logged
}

// Options tune a Monitor; the zero value is usable.
type Options struct {
	// Every is how often Redis is pinged (default 1 s).
	Every time.Duration
	// Registerer gets the reportbot_redis_up gauge (default: a throwaway registry).
	Registerer prometheus.Registerer
}

// New returns a monitor of rdb logging to log. Run pings.
func New(rdb Pinger, log zerolog.Logger, o Options) *Monitor {
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	m := &Monitor{rdb: rdb, log: log.With().Str("component", "redis").Logger(), every: o.Every, now: time.Now,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reportbot_redis_up",
			Help: "1 while Redis answers the bot's pings, 0 during an outage.",
		})}
	m.up.Set(1)
	o.Registerer.MustRegister(m.up)
	return m
}

// stillDownEvery is how often a lasting outage is logged again.
const stillDownEvery = time.Minute

// Run pings Redis until ctx ends, ending an outage when Redis answers again and
// starting one when it does not.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, max(m.every, time.Second))
		err := m.rdb.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.Failed(err)
		} else {
			m.recovered()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Failed records that a call to Redis failed with err. When err means Redis cannot be
// reached (Unavailable), an outage begins, if one has not already; it returns the
// outage's ref and true. Other errors are the caller's to report: "" and false.
func (m *Monitor) Failed(err error) (string, bool) {
	if !Unavailable(err) {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.lastErr = err
	switch {
	case !m.down:
		m.down, m.since, m.ref, m.logged = true, now, ref.New(), now
		m.up.Set(0)
		m.log.Error().Err(err).Str("ref", m.ref).Msg("redis unreachable: interactions are answered with a pause notice and delivery waits until it is back")
	case now.Sub(m.logged) >= stillDownEvery:
		m.logged = now
		m.log.Error().Err(err).Str("ref", m.ref).Dur("down_for", now.Sub(m.since).Round(time.Second)).Msg("redis still unreachable")
	}
	return m.ref, true
}

func (m *Monitor) recovered() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.down {
		return
	}
	m.down = false
	m.up.Set(1)
	m.log.Info().Str("ref", m.ref).Dur("down_for", m.now().Sub(m.since).Round(time.Millisecond)).Msg("redis reachable again")
}

// Down reports whether Redis is unreachable now, as far as the monitor knows.
func (m *Monitor) Down() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.down
}

// Quiet reports whether err is a symptom of an outage, which the monitor logs (so the
// caller logs it at debug level only). It starts the outage if err is the first sign.
func (m *Monitor) Quiet(err error) bool {
	_, down := m.Failed(err)
	return down
}

// Probe pings Redis now: nil when it answers, else the outage (begun now if it was
// not known yet) and why, for /readyz.
func (m *Monitor) Probe(ctx context.Context) error {
	err := m.rdb.Ping(ctx).Err()
	if err == nil {
		m.recovered()
		return nil
	}
	if _, outage := m.Failed(err); !outage {
		return fmt.Errorf("not answering: %w", err)
	}
	return m.Check(ctx)
}

// Check is nil while Redis answers, else why not (for /readyz).
func (m *Monitor) Check(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.down {
		return nil
	}
	return fmt.Errorf("unreachable since %s (ref %s): %v", m.since.UTC().Format(time.TimeOnly), m.ref, m.lastErr)
}

// Unavailable reports whether err means Redis cannot be reached or cannot serve right
// now (connection refused or dropped, timeouts, a full pool, a cluster or a replica
// not ready, a failover under way), as opposed to an error in what was asked.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"CLUSTERDOWN", "LOADING", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "MOVED", "ASK "} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "i/o timeout")
}

// Logger is go-redis's logger (redis.SetLogger) writing through the bot's: the
// library's lines become structured events, warnings normally, debug while an outage
// is on (which the monitor logs itself).
func (m *Monitor) Logger() interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return goRedisLog{m}
}

type goRedisLog struct{ m *Monitor }

func (g goRedisLog) Printf(_ context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	ev := g.m.log.Warn()
	// A line about failing to reach Redis is a sign of an outage: the monitor logs
	// that (starting it now if this is the first sign).
	if g.m.Quiet(errors.New(msg)) || g.m.Down() {
		ev = g.m.log.Debug()
	}
	ev.Str("library", "go-redis").Msg(msg)
}
