// Command reportbot is a Discord bot that lets players report the players they met in
// a match and forwards each report to the game publisher's report API. See README.md
// for how to run it; every setting is an environment variable (.env.example).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/reportbot/reportbot/bot"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/rallyhere"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reportbot:", err)
		os.Exit(1)
	}
}

// run wires the bot from the environment and runs it until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	discordgo.Logger = bot.DiscordgoLogger(log)

	rdb, closeStore, err := openRedis(ctx, cfg.Redis, log)
	if err != nil {
		return err
	}
	defer closeStore()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	opts := reporting.Options{
		DefaultLimit: cfg.ReportLimit, MaxLimit: cfg.ReportLimitMax, GlobalLimit: cfg.ReportLimitGlobal,
		Retention: cfg.Retention,
		Logger:    log, Registerer: reg,
	}
	if rh := cfg.RallyHere; rh != nil {
		opts.RallyHere = rallyhere.New(rh.APIURL, rh.ClientID, rh.ClientSecret,
			rallyhere.Options{Observe: reporting.UpstreamObserver(reg, "rallyhere")})
		opts.RallyHereFallback = rh.FallbackSourcePlayer
	}
	var linker bot.Linker
	if b := cfg.Bungie; b != nil {
		client := bungie.New(b.APIKey, bungie.Options{APIURL: b.APIURL, StatsURL: b.StatsURL, WebURL: b.WebURL,
			Observe: reporting.UpstreamObserver(reg, "bungie")})
		opts.Bungie, opts.BungieMode, opts.BungieWeb = client, b.Mode, b.WebURL
		if b.Mode == config.ModeAPI {
			public := cfg.PublicURL.String()
			oauth := bungie.OAuth(b.ClientID, b.ClientSecret, b.AuthorizeURL, b.APIURL, public+"/oauth/bungie/callback")
			if opts.Links, err = reporting.NewLinks(rdb, b.TokenKey, oauth, client, public, log); err != nil {
				return err
			}
			linker = opts.Links
		}
	}
	if opts.RallyHere == nil && opts.Bungie == nil {
		log.Warn().Msg("no game is configured (RALLYHERE_* or BUNGIE_API_KEY): there is nothing to report to")
	}
	svc := reporting.NewService(rdb, opts)

	rest := bot.NewREST(cfg.Discord.APIURL, cfg.Discord.Token, cfg.Discord.ApplicationID, nil)
	pipeline := reporting.NewPipeline(svc, commands.NewNotifier(rest, nil, log).WithService(svc), reporting.PipelineOptions{Logger: log})
	router := commands.NewRouter(svc, rest, commands.Options{Queue: pipeline, Logger: log, Registerer: reg})
	b := bot.New(bot.Options{
		Discord: cfg.Discord, HTTPAddr: cfg.HTTPAddr,
		Router: router, REST: rest, Store: rdb,
		Commands: commands.Definitions(svc.Enabled, svc.BungieMode()), Linker: linker,
		Registry: reg, Logger: log,
	})
	// The bot and the delivery pipeline stop together: when ctx ends, or when either
	// fails. Redis is closed (deferred above) once both are done.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Run(gctx) })
	g.Go(func() error { return pipeline.Run(gctx) })
	return g.Wait()
}

func newLogger(cfg config.Config, stdout io.Writer) zerolog.Logger {
	var w io.Writer = stdout
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: stdout}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Str("app", "reportbot").Logger()
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
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		return rdb, func() { rdb.Close(); m.Close() }, nil
	}
	var rdb redis.UniversalClient
	switch {
	case cfg.Cluster != nil:
		rdb = redis.NewClusterClient(cfg.Cluster)
	case cfg.Failover != nil:
		rdb = redis.NewFailoverClient(cfg.Failover)
	default:
		rdb = redis.NewClient(cfg.Single)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("REDIS_URL: cannot reach %s (%s): %w", strings.Join(cfg.Addrs(), ", "), cfg.Mode, err)
	}
	return rdb, func() { rdb.Close() }, nil
}
