package bot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// stillEvery is how often a lasting outage is logged again.
const stillEvery = time.Minute

// outage follows one part of the bot that needs Discord (the registration of the
// commands, the gateway) through its outages. It logs an outage once when it starts
// and at most once a minute while it lasts; the part logs its own line when it works
// again, with the outage's length from up. check is the part's readiness check.
type outage struct {
	log zerolog.Logger
	now func() time.Time
	// pending is check's answer before the first attempt ended; down how check
	// begins while failing ("down", "failing"); retrying what the part does meanwhile.
	pending, down, retrying string
	// started and still are the outage's log messages.
	started, still string

	// first is closed the first time the part works.
	first     chan struct{}
	firstOnce sync.Once

	mu       sync.Mutex
	up       bool
	since    time.Time // start of the current outage; zero when none
	lastErr  error
	attempts int
	logged   time.Time
	refused  error // a failure that is not retried
}

func newOutage(log zerolog.Logger, pending, down, retrying, started, still string) *outage {
	return &outage{log: log, now: time.Now, pending: pending, down: down, retrying: retrying,
		started: started, still: still, first: make(chan struct{})}
}

// fail records a failed attempt (or the loss of a working connection): the first
// starts an outage and is logged; later ones are logged at most once a minute.
func (o *outage) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	o.lastErr = err
	o.attempts++
	if o.since.IsZero() {
		o.up, o.since, o.attempts, o.logged = false, now, 1, now
		o.log.Warn().Err(err).Msg(o.started)
		return
	}
	if now.Sub(o.logged) >= stillEvery {
		o.logged = now
		o.log.Warn().Err(err).Time("since", o.since).Int("attempts", o.attempts).
			Dur("down_for", now.Sub(o.since)).Msg(o.still)
	}
}

// ok records that the part works, and returns how long the outage it ends lasted
// (0 when there was none) and how many attempts failed in it.
func (o *outage) ok() (downFor time.Duration, attempts int) {
	o.firstOnce.Do(func() { close(o.first) })
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		downFor, attempts = o.now().Sub(o.since), o.attempts
	}
	o.up, o.since, o.lastErr, o.attempts = true, time.Time{}, nil, 0
	return downFor, attempts
}

// refuse records a failure that will not be retried; check reports it from then on.
func (o *outage) refuse(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.up, o.refused = false, err
}

// check is the readiness check: nil while the part works, else why not.
func (o *outage) check(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.refused != nil:
		return fmt.Errorf("refused, not retried: %w", o.refused)
	case o.up:
		return nil
	case o.since.IsZero():
		return errors.New(o.pending)
	}
	return fmt.Errorf("%s since %s (%s: %w)", o.down, o.since.UTC().Format(time.TimeOnly)+" UTC", o.retrying, o.lastErr)
}

// backoff is a capped exponential wait with jitter: each wait is drawn from the upper
// half of a range that doubles from min to max, so that many bots coming back after
// the same outage spread out.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 32 {
		d = min(b.min<<b.n, b.max)
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }
