// Package commands turns Discord interactions into calls on package reporting and
// renders the answers. Handlers are plain functions of an interaction to a Response:
// what to answer within Discord's three seconds, and optionally work to do once that
// answer is out (edits of the original response through the Discord interface). Only
// package bot touches the Discord session; everything here is testable without one.
package commands

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/ref"
	"github.com/reportbot/reportbot/reporting/replay"
)

// Response is a handler's answer. Reply is sent at once (as the HTTP answer or the
// interaction callback); Then, when set, runs after Reply has been delivered.
type Response struct {
	Reply *discordgo.InteractionResponse
	Then  func(ctx context.Context)
}

// Discord is what commands needs of Discord's REST API: editing answers after they
// were sent, and the messages of the mod log and to reporters. Every message it sends
// must allow no mentions.
type Discord interface {
	// EditResponse edits the original response of the interaction with token.
	EditResponse(ctx context.Context, token string, edit *discordgo.WebhookEdit) error
	// SendMessage posts in a channel, uploading m.Files.
	SendMessage(ctx context.Context, channelID string, m *discordgo.MessageSend) (*discordgo.Message, error)
	// EditMessage edits a message the bot posted.
	EditMessage(ctx context.Context, channelID, messageID string, m *discordgo.MessageEdit) error
	// SendDM sends a direct message to a user.
	SendDM(ctx context.Context, userID string, m *discordgo.MessageSend) error
}

// Queue is what commands needs of the delivery pipeline: to have a report of a game
// brought up to date after a moderator changed it.
type Queue interface {
	Enqueue(ctx context.Context, g reporting.Game, reportID string) error
}

// Health is what commands needs of the monitor of Redis: whether a failure is an
// outage, and the outage's ref (reporting/redishealth.Monitor).
type Health interface {
	Failed(err error) (ref string, outage bool)
}

// Router dispatches interactions to handlers.
type Router struct {
	svc     *reporting.Service
	discord Discord
	queue   Queue
	health  Health
	log     zerolog.Logger
	now     func() time.Time
	metrics *prometheus.CounterVec
	cat     *catalog.Catalog
}

// Options configure a Router.
type Options struct {
	// Queue is the delivery pipeline, told of moderators' changes.
	Queue Queue
	// Health tells an outage of Redis from other failures (nil: every failure is
	// answered and logged as a fault of its own).
	Health     Health
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Now defaults to time.Now.
	Now func() time.Time
	// Catalog has the messages in every language; default catalog.Shipped().
	Catalog *catalog.Catalog
}

// NewRouter returns a router filing reports through svc.
func NewRouter(svc *reporting.Service, discord Discord, o Options) *Router {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reportbot_interactions_total",
		Help: "Interactions handled, by type and name (command, or custom_id kind).",
	}, []string{"type", "name"})
	reg.MustRegister(m)
	cat := o.Catalog
	if cat == nil {
		cat = catalog.Shipped()
	}
	return &Router{svc: svc, discord: discord, queue: o.Queue, health: o.Health, log: o.Logger, now: now, metrics: m, cat: cat}
}

// wordsOf is the language l with Bungie's names of the Destiny reasons in it (read
// within ctx).
func wordsOf(ctx context.Context, svc *reporting.Service, l *catalog.Localizer) words {
	return words{Localizer: l, destiny: func(d reporting.DestinyReason) string {
		return svc.Manifest.Label(ctx, l.Bungie, d)
	}, title: svc.Title}
}

// serverLanguage is a server's language for its mod log: the one an admin chose, else
// the server's Discord locale (guildLocale).
func serverLanguage(cat *catalog.Catalog, st reporting.Settings, guildLocale string) *catalog.Localizer {
	if l, ok := cat.Lookup(st.Language); ok {
		return l
	}
	return cat.For(guildLocale)
}

// call is one interaction being handled: the interaction, its logger, the invoking
// user, and their language (the interaction's locale).
type call struct {
	*Router
	i    *discordgo.Interaction
	log  zerolog.Logger
	user *discordgo.User
	w    words
}

// guildLocale is the server's Discord locale, as the interaction tells it.
func (c *call) guildLocale() string {
	if c.i.GuildLocale != nil {
		return string(*c.i.GuildLocale)
	}
	return ""
}

// modWords is the server's language for what moderators read in the mod log.
func (c *call) modWords(ctx context.Context, st reporting.Settings) words {
	return wordsOf(ctx, c.svc, serverLanguage(c.cat, st, c.guildLocale()))
}

// Handle answers one interaction. A handler that panics gets the user the internal
// error message and the log the stack, never a crashed bot.
func (r *Router) Handle(ctx context.Context, i *discordgo.Interaction) (resp Response) {
	c := &call{Router: r, i: i, user: invoker(i)}
	c.w = wordsOf(ctx, r.svc, r.cat.For(string(i.Locale)))
	lc := r.log.With().Str("interaction_id", i.ID).Str("guild_id", i.GuildID)
	if c.user != nil {
		lc = lc.Str("user_id", c.user.ID)
	}
	c.log = lc.Logger()
	defer func() {
		if p := recover(); p != nil {
			resp = reply(c.fail(fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "handling an interaction"))
		}
		if then := resp.Then; then != nil {
			resp.Then = func(ctx context.Context) {
				defer func() {
					if p := recover(); p != nil {
						c.edit(ctx, c.fail(fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "finishing an interaction"), nil)
					}
				}()
				then(ctx)
			}
		}
	}()
	if c.user == nil && i.Type != discordgo.InteractionPing {
		return reply(c.unknown())
	}

	switch i.Type {
	case discordgo.InteractionPing:
		r.metrics.WithLabelValues("ping", "").Inc()
		return Response{Reply: &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}}
	case discordgo.InteractionApplicationCommand:
		data := i.ApplicationCommandData()
		r.metrics.WithLabelValues("command", commandLabel(data.Name)).Inc()
		if i.GuildID == "" || i.Member == nil {
			return reply(c.w.T("reply.guild_only", nil))
		}
		switch data.Name {
		case cmdReport:
			return c.reportCommand(ctx, data)
		case cmdReportUser:
			return c.reportUserCommand(ctx, data)
		case cmdConfig:
			return c.configCommand(ctx, data)
		case cmdReports:
			return c.reportsCommand(ctx, data)
		case cmdLink, cmdUnlink:
			return c.linkCommand(ctx, data)
		}
	case discordgo.InteractionApplicationCommandAutocomplete:
		data := i.ApplicationCommandData()
		r.metrics.WithLabelValues("autocomplete", commandLabel(data.Name)).Inc()
		if i.GuildID != "" && data.Name == cmdConfig {
			return c.configAutocomplete(ctx, data)
		}
		return choices(nil)
	case discordgo.InteractionModalSubmit:
		data := i.ModalSubmitData()
		id, err := ParseCustomID(data.CustomID)
		r.metrics.WithLabelValues("modal", kindLabel(id, err)).Inc()
		if err != nil || i.GuildID == "" || i.Member == nil {
			c.log.Warn().Str("custom_id", data.CustomID).Msg("unknown modal")
			return reply(c.unknown())
		}
		if id.Kind == kindReport {
			return c.reportModal(ctx, id, data)
		}
	case discordgo.InteractionMessageComponent:
		data := i.MessageComponentData()
		id, err := ParseCustomID(data.CustomID)
		r.metrics.WithLabelValues("component", kindLabel(id, err)).Inc()
		if err != nil || i.GuildID == "" || i.Member == nil {
			c.log.Warn().Str("custom_id", data.CustomID).Msg("unknown component")
			return reply(c.unknown())
		}
		switch id.Kind {
		case kindPlayer, kindOffender:
			return c.pickPlayer(ctx, data)
		case kindOffenderPage:
			return c.turnChoices(ctx, id)
		case kindMod:
			return c.modButton(ctx, id)
		case kindList:
			return c.listButton(ctx, id)
		}
	default:
		r.metrics.WithLabelValues(unknownLabel, unknownLabel).Inc()
	}
	c.log.Warn().Int("type", int(i.Type)).Msg("unhandled interaction")
	return reply(c.unknown())
}

// unknownLabel is the metric label of every name or kind the bot does not know: label
// values come from a closed set, so no payload can add series.
const unknownLabel = "unknown"

// commandLabel is name as a metric label: one of the bot's commands, or unknown.
func commandLabel(name string) string {
	switch name {
	case cmdReport, cmdReportUser, cmdReports, cmdConfig, cmdLink, cmdUnlink:
		return name
	}
	return unknownLabel
}

// kindLabel is a parsed custom_id's kind as a metric label: ParseCustomID only accepts
// the bot's own kinds, and anything it refused is unknown.
func kindLabel(id CustomID, err error) string {
	if err != nil {
		return unknownLabel
	}
	return id.Kind
}

func invoker(i *discordgo.Interaction) *discordgo.User {
	if i.Member != nil && i.Member.User != nil {
		return i.Member.User
	}
	return i.User
}

// withReport is c with report_id on its log lines.
func (c *call) withReport(id string) *call {
	cc := *c
	cc.log = c.log.With().Str("report_id", id).Logger()
	return &cc
}

// fail logs err with a new ref and returns the message that shows the ref. A failure
// that is an outage of Redis gets the outage's ref and a pause notice instead: the
// outage is logged once, by the monitor, rather than once per interaction.
func (c *call) fail(err error, what string) string {
	if errors.Is(err, replay.ErrReplayed) {
		// The transport refuses the interaction; nobody reads this answer.
		c.log.Debug().Err(err).Msg(what)
		return c.unknown()
	}
	if c.health != nil {
		if id, outage := c.health.Failed(err); outage {
			c.log.Debug().Err(err).Str("ref", id).Msg(what)
			return msgPaused(c.w, id)
		}
	}
	id := ref.New()
	c.log.Error().Err(err).Str("ref", id).Msg(what)
	return msgInternal(c.w, id)
}

// unknown answers what the bot did not make or no longer knows.
func (c *call) unknown() string {
	return c.w.T("reply.unknown_interaction", nil)
}

// Unavailable answers interaction i when the bot could not even check it against
// Redis (the HTTP transport's replay check failed with err): reports are paused.
func (r *Router) Unavailable(i *discordgo.Interaction, err error) Response {
	c := &call{Router: r, i: i, user: invoker(i), log: r.log.With().Str("interaction_id", i.ID).Str("guild_id", i.GuildID).Logger()}
	c.w = words{Localizer: r.cat.For(string(i.Locale)), destiny: func(d reporting.DestinyReason) string { return d.Label }, title: r.svc.Title}
	return reply(c.fail(err, "checking an interaction for a replay"))
}

// edit replaces the original response's content and components.
func (c *call) edit(ctx context.Context, content string, components []discordgo.MessageComponent) {
	if components == nil {
		components = []discordgo.MessageComponent{}
	}
	err := c.discord.EditResponse(ctx, c.i.Token, &discordgo.WebhookEdit{
		Content:         &content,
		Components:      &components,
		AllowedMentions: noMentions(),
	})
	if err != nil {
		c.log.Error().Err(err).Msg("editing the response")
	}
}

// noMentions is the allowed_mentions of every message the bot sends: nobody, no role,
// no @everyone is ever pinged by a report.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// reply is an ephemeral message answered at once.
func reply(content string) Response {
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content:         content,
			Flags:           discordgo.MessageFlagsEphemeral,
			AllowedMentions: noMentions(),
		},
	}}
}

// deferred acknowledges with an ephemeral "thinking…" and runs then (if any)
// afterwards.
func deferred(then func(ctx context.Context)) Response {
	return Response{
		Reply: &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral},
		},
		Then: then,
	}
}

// deferredUpdate acknowledges a component without changing its message yet, and runs
// then (if any) afterwards, which edits it.
func deferredUpdate(then func(ctx context.Context)) Response {
	return Response{
		Reply: &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate},
		Then:  then,
	}
}

func choices(list []*discordgo.ApplicationCommandOptionChoice) Response {
	if list == nil {
		list = []*discordgo.ApplicationCommandOptionChoice{}
	}
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: list},
	}}
}

// inputError returns the InputError in err, if any.
func inputError(err error) (*reporting.InputError, bool) {
	var ie *reporting.InputError
	ok := errors.As(err, &ie)
	return ie, ok
}
