package bot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readyWithin bounds all of /readyz's checks together.
const readyWithin = 2 * time.Second

// ReadyCheck is one condition of the bot's readiness. /readyz answers 200 "ready"
// when every check returns nil, and 503 otherwise, with one line per failing check:
// "<name>: <error>".
type ReadyCheck struct {
	// Name labels the check in /readyz's answer, e.g. "redis" or "delivery".
	Name string
	// Check returns why the bot is not ready, or nil. It must return when ctx ends:
	// /readyz gives all checks two seconds together.
	Check func(ctx context.Context) error
}

// readyChecks are the bot's own checks, "registration", "gateway" (when it is on)
// and "redis" (a PING of the Store), followed by those of Options.Ready; a check of
// Options.Ready named like one of the bot's own takes its place.
func (b *Bot) readyChecks(extra []ReadyCheck) []ReadyCheck {
	own := []ReadyCheck{{Name: "registration", Check: b.registration.check}}
	if b.cfg.Gateway {
		own = append(own, ReadyCheck{Name: "gateway", Check: b.gatewayState.check})
	}
	own = append(own, ReadyCheck{Name: "redis", Check: func(ctx context.Context) error {
		if err := b.store.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("unreachable: %w", err)
		}
		return nil
	}})
	out := make([]ReadyCheck, 0, len(own)+len(extra))
	for _, c := range own {
		if !named(extra, c.Name) {
			out = append(out, c)
		}
	}
	return append(out, extra...)
}

func named(checks []ReadyCheck, name string) bool {
	for _, c := range checks {
		if c.Name == name {
			return true
		}
	}
	return false
}

// serveReady runs every check at once and answers "ready", or 503 with a line per
// failing check, in the checks' order.
func (b *Bot) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyWithin)
	defer cancel()
	errs := make([]error, len(b.checks))
	var wg sync.WaitGroup
	for n, c := range b.checks {
		wg.Go(func() { errs[n] = c.Check(ctx) })
	}
	wg.Wait()
	var why strings.Builder
	for n, err := range errs {
		if err != nil {
			// One line per check, whatever the error holds.
			fmt.Fprintf(&why, "%s: %s\n", b.checks[n].Name, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	if why.Len() > 0 {
		b.log.Debug().Str("why", why.String()).Msg("not ready")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, why.String())
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
