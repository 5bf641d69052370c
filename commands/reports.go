package commands

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
)

// moderator is the invoking member as a moderator: one by permission with Manage
// Messages (or more), or by the server's moderator role, which reporting checks.
func (c *call) moderator() reporting.Moderator {
	p := c.i.Member.Permissions
	return reporting.Moderator{GuildID: c.i.GuildID, UserID: c.user.ID, Roles: c.i.Member.Roles,
		ByPermission: p&(discordgo.PermissionAdministrator|discordgo.PermissionManageGuild|discordgo.PermissionManageMessages) != 0}
}

// reportsCommand handles /reports mine|list|bar|unbar.
func (c *call) reportsCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if len(data.Options) != 1 {
		return reply(c.unknown())
	}
	sub := data.Options[0]
	opts := optionMap(sub.Options)
	if sub.Name == subMine {
		list, err := c.svc.Reports.ByReporter(ctx, c.user.ID, 0, 10)
		if err != nil {
			return reply(c.fail(err, "listing the reporter's reports"))
		}
		return reply(msgMine(c.w, list, c.now()))
	}
	switch sub.Name {
	case subList:
		status := optString(opts[optStatus])
		if status == "" {
			status = "all"
		}
		player := strings.TrimSpace(optString(opts[optPlayer]))
		if !validStatusFilter(status) || len(player) > maxPlayerFilter {
			return reply(msgBadInput(c.w, &reporting.InputError{Field: optPlayer, Problem: "player_filter_too_long",
				Vars: v{"Count": maxPlayerFilter}}))
		}
		return c.listReports(ctx, 0, status, player, deferred)
	case subBar, subUnbar:
		var member *discordgo.User
		if data.Resolved != nil {
			member = data.Resolved.Users[optString(opts[optMember])]
		}
		if member == nil {
			return reply(c.unknown())
		}
		if sub.Name == subUnbar {
			was, err := c.svc.Unbar(ctx, c.moderator(), member.ID)
			if errors.Is(err, reporting.ErrNotModerator) {
				return reply(c.w.T("reply.not_moderator", nil))
			}
			if err != nil {
				return reply(c.fail(err, "lifting a bar"))
			}
			c.log.Info().Str("member_id", member.ID).Bool("was_barred", was).Msg("bar lifted")
			return reply(msgUnbarred(c.w, member.ID, was))
		}
		if member.Bot {
			return reply(c.w.T("reply.bot", nil))
		}
		d, err := config.ParseDuration(optString(opts[optDuration]))
		if err != nil || d <= 0 || d > maxBar {
			return reply(msgBadInput(c.w, &reporting.InputError{Field: optDuration, Problem: "duration"}))
		}
		err = c.svc.Bar(ctx, c.moderator(), member.ID, d)
		if errors.Is(err, reporting.ErrNotModerator) {
			return reply(c.w.T("reply.not_moderator", nil))
		}
		if err != nil {
			return reply(c.fail(err, "barring a member"))
		}
		c.log.Info().Str("member_id", member.ID).Dur("for", d).Msg("member barred from reporting")
		return reply(msgBarred(c.w, member.ID, c.now().Add(d)))
	}
	return reply(c.unknown())
}

const (
	maxBar          = 365 * 24 * time.Hour
	maxPlayerFilter = 64
	listPageSize    = 10
	// listScanLimit bounds how many of a server's reports one page may look through.
	listScanLimit = 1000
)

// listPage renders page of a server's reports matching the filters, newest first,
// with Previous/Next buttons.
func (c *call) listPage(ctx context.Context, st reporting.Settings, page int, status, player string) (string, []discordgo.MessageComponent, error) {
	var matches []*reporting.Report
	want := (page+1)*listPageSize + 1 // one more tells whether there is a next page
	needle := strings.ToLower(strings.Trim(player, "<@!>"))
	for skip := 0; skip < listScanLimit && len(matches) < want; skip += 100 {
		batch, err := c.svc.Reports.ByGuild(ctx, c.i.GuildID, skip, 100)
		if err != nil {
			return "", nil, err
		}
		for _, r := range batch {
			if (status == "all" || string(r.Status()) == status) && matchesPlayer(r, needle) {
				matches = append(matches, r)
			}
		}
		if len(batch) < 100 {
			break
		}
	}
	from := min(page*listPageSize, len(matches))
	shown := matches[from:min(from+listPageSize, len(matches))]
	content := msgList(c.w, shown, st.Anonymous, page, status, player, c.now())
	if page == 0 && len(matches) <= listPageSize {
		return content, []discordgo.MessageComponent{}, nil
	}
	return content, listButtons(c.w, page, status, player, len(matches) > (page+1)*listPageSize && page+1 < 100), nil
}

// listButtons turn the pages of /reports list: to newer ones, and (when there are
// more) to older ones.
func listButtons(w words, page int, status, player string, older bool) []discordgo.MessageComponent {
	pageButton := func(label string, to int, disabled bool) discordgo.MessageComponent {
		id := CustomID{Kind: kindList, Args: []string{strconv.Itoa(max(to, 0)), status, player}}.String()
		return discordgo.Button{Label: truncate(w.T(label, nil), 80), Style: discordgo.SecondaryButton, CustomID: id, Disabled: disabled}
	}
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		pageButton("list.newer", page-1, page == 0),
		pageButton("list.older", page+1, !older),
	}}}
}

func matchesPlayer(r *reporting.Report, needle string) bool {
	if needle == "" {
		return true
	}
	for _, s := range []string{r.Target.Value, r.Target.Label, r.TargetPlayer} {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	return false
}

// listButton turns a page of /reports list.
func (c *call) listButton(ctx context.Context, id CustomID) Response {
	page, _ := strconv.Atoi(id.Args[0])
	return c.listReports(ctx, page, id.Args[1], id.Args[2], deferredUpdate)
}

// listReports answers a moderator's /reports list or page button: who may see the
// list is checked before the answer, in its one round trip to Redis; the list itself,
// which may look through up to listScanLimit reports, is read after it (ack, with
// deferredUpdate or deferred) and shown by editing it.
func (c *call) listReports(ctx context.Context, page int, status, player string, ack func(func(context.Context)) Response) Response {
	st, err := c.svc.Settings.Get(ctx, c.i.GuildID)
	if err != nil {
		return reply(c.fail(err, "reading settings"))
	}
	if !st.Moderates(c.moderator()) {
		return reply(c.w.T("reply.not_moderator", nil))
	}
	return ack(func(ctx context.Context) {
		content, buttons, err := c.listPage(ctx, st, page, status, player)
		if err != nil {
			content, buttons = c.fail(err, "listing reports"), nil
		}
		c.edit(ctx, content, buttons)
	})
}

// modButton handles Claim, Resolve and Dismiss on a mod-log post: the post is
// updated in the answer itself, and the pipeline tells the reporter.
func (c *call) modButton(ctx context.Context, id CustomID) Response {
	reportID := id.Args[1]
	c = c.withReport(reportID)
	to := actionStatus[id.Args[0]]
	r, st, err := c.svc.Moderate(ctx, c.moderator(), reportID, to)
	switch {
	case errors.Is(err, reporting.ErrNotModerator):
		return reply(c.w.T("reply.not_moderator", nil))
	case errors.Is(err, reporting.ErrNoReport):
		return reply(c.w.T("reply.report_gone", nil))
	case errors.Is(err, reporting.ErrOtherGuild):
		c.log.Warn().Msg("moderator button for another server's report")
		return reply(c.unknown())
	case errors.Is(err, reporting.ErrFinal):
		return reply(msgAlreadyClosed(c.w, r))
	case err != nil:
		return reply(c.fail(err, "moderating the report"))
	}
	c.log.Info().Str("status", string(to)).Msg("report moderated")
	embed, buttons := modLogView(c.modWords(ctx, st), r, st, c.now())
	resp := Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{
			Embeds: []*discordgo.MessageEmbed{embed}, Components: buttons, AllowedMentions: noMentions(),
		},
	}}
	resp.Then = func(ctx context.Context) {
		// The post already shows the change; the pipeline tells the reporter.
		if err := c.svc.Reports.MarkModLogShown(ctx, r); err != nil {
			c.log.Warn().Err(err).Msg("recording the mod-log post")
		}
		if err := c.queue.Enqueue(ctx, r.Game, reportID); err != nil {
			c.log.Error().Err(err).Msg("queueing the reporter's notice")
		}
	}
	return resp
}

func optionMap(opts []*discordgo.ApplicationCommandInteractionDataOption) map[string]*discordgo.ApplicationCommandInteractionDataOption {
	m := make(map[string]*discordgo.ApplicationCommandInteractionDataOption, len(opts))
	for _, o := range opts {
		m[o.Name] = o
	}
	return m
}

// Option values, read without discordgo's accessors, which panic on a type they do
// not expect.

// optString is the value of a string, user, channel or role option ("" when absent).
func optString(o *discordgo.ApplicationCommandInteractionDataOption) string {
	if o == nil {
		return ""
	}
	s, _ := o.Value.(string)
	return s
}

func optInt(o *discordgo.ApplicationCommandInteractionDataOption) (int64, bool) {
	if o == nil {
		return 0, false
	}
	f, ok := o.Value.(float64)
	return int64(f), ok && f == float64(int64(f))
}

func optBool(o *discordgo.ApplicationCommandInteractionDataOption) (bool, bool) {
	if o == nil {
		return false, false
	}
	b, ok := o.Value.(bool)
	return b, ok
}
