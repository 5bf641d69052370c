package commands

import (
	"fmt"
	"slices"
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

// modLogView is a report's mod-log post, in the server's language: an embed (which
// never pings anyone) and the moderators' buttons, disabled once they no longer apply.
func modLogView(w words, r *reporting.Report, st reporting.Settings, now time.Time) (*discordgo.MessageEmbed, []discordgo.MessageComponent) {
	reporter := "<@" + r.ReporterID + ">"
	if st.Anonymous {
		reporter = w.T("modlog.reporter_hidden", nil)
	}
	reason := escape(reasonLabel(w, r.Reason))
	switch {
	case r.Game == reporting.RallyHere && r.Reason.RallyHere != "":
		reason += " (`" + r.Reason.RallyHere + "`)"
	case r.Game == reporting.Destiny2 && r.Reason.Destiny != nil:
		reason += " (" + w.destiny(*r.Reason.Destiny) + ")"
	}
	field := func(name, value string, inline bool) *discordgo.MessageEmbedField {
		return &discordgo.MessageEmbedField{Name: w.T("modlog.field."+name, nil), Value: value, Inline: inline}
	}
	fields := []*discordgo.MessageEmbedField{
		field("player", playerLine(w, r), true),
		field("reason", reason, true),
		field("reporter", reporter, true),
	}
	if r.MatchID != "" {
		fields = append(fields, field("match", "`"+r.MatchID+"`", true))
	}
	if r.ActivityID != "" {
		fields = append(fields, field("activity", "`"+r.ActivityID+"`", true))
	}
	fields = append(fields, field("status", statusLine(w, r, now), false))
	if r.Description != "" {
		fields = append(fields, field("what_happened", truncate(escape(r.Description), 1024), false))
	}
	if len(r.Evidence) > 0 {
		var links []string
		for i, e := range r.Evidence {
			if e.Refused != "" {
				links = append(links, msgEvidenceNotFetched(w, i+1, e))
				continue
			}
			links = append(links, fmt.Sprintf("[%d. %s](%s)", i+1, escape(truncate(e.Filename, 40)), e.URL))
		}
		fields = append(fields, field("evidence", truncate(strings.Join(links, "\n"), 1024), false))
	}
	embed := &discordgo.MessageEmbed{
		Title:     truncate(w.T("modlog.title", v{"Game": gameTitle(w, r.Game), "ID": r.ID}), 256),
		Color:     statusColors[r.Status()],
		Fields:    fields,
		Timestamp: r.CreatedAt.Format(time.RFC3339),
		Footer:    &discordgo.MessageEmbedFooter{Text: w.T("modlog.footer", nil)},
	}
	closed := r.Moderation == reporting.StatusResolved || r.Moderation == reporting.StatusDismissed
	button := func(act string, style discordgo.ButtonStyle, disabled bool) discordgo.MessageComponent {
		return discordgo.Button{Label: w.T("modlog.button."+act, nil), Style: style,
			CustomID: CustomID{Kind: kindMod, Args: []string{act, r.ID}}.String(), Disabled: disabled}
	}
	buttons := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		button(actClaim, discordgo.PrimaryButton, closed || r.Moderation == reporting.StatusClaimed),
		button(actResolve, discordgo.SuccessButton, closed),
		button(actDismiss, discordgo.DangerButton, closed),
	}}}
	return embed, buttons
}

func playerLine(w words, r *reporting.Report) string {
	line := about(w, r)
	if r.Game == reporting.Destiny2 && r.TargetPlayer != "" {
		return line + "\n" + w.T("modlog.character", v{"ID": r.TargetPlayer})
	}
	if r.TargetPlayer != "" && r.TargetPlayer != r.Target.Value {
		line += "\n`" + r.TargetPlayer + "`"
	}
	return line
}

// statusLine says where a report stands, for moderators and lists.
func statusLine(w words, r *reporting.Report, now time.Time) string {
	by := v{"Moderator": "<@" + r.ModeratorID + ">"}
	switch s := r.Status(); s {
	case reporting.StatusClaimed, reporting.StatusResolved, reporting.StatusDismissed:
		if r.ModeratorID != "" {
			return w.T("status."+string(s)+"_by", by)
		}
		return w.T("status."+string(s), nil)
	case reporting.StatusDelivered:
		return w.T("status.delivered", v{"Game": gameTitle(w, r.Game), "UpstreamID": r.UpstreamID})
	case reporting.StatusHandedOff:
		return w.T("status.handed_off", v{"Link": r.Link})
	case reporting.StatusFailed:
		if r.Dead {
			return w.T("status.dead", v{"Error": escape(truncate(r.LastError, 300))})
		}
		return w.T("status.failed", v{"Fault": faultText(w, r.Fault, r.FaultDetail)})
	}
	if r.Fault != "" {
		return w.T("status.retrying", v{"Fault": faultText(w, r.Fault, r.FaultDetail), "Attempt": r.Attempts, "When": stamp(r.NextAttemptAt.Time, "R")})
	}
	return w.T("status.queued", nil)
}

// faults are the delivery faults faultText names (the catalog's fault.<kind>).
var faults = []reporting.FaultKind{reporting.FaultUnavailable, reporting.FaultBusy, reporting.FaultInvalid,
	reporting.FaultTargetGone, reporting.FaultNoSource, reporting.FaultPermissions, reporting.FaultCredentials,
	reporting.FaultReporterNotLinked, reporting.FaultTargetNotLinked, reporting.FaultPlayerNotFound,
	reporting.FaultAmbiguous, reporting.FaultSelfReport, reporting.FaultExpired, reporting.FaultActivityNotFound,
	reporting.FaultActivityPrivate, reporting.FaultNobodyElse, reporting.FaultOffenderNotInActivity,
	reporting.FaultReporterNotInActivity, reporting.FaultBungieNotLinked, reporting.FaultRelink,
	reporting.FaultChoosing, reporting.FaultDuplicate, reporting.FaultRefused}

// faultText names a delivery fault in a few words.
func faultText(w words, f reporting.FaultKind, detail string) string {
	if slices.Contains(faults, f) {
		return w.T("fault."+string(f), v{"Detail": escape(detail)})
	}
	return w.T("fault.unknown", nil)
}
