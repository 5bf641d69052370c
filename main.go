// Command reportbot is a Discord bot that lets players report the players they met in
// a match and forwards each report to the game publisher's report API. See README.md
// for how to run it; every setting is an environment variable (.env.example).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/reportbot/reportbot/bot"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/config/buildinfo"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/redishealth"
	"github.com/reportbot/reportbot/reporting/upstream"
	"github.com/reportbot/reportbot/reporting/webhook"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// The garbage collector's settings unless the operator sets GOGC or GOMEMLIMIT: it
// runs a quarter as often as Go's default (GOGC=100), the heap kept under a soft
// limit. Answering a burst of 200 report forms, the bot spent 14% less CPU on each
// and answered the median one 18% sooner, its peak resident memory 73 MB against
// 66 (BENCHMARKS.md): the heap it keeps between bursts is small (a few MB), so
// collecting it often is waste. Past the limit the runtime collects as needed,
// with at most half the CPU.
const (
	gcPercent   = 400
	memoryLimit = 64 << 20
)

// tuneGC applies gcPercent and memoryLimit where the environment (getenv) sets
// neither GOGC nor GOMEMLIMIT, which the runtime has read itself.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// run does what the command line args (without the program's name) ask, reading the
// environment through getenv: with none it runs the bot until ctx ends; see usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, err := command(args)
	switch {
	case err != nil:
		return err
	case cmd == cmdVersion:
		_, err := io.WriteString(stdout, buildinfo.Read().String())
		return err
	case cmd == cmdHealthcheck:
		addr, err := config.HTTPAddr(getenv)
		if err != nil {
			return err
		}
		return bot.CheckReady(ctx, addr)
	case cmd == cmdHelp:
		return writeUsage(stdout)
	}
	return serve(ctx, getenv, stdout)
}

// serve wires the bot from the environment and runs it until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	build := buildinfo.Read()
	log.Info().Str("version", build.Version).Str("commit", build.Commit).
		Str("invite_url", bot.InviteURL(cfg.Discord.ApplicationID)).
		Msg("starting; add the bot to a server with its invite_url")

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build.Collector())

	goRedisLog.once.Do(func() { redis.SetLogger(forwardLog{}) })
	goRedisLog.to.Store(&redisLogger{zerologPrintf{log}})
	rdb, closeStore, err := openRedis(ctx, cfg.Redis, log)
	if err != nil {
		return err
	}
	defer closeStore()
	health := redishealth.New(rdb, log, redishealth.Options{Registerer: reg})
	goRedisLog.to.Store(&redisLogger{health.Logger()})

	// Every upstream's requests are counted and timed the same way.
	clients := upstream.NewMetrics(reg)
	opts := reporting.Options{
		DefaultLimit: cfg.ReportLimit, MaxLimit: cfg.ReportLimitMax, GlobalLimit: cfg.ReportLimitGlobal,
		Retention: cfg.Retention, WaitReplicas: cfg.Redis.WaitReplicas, Health: health, CDNHosts: cfg.CDNHosts,
		Logger: log, Registerer: reg,
	}
	if rh := cfg.RallyHere; rh != nil {
		opts.RallyHere = rallyhere.New(rh.APIURL, rh.ClientID, rh.ClientSecret,
			rallyhere.Options{HTTPClient: clients.Client("rallyhere", 15*time.Second)})
		opts.RallyHereFallback = rh.FallbackSourcePlayer
	}
	words := catalog.Shipped()
	var signIn http.Handler
	if b := cfg.Bungie; b != nil {
		client := bungie.New(b.APIKey, bungie.Options{APIURL: b.APIURL, StatsURL: b.StatsURL, WebURL: b.WebURL,
			HTTPClient: clients.Client("bungie", 15*time.Second)})
		opts.Bungie, opts.BungieMode, opts.BungieWeb = client, b.Mode, b.WebURL
		if b.Mode == config.ModeAPI {
			public := cfg.PublicURL.String()
			oauth := bungie.OAuth(b.ClientID, b.ClientSecret, b.AuthorizeURL, b.APIURL, public+"/oauth/bungie/callback")
			if opts.Links, err = reporting.NewLinks(rdb, b.TokenKey, oauth, client, public, log); err != nil {
				return err
			}
			signIn = opts.Links.Pages(reporting.PagesOptions{
				Words:  func(acceptLanguage string) reporting.PageWords { return words.ForAcceptLanguage(acceptLanguage) },
				Secure: cfg.PublicURL.Scheme == "https", Logger: log})
		}
	}
	if w := cfg.Webhook; w != nil {
		opts.Webhook = webhook.New(w.URL, w.Secret, webhook.Options{
			HTTPClient: clients.Client("webhook", 15*time.Second), UserAgent: "reportbot/" + buildinfo.Version})
		opts.WebhookTitle = w.GameName
	}
	if opts.RallyHere == nil && opts.Bungie == nil && opts.Webhook == nil {
		log.Warn().Msg("no game is configured (RALLYHERE_*, WEBHOOK_URL or BUNGIE_API_KEY): there is nothing to report to")
	}
	svc := reporting.NewService(rdb, opts)
	if err := svc.LoadScripts(ctx); err != nil {
		return err
	}

	rest := bot.NewREST(cfg.Discord.APIURL, cfg.Discord.Token, cfg.Discord.ApplicationID, clients.Client("discord", 30*time.Second))
	pipeline := reporting.NewPipeline(svc, commands.NewNotifier(rest, nil, cfg.CDNHosts, log).WithService(svc), reporting.PipelineOptions{Logger: log})
	router := commands.NewRouter(svc, rest, commands.Options{Queue: pipeline, Health: health, Catalog: words, Logger: log, Registerer: reg})
	b := bot.New(bot.Options{
		Discord: cfg.Discord, HTTPAddr: cfg.HTTPAddr, MetricsAddr: cfg.MetricsAddr,
		Router: router, REST: rest, Store: rdb,
		Commands: commands.Definitions(commands.GamesOf(svc), svc.BungieMode()), SignIn: signIn,
		Ready:    []bot.ReadyCheck{{Name: "redis", Check: health.Probe}, {Name: "delivery", Check: pipeline.Check}},
		Registry: reg, Logger: log,
	})
	// The bot and the delivery pipeline stop together: when ctx ends, or when either
	// fails. Redis is closed (deferred above) once both are done.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Run(gctx) })
	g.Go(func() error { return pipeline.Run(gctx) })
	g.Go(func() error { health.Run(gctx); return nil })
	g.Go(func() error {
		// Start-up (the catalog, Bungie's manifest, registration) leaves garbage the
		// runtime would keep mapped for minutes: handed back once, the idle bot holds
		// only what it uses.
		select {
		case <-b.Ready():
			debug.FreeOSMemory()
		case <-gctx.Done():
		}
		return nil
	})
	return g.Wait()
}

func newLogger(cfg config.Config, stdout io.Writer) zerolog.Logger {
	var w io.Writer = stdout
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: stdout}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Str("app", "reportbot").Logger()
}

// goRedisLog is how go-redis's lines come out as JSON events like every other.
// The library's only way to take a logger is a package variable, which it reads
// without a lock: it is set once, before the first client is made, to forwardLog,
// which writes to the logger of the bot started last (its Redis monitor's, once it
// has one). A process runs one bot; the tests run several, at once, in one process.
var goRedisLog struct {
	once sync.Once
	to   atomic.Pointer[redisLogger]
}

type redisLogger struct{ printfLogger }

// printfLogger is go-redis's logger interface.
type printfLogger interface {
	Printf(ctx context.Context, format string, v ...any)
}

type forwardLog struct{}

func (forwardLog) Printf(ctx context.Context, format string, v ...any) {
	if l := goRedisLog.to.Load(); l != nil {
		l.Printf(ctx, format, v...)
	}
}

// zerologPrintf writes go-redis's lines as warnings, until the Redis monitor, which
// knows an outage from a lone error, takes over.
type zerologPrintf struct{ log zerolog.Logger }

func (z zerologPrintf) Printf(_ context.Context, format string, v ...any) {
	z.log.Warn().Str("library", "go-redis").Msg(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}

// openRedis connects to REDIS_URL in its REDIS_MODE, or starts an embedded in-memory
// store when it is unset, for trying the bot out.
func openRedis(ctx context.Context, cfg config.Redis, log zerolog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.URL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return nil, nil, fmt.Errorf("starting the embedded store: %w", err)
		}
		log.Warn().Msg("REDIS_URL is not set: using an embedded in-memory store; reports, limits and settings are lost when the bot stops")
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
		return rdb, func() { rdb.Close(); m.Close() }, nil
	}
	// Every call honours its context's deadline (go-redis's default is to wait out its
	// own read timeout, 3 s): an interaction's answer has Discord's 3 seconds.
	var rdb redis.UniversalClient
	switch {
	case cfg.Cluster != nil:
		o := *cfg.Cluster
		o.ContextTimeoutEnabled = true
		if o.ClusterStateReloadInterval == 0 {
			// go-redis reloads the slot map on a MOVED reply, but after a failover the
			// dead master's slots answer nothing at all, so by default (60 s) nothing
			// of those slots is served for most of a minute. A reload is one CLUSTER
			// SLOTS a second, and the next call after a failover finds the new master.
			o.ClusterStateReloadInterval = time.Second
		}
		rdb = redis.NewClusterClient(&o)
	case cfg.Failover != nil:
		o := *cfg.Failover
		o.ContextTimeoutEnabled = true
		rdb = redis.NewFailoverClient(&o)
	default:
		o := *cfg.Single
		o.ContextTimeoutEnabled = true
		rdb = redis.NewClient(&o)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("REDIS_URL: cannot reach %s (%s): %w", strings.Join(cfg.Addrs(), ", "), cfg.Mode, err)
	}
	return rdb, func() { rdb.Close() }, nil
}
