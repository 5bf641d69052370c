package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/config"
)

// clock is a settable time for outage's logging.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestOutageLogs: an outage is logged once when it starts and at most once a
// minute while it lasts, however many attempts fail; ok ends it with its length.
func TestOutageLogs(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	o := gatewayOutage(zerolog.New(logs))
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC)}
	o.now = c.now
	if err := o.check(context.Background()); err == nil || err.Error() != "not connected yet" {
		t.Fatalf("before the first attempt: %v", err)
	}
	boom := errors.New("connecting to the gateway: HTTP 503: websocket: bad handshake")
	for range 100 { // a retry every 0.5 s for 50 s
		o.fail(boom)
		c.advance(500 * time.Millisecond)
	}
	if n, m := logs.count("gateway down; reconnecting"), logs.count("gateway still down"); n != 1 || m != 0 {
		t.Fatalf("after 50 s: %d start lines, %d still lines; want 1 and 0", n, m)
	}
	want := "down since 12:00:01 UTC (reconnecting: connecting to the gateway: HTTP 503: websocket: bad handshake)"
	if err := o.check(context.Background()); err == nil || err.Error() != want {
		t.Fatalf("check: %v, want %s", err, want)
	}
	for range 260 { // 130 s more
		o.fail(boom)
		c.advance(500 * time.Millisecond)
	}
	if n, m := logs.count("gateway down; reconnecting"), logs.count("gateway still down"); n != 1 || m != 2 {
		t.Fatalf("after 180 s: %d start lines, %d still lines; want 1 and 2", n, m)
	}
	downFor, attempts := o.ok()
	if downFor != 180*time.Second || attempts != 360 {
		t.Errorf("ok: down for %v after %d attempts, want 3m0s and 360", downFor, attempts)
	}
	if err := o.check(context.Background()); err != nil {
		t.Errorf("check once up: %v", err)
	}
	select {
	case <-o.first:
	default:
		t.Error("first is not closed after ok")
	}
	// A new outage starts a new count and is logged again.
	o.fail(boom)
	if n := logs.count("gateway down; reconnecting"); n != 2 {
		t.Errorf("%d start lines after a second outage, want 2", n)
	}
	o.refuse(errors.New("no"))
	if err := o.check(context.Background()); err == nil || err.Error() != "refused, not retried: no" {
		t.Errorf("check after refuse: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	for n, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceil *= time.Millisecond
		if d := b.next(); d < ceil/2 || d > ceil {
			t.Errorf("wait %d: %v, want within [%v, %v]", n, d, ceil/2, ceil)
		}
	}
	for range 100 {
		b.next() // no overflow past the cap
	}
	if d := b.next(); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("after many: %v", d)
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

// pingStore is a Store whose PING answers err.
type pingStore struct{ err error }

func (s pingStore) Ping(context.Context) *redis.StatusCmd {
	return redis.NewStatusResult("PONG", s.err)
}
func (s pingStore) SetNX(context.Context, string, any, time.Duration) *redis.BoolCmd {
	return redis.NewBoolResult(true, nil)
}

func newTestBot(t *testing.T, d *discordtest.Server, cfg config.Discord, store Store, extra []ReadyCheck) (*Bot, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	var rest *REST
	if d != nil {
		cfg.APIURL, cfg.ApplicationID = d.URL, d.AppID
		if cfg.Token == "" {
			cfg.Token = d.BotToken
		}
		rest = NewREST(d.URL, cfg.Token, d.AppID, nil)
	}
	b := New(Options{
		Discord: cfg, HTTPAddr: "127.0.0.1:0", REST: rest, Store: store, Ready: extra,
		Commands: []*discordgo.ApplicationCommand{{Name: "report", Description: "Report a player", Type: discordgo.ChatApplicationCommand}},
		Registry: prometheus.NewRegistry(), Logger: zerolog.New(logs),
	})
	b.registerBackoff = backoff{min: 20 * time.Millisecond, max: 200 * time.Millisecond}
	return b, logs
}

func readyz(t *testing.T, b *Bot) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	b.serveReady(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	failing := func(msg string) func(context.Context) error {
		return func(context.Context) error { return errors.New(msg) }
	}
	t.Run("one line per failing check, in order", func(t *testing.T) {
		b, _ := newTestBot(t, nil, config.Discord{Gateway: true}, pingStore{err: errors.New("dial tcp: connection refused")},
			[]ReadyCheck{{Name: "delivery", Check: failing("cannot read the queue:\nNOGROUP")}, {Name: "fine", Check: func(context.Context) error { return nil }}})
		status, body := readyz(t, b)
		want := "registration: commands not registered yet\n" +
			"gateway: not connected yet\n" +
			"redis: unreachable: dial tcp: connection refused\n" +
			"delivery: cannot read the queue: NOGROUP\n"
		if status != 503 || body != want {
			t.Fatalf("got %d %q, want 503 %q", status, body, want)
		}
	})
	t.Run("all pass", func(t *testing.T) {
		b, _ := newTestBot(t, nil, config.Discord{Gateway: true}, pingStore{}, nil)
		b.registration.ok()
		b.gatewayState.ok()
		if status, body := readyz(t, b); status != 200 || body != "ready\n" {
			t.Fatalf("got %d %q", status, body)
		}
		b.gatewayState.fail(errors.New("gateway connection lost: EOF"))
		if status, body := readyz(t, b); status != 503 || !strings.HasPrefix(body, "gateway: down since ") || !strings.Contains(body, "(reconnecting: gateway connection lost: EOF)") {
			t.Fatalf("gateway lost: %d %q", status, body)
		}
	})
	t.Run("no gateway check without the gateway", func(t *testing.T) {
		b, _ := newTestBot(t, nil, config.Discord{Gateway: false}, pingStore{}, nil)
		b.registration.ok()
		if status, body := readyz(t, b); status != 200 {
			t.Fatalf("got %d %q", status, body)
		}
	})
	t.Run("a given check replaces the bot's own of that name", func(t *testing.T) {
		b, _ := newTestBot(t, nil, config.Discord{}, pingStore{err: errors.New("ping failed")},
			[]ReadyCheck{{Name: "redis", Check: failing("primary unreachable")}})
		b.registration.ok()
		if status, body := readyz(t, b); status != 503 || body != "redis: primary unreachable\n" {
			t.Fatalf("got %d %q", status, body)
		}
	})
	t.Run("slow checks are cut off", func(t *testing.T) {
		b, _ := newTestBot(t, nil, config.Discord{}, pingStore{}, []ReadyCheck{{Name: "slow", Check: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}})
		b.registration.ok()
		start := time.Now()
		status, body := readyz(t, b)
		if status != 503 || body != "slow: context deadline exceeded\n" {
			t.Fatalf("got %d %q", status, body)
		}
		if took := time.Since(start); took > 2*readyWithin {
			t.Errorf("took %v", took)
		}
	})
}

// TestRegister: the bulk overwrite is retried through outages, a refusal of the
// credentials is returned, and any other 4xx is reported but not retried.
func TestRegister(t *testing.T) {
	t.Parallel()
	outages := []struct {
		name string
		f    discordtest.Failure
		why  string
	}{
		{"5xx", discordtest.Failure{Status: 503}, "HTTP 503"},
		{"429", discordtest.Failure{Status: 429, RetryAfter: 30 * time.Millisecond}, "HTTP 429"},
		{"unreachable", discordtest.Failure{Drop: true}, "discord PUT /applications/"},
	}
	for _, tt := range outages {
		t.Run(tt.name, func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{})
			d.FailFor(http.MethodPut, "/applications/", 0, tt.f)
			b, logs := newTestBot(t, d, config.Discord{}, pingStore{}, nil)
			done := make(chan error, 1)
			go func() { done <- b.register(context.Background()) }()
			// Each attempt is up to four PUTs: the REST client retries 5xx and 429
			// three times itself.
			waitUntil(t, 20*time.Second, "two failed attempts", func() bool {
				b.registration.mu.Lock()
				defer b.registration.mu.Unlock()
				return b.registration.attempts >= 2
			})
			err := b.registration.check(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), "failing since ") || !strings.Contains(err.Error(), "(retrying: ") || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("readiness %v", err)
			}
			d.Recover()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(d.Commands("")) != 1 || b.registration.check(context.Background()) != nil {
				t.Fatalf("not registered: %v", d.Commands(""))
			}
			if n := logs.count("registering commands failed; retrying until Discord answers"); n != 1 {
				t.Errorf("%d outage lines, want 1", n)
			}
			if n := logs.count("commands registered"); n != 1 || !strings.Contains(logs.String(), `"down_for"`) {
				t.Errorf("%d \"commands registered\" lines (with the outage's length), want 1:\n%s", n, logs)
			}
		})
	}

	refusals := []struct {
		name   string
		status int
		token  string
		fatal  bool
	}{
		{"bad token", 0, "wrong", true},
		{"403", http.StatusForbidden, "", true},
		{"400: a bug in the commands", http.StatusBadRequest, "", false},
		{"413: a bug in the commands", http.StatusRequestEntityTooLarge, "", false},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{})
			if tt.status != 0 {
				d.FailFor(http.MethodPut, "/applications/", 0, discordtest.Failure{Status: tt.status})
			}
			b, logs := newTestBot(t, d, config.Discord{Token: tt.token}, pingStore{}, nil)
			err := b.register(context.Background())
			var refused *RefusedError
			if tt.fatal != errors.As(err, &refused) {
				t.Fatalf("register: %v; want a RefusedError: %v", err, tt.fatal)
			}
			if tt.fatal && (!strings.Contains(err.Error(), "registering commands: Discord refused the bot (check DISCORD_TOKEN and DISCORD_APPLICATION_ID)") || strings.Contains(err.Error(), "\n")) {
				t.Errorf("error %q", err)
			}
			if !tt.fatal && err != nil {
				t.Errorf("register: %v; want nil: the bot serves on", err)
			}
			if c := b.registration.check(context.Background()); c == nil || !strings.HasPrefix(c.Error(), "refused, not retried: ") {
				t.Errorf("readiness %v", c)
			}
			puts := 0
			for _, c := range d.Calls() {
				if c.Method == http.MethodPut {
					puts++
				}
			}
			if puts != 1 {
				t.Errorf("%d attempts, want 1: a refusal is not retried", puts)
			}
			if !tt.fatal && logs.count("registering commands") != 1 {
				t.Errorf("the refused commands were not logged as an error:\n%s", logs)
			}
		})
	}

	t.Run("wrong application", func(t *testing.T) {
		d := discordtest.New(t, discordtest.Options{})
		b, _ := newTestBot(t, d, config.Discord{}, pingStore{}, nil)
		b.rest = NewREST(d.URL, d.BotToken, "1234567890", nil)
		var refused *RefusedError
		if err := b.register(context.Background()); !errors.As(err, &refused) || !IsCode(err, codeUnknownApplication) {
			t.Fatalf("register: %v; want a RefusedError for Unknown Application", err)
		}
	})

	t.Run("ends with its context, mid-backoff", func(t *testing.T) {
		d := discordtest.New(t, discordtest.Options{})
		d.FailFor(http.MethodPut, "/applications/", 0, discordtest.Failure{Drop: true})
		b, _ := newTestBot(t, d, config.Discord{}, pingStore{}, nil)
		b.registerBackoff = backoff{min: time.Hour, max: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.register(ctx) }()
		waitUntil(t, 10*time.Second, "a failed attempt", func() bool {
			err := b.registration.check(ctx)
			return err != nil && strings.HasPrefix(err.Error(), "failing since")
		})
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("register did not return within 5 s of its context ending, mid-backoff")
		}
	})
}
