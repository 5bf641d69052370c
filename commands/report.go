package commands

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
)

// reportCommand handles /report player [player].
func (c *call) reportCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if len(data.Options) != 1 || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return reply(c.unknown())
	}
	sub := data.Options[0]
	switch sub.Name {
	case subPlayer:
		prefill := ""
		prefill = strings.TrimSpace(optString(optionMap(sub.Options)[optPlayer]))
		if prefill != "" {
			if _, err := reporting.ParsePlayer(prefill); err != nil {
				ie, _ := inputError(err)
				return reply(msgBadInput(c.w, ie))
			}
		}
		return c.openPlayerModal(ctx, c.flowGame(reporting.FlowPlayer), "", prefill, "")
	case subActivity:
		prefill := strings.TrimSpace(optString(optionMap(sub.Options)[optActivity]))
		if prefill != "" {
			if _, err := reporting.ParseActivity(prefill); err != nil {
				ie, _ := inputError(err)
				return reply(msgBadInput(c.w, ie))
			}
		}
		return c.openActivityModal(ctx, c.flowGame(reporting.FlowActivity), prefill)
	}
	return reply(c.unknown())
}

// flowGame is the configured game that takes reports of flow f: the game of /report
// player and the Report player menu (RallyHere, or a studio's webhook), or of /report
// activity (Destiny 2). With none configured, the refusal names the game the command
// was made for.
func (c *call) flowGame(f reporting.Flow) reporting.Game {
	for _, p := range c.svc.Publishers() {
		if p.Flow() == f {
			return p.Game()
		}
	}
	if f == reporting.FlowActivity {
		return reporting.Destiny2
	}
	return reporting.RallyHere
}

// games are the configured games, in the order they are shown.
func (c *call) games() []reporting.Game {
	var out []reporting.Game
	for _, p := range c.svc.Publishers() {
		out = append(out, p.Game())
	}
	return out
}

// openActivityModal opens the form of an activity's report (Destiny 2): the
// activity, a reason, what happened. The player is chosen from the activity's
// players afterwards.
func (c *call) openActivityModal(ctx context.Context, game reporting.Game, prefill string) Response {
	reasons, limited, refusal := c.beforeForm(ctx, game)
	if refusal != "" {
		return reply(refusal)
	}
	if !limited.Allowed {
		return reply(msgLimited(c.w, limited, c.now()))
	}
	rows := []discordgo.MessageComponent{
		c.label(inputActivity, discordgo.TextInput{
			CustomID: inputActivity, Style: discordgo.TextInputShort, Value: prefill,
			Placeholder: c.w.T("modal.activity.placeholder", nil), Required: ptr(true), MinLength: 1, MaxLength: 300,
		}),
		c.label(inputReason, reasonSelect(c.w, reasons, game)),
		c.label(inputDescription, discordgo.TextInput{
			CustomID: inputDescription, Style: discordgo.TextInputParagraph, Required: ptr(false), MaxLength: reporting.MaxDescription,
		}),
	}
	id := CustomID{Kind: kindReport, Args: []string{string(game)}}
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: id.String(), Title: truncate(c.w.T("modal.title_destiny", nil), 45), Components: rows},
	}}
}

// beforeForm checks what can be checked before a reporter types anything: the game
// is configured and on in this server, it has reasons, and the reporter's limit. It
// returns a refusal to show, or the server's reasons for the game and the limit.
func (c *call) beforeForm(ctx context.Context, g reporting.Game) ([]reporting.Reason, reporting.Decision, string) {
	if !c.svc.Enabled(g) {
		return nil, reporting.Decision{}, msgGameOff(c.w, g)
	}
	st, limit, err := c.svc.SettingsAndLimit(ctx, c.i.GuildID, c.user.ID)
	if err != nil {
		return nil, limit, c.fail(err, "reading settings")
	}
	if !st.GameOn(g) {
		return nil, limit, msgGameOffHere(c.w, g)
	}
	reasons := c.svc.ReasonsFor(st.Reasons, g)
	if len(reasons) == 0 {
		return nil, limit, msgNoReasons(c.w, g)
	}
	return reasons, limit, ""
}

// reportUserCommand handles the user context menu "Report player".
func (c *call) reportUserCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	var target *discordgo.User
	if data.Resolved != nil {
		target = data.Resolved.Users[data.TargetID]
	}
	switch {
	case target == nil || !snowflakeRE.MatchString(data.TargetID):
		return reply(c.unknown())
	case target.ID == c.user.ID:
		return reply(c.w.T("reply.self", nil))
	case target.Bot:
		return reply(c.w.T("reply.bot", nil))
	}
	name := target.GlobalName
	if m := data.Resolved.Members[target.ID]; m != nil && m.Nick != "" {
		name = m.Nick
	}
	if name == "" {
		name = target.Username
	}
	return c.openPlayerModal(ctx, c.flowGame(reporting.FlowPlayer), target.ID, "", name)
}

// openPlayerModal checks what can be checked before the reporter types anything,
// then opens the form of a report about a player named by name or id (RallyHere, a
// studio's webhook). memberID is set when a member was picked from the context menu.
func (c *call) openPlayerModal(ctx context.Context, game reporting.Game, memberID, prefill, memberName string) Response {
	reasons, limit, refusal := c.beforeForm(ctx, game)
	if refusal != "" {
		return reply(refusal)
	}
	if !limit.Allowed {
		return reply(msgLimited(c.w, limit, c.now()))
	}
	id := CustomID{Kind: kindReport, Args: []string{string(game)}}
	title := c.w.T("modal.title_player", nil)
	var rows []discordgo.MessageComponent
	if memberID != "" {
		id.Args = append(id.Args, memberID)
		title = c.w.T("modal.title_member", v{"Name": memberName})
	} else {
		rows = append(rows, c.label(inputPlayer, discordgo.TextInput{
			CustomID: inputPlayer, Style: discordgo.TextInputShort, Value: prefill,
			Placeholder: c.w.T("modal.player.placeholder", nil), Required: ptr(true), MinLength: 1, MaxLength: 100,
		}))
	}
	rows = append(rows,
		c.label(inputReason, reasonSelect(c.w, reasons, game)),
		c.label(inputDescription, discordgo.TextInput{
			CustomID: inputDescription, Style: discordgo.TextInputParagraph, Required: ptr(false), MaxLength: reporting.MaxDescription,
		}),
		c.label(inputMatch, discordgo.TextInput{
			CustomID: inputMatch, Style: discordgo.TextInputShort, Required: ptr(false), MaxLength: reporting.MaxMatchID,
		}),
		c.label(inputEvidence, discordgo.FileUpload{
			CustomID: inputEvidence, MinValues: ptr(0), MaxValues: reporting.MaxEvidence, Required: ptr(false),
		}),
	)
	title = truncate(title, 45)
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: id.String(), Title: title, Components: rows},
	}}
}

// label is the modal's input with custom_id input, labelled (and described, where the
// catalog has words for it) in the reporter's language.
func (c *call) label(input string, comp discordgo.MessageComponent) discordgo.MessageComponent {
	desc := ""
	if id := "modal." + input + ".hint"; c.w.Has(id) {
		desc = truncate(c.w.T(id, nil), 100)
	}
	return discordgo.Label{Label: truncate(c.w.T("modal."+input+".label", nil), 45), Description: desc, Component: comp}
}

// reasonSelect is the modal's select of the server's reasons for game; for Destiny 2
// each says which of Bungie's reasons it files as.
func reasonSelect(w words, reasons []reporting.Reason, game reporting.Game) discordgo.SelectMenu {
	opts := make([]discordgo.SelectMenuOption, 0, len(reasons))
	for _, r := range reasons {
		o := discordgo.SelectMenuOption{Label: truncate(reasonLabel(w, r), 100), Value: r.Key}
		if game == reporting.Destiny2 && r.Destiny != nil {
			o.Description = truncate(w.T("modal.reason.files_as", v{"Reason": w.destiny(*r.Destiny)}), 100)
		}
		opts = append(opts, o)
	}
	return discordgo.SelectMenu{
		MenuType: discordgo.StringSelectMenu, CustomID: inputReason, Placeholder: truncate(w.T("modal.reason.placeholder", nil), 150),
		MinValues: ptr(1), MaxValues: 1, Options: opts, Required: ptr(true),
	}
}

// reportModal handles a submitted report form: everything is validated before anything
// is spent, stored or sent; then the report is filed (limit, record, queue) before the
// reporter is answered, so an answered report is never lost. The answer is deferred:
// the pipeline edits it with what becomes of the report.
func (c *call) reportModal(ctx context.Context, id CustomID, data discordgo.ModalSubmitInteractionData) Response {
	game := reporting.Game(id.Args[0])
	pub, ok := c.svc.Publisher(game)
	if !ok {
		return reply(msgGameOff(c.w, game))
	}
	f, err := readModal(data)
	if err != nil {
		c.log.Warn().Err(err).Msg("malformed report form")
		return reply(c.unknown())
	}
	// The inputs the bot put in this game's form, and no other.
	form := reporting.Form{Game: game, Reason: f.one(inputReason), Description: f.text[inputDescription]}
	expect := []string{inputReason, inputDescription}
	switch {
	case pub.Flow() == reporting.FlowActivity && len(id.Args) == 1:
		expect = append(expect, inputActivity)
		form.Activity = f.text[inputActivity]
	case pub.Flow() == reporting.FlowPlayer:
		expect = append(expect, inputMatch, inputEvidence)
		form.Match = f.text[inputMatch]
		for _, fid := range f.files[inputEvidence] {
			a := data.Resolved.Attachments[fid]
			if a == nil {
				form.Evidence = append(form.Evidence, reporting.Attachment{Missing: true})
				continue
			}
			form.Evidence = append(form.Evidence, reporting.Attachment{Filename: a.Filename, URL: a.URL, ContentType: a.ContentType, Size: a.Size})
		}
		if len(id.Args) == 2 {
			form.Member = id.Args[1]
		} else {
			expect = append(expect, inputPlayer)
			form.Player = f.text[inputPlayer]
		}
	default:
		c.log.Warn().Str("custom_id", data.CustomID).Msg("a member form of an activity's game")
		return reply(c.unknown())
	}
	if err := f.only(expect...); err != nil {
		c.log.Warn().Err(err).Msg("forged report form")
		return reply(c.unknown())
	}
	r, err := c.svc.Submit(ctx, form, reporting.Filer{
		GuildID: c.i.GuildID, ChannelID: c.i.ChannelID, ReporterID: c.user.ID, ReporterName: c.user.Username,
		ReporterLocale: string(c.i.Locale), GuildLocale: c.guildLocale(),
	}, reporting.Reply{InteractionID: c.i.ID, Token: c.i.Token, Until: tokenExpiry(c.i.ID)}, c.now())
	if r != nil {
		c = c.withReport(r.ID)
	}
	var le *reporting.LimitError
	switch ie, isInput := inputError(err); {
	case errors.Is(err, reporting.ErrGameOffHere):
		return reply(msgGameOffHere(c.w, game))
	case isInput:
		return reply(msgBadInput(c.w, ie))
	case errors.Is(err, reporting.ErrSelfReport):
		return reply(c.w.T("reply.self", nil))
	case errors.Is(err, reporting.ErrForgedReason):
		c.log.Warn().Str("reason", form.Reason).Msg("reason not in the server's list")
		return reply(c.w.T("reply.forged_reason", nil))
	case errors.As(err, &le):
		return reply(msgLimited(c.w, le.Decision, c.now()))
	case errors.Is(err, reporting.ErrNotReplicated):
		// Stored on the primary, which delivers it as usual; but a copy on a replica
		// was not confirmed in time, so the reporter is told honestly. The pipeline
		// edits this answer with the outcome like any other.
		c.log.Warn().Err(err).Msg("report filed without a confirmed replica")
		return reply(msgStoredUnconfirmed(c.w, r.ID))
	case err != nil:
		return reply(c.fail(err, "filing the report"))
	}
	c.log.Info().Msg("report filed")
	return deferred(nil)
}

// tokenExpiry is when the token of interaction id stops working: 15 minutes after
// the interaction, which its snowflake id dates. A minute is kept in hand.
func tokenExpiry(id string) time.Time {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(n>>22) + 1420070400000).Add(14 * time.Minute)
}

// choicePage is how many choices a select offers.
const choicePage = 25

// choiceComponents are the select of a report's candidates (custom_id player for
// players sharing a name, offender for an activity's players) showing page, and, when
// there are more than a select holds, buttons to turn the pages.
func choiceComponents(w words, r *reporting.Report, page int) []discordgo.MessageComponent {
	// The players of an activity, or players sharing the name given.
	activity := r.ActivityID != ""
	custom, placeholder := kindPlayer, w.T("pick.which_player", nil)
	if activity {
		custom, placeholder = kindOffender, w.T("pick.who_reporting", nil)
	}
	pages := (len(r.Candidates) + choicePage - 1) / choicePage
	page = min(max(page, 0), max(pages-1, 0))
	shown := r.Candidates[page*choicePage : min((page+1)*choicePage, len(r.Candidates))]
	opts := make([]discordgo.SelectMenuOption, 0, len(shown))
	for _, c := range shown {
		o := discordgo.SelectMenuOption{Label: truncate(character(w, c.Label, c.Class, c.Team, plain), 100), Value: c.ID}
		if !activity {
			o.Description = truncate(w.T("pick.player_id", v{"ID": c.ID}), 100)
		}
		opts = append(opts, o)
	}
	rows := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.SelectMenu{MenuType: discordgo.StringSelectMenu, CustomID: custom, Placeholder: truncate(placeholder, 150),
			MinValues: ptr(1), MaxValues: 1, Options: opts},
	}}}
	if pages > 1 {
		turn := func(id string, to int, disabled bool) discordgo.MessageComponent {
			return discordgo.Button{Label: truncate(w.T(id, nil), 80), Style: discordgo.SecondaryButton, Disabled: disabled,
				CustomID: CustomID{Kind: kindOffenderPage, Args: []string{strconv.Itoa(max(to, 0))}}.String()}
		}
		rows = append(rows, discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			turn("pick.previous", page-1, page == 0), turn("pick.next", page+1, page+1 >= pages),
		}})
	}
	return rows
}

// pickPlayer handles a reporter's choice among the players the pipeline offered on
// the answer to their form: players sharing a name, or an activity's players.
func (c *call) pickPlayer(ctx context.Context, data discordgo.MessageComponentInteractionData) Response {
	orig := originalInteraction(c.i)
	if orig == "" || len(data.Values) != 1 {
		return reply(c.unknown())
	}
	r, err := c.svc.ChooseFor(ctx, orig, c.user.ID, data.Values[0])
	if r != nil {
		c = c.withReport(r.ID)
	}
	switch {
	case errors.Is(err, reporting.ErrNotReporter):
		return reply(c.w.T("reply.not_yours", nil))
	case errors.Is(err, reporting.ErrNotChoosing), errors.Is(err, reporting.ErrNoReport):
		return update(c.w.T("reply.expired", nil))
	case reporting.IsInputError(err):
		c.log.Warn().Str("value", data.Values[0]).Msg("forged player choice")
		return reply(c.unknown())
	case err != nil:
		return reply(c.fail(err, "recording a choice"))
	}
	c.log.Info().Msg("the reporter chose a player")
	return update(msgSending(c.w, r.Target))
}

// originalInteraction is the id of the interaction whose response carries the
// component that was used.
func originalInteraction(i *discordgo.Interaction) string {
	if i.Message == nil || i.Message.InteractionMetadata == nil {
		return ""
	}
	return i.Message.InteractionMetadata.ID
}

// update replaces the message the component is on, removing its components.
func update(content string) Response {
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{
			Content: content, Components: []discordgo.MessageComponent{}, AllowedMentions: noMentions(),
		},
	}}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func ptr[T any](x T) *T { return &x }

// plain leaves text as it is, where Discord shows no markdown (select options).
func plain(s string) string { return s }

// turnChoices shows another page of an activity's players.
func (c *call) turnChoices(ctx context.Context, id CustomID) Response {
	orig := originalInteraction(c.i)
	if orig == "" {
		return update(c.w.T("reply.expired", nil))
	}
	r, err := c.svc.ReportFiledBy(ctx, orig)
	switch {
	case errors.Is(err, reporting.ErrNoReport):
		return update(c.w.T("reply.expired", nil))
	case err != nil:
		return reply(c.fail(err, "reading the report"))
	case r.ReporterID != c.user.ID:
		return reply(c.w.T("reply.not_yours", nil))
	case r.Fault != reporting.FaultChoosing:
		return update(c.w.T("reply.expired", nil))
	}
	page, _ := strconv.Atoi(id.Args[0])
	resp := update(msgReporterNews(c.w, r, c.now()))
	resp.Reply.Data.Components = choiceComponents(c.w, r, page)
	return resp
}
