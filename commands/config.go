package commands

import (
	"context"
	"errors"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/config"
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
		return reply(c.w.T("reply.not_admin", nil))
	}
	if len(data.Options) != 1 {
		return reply(c.unknown())
	}
	sub := data.Options[0]
	opts := optionMap(sub.Options)
	str := func(name string) string { return optString(opts[name]) }
	guild := c.i.GuildID
	switch sub.Name {
	case subChannel:
		channel := optString(opts[optChannel])
		if channel == "" {
			if err := c.svc.Settings.SetModLog(ctx, guild, ""); err != nil {
				return reply(c.fail(err, "turning the mod log off"))
			}
			return reply(c.w.T("modlog.off", nil))
		}
		// Say hello in the channel first (in the mod log's language): an admin learns at
		// once if the bot can't post.
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		hello := c.modWords(ctx, st).T("modlog.hello", nil)
		return deferred(func(ctx context.Context) {
			_, err := c.discord.SendMessage(ctx, channel, &discordgo.MessageSend{Content: hello})
			if s := statusOf(err); s >= 400 && s < 500 && s != 429 {
				c.log.Info().Err(err).Str("channel_id", channel).Msg("mod-log channel refused")
				c.edit(ctx, msgModLogCantPost(c.w, channel), nil)
				return
			}
			if err == nil {
				err = c.svc.Settings.SetModLog(ctx, guild, channel)
			}
			if err != nil {
				c.edit(ctx, c.fail(err, "setting the mod-log channel"), nil)
				return
			}
			c.log.Info().Str("channel_id", channel).Msg("mod-log channel set")
			c.edit(ctx, msgModLogSet(c.w, channel), nil)
		})
	case subModRole:
		role := optString(opts[optRole])
		if err := c.svc.Settings.SetModRole(ctx, guild, role); err != nil {
			return reply(c.fail(err, "setting the moderator role"))
		}
		return reply(msgModRole(c.w, role))
	case subLimit:
		count, _ := optInt(opts[optCount])
		per, err := config.ParseDuration(str(optPer))
		if err != nil || count < 1 || count > 10000 {
			return reply(msgBadInput(c.w, &reporting.InputError{Field: "limit", Problem: "limit"}))
		}
		r := config.Rate{Count: int(count), Per: per}
		if err := c.svc.Settings.SetLimit(ctx, guild, r); err != nil {
			if ie, ok := inputError(err); ok {
				return reply(msgBadInput(c.w, ie))
			}
			return reply(c.fail(err, "setting the limit"))
		}
		c.log.Info().Str("limit", r.String()).Msg("limit set")
		return reply(msgLimitSet(c.w, r))
	case subAnonymous:
		on, ok := optBool(opts[optOn])
		if !ok {
			return reply(c.unknown())
		}
		if err := c.svc.Settings.SetAnonymous(ctx, guild, on); err != nil {
			return reply(c.fail(err, "setting anonymity"))
		}
		return reply(msgAnonymous(c.w, on))
	case subShow:
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		var games []reporting.Game
		for _, g := range reporting.Games() {
			if c.svc.Enabled(g) {
				games = append(games, g)
			}
		}
		return reply(msgShow(c.w, ShowView{Settings: st, Games: games, MaxLimit: c.svc.Settings.MaxLimit(),
			Language: serverLanguage(c.cat, st, c.guildLocale())}))
	case subLanguage:
		code := str(optLocale)
		lang, ok := c.cat.Lookup(code)
		if !ok && code != languageAuto {
			return reply(c.unknown())
		}
		if code == languageAuto {
			code = ""
		}
		if err := c.svc.Settings.SetLanguage(ctx, guild, code); err != nil {
			return reply(c.fail(err, "setting the mod log's language"))
		}
		c.log.Info().Str("language", code).Msg("mod-log language set")
		if !ok {
			lang = c.cat.For(c.guildLocale())
		}
		return reply(msgLanguage(c.w, lang, ok))
	case subReasons:
		st, err := c.svc.Settings.Get(ctx, guild)
		if err != nil {
			return reply(c.fail(err, "reading settings"))
		}
		return reply(msgReasons(c.w, st.Reasons))
	case subGames:
		on := map[reporting.Game]bool{}
		for _, g := range reporting.Games() {
			if v, given := optBool(opts[string(g)]); given {
				on[g] = v
			}
		}
		st, err := c.svc.Settings.SetGames(ctx, guild, on)
		if err != nil {
			return reply(c.fail(err, "turning a game on or off"))
		}
		for g, v := range on {
			c.log.Info().Str("game", string(g)).Bool("on", v).Msg("game turned on or off")
		}
		return reply(msgGames(c.w, st, c.games()))
	case subReasonAdd:
		var destiny *reporting.DestinyReason
		if v := str(optDestinyReason); v != "" {
			d, ok := c.destinyReason(ctx, v)
			if !ok {
				return reply(msgBadInput(c.w, &reporting.InputError{Field: optDestinyReason, Problem: "destiny_reason"}))
			}
			destiny = &d
		}
		r, err := c.svc.NewReason(str(optLabel), str(optRallyHereReason), destiny)
		if ie, ok := inputError(err); ok {
			return reply(msgBadInput(c.w, ie))
		}
		list, err := c.svc.Settings.AddReason(ctx, guild, r)
		switch {
		case errors.Is(err, reporting.ErrReasonExists):
			return reply(msgReasonExists(c.w, r.Label))
		case errors.Is(err, reporting.ErrTooManyReasons):
			return reply(msgTooManyReasons(c.w))
		case err != nil:
			return reply(c.fail(err, "adding a reason"))
		}
		c.log.Info().Str("reason", r.Key).Msg("reason added")
		return reply(msgReasonAdded(c.w, r, len(list)))
	case subReasonRemove:
		key := str(optReason)
		removed, list, err := c.svc.Settings.RemoveReason(ctx, guild, key)
		switch {
		case errors.Is(err, reporting.ErrNoSuchReason):
			return reply(msgNoSuchReason(c.w, key))
		case err != nil:
			return reply(c.fail(err, "removing a reason"))
		}
		c.log.Info().Str("reason", key).Msg("reason removed")
		return reply(msgReasonRemoved(c.w, reasonLabel(c.w, removed), len(list)))
	case subReasonReset:
		if _, err := c.svc.Settings.ResetReasons(ctx, guild); err != nil {
			return reply(c.fail(err, "resetting reasons"))
		}
		c.log.Info().Msg("reasons reset")
		return reply(c.w.T("reply.reasons_reset", nil))
	}
	return reply(c.unknown())
}

// destinyReason reads a destiny-reason value, "<category hash>:<reason hash>", and
// finds it in the manifest.
func (c *call) destinyReason(ctx context.Context, v string) (reporting.DestinyReason, bool) {
	cat, reason, ok := reporting.ParseDestinyKey(v)
	if !ok {
		return reporting.DestinyReason{}, false
	}
	return c.svc.Manifest.Find(ctx, cat, reason)
}

// configAutocomplete suggests this server's reasons for reason-remove, and Bungie's
// ("Category › Reason") for reason-add's destiny-reason.
func (c *call) configAutocomplete(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if c.i.Member == nil || !c.isAdmin() || len(data.Options) != 1 {
		return choices(nil)
	}
	sub := data.Options[0]
	var typed string
	for _, o := range sub.Options {
		if o.Focused && o.Name == optDestinyReason && sub.Name == subReasonAdd {
			var out []*discordgo.ApplicationCommandOptionChoice
			for _, r := range c.svc.Manifest.Search(ctx, c.w.Bungie, optString(o), 25) {
				out = append(out, &discordgo.ApplicationCommandOptionChoice{Name: truncate(r.Label, 100), Value: r.Key()})
			}
			return choices(out)
		}
		if o.Focused && o.Name == optReason && sub.Name == subReasonRemove {
			typed = strings.ToLower(strings.TrimSpace(optString(o)))
			st, err := c.svc.Settings.Get(ctx, c.i.GuildID)
			if err != nil {
				c.fail(err, "reading settings for autocomplete")
				return choices(nil)
			}
			var out []*discordgo.ApplicationCommandOptionChoice
			for _, r := range st.Reasons {
				label := reasonLabel(c.w, r)
				if strings.Contains(strings.ToLower(label), typed) || strings.Contains(strings.ToLower(r.Label), typed) || strings.Contains(r.Key, typed) {
					out = append(out, &discordgo.ApplicationCommandOptionChoice{Name: truncate(label, 100), Value: r.Key})
				}
			}
			return choices(out[:min(len(out), 25)])
		}
	}
	return choices(nil)
}
