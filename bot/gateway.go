package bot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"
)

// openGateway connects the websocket session that receives interactions.
func (b *Bot) openGateway() (*discordgo.Session, error) {
	s, err := discordgo.New("Bot " + b.cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("creating the gateway session: %w", err)
	}
	// discordgo builds its REST URLs from package constants; route them to
	// DISCORD_API_URL like every other call (it only asks for the gateway's address).
	s.Client = &http.Client{Timeout: 20 * time.Second, Transport: rebase{from: discordgo.EndpointAPI, to: b.cfg.APIURL + "/"}}
	s.UserAgent = userAgent
	s.StateEnabled = false
	s.LogLevel = discordgo.LogWarning
	s.Compress = false
	s.Identify.Compress = false
	// Interactions arrive whatever the intents; asking for none keeps the session quiet.
	s.Identify.Intents = discordgo.IntentsNone
	s.ShardID, s.ShardCount = b.cfg.ShardID, b.cfg.ShardCount
	s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		b.gatewayInteraction(ic.Interaction)
	})
	if err := s.Open(); err != nil {
		return nil, fmt.Errorf("opening the gateway session: %w", err)
	}
	return s, nil
}

// gatewayInteraction answers an interaction from the gateway through the callback
// endpoint, within Discord's deadline.
func (b *Bot) gatewayInteraction(i *discordgo.Interaction) {
	received := time.Now()
	if !b.begin() {
		b.log.Warn().Str("interaction_id", i.ID).Msg("interaction arrived while shutting down; not answered")
		return
	}
	defer b.inflight.Done()
	ctx, cancel := context.WithDeadline(b.workCtx, received.Add(answerWithin))
	defer cancel()
	resp := b.router.Handle(ctx, i)
	if err := b.rest.Respond(ctx, i.ID, i.Token, resp.Reply); err != nil {
		b.log.Error().Err(err).Str("interaction_id", i.ID).Msg("answering an interaction")
		return
	}
	b.metrics.observe("gateway", received)
	if resp.Then != nil {
		b.later(resp.Then)
	}
}

// rebase is a RoundTripper that moves requests under one URL prefix to another.
type rebase struct{ from, to string }

func (t rebase) RoundTrip(r *http.Request) (*http.Response, error) {
	if u := r.URL.String(); strings.HasPrefix(u, t.from) {
		nr := r.Clone(r.Context())
		var err error
		if nr.URL, err = nr.URL.Parse(t.to + strings.TrimPrefix(u, t.from)); err != nil {
			return nil, fmt.Errorf("rebasing %s: %w", t.from, err)
		}
		nr.Host = nr.URL.Host
		r = nr
	}
	return http.DefaultTransport.RoundTrip(r)
}

// DiscordgoLogger routes discordgo's log lines into the bot's logger; main installs it
// in discordgo.Logger, the library's only way to take one.
func DiscordgoLogger(log zerolog.Logger) func(level, caller int, format string, a ...any) {
	return func(level, caller int, format string, a ...any) {
		ev := log.Debug()
		switch level {
		case discordgo.LogError:
			ev = log.Error()
		case discordgo.LogWarning:
			ev = log.Warn()
		}
		ev.Str("component", "discordgo").Msg(fmt.Sprintf(format, a...))
	}
}
