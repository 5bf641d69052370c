package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
		return reply(msgUnknownInteraction())
	}
	sub := data.Options[0]
	switch sub.Name {
	case subPlayer:
		prefill := ""
		prefill = strings.TrimSpace(optString(optionMap(sub.Options)[optPlayer]))
		if prefill != "" {
			if _, err := reporting.ParsePlayer(prefill); err != nil {
				ie, _ := inputError(err)
				return reply(msgBadInput(ie))
			}
		}
		return c.openRallyHereModal(ctx, "", prefill, "")
	case subActivity:
		prefill := strings.TrimSpace(optString(optionMap(sub.Options)[optActivity]))
		if prefill != "" {
			if _, err := reporting.ParseActivity(prefill); err != nil {
				ie, _ := inputError(err)
				return reply(msgBadInput(ie))
			}
		}
		return c.openDestinyModal(ctx, prefill)
	}
	return reply(msgUnknownInteraction())
}

// openDestinyModal opens the Destiny 2 report form: the activity, a reason, what
// happened. The player is chosen from the activity's players afterwards.
func (c *call) openDestinyModal(ctx context.Context, prefill string) Response {
	reasons, limited, refusal := c.beforeForm(ctx, reporting.Destiny2)
	if refusal != "" {
		return reply(refusal)
	}
	if !limited.Allowed {
		return reply(msgLimited(limited, c.now()))
	}
	rows := []discordgo.MessageComponent{
		label("Activity", "Its id, or its PGCR link (bungie.net, raid.report…)", discordgo.TextInput{
			CustomID: inputActivity, Style: discordgo.TextInputShort, Value: prefill,
			Placeholder: "https://raid.report/pgcr/…", Required: ptr(true), MinLength: 1, MaxLength: 300,
		}),
		label("Reason", "", reasonSelect(reasons)),
		label("What happened?", "Up to 4,000 characters", discordgo.TextInput{
			CustomID: inputDescription, Style: discordgo.TextInputParagraph, Required: ptr(false), MaxLength: reporting.MaxDescription,
		}),
	}
	id := CustomID{Kind: kindReport, Args: []string{string(reporting.Destiny2)}}
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: id.String(), Title: "Report a Destiny 2 player", Components: rows},
	}}
}

// beforeForm checks what can be checked before a reporter types anything: the game
// is configured and on in this server, it has reasons, and the reporter's limit. It
// returns a refusal to show, or the server's reasons for the game and the limit.
func (c *call) beforeForm(ctx context.Context, g reporting.Game) ([]reporting.Reason, reporting.Decision, string) {
	if !c.svc.Enabled(g) {
		return nil, reporting.Decision{}, msgGameOff(g)
	}
	st, limit, err := c.svc.SettingsAndLimit(ctx, c.i.GuildID, c.user.ID)
	if err != nil {
		return nil, limit, c.fail(err, "reading settings")
	}
	if !st.GameOn(g) {
		return nil, limit, msgGameOffHere(g)
	}
	reasons := c.svc.ReasonsFor(st.Reasons, g)
	if len(reasons) == 0 {
		return nil, limit, msgNoReasons(g)
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
		return reply(msgUnknownInteraction())
	case target.ID == c.user.ID:
		return reply(msgSelf)
	case target.Bot:
		return reply(msgBot)
	}
	name := target.GlobalName
	if m := data.Resolved.Members[target.ID]; m != nil && m.Nick != "" {
		name = m.Nick
	}
	if name == "" {
		name = target.Username
	}
	return c.openRallyHereModal(ctx, target.ID, "", name)
}

// openRallyHereModal checks what can be checked before the reporter types anything,
// then opens the modal. memberID is set when a member was picked from the context menu.
func (c *call) openRallyHereModal(ctx context.Context, memberID, prefill, memberName string) Response {
	reasons, limit, refusal := c.beforeForm(ctx, reporting.RallyHere)
	if refusal != "" {
		return reply(refusal)
	}
	if !limit.Allowed {
		return reply(msgLimited(limit, c.now()))
	}
	id := CustomID{Kind: kindReport, Args: []string{string(reporting.RallyHere)}}
	title := "Report a player"
	var rows []discordgo.MessageComponent
	if memberID != "" {
		id.Args = append(id.Args, memberID)
		title = truncate("Report "+memberName, 45)
	} else {
		rows = append(rows, label("Player", "In-game name or player ID", discordgo.TextInput{
			CustomID: inputPlayer, Style: discordgo.TextInputShort, Value: prefill,
			Placeholder: "Name or 8-4-4-4-12 player ID", Required: ptr(true), MinLength: 1, MaxLength: 100,
		}))
	}
	rows = append(rows,
		label("Reason", "", reasonSelect(reasons)),
		label("What happened?", "Up to 4,000 characters", discordgo.TextInput{
			CustomID: inputDescription, Style: discordgo.TextInputParagraph, Required: ptr(false), MaxLength: reporting.MaxDescription,
		}),
		label("Match ID", "Optional: the match it happened in", discordgo.TextInput{
			CustomID: inputMatch, Style: discordgo.TextInputShort, Required: ptr(false), MaxLength: maxMatchID,
		}),
		label("Evidence", "Optional: up to 5 screenshots or clips", discordgo.FileUpload{
			CustomID: inputEvidence, MinValues: ptr(0), MaxValues: reporting.MaxEvidence, Required: ptr(false),
		}),
	)
	return Response{Reply: &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: id.String(), Title: title, Components: rows},
	}}
}

func label(text, description string, c discordgo.MessageComponent) discordgo.MessageComponent {
	return discordgo.Label{Label: text, Description: description, Component: c}
}

func reasonSelect(reasons []reporting.Reason) discordgo.SelectMenu {
	opts := make([]discordgo.SelectMenuOption, 0, len(reasons))
	for _, r := range reasons {
		opts = append(opts, discordgo.SelectMenuOption{Label: r.Label, Value: r.Key})
	}
	return discordgo.SelectMenu{
		MenuType: discordgo.StringSelectMenu, CustomID: inputReason, Placeholder: "Pick a reason",
		MinValues: ptr(1), MaxValues: 1, Options: opts, Required: ptr(true),
	}
}

// reportModal handles a submitted report form: everything is validated before anything
// is spent, stored or sent; then the report is filed (limit, record, queue) before the
// reporter is answered, so an answered report is never lost. The answer is deferred:
// the pipeline edits it with what becomes of the report.
func (c *call) reportModal(ctx context.Context, id CustomID, data discordgo.ModalSubmitInteractionData) Response {
	game := reporting.Game(id.Args[0])
	if !c.svc.Enabled(game) {
		return reply(msgGameOff(game))
	}
	form, err := readModal(data)
	if err != nil {
		c.log.Warn().Err(err).Msg("malformed report form")
		return reply(msgUnknownInteraction())
	}
	st, limit, err := c.svc.SettingsAndLimit(ctx, c.i.GuildID, c.user.ID)
	if err != nil {
		return reply(c.fail(err, "reading settings"))
	}
	if !st.GameOn(game) {
		return reply(msgGameOffHere(game))
	}
	d := &reporting.Draft{
		ID: reporting.NewID(c.now()), Game: game,
		GuildID: c.i.GuildID, ChannelID: c.i.ChannelID, ReporterID: c.user.ID, ReporterName: c.user.Username,
	}
	expect := []string{inputReason, inputDescription, inputMatch, inputEvidence}
	switch {
	case game == reporting.Destiny2:
		expect = []string{inputActivity, inputReason, inputDescription}
		if d.ActivityID, err = reporting.ParseActivity(form.text[inputActivity]); err != nil {
			ie, _ := inputError(err)
			return reply(msgBadInput(ie))
		}
	case len(id.Args) == 2:
		if id.Args[1] == c.user.ID {
			return reply(msgSelf)
		}
		d.Target = reporting.Target{Kind: reporting.TargetMember, Value: id.Args[1], Label: "<@" + id.Args[1] + ">"}
	default:
		expect = append(expect, inputPlayer)
		if d.Target, err = reporting.ParsePlayer(form.text[inputPlayer]); err != nil {
			ie, _ := inputError(err)
			return reply(msgBadInput(ie))
		}
		if d.Target.Kind == reporting.TargetMember {
			if d.Target.Value == c.user.ID {
				return reply(msgSelf)
			}
			d.Target.Label = "<@" + d.Target.Value + ">"
		}
	}
	if err := form.only(expect...); err != nil {
		c.log.Warn().Err(err).Msg("forged report form")
		return reply(msgUnknownInteraction())
	}
	reason, ok := c.svc.FindReason(st.Reasons, form.one(inputReason), game)
	if !ok {
		c.log.Warn().Str("reason", form.one(inputReason)).Msg("reason not in the server's list")
		return reply(msgForgedReason)
	}
	d.Reason = reason
	if d.Description, err = description(form.text[inputDescription]); err != nil {
		ie, _ := inputError(err)
		return reply(msgBadInput(ie))
	}
	if d.MatchID, err = matchID(form.text[inputMatch]); err != nil {
		ie, _ := inputError(err)
		return reply(msgBadInput(ie))
	}
	if d.Evidence, err = evidence(form.files[inputEvidence], data.Resolved.Attachments, c.cdn); err != nil {
		ie, _ := inputError(err)
		return reply(msgBadInput(ie))
	}
	if !limit.Allowed {
		return reply(msgLimited(limit, c.now()))
	}
	c = c.withReport(d.ID)
	_, err = c.svc.File(ctx, st, d, reporting.Reply{InteractionID: c.i.ID, Token: c.i.Token, Until: tokenExpiry(c.i.ID)})
	var le *reporting.LimitError
	switch {
	case errors.As(err, &le):
		return reply(msgLimited(le.Decision, c.now()))
	case errors.Is(err, reporting.ErrNotReplicated):
		// Stored on the primary, which delivers it as usual; but a copy on a replica
		// was not confirmed in time, so the reporter is told honestly. The pipeline
		// edits this answer with the outcome like any other.
		c.log.Warn().Err(err).Msg("report filed without a confirmed replica")
		return reply(msgStoredUnconfirmed(d.ID))
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
func choiceComponents(r *reporting.Report, page int) []discordgo.MessageComponent {
	custom, placeholder := kindPlayer, "Which player?"
	if r.Game == reporting.Destiny2 {
		custom, placeholder = kindOffender, "Who are you reporting?"
	}
	pages := (len(r.Candidates) + choicePage - 1) / choicePage
	page = min(max(page, 0), max(pages-1, 0))
	shown := r.Candidates[page*choicePage : min((page+1)*choicePage, len(r.Candidates))]
	opts := make([]discordgo.SelectMenuOption, 0, len(shown))
	for _, c := range shown {
		opts = append(opts, discordgo.SelectMenuOption{Label: truncate(c.Label, 100), Value: c.ID, Description: truncate(c.Description, 100)})
	}
	rows := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.SelectMenu{MenuType: discordgo.StringSelectMenu, CustomID: custom, Placeholder: placeholder,
			MinValues: ptr(1), MaxValues: 1, Options: opts},
	}}}
	if pages > 1 {
		turn := func(label string, to int, disabled bool) discordgo.MessageComponent {
			return discordgo.Button{Label: label, Style: discordgo.SecondaryButton, Disabled: disabled,
				CustomID: CustomID{Kind: kindOffenderPage, Args: []string{strconv.Itoa(max(to, 0))}}.String()}
		}
		rows = append(rows, discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			turn("◀ Previous", page-1, page == 0), turn("Next ▶", page+1, page+1 >= pages),
		}})
	}
	return rows
}

// pickPlayer handles a reporter's choice among the players the pipeline offered on
// the answer to their form: players sharing a name, or an activity's players.
func (c *call) pickPlayer(ctx context.Context, data discordgo.MessageComponentInteractionData) Response {
	orig := originalInteraction(c.i)
	if orig == "" || len(data.Values) != 1 {
		return reply(msgUnknownInteraction())
	}
	reportID, err := c.svc.ReportOf(ctx, orig)
	if errors.Is(err, reporting.ErrNoReport) {
		return update(msgExpired)
	}
	if err != nil {
		return reply(c.fail(err, "finding the report of a choice"))
	}
	c = c.withReport(reportID)
	r, err := c.svc.Choose(ctx, reportID, c.user.ID, data.Values[0])
	switch {
	case errors.Is(err, reporting.ErrNotReporter):
		return reply(msgNotYours)
	case errors.Is(err, reporting.ErrNotChoosing), errors.Is(err, reporting.ErrNoReport):
		return update(msgExpired)
	case reporting.IsInputError(err):
		c.log.Warn().Str("value", data.Values[0]).Msg("forged player choice")
		return reply(msgUnknownInteraction())
	case err != nil:
		return reply(c.fail(err, "recording a choice"))
	}
	c.log.Info().Msg("the reporter chose a player")
	return update(msgSending(r.Target))
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

const maxMatchID = 100

var matchIDRE = regexp.MustCompile(`^[A-Za-z0-9._:\-]+$`)

func matchID(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", nil
	case len(s) > maxMatchID:
		return "", &reporting.InputError{Field: inputMatch, Problem: fmt.Sprintf("it is longer than %d characters", maxMatchID)}
	case !matchIDRE.MatchString(s):
		return "", &reporting.InputError{Field: inputMatch, Problem: "it may only have letters, digits, dashes, underscores, dots and colons"}
	}
	return s, nil
}

func description(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > reporting.MaxDescription {
		return "", &reporting.InputError{Field: inputDescription, Problem: fmt.Sprintf("it has %d characters and the limit is 4,000", n)}
	}
	if !utf8.ValidString(s) {
		return "", &reporting.InputError{Field: inputDescription, Problem: "it is not valid text"}
	}
	return s, nil
}

// evidence is the files of the form. A file whose URL is not on Discord's CDN is kept
// with why it is refused, and is never fetched.
func evidence(ids []string, resolved map[string]*discordgo.MessageAttachment, cdn cdnPolicy) ([]reporting.Evidence, error) {
	if len(ids) > reporting.MaxEvidence {
		return nil, &reporting.InputError{Field: inputEvidence, Problem: fmt.Sprintf("at most %d files", reporting.MaxEvidence)}
	}
	var out []reporting.Evidence
	for _, id := range ids {
		a := resolved[id]
		if a == nil || a.URL == "" {
			return nil, &reporting.InputError{Field: inputEvidence, Problem: "Discord did not send one of them; attach them again"}
		}
		out = append(out, reporting.Evidence{Filename: a.Filename, URL: a.URL, ContentType: a.ContentType, Size: a.Size,
			Refused: cdn.refusal(a.URL)})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func ptr[T any](v T) *T { return &v }

// turnChoices shows another page of an activity's players.
func (c *call) turnChoices(ctx context.Context, id CustomID) Response {
	orig := originalInteraction(c.i)
	reportID, err := c.svc.ReportOf(ctx, orig)
	if errors.Is(err, reporting.ErrNoReport) || orig == "" {
		return update(msgExpired)
	}
	if err != nil {
		return reply(c.fail(err, "finding the report of a choice"))
	}
	r, err := c.svc.Reports.Get(ctx, reportID)
	switch {
	case errors.Is(err, reporting.ErrNoReport):
		return update(msgExpired)
	case err != nil:
		return reply(c.fail(err, "reading the report"))
	case r.ReporterID != c.user.ID:
		return reply(msgNotYours)
	case r.Fault != reporting.FaultChoosing:
		return update(msgExpired)
	}
	page, _ := strconv.Atoi(id.Args[0])
	resp := update(msgReporterNews(r, c.now()))
	resp.Reply.Data.Components = choiceComponents(r, page)
	return resp
}
