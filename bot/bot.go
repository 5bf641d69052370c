// Package bot owns everything that touches Discord: the gateway session, the HTTP
// interactions endpoint (with /healthz, /readyz and /metrics), the REST client, and the
// registration of the commands. Interactions from either transport go to the same
// Handler; package commands provides it.
package bot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"

	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/upstream"
)

const (
	// answerWithin is the budget for answering an interaction: Discord allows three
	// seconds, and the answer still has to travel.
	answerWithin = 2500 * time.Millisecond
	// laterWithin bounds deferred work; the interaction token it edits with lasts 15
	// minutes.
	laterWithin = 10 * time.Minute
	// shutdownWithin bounds the whole shutdown.
	shutdownWithin = 25 * time.Second
	// laterWorkers run the deferred work of answered interactions. A fixed few keep a
	// burst of follow-ups (player lookups, filing) from starving the answers still
	// to give, which have Discord's 3 seconds; follow-ups have 15 minutes.
	laterWorkers = 8
)

// Handler answers interactions.
type Handler interface {
	Handle(ctx context.Context, i *discordgo.Interaction) commands.Response
	// Unavailable answers an interaction the bot could not check for a replay
	// because Redis failed with err.
	Unavailable(i *discordgo.Interaction, err error) commands.Response
}

// Store is what the bot needs of Redis: readiness and replay protection.
type Store interface {
	Ping(ctx context.Context) *redis.StatusCmd
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
}

// Options are the bot's parts, built by main.
type Options struct {
	Discord  config.Discord
	HTTPAddr string
	Router   Handler
	REST     *REST
	Store    Store
	Commands []*discordgo.ApplicationCommand
	// SignIn, when set, serves the Bungie.net sign-in pages under /oauth/bungie/
	// (package reporting's SignInPages).
	SignIn http.Handler
	// Ready are checks /readyz runs besides the bot's own ("registration", "gateway"
	// and "redis"); one named like one of the bot's own takes its place.
	Ready    []ReadyCheck
	Registry *prometheus.Registry
	Logger   zerolog.Logger

	// MetricsAddr, when set, serves /metrics on a listener of its own instead of on
	// HTTPAddr.
	MetricsAddr string
}

// Bot runs the transports until its context ends.
type Bot struct {
	cfg       config.Discord
	addr      string
	publicKey ed25519.PublicKey
	// verifyKey is publicKey unpacked for verifying signatures; nil for a key that
	// is not a point of the curve (config.Load refuses one), which verifies nothing.
	verifyKey *voied.ExpandedPublicKey
	router    Handler
	rest      *REST
	store     Store
	commands  []*discordgo.ApplicationCommand
	signIn    http.Handler
	registry  *prometheus.Registry
	log       zerolog.Logger
	metrics   botMetrics
	checks    []ReadyCheck

	// registration and gatewayState follow those parts through Discord's outages.
	registration *outage
	gatewayState *outage
	// registerBackoff spaces the attempts to register the commands.
	registerBackoff backoff
	// metricsAddr, when set, is where /metrics is served instead of addr.
	metricsAddr string
	// smallBodies and largeBodies share bodyBudget among the interaction bodies being
	// read; busyLog says at most once a minute that it ran out.
	smallBodies, largeBodies *semaphore.Weighted
	busyLog                  zerolog.Logger

	// mu orders taking work (begin) against shutdown's stop.
	mu        sync.Mutex
	accepting bool
	inflight  sync.WaitGroup
	// workCtx is the parent of all interaction work; it ends only when shutdown
	// gives up waiting.
	workCtx    context.Context
	cancelWork context.CancelFunc

	// ready is closed once the bot serves HTTP, its commands are registered and (with
	// the gateway on) the gateway connected for the first time.
	ready chan struct{}
	lis   net.Listener

	// laterQueue feeds the laterWorkers.
	laterQueue chan func(context.Context)
}

// New assembles a Bot.
func New(o Options) *Bot {
	b := &Bot{
		cfg: o.Discord, addr: o.HTTPAddr, publicKey: o.Discord.PublicKey,
		router: o.Router, rest: o.REST, store: o.Store, commands: o.Commands, signIn: o.SignIn,
		registry: o.Registry, log: o.Logger, metrics: newBotMetrics(o.Registry),
		metricsAddr: o.MetricsAddr,
		smallBodies: semaphore.NewWeighted(bodyBudget / 2), largeBodies: semaphore.NewWeighted(bodyBudget / 2),
		busyLog:    o.Logger.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Minute}),
		ready:      make(chan struct{}),
		laterQueue: make(chan func(context.Context), 4096),
	}
	b.verifyKey = verifyKeyOf(b.publicKey)
	b.workCtx, b.cancelWork = context.WithCancel(context.Background())
	b.registration = registrationOutage(b.log)
	b.registerBackoff = backoff{min: time.Second, max: time.Minute}
	b.gatewayState = gatewayOutage(b.log)
	b.checks = b.readyChecks(o.Ready)
	for range laterWorkers {
		go func() {
			for then := range b.laterQueue {
				b.runLater(then)
			}
		}()
	}
	return b
}

// Ready is closed when the bot serves HTTP, its commands are registered and, with the
// gateway on, the gateway has connected once. /readyz tells whether all is well now.
func (b *Bot) Ready() <-chan struct{} { return b.ready }

// Addr is the address the HTTP server listens on, once Ready.
func (b *Bot) Addr() string { return b.lis.Addr().String() }

// Run serves until ctx ends, then shuts down: it closes the gateway session (and
// stops registering), stops taking interactions and finishes the work in flight,
// which includes answering what the gateway brought. The registration of the
// commands and the gateway wait out Discord's outages, each on its own, while the
// HTTP endpoint serves; Run returns early only when Discord refuses the bot's
// credentials (a *RefusedError), after the same shutdown.
func (b *Bot) Run(ctx context.Context) error {
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("listening on HTTP_ADDR %s: %w", b.addr, err)
	}
	b.lis = lis
	srv := &http.Server{Handler: b.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	srvErr := make(chan error, 2)
	go func() { srvErr <- srv.Serve(lis) }()
	servers := []*http.Server{srv}
	if b.metricsAddr != "" {
		mlis, err := net.Listen("tcp", b.metricsAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listening on METRICS_ADDR %s: %w", b.metricsAddr, err)
		}
		msrv := &http.Server{Handler: b.metricsRoutes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
		go func() { srvErr <- msrv.Serve(mlis) }()
		servers = append(servers, msrv)
		b.log.Info().Str("addr", mlis.Addr().String()).Msg("serving metrics")
	}
	b.mu.Lock()
	b.accepting = true
	b.mu.Unlock()
	b.log.Info().Str("addr", lis.Addr().String()).Bool("interactions_endpoint", b.publicKey != nil).Msg("serving HTTP")

	discordCtx, stopDiscord := context.WithCancel(ctx)
	defer stopDiscord()
	refused := make(chan error, 2)
	var parts sync.WaitGroup
	parts.Go(func() {
		if err := b.register(discordCtx); err != nil {
			refused <- err
		}
	})
	firsts := []<-chan struct{}{b.registration.first}
	if b.cfg.Gateway {
		g := newGateway(b.rest, b.cfg.Token, b.cfg.ShardID, b.cfg.ShardCount,
			b.log.With().Str("component", "gateway").Logger(), b.gatewayState, b.gatewayInteraction)
		parts.Go(func() {
			if err := g.run(discordCtx); err != nil {
				refused <- err
			}
		})
		firsts = append(firsts, b.gatewayState.first)
	}
	go func() {
		for _, c := range firsts {
			select {
			case <-c:
			case <-discordCtx.Done():
				return
			}
		}
		close(b.ready)
	}()

	select {
	case <-ctx.Done():
	case err = <-srvErr:
		b.log.Error().Err(err).Msg("HTTP server stopped")
		err = nil
	case err = <-refused:
		b.log.Error().Err(err).Msg("Discord refused the bot; stopping")
	}
	stopDiscord()
	parts.Wait()
	b.shutdown(servers)
	return err
}

func registrationOutage(log zerolog.Logger) *outage {
	return newOutage(log.With().Str("outage", "registration").Logger(),
		"commands not registered yet", "failing", "retrying",
		"registering commands failed; retrying until Discord answers", "registering commands still failing")
}

func gatewayOutage(log zerolog.Logger) *outage {
	return newOutage(log.With().Str("outage", "gateway").Logger(),
		"not connected yet", "down", "reconnecting",
		"gateway down; reconnecting", "gateway still down")
}

// RefusedError is Discord refusing the bot in a way no retry can cure: bad
// credentials, or a gateway close code such as 4004 or 4010–4014. The bot stops with
// it; everything else Discord answers is waited out.
type RefusedError struct {
	// Op is what the bot was doing, e.g. "registering commands".
	Op string
	// Hint says what to fix.
	Hint string
	Err  error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: Discord refused the bot (%s): %v", e.Op, e.Hint, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

const credentialsHint = "check DISCORD_TOKEN and DISCORD_APPLICATION_ID"

// refusesCredentials reports whether a REST answer refuses the bot's credentials:
// 401 (bad token), 403 (the token may not act for this application, or in
// DISCORD_GUILD_ID), or 404 Unknown Application (a wrong DISCORD_APPLICATION_ID).
func refusesCredentials(err error) bool {
	var api *APIError
	return errors.As(err, &api) && (api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden ||
		api.Status == http.StatusNotFound && api.Code == codeUnknownApplication)
}

// codeUnknownApplication is Discord's answer for an application id it does not know.
const codeUnknownApplication = 10002

// register overwrites the application's commands. It retries with capped backoff
// for as long as Discord cannot be reached or answers 5xx or 429 (honouring
// retry_after); a refusal of the credentials is returned, which stops the bot. Any
// other 4xx means Discord read the commands and refused them: a bug in reportbot's
// definitions, not an outage, and the same commands would be refused again. It is
// logged as an error and /readyz reports it until a fixed release starts, but the
// bot keeps serving: Discord still has the commands registered before, and the
// interactions they bring are answered. It returns nil when ctx ends.
func (b *Bot) register(ctx context.Context) error {
	bo := b.registerBackoff
	for {
		err := b.rest.BulkOverwrite(ctx, b.cfg.GuildID, b.commands)
		var api *APIError
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			downFor, attempts := b.registration.ok()
			ev := b.log.Info().Int("commands", len(b.commands)).Str("guild_id", b.cfg.GuildID)
			if downFor > 0 {
				ev = ev.Dur("down_for", downFor).Int("attempts", attempts)
			}
			ev.Msg("commands registered")
			return nil
		case refusesCredentials(err):
			err = &RefusedError{Op: "registering commands", Hint: credentialsHint, Err: err}
			b.registration.refuse(err)
			return err
		case errors.As(err, &api) && api.Status/100 == 4 && api.Status != http.StatusTooManyRequests:
			err = fmt.Errorf("commands refused by Discord (a bug in reportbot, not an outage; the commands registered before stay): %w", err)
			b.registration.refuse(err)
			b.log.Error().Err(err).Msg("registering commands")
			return nil
		}
		b.registration.fail(err)
		wait := bo.next()
		if api != nil {
			wait = max(wait, api.RetryAfter)
		}
		if !upstream.Sleep(ctx, wait) {
			return nil
		}
	}
}

func (b *Bot) shutdown(servers []*http.Server) {
	b.log.Info().Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWithin)
	defer cancel()
	b.mu.Lock()
	b.accepting = false
	b.mu.Unlock()
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			b.log.Warn().Err(err).Msg("HTTP server shutdown")
		}
	}
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.log.Warn().Msg("in-flight work did not finish in time; cancelling it")
		b.cancelWork()
		<-done
	}
	b.cancelWork()
	b.log.Info().Msg("stopped")
}

// begin counts one piece of interaction work in, unless the bot is shutting down.
func (b *Bot) begin() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.accepting {
		b.inflight.Add(1)
	}
	return b.accepting
}

// later queues deferred work of an answered interaction, tracked for shutdown. It is
// called from inside tracked work, which keeps shutdown's Wait from starting early.
// A full queue never drops work: it runs on its own.
func (b *Bot) later(then func(context.Context)) {
	b.inflight.Add(1)
	select {
	case b.laterQueue <- then:
	default:
		go b.runLater(then)
	}
}

func (b *Bot) runLater(then func(context.Context)) {
	defer b.inflight.Done()
	ctx, cancel := context.WithTimeout(b.workCtx, laterWithin)
	defer cancel()
	then(ctx)
}

type botMetrics struct {
	answered *prometheus.HistogramVec
	refused  *prometheus.CounterVec
}

func newBotMetrics(reg prometheus.Registerer) botMetrics {
	m := botMetrics{
		answered: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reportbot_interaction_answer_seconds",
			Help:    "Time from receiving an interaction to having answered it, by transport.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportbot_interactions_refused_total",
			Help: "Requests to /interactions refused, by why (signature, too_large, busy, slow, replay).",
		}, []string{"why"}),
	}
	reg.MustRegister(m.answered, m.refused)
	return m
}

func (m botMetrics) observe(transport string, received time.Time) {
	m.answered.WithLabelValues(transport).Observe(time.Since(received).Seconds())
}
