package commands

import (
	"context"
	"errors"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
)

// isAdmin re-checks on the server side what the command's default permission asks
// of Discord: a server can override command permissions, the bot's rule stands.
func (c *call) isAdmin() bool {
	p := c.i.Member.Permissions
	return p&discordgo.PermissionAdministrator != 0 || p&discordgo.PermissionManageGuild != 0
}

// configCommand handles /report-config.
func (c *call) configCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if !c.isAdmin() {
		c.log.Info().Msg("report-config refused: not an admin")
		return reply(msgNotAdmin)
	}
	if len(data.Options) != 1 {
		return reply(msgUnknownInteraction())
	}
	sub := data.Options[0]
	opts := map[string]*discordgo.ApplicationCommandInteractionDataOption{}
	for _, o := range sub.Options {
		opts[o.Name] = o
	}
	str := func(name string) string {
		if o := opts[name]; o != nil && o.Type == discordgo.ApplicationCommandOptionString {
			return o.StringValue()
		}
		return ""
	}
	guild := c.i.GuildID
	switch sub.Name {
	case subShow:
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		var games []reporting.Game
		for _, g := range []reporting.Game{reporting.RallyHere, reporting.Destiny2} {
			if c.svc.Enabled(g) {
				games = append(games, g)
			}
		}
		return reply(msgShow(ShowView{Settings: st, Games: games, MaxLimit: c.svc.Settings.MaxLimit()}))
	case subReasons:
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		return reply(msgReasons(st.Reasons))
	case subReasonAdd:
		r, err := reporting.NewReason(str(optLabel), str(optRallyHereReason), nil)
		if ie, ok := inputError(err); ok {
			return reply(msgBadInput(ie))
		}
		list, err := c.svc.Settings.AddReason(ctx, guild, r)
		switch {
		case errors.Is(err, reporting.ErrReasonExists):
			return reply(msgReasonExists(r.Label))
		case errors.Is(err, reporting.ErrTooManyReasons):
			return reply(msgTooManyReasons())
		case err != nil:
			return reply(c.fail(err, "adding a reason"))
		}
		c.log.Info().Str("reason", r.Key).Msg("reason added")
		return reply(msgReasonAdded(r, len(list)))
	case subReasonRemove:
		key := str(optReason)
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		label := key
		for _, r := range st.Reasons {
			if r.Key == key {
				label = r.Label
			}
		}
		list, err := c.svc.Settings.RemoveReason(ctx, guild, key)
		switch {
		case errors.Is(err, reporting.ErrNoSuchReason):
			return reply(msgNoSuchReason(key))
		case err != nil:
			return reply(c.fail(err, "removing a reason"))
		}
		c.log.Info().Str("reason", key).Msg("reason removed")
		return reply(msgReasonRemoved(label, len(list)))
	case subReasonReset:
		if _, err := c.svc.Settings.ResetReasons(ctx, guild); err != nil {
			return reply(c.fail(err, "resetting reasons"))
		}
		c.log.Info().Msg("reasons reset")
		return reply(msgReasonsReset)
	}
	return reply(msgUnknownInteraction())
}

// configAutocomplete suggests this server's reasons for reason-remove.
func (c *call) configAutocomplete(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if c.i.Member == nil || !c.isAdmin() || len(data.Options) != 1 {
		return choices(nil)
	}
	sub := data.Options[0]
	var typed string
	for _, o := range sub.Options {
		if o.Focused && o.Name == optReason && sub.Name == subReasonRemove {
			typed = strings.ToLower(strings.TrimSpace(o.StringValue()))
			st, err := c.svc.Settings.Get(ctx, c.i.GuildID)
			if err != nil {
				c.fail(err, "reading settings for autocomplete")
				return choices(nil)
			}
			var out []*discordgo.ApplicationCommandOptionChoice
			for _, r := range st.Reasons {
				if strings.Contains(strings.ToLower(r.Label), typed) || strings.Contains(r.Key, typed) {
					out = append(out, &discordgo.ApplicationCommandOptionChoice{Name: r.Label, Value: r.Key})
				}
			}
			return choices(out[:min(len(out), 25)])
		}
	}
	return choices(nil)
}
