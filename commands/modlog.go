package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
)

// Moderator actions on a mod-log post; custom_id mod:<action>:<report id>.
const (
	actClaim   = "claim"
	actResolve = "resolve"
	actDismiss = "dismiss"
)

var actionStatus = map[string]reporting.Status{
	actClaim: reporting.StatusClaimed, actResolve: reporting.StatusResolved, actDismiss: reporting.StatusDismissed,
}

var statusColors = map[reporting.Status]int{
	reporting.StatusQueued: 0xF1C40F, reporting.StatusDelivered: 0x2ECC71, reporting.StatusHandedOff: 0x1ABC9C,
	reporting.StatusFailed: 0xE74C3C, reporting.StatusClaimed: 0x3498DB, reporting.StatusResolved: 0x95A5A6,
	reporting.StatusDismissed: 0x7F8C8D,
}

// modLogView is a report's mod-log post: an embed (which never pings anyone) and the
// moderators' buttons, disabled once they no longer apply.
func modLogView(r *reporting.Report, st reporting.Settings, now time.Time) (*discordgo.MessageEmbed, []discordgo.MessageComponent) {
	reporter := "<@" + r.ReporterID + ">"
	if st.Anonymous {
		reporter = "Hidden (anonymous reports are on)"
	}
	reason := escape(r.Reason.Label)
	switch {
	case r.Game == reporting.RallyHere && r.Reason.RallyHere != "":
		reason += " (`" + r.Reason.RallyHere + "`)"
	case r.Game == reporting.Destiny2 && r.Reason.Destiny != nil:
		reason += " (" + r.Reason.Destiny.Label + ")"
	}
	fields := []*discordgo.MessageEmbedField{
		{Name: "Player", Value: playerLine(r), Inline: true},
		{Name: "Reason", Value: reason, Inline: true},
		{Name: "Reporter", Value: reporter, Inline: true},
	}
	if r.MatchID != "" {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Match", Value: "`" + r.MatchID + "`", Inline: true})
	}
	if r.ActivityID != "" {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Activity", Value: "`" + r.ActivityID + "`", Inline: true})
	}
	fields = append(fields, &discordgo.MessageEmbedField{Name: "Status", Value: statusLine(r, now)})
	if r.Description != "" {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "What happened", Value: truncate(escape(r.Description), 1024)})
	}
	if len(r.Evidence) > 0 {
		var links []string
		for i, e := range r.Evidence {
			if e.Refused != "" {
				links = append(links, msgEvidenceNotFetched(i+1, e))
				continue
			}
			links = append(links, fmt.Sprintf("[%d. %s](%s)", i+1, escape(truncate(e.Filename, 40)), e.URL))
		}
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Evidence (attached below)", Value: truncate(strings.Join(links, "\n"), 1024)})
	}
	embed := &discordgo.MessageEmbed{
		Title:     fmt.Sprintf("%s report · %s", r.Game.Title(), r.ID),
		Color:     statusColors[r.Status()],
		Fields:    fields,
		Timestamp: r.CreatedAt.Format(time.RFC3339),
		Footer:    &discordgo.MessageEmbedFooter{Text: "Claim it before you act; resolve or dismiss when done."},
	}
	closed := r.Moderation == reporting.StatusResolved || r.Moderation == reporting.StatusDismissed
	button := func(label, act string, style discordgo.ButtonStyle, disabled bool) discordgo.MessageComponent {
		return discordgo.Button{Label: label, Style: style, CustomID: CustomID{Kind: kindMod, Args: []string{act, r.ID}}.String(), Disabled: disabled}
	}
	buttons := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		button("Claim", actClaim, discordgo.PrimaryButton, closed || r.Moderation == reporting.StatusClaimed),
		button("Resolve", actResolve, discordgo.SuccessButton, closed),
		button("Dismiss", actDismiss, discordgo.DangerButton, closed),
	}}}
	return embed, buttons
}

func playerLine(r *reporting.Report) string {
	line := about(r)
	if r.Game == reporting.Destiny2 && r.TargetPlayer != "" {
		return line + "\ncharacter `" + r.TargetPlayer + "`"
	}
	if r.TargetPlayer != "" && r.TargetPlayer != r.Target.Value {
		line += "\n`" + r.TargetPlayer + "`"
	}
	return line
}

// statusLine says where a report stands, for moderators and lists.
func statusLine(r *reporting.Report, now time.Time) string {
	by := ""
	if r.ModeratorID != "" {
		by = " by <@" + r.ModeratorID + ">"
	}
	switch r.Status() {
	case reporting.StatusClaimed:
		return "👀 Claimed" + by
	case reporting.StatusResolved:
		return "✔️ Resolved" + by
	case reporting.StatusDismissed:
		return "🚫 Dismissed" + by
	case reporting.StatusDelivered:
		return fmt.Sprintf("✅ Delivered to %s · report ID `%s`", r.Game.Title(), r.UpstreamID)
	case reporting.StatusHandedOff:
		return "↗️ Handed to the reporter to file on [Bungie's report page](" + r.Link + ")"
	case reporting.StatusFailed:
		if r.Dead {
			return "💀 Given up after a day of failed attempts: " + escape(truncate(r.LastError, 300))
		}
		return "❌ Not delivered: " + faultText(r.Fault, r.FaultDetail)
	}
	if r.Fault != "" {
		return fmt.Sprintf("⏳ Queued: %s; attempt %d, next %s", faultText(r.Fault, r.FaultDetail), r.Attempts, stamp(r.NextAttemptAt.Time, "R"))
	}
	return "⏳ Queued"
}

// faultText names a delivery fault in a few words.
func faultText(f reporting.FaultKind, detail string) string {
	switch f {
	case reporting.FaultUnavailable:
		return "the game's report service is not answering"
	case reporting.FaultBusy:
		return "the game's report service asked the bot to slow down"
	case reporting.FaultInvalid:
		return "refused as invalid: " + escape(detail)
	case reporting.FaultTargetGone:
		return "the player does not exist upstream"
	case reporting.FaultNoSource:
		return "the upstream wanted a reporting player"
	case reporting.FaultPermissions:
		return "the bot's game credentials may not file reports"
	case reporting.FaultCredentials:
		return "the bot's game credentials were refused"
	case reporting.FaultReporterNotLinked:
		return "the reporter has no linked game account"
	case reporting.FaultTargetNotLinked:
		return "the reported member has no linked game account"
	case reporting.FaultPlayerNotFound:
		return "no player has that name"
	case reporting.FaultAmbiguous:
		return "several players have that name"
	case reporting.FaultSelfReport:
		return "the reporter named themselves"
	case reporting.FaultExpired:
		return "given up after a day"
	case reporting.FaultActivityNotFound:
		return "Bungie has no such activity"
	case reporting.FaultActivityPrivate:
		return "the activity is private"
	case reporting.FaultNobodyElse:
		return "nobody else was in the activity"
	case reporting.FaultOffenderNotInActivity:
		return "Bungie says the player was not in the activity"
	case reporting.FaultReporterNotInActivity:
		return "Bungie says the reporter was not in the activity"
	case reporting.FaultBungieNotLinked:
		return "the reporter has not linked Bungie.net"
	case reporting.FaultRelink:
		return "the reporter's Bungie.net link must be renewed"
	case reporting.FaultChoosing:
		return "the reporter is choosing the player"
	case reporting.FaultDuplicate:
		return "the reporter already reported this player today"
	}
	return "an unexpected error"
}
