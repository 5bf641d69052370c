package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
)

// draftTTL is how long a reporter has to pick among players sharing a name: as long
// as the interaction token that lets the bot edit the answer.
const draftTTL = 14 * time.Minute

// reportCommand handles /report player [player].
func (c *call) reportCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if len(data.Options) != 1 || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return reply(msgUnknownInteraction())
	}
	sub := data.Options[0]
	switch sub.Name {
	case subPlayer:
		prefill := ""
		for _, o := range sub.Options {
			if o.Name == optPlayer {
				prefill = strings.TrimSpace(o.StringValue())
			}
		}
		if prefill != "" {
			if _, err := reporting.ParsePlayer(prefill); err != nil {
				ie, _ := inputError(err)
				return reply(msgBadInput(ie))
			}
		}
		return c.openRallyHereModal(ctx, "", prefill, "")
	}
	return reply(msgUnknownInteraction())
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
	if !c.svc.Enabled(reporting.RallyHere) {
		return reply(msgGameOff(reporting.RallyHere))
	}
	st, err := c.svc.Settings.Get(ctx, c.i.GuildID)
	if err != nil {
		return reply(c.fail(err, "reading settings"))
	}
	reasons := reporting.ReasonsFor(st.Reasons, reporting.RallyHere)
	if len(reasons) == 0 {
		return reply(msgNoReasons(reporting.RallyHere))
	}
	if d, err := c.svc.CheckLimit(ctx, st, c.user.ID); err != nil {
		return reply(c.fail(err, "checking the limit"))
	} else if !d.Allowed {
		return reply(msgLimited(d, c.now()))
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
// is spent, stored or sent; then the reply is deferred while players are looked up.
func (c *call) reportModal(ctx context.Context, id CustomID, data discordgo.ModalSubmitInteractionData) Response {
	game := reporting.Game(id.Args[0])
	if game != reporting.RallyHere || !c.svc.Enabled(game) {
		return reply(msgGameOff(game))
	}
	form, err := readModal(data)
	if err != nil {
		c.log.Warn().Err(err).Msg("malformed report form")
		return reply(msgUnknownInteraction())
	}
	st, err := c.svc.Settings.Get(ctx, c.i.GuildID)
	if err != nil {
		return reply(c.fail(err, "reading settings"))
	}
	d := &reporting.Draft{
		ID: reporting.NewID(c.now()), Game: game,
		GuildID: c.i.GuildID, ChannelID: c.i.ChannelID, ReporterID: c.user.ID, ReporterName: c.user.Username,
	}
	expect := []string{inputReason, inputDescription, inputMatch, inputEvidence}
	if len(id.Args) == 2 {
		if id.Args[1] == c.user.ID {
			return reply(msgSelf)
		}
		d.Target = reporting.Target{Kind: reporting.TargetMember, Value: id.Args[1], Label: "<@" + id.Args[1] + ">"}
	} else {
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
	reason, ok := reporting.FindReason(st.Reasons, form.one(inputReason), game)
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
	if d.Evidence, err = evidence(form.files[inputEvidence], data.Resolved.Attachments); err != nil {
		ie, _ := inputError(err)
		return reply(msgBadInput(ie))
	}
	if dec, err := c.svc.CheckLimit(ctx, st, c.user.ID); err != nil {
		return reply(c.fail(err, "checking the limit"))
	} else if !dec.Allowed {
		return reply(msgLimited(dec, c.now()))
	}
	return deferred(func(ctx context.Context) { c.resolveAndFile(ctx, d) })
}

// resolveAndFile runs after the deferred reply: look the players up, then file.
func (c *call) resolveAndFile(ctx context.Context, d *reporting.Draft) {
	err := c.svc.Resolve(ctx, d)
	var amb *reporting.AmbiguousError
	switch {
	case errors.As(err, &amb):
		if err := c.svc.SaveDraft(ctx, c.i.ID, d, draftTTL); err != nil {
			c.edit(ctx, c.fail(err, "saving the draft"), nil)
			return
		}
		c.edit(ctx, msgAmbiguous(d.Target.Value, len(amb.Players)), playerSelect(d.Target.Value, amb.Players))
		return
	case err != nil:
		c.edit(ctx, c.resolveMessage(err, d), nil)
		return
	}
	c.file(ctx, d)
}

func (c *call) resolveMessage(err error, d *reporting.Draft) string {
	switch {
	case errors.Is(err, reporting.ErrReporterNotLinked):
		return msgReporterUnknown
	case errors.Is(err, reporting.ErrTargetNotLinked):
		return msgTargetNotLinked(d.Target)
	case errors.Is(err, reporting.ErrPlayerNotFound):
		return msgPlayerNotFound(d.Target)
	case errors.Is(err, reporting.ErrSelfReport):
		return msgSelf
	case errors.Is(err, reporting.ErrGameOff):
		return msgGameOff(d.Game)
	}
	return c.upstreamMessage(err, "looking up players")
}

// upstreamMessage explains an upstream failure, logging it with a ref when the
// reporter cannot fix it.
func (c *call) upstreamMessage(err error, what string) string {
	f := reporting.ClassifyRallyHere(err)
	switch f.Kind {
	case reporting.FaultUnavailable, reporting.FaultBusy, reporting.FaultInvalid, reporting.FaultTargetGone:
		c.log.Warn().Err(err).Msg(what)
		return msgUpstream(f, "", c.now())
	}
	ref := newRef()
	c.log.Error().Err(err).Str("ref", ref).Msg(what)
	return msgUpstream(f, ref, c.now())
}

// file spends the limit, stores and delivers the report, and tells the reporter.
func (c *call) file(ctx context.Context, d *reporting.Draft) {
	c = c.withReport(d.ID)
	r, err := c.svc.File(ctx, d)
	var le *reporting.LimitError
	var de *reporting.DeliveryError
	switch {
	case errors.As(err, &le):
		c.edit(ctx, msgLimited(le.Decision, c.now()), nil)
	case errors.As(err, &de):
		c.edit(ctx, c.upstreamMessage(de.Err, "delivering the report"), nil)
	case err != nil:
		c.edit(ctx, c.fail(err, "filing the report"), nil)
	default:
		c.log.Info().Str("upstream_id", r.UpstreamID).Msg("report filed")
		c.edit(ctx, msgDelivered(r), nil)
	}
}

// playerSelect offers the players sharing a name; custom_id player.
func playerSelect(name string, players []string) []discordgo.MessageComponent {
	if len(players) > 25 {
		players = players[:25]
	}
	opts := make([]discordgo.SelectMenuOption, 0, len(players))
	for i, p := range players {
		opts = append(opts, discordgo.SelectMenuOption{
			Label:       truncate(fmt.Sprintf("%s (%d)", name, i+1), 100),
			Value:       p,
			Description: "Player ID " + p,
		})
	}
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.SelectMenu{MenuType: discordgo.StringSelectMenu, CustomID: kindPlayer, Placeholder: "Which player?",
			MinValues: ptr(1), MaxValues: 1, Options: opts},
	}}}
}

// pickPlayer handles the choice among players sharing a name.
func (c *call) pickPlayer(ctx context.Context, data discordgo.MessageComponentInteractionData) Response {
	key := originalInteraction(c.i)
	if key == "" || len(data.Values) != 1 {
		return reply(msgUnknownInteraction())
	}
	d, err := c.svc.PeekDraft(ctx, key)
	switch {
	case errors.Is(err, reporting.ErrNoDraft):
		return update(msgExpired)
	case err != nil:
		return reply(c.fail(err, "reading the draft"))
	case d.ReporterID != c.user.ID:
		return reply(msgNotYours)
	}
	choice := data.Values[0]
	target, err := reporting.ParsePlayer(choice)
	if err != nil || target.Kind != reporting.TargetUUID {
		c.log.Warn().Str("value", choice).Msg("forged player choice")
		return reply(msgUnknownInteraction())
	}
	resp := update(msgSending(d.Target))
	resp.Then = func(ctx context.Context) {
		d, err := c.svc.TakeDraft(ctx, key)
		if errors.Is(err, reporting.ErrNoDraft) {
			return // another click filed it
		}
		if err != nil {
			c.edit(ctx, c.fail(err, "taking the draft"), nil)
			return
		}
		d.TargetPlayer = target.Value
		d.Target.Label = fmt.Sprintf("%s (%s)", d.Target.Value, target.Value)
		if err := c.svc.Resolve(ctx, d); err != nil {
			c.edit(ctx, c.resolveMessage(err, d), nil)
			return
		}
		c.file(ctx, d)
	}
	return resp
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

func evidence(ids []string, resolved map[string]*discordgo.MessageAttachment) ([]reporting.Evidence, error) {
	if len(ids) > reporting.MaxEvidence {
		return nil, &reporting.InputError{Field: inputEvidence, Problem: fmt.Sprintf("at most %d files", reporting.MaxEvidence)}
	}
	var out []reporting.Evidence
	for _, id := range ids {
		a := resolved[id]
		if a == nil || a.URL == "" {
			return nil, &reporting.InputError{Field: inputEvidence, Problem: "Discord did not send one of them; attach them again"}
		}
		out = append(out, reporting.Evidence{Filename: a.Filename, URL: a.URL, ContentType: a.ContentType, Size: a.Size})
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
