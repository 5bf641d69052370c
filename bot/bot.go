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
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/config"
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
	// Linker, when set, serves the Bungie.net sign-in pages.
	Linker Linker
	// Catalog has the sign-in pages' words; default catalog.Shipped().
	Catalog  *catalog.Catalog
	Registry *prometheus.Registry
	Logger   zerolog.Logger
}

// Bot runs the transports until its context ends.
type Bot struct {
	cfg       config.Discord
	addr      string
	publicKey ed25519.PublicKey
	router    Handler
	rest      *REST
	store     Store
	commands  []*discordgo.ApplicationCommand
	linker    Linker
	catalog   *catalog.Catalog
	registry  *prometheus.Registry
	log       zerolog.Logger
	metrics   botMetrics

	registered atomic.Bool
	// mu orders taking work (begin) against shutdown's stop.
	mu        sync.Mutex
	accepting bool
	inflight  sync.WaitGroup
	// workCtx is the parent of all interaction work; it ends only when shutdown
	// gives up waiting.
	workCtx    context.Context
	cancelWork context.CancelFunc

	// ready is closed once the HTTP listener is up; Addr is then valid.
	ready chan struct{}
	lis   net.Listener

	// laterQueue feeds the laterWorkers.
	laterQueue chan func(context.Context)
}

// New assembles a Bot.
func New(o Options) *Bot {
	b := &Bot{
		cfg: o.Discord, addr: o.HTTPAddr, publicKey: o.Discord.PublicKey,
		router: o.Router, rest: o.REST, store: o.Store, commands: o.Commands, linker: o.Linker,
		registry: o.Registry, log: o.Logger, metrics: newBotMetrics(o.Registry),
		ready:      make(chan struct{}),
		laterQueue: make(chan func(context.Context), 4096),
	}
	if b.catalog = o.Catalog; b.catalog == nil {
		b.catalog = catalog.Shipped()
	}
	b.workCtx, b.cancelWork = context.WithCancel(context.Background())
	for range laterWorkers {
		go func() {
			for then := range b.laterQueue {
				b.runLater(then)
			}
		}()
	}
	return b
}

// Ready is closed when the bot serves HTTP and its commands are registered.
func (b *Bot) Ready() <-chan struct{} { return b.ready }

// Addr is the address the HTTP server listens on, once Ready.
func (b *Bot) Addr() string { return b.lis.Addr().String() }

// Run serves until ctx ends, then shuts down: it stops taking interactions, finishes
// the work in flight, and closes the gateway session.
func (b *Bot) Run(ctx context.Context) error {
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("listening on HTTP_ADDR %s: %w", b.addr, err)
	}
	b.lis = lis
	srv := &http.Server{Handler: b.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(lis) }()
	b.mu.Lock()
	b.accepting = true
	b.mu.Unlock()
	b.log.Info().Str("addr", lis.Addr().String()).Bool("interactions_endpoint", b.publicKey != nil).Msg("serving HTTP")

	if err := b.register(ctx); err != nil {
		_ = srv.Close()
		return err
	}

	var session *discordgo.Session
	if b.cfg.Gateway {
		if session, err = b.openGateway(); err != nil {
			_ = srv.Close()
			return err
		}
		b.log.Info().Int("shard", b.cfg.ShardID).Int("shards", b.cfg.ShardCount).Msg("gateway connected")
	}
	close(b.ready)

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		b.log.Error().Err(err).Msg("HTTP server stopped")
	}
	return b.shutdown(srv, session)
}

// register overwrites the application's commands, retrying while Discord is
// unreachable; a refusal (bad token, wrong application) stops start-up.
func (b *Bot) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := b.rest.BulkOverwrite(ctx, b.cfg.GuildID, b.commands)
		var api *APIError
		switch {
		case err == nil:
			b.registered.Store(true)
			b.log.Info().Int("commands", len(b.commands)).Str("guild_id", b.cfg.GuildID).Msg("commands registered")
			return nil
		case errors.As(err, &api) && api.Status/100 == 4 && api.Status != http.StatusTooManyRequests:
			return fmt.Errorf("registering commands: %w", err)
		}
		b.log.Warn().Err(err).Int("attempt", attempt).Msg("registering commands; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering commands: %w", err)
		case <-time.After(time.Duration(min(1<<attempt, 10)) * time.Second):
		}
	}
}

func (b *Bot) shutdown(srv *http.Server, session *discordgo.Session) error {
	b.log.Info().Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWithin)
	defer cancel()
	b.mu.Lock()
	b.accepting = false
	b.mu.Unlock()
	if err := srv.Shutdown(ctx); err != nil {
		b.log.Warn().Err(err).Msg("HTTP server shutdown")
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
	if session != nil {
		if err := session.Close(); err != nil {
			b.log.Warn().Err(err).Msg("closing the gateway session")
		}
	}
	b.log.Info().Msg("stopped")
	return nil
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
			Help: "Requests to /interactions refused, by why (signature, replay).",
		}, []string{"why"}),
	}
	reg.MustRegister(m.answered, m.refused)
	return m
}

func (m botMetrics) observe(transport string, received time.Time) {
	m.answered.WithLabelValues(transport).Observe(time.Since(received).Seconds())
}
