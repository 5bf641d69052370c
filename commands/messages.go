package commands

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
)

// Everything a person reads comes from this file, so the wording can be reviewed in
// one place (and is pinned by testdata/messages.golden).

func msgInternal(ref string) string {
	return fmt.Sprintf("Something went wrong on our side (ref `%s`). Try again in a minute; if it keeps happening, give a moderator the ref.", ref)
}

const (
	msgGuildOnly       = "Reports can only be made in a server."
	msgNotAdmin        = "Only members with the **Manage Server** permission can change the report settings."
	msgNotModerator    = "Only moderators (members with **Manage Messages**, or the server's moderator role) can do that."
	msgReportGone      = "That report is no longer kept (reports are deleted after the retention period)."
	msgSelf            = "You can't report yourself."
	msgBot             = "Bots can't be reported."
	msgNotYours        = "This isn't your report; only the person who started it can use it."
	msgExpired         = "This form has expired. Start again with `/report player`."
	msgForgedReason    = "That reason isn't on this server's list (an admin may have just changed it). Open the form again and pick one from the list."
	msgReporterUnknown = "Your Discord account isn't linked to a RallyHere player, so the report can't say who sent it. Link Discord in the game's account settings, then try again."
	msgReasonsReset    = "The reason list is back to the defaults."
)

func msgUnknownInteraction() string {
	return "I don't recognise that button or form; it may be from an older version of the bot. Start again with `/report`."
}

func msgGameOff(g reporting.Game) string {
	return fmt.Sprintf("This bot isn't set up to report %s players. Ask whoever runs the bot.", g.Title())
}

func msgGameOffHere(g reporting.Game) string {
	return fmt.Sprintf("Reports of %s players are turned off in this server. An admin can turn them on with `/report-config games`.", g.Title())
}

const msgLinkBungie = "Link your Bungie.net account so the bot can file your Destiny 2 reports with Bungie. The button works once, for the next 10 minutes; the bot keeps only what it needs to file reports, encrypted, and `/unlink bungie` deletes it."

func msgUnlinked(was bool) string {
	if !was {
		return "You had no Bungie.net account linked."
	}
	return "Your Bungie.net account is unlinked: the bot no longer holds its tokens."
}

func msgGames(st reporting.Settings, enabled func(reporting.Game) bool) string {
	var parts []string
	for _, g := range []reporting.Game{reporting.RallyHere, reporting.Destiny2} {
		if !enabled(g) {
			continue
		}
		state := "on"
		if !st.GameOn(g) {
			state = "off"
		}
		parts = append(parts, fmt.Sprintf("%s reports: **%s**", g.Title(), state))
	}
	return strings.Join(parts, " · ")
}

func msgNoReasons(g reporting.Game) string {
	return fmt.Sprintf("This server has no report reasons for %s yet. An admin can add one with `/report-config reason-add`.", g.Title())
}

func msgBadInput(e *reporting.InputError) string {
	switch e.Field {
	case inputPlayer:
		return fmt.Sprintf("I can't look that player up: %s. Give their in-game name or their player ID.", e.Problem)
	case inputDescription:
		return fmt.Sprintf("Your description is too long: %s.", e.Problem)
	case inputMatch:
		return fmt.Sprintf("That match ID isn't valid: %s.", e.Problem)
	case inputEvidence:
		return fmt.Sprintf("Those files can't be attached: %s.", e.Problem)
	}
	return fmt.Sprintf("The %s isn't valid: %s.", e.Field, e.Problem)
}

func msgLimited(d reporting.Decision, now time.Time) string {
	at := now.Add(d.RetryAfter)
	switch d.Scope {
	case reporting.LimitBarred:
		if d.RetryAfter <= 0 {
			return "A moderator has barred you from reporting in this server."
		}
		return fmt.Sprintf("A moderator has barred you from reporting in this server until %s.", stamp(at, "f"))
	case reporting.LimitDuplicate:
		return fmt.Sprintf("You already reported this player in the last 24 hours. You can report them again %s.", stamp(at, "R"))
	case reporting.LimitGlobal:
		return fmt.Sprintf("You've reached the limit of %s across all servers. You can report again %s.", rate(d.Limit), stamp(at, "R"))
	}
	return fmt.Sprintf("You've reached this server's limit of %s. You can report again %s.", rate(d.Limit), stamp(at, "R"))
}

func msgTargetNotLinked(t reporting.Target) string {
	return fmt.Sprintf("%s hasn't linked Discord to a game account, so I can't tell which player they are. Use `/report player` with their in-game name instead.", who(t))
}

func msgPlayerNotFound(t reporting.Target) string {
	if t.Kind == reporting.TargetUUID {
		return fmt.Sprintf("RallyHere has no player with the ID `%s`. Check the ID and try again.", t.Value)
	}
	return fmt.Sprintf("No RallyHere player is named “%s”. Check the spelling (names are case-sensitive) or use their player ID.", escape(t.Value))
}

func msgAmbiguous(name string, n int) string {
	return fmt.Sprintf("%d players are named “%s”. Pick the one you mean:", n, escape(name))
}

func msgSending(t reporting.Target) string {
	return fmt.Sprintf("Sending your report about %s…", who(t))
}

func msgDelivered(r *reporting.Report) string {
	if r.Game == reporting.Destiny2 {
		return fmt.Sprintf("✅ Your report about %s in activity `%s` was sent to Bungie.\nOur reference: `%s`", about(r), r.ActivityID, r.ID)
	}
	return fmt.Sprintf("✅ Your report about %s was sent to %s.\n%s report ID: `%s` · our reference: `%s`",
		about(r), r.Game.Title(), r.Game.Title(), r.UpstreamID, r.ID)
}

func msgHandedOff(r *reporting.Report) string {
	return fmt.Sprintf("↗️ Almost done: Bungie takes Destiny 2 reports on its own site. Open Bungie's report page for %s, sign in if asked, and submit it there: <%s>\nYour report is recorded here too (reference `%s`), and the server's moderators can see it.",
		about(r), r.Link, r.ID)
}

// msgReporterNews tells a reporter what became of their report (SPEC §4): the
// pipeline sends it as an edit of their answer, or as a DM.
func msgReporterNews(r *reporting.Report, now time.Time) string {
	about, ref, game := about(r), "`"+r.ID+"`", r.Game.Title()
	activity := "`" + r.ActivityID + "`"
	switch reporting.ReporterNews(r) {
	case "delivered":
		return msgDelivered(r)
	case "handed_off":
		return msgHandedOff(r)
	case "choosing":
		if r.Game == reporting.Destiny2 {
			return fmt.Sprintf("Who in activity %s are you reporting? %d players were there; pick one below.", activity, len(r.Candidates))
		}
		return msgAmbiguous(r.Target.Value, len(r.Candidates))
	case "retrying":
		return fmt.Sprintf("⏳ %s isn't answering right now. Your report about %s is saved (reference %s) and the bot will keep trying for up to a day; you'll hear here or by direct message when it's through. `/reports mine` shows where it stands.", game, about, ref)
	case "claimed":
		return fmt.Sprintf("👀 A moderator is looking at your report about %s (%s).", about, ref)
	case "resolved":
		return fmt.Sprintf("✔️ A moderator resolved your report about %s (%s). Thank you for reporting.", about, ref)
	case "dismissed":
		return fmt.Sprintf("A moderator dismissed your report about %s (%s).", about, ref)
	}
	// failed
	switch r.Fault {
	case reporting.FaultInvalid:
		return fmt.Sprintf("❌ %s refused your report about %s: %s. Nothing was filed, and it doesn't count against your limit.", game, about, escape(r.FaultDetail))
	case reporting.FaultTargetGone:
		return fmt.Sprintf("❌ %s says the player you reported (%s) doesn't exist (any more). Nothing was filed, and it doesn't count against your limit.", game, about)
	case reporting.FaultPlayerNotFound:
		return "❌ " + msgPlayerNotFound(r.Target) + " Nothing was filed, and it doesn't count against your limit."
	case reporting.FaultAmbiguous:
		return fmt.Sprintf("❌ Several %s players are named “%s”. Nothing was filed and it doesn't count against your limit; report again with their player ID.", game, escape(r.Target.Value))
	case reporting.FaultReporterNotLinked:
		return "❌ " + msgReporterUnknown + " Nothing was filed, and it doesn't count against your limit."
	case reporting.FaultTargetNotLinked:
		return "❌ " + msgTargetNotLinked(r.Target)
	case reporting.FaultSelfReport:
		return "❌ " + msgSelf
	case reporting.FaultDuplicate:
		return fmt.Sprintf("❌ You already reported %s in the last 24 hours, so this report was not filed again. It doesn't count against your limit.", about)
	case reporting.FaultActivityNotFound:
		return fmt.Sprintf("❌ Bungie has no activity %s: check its id or link. Nothing was filed, and it doesn't count against your limit.", activity)
	case reporting.FaultActivityPrivate:
		return fmt.Sprintf("❌ Activity %s is private on Bungie.net, so the bot can't see who was there. Nothing was filed, and it doesn't count against your limit.", activity)
	case reporting.FaultNobodyElse:
		return fmt.Sprintf("❌ Nobody but you was in activity %s. Nothing was filed, and it doesn't count against your limit.", activity)
	case reporting.FaultOffenderNotInActivity:
		return fmt.Sprintf("❌ Bungie says %s wasn't in activity %s. Nothing was filed, and it doesn't count against your limit.", about, activity)
	case reporting.FaultReporterNotInActivity:
		return fmt.Sprintf("❌ Bungie only takes reports from players who were in the activity, and your linked account wasn't in %s. Nothing was filed, and it doesn't count against your limit.", activity)
	case reporting.FaultBungieNotLinked:
		return "❌ To file Destiny 2 reports the bot needs your Bungie.net account: run `/link bungie`, then report again. Nothing was filed, and it doesn't count against your limit."
	case reporting.FaultRelink:
		return "❌ Your Bungie.net link has expired or was revoked. Run `/link bungie` again, then report again. Nothing was filed, and it doesn't count against your limit."
	case reporting.FaultExpired:
		return fmt.Sprintf("❌ Your report about %s (reference %s) couldn't be delivered: %s was unavailable for a whole day. The server's moderators can still see it.", about, ref, game)
	}
	return fmt.Sprintf("❌ Your report about %s (reference %s) couldn't be filed: %s. That is a problem with the bot's set-up, not with your report; the bot's operator will find it in the logs under %s.",
		about, ref, faultText(r.Fault, r.FaultDetail), ref)
}

// msgMine lists a reporter's latest reports (/reports mine).
func msgMine(list []*reporting.Report, now time.Time) string {
	if len(list) == 0 {
		return "You haven't filed any reports (or they're older than the bot keeps)."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Your latest reports**\n")
	for _, r := range list {
		fmt.Fprintf(&b, "• `%s` %s · %s about %s · %s\n", r.ID, stamp(r.CreatedAt.Time, "R"), escape(r.Reason.Label), about(r), statusLine(r, now))
	}
	return truncate(strings.TrimRight(b.String(), "\n"), 2000)
}

// msgList is a page of /reports list.
func msgList(list []*reporting.Report, anonymous bool, page int, status, player string, now time.Time) string {
	var b strings.Builder
	b.WriteString("**Reports in this server**")
	var filters []string
	if status != "all" {
		filters = append(filters, "status "+status)
	}
	if player != "" {
		filters = append(filters, "player “"+escape(player)+"”")
	}
	if len(filters) > 0 {
		b.WriteString(" · " + strings.Join(filters, ", "))
	}
	fmt.Fprintf(&b, " · page %d\n", page+1)
	if len(list) == 0 {
		b.WriteString("No reports match.")
		return b.String()
	}
	for _, r := range list {
		by := "<@" + r.ReporterID + ">"
		if anonymous {
			by = "anonymous"
		}
		fmt.Fprintf(&b, "• `%s` %s · %s about %s · by %s · %s\n", r.ID, stamp(r.CreatedAt.Time, "R"), escape(r.Reason.Label), about(r), by, statusLine(r, now))
	}
	return truncate(strings.TrimRight(b.String(), "\n"), 2000)
}

func msgBarred(memberID string, until time.Time) string {
	return fmt.Sprintf("<@%s> can't file reports in this server until %s. `/reports unbar` lifts it.", memberID, stamp(until, "f"))
}

func msgUnbarred(memberID string, was bool) string {
	if !was {
		return fmt.Sprintf("<@%s> wasn't barred from reporting.", memberID)
	}
	return fmt.Sprintf("<@%s> can file reports again.", memberID)
}

func msgAlreadyClosed(r *reporting.Report) string {
	return fmt.Sprintf("Report `%s` is already %s; it can't be changed any more.", r.ID, r.Moderation)
}

// Settings messages.

func msgReasonAdded(r reporting.Reason, count int) string {
	return fmt.Sprintf("Added **%s** (%s). This server now has %d reasons.", escape(r.Label), mappings(r), count)
}

func msgReasonRemoved(label string, count int) string {
	return fmt.Sprintf("Removed **%s**. This server now has %d reasons.", escape(label), count)
}

func msgNoSuchReason(key string) string {
	return fmt.Sprintf("This server has no reason “%s”. `/report-config reasons` lists them.", escape(key))
}

func msgReasonExists(label string) string {
	return fmt.Sprintf("This server already has a reason called **%s**.", escape(label))
}

func msgTooManyReasons() string {
	return fmt.Sprintf("This server already has %d reasons, the most a list can offer. Remove one first.", reporting.MaxReasons)
}

func msgReasons(list []reporting.Reason) string {
	if len(list) == 0 {
		return "This server has no reasons. Add one with `/report-config reason-add`, or `/report-config reason-reset` for the defaults."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Report reasons** (%d of %d)\n", len(list), reporting.MaxReasons)
	for _, r := range list {
		fmt.Fprintf(&b, "• **%s** — %s\n", escape(r.Label), mappings(r))
	}
	return strings.TrimRight(b.String(), "\n")
}

// ShowView is what /report-config show presents.
type ShowView struct {
	Settings  reporting.Settings
	Games     []reporting.Game // games the operator configured
	MaxLimit  config.Rate
	Transport string
}

func msgShow(v ShowView) string {
	var b strings.Builder
	b.WriteString("**Report settings for this server**\n")
	games := "none (the operator configured no game)"
	if len(v.Games) > 0 {
		games = msgGames(v.Settings, func(g reporting.Game) bool { return slices.Contains(v.Games, g) })
	}
	fmt.Fprintf(&b, "Games: %s\n", games)
	source := "set by an admin"
	if !v.Settings.LimitSet {
		source = "the bot's default"
	}
	fmt.Fprintf(&b, "Limit per member: %s (%s; the bot allows at most %s)\n", rate(v.Settings.Limit), source, rate(v.MaxLimit))
	channel := "off (`/report-config channel` sets one)"
	if v.Settings.ModLogChannel != "" {
		channel = "<#" + v.Settings.ModLogChannel + ">"
	}
	fmt.Fprintf(&b, "Mod log: %s\n", channel)
	role := "none: moderators are members with Manage Messages"
	if v.Settings.ModRole != "" {
		role = "<@&" + v.Settings.ModRole + "> (and members with Manage Messages)"
	}
	fmt.Fprintf(&b, "Moderator role: %s\n", role)
	anon := "off: moderators see who reported"
	if v.Settings.Anonymous {
		anon = "on: moderators don't see who reported (the bot still keeps it)"
	}
	fmt.Fprintf(&b, "Anonymous reports: %s\n", anon)
	b.WriteString(msgReasons(v.Settings.Reasons))
	return b.String()
}

func msgModLogSet(channelID string) string {
	return fmt.Sprintf("Reports will be posted in <#%s>.", channelID)
}

const msgModLogOff = "The mod log is off: reports are no longer posted anywhere. `/reports list` still shows them."

func msgModLogCantPost(channelID string) string {
	return fmt.Sprintf("I can't post in <#%s>. Give the bot **View Channel**, **Send Messages**, **Embed Links** and **Attach Files** there, then set the channel again.", channelID)
}

const msgModLogHello = "📋 Reports filed in this server will be posted here, with buttons for moderators to claim, resolve or dismiss them."

func msgModRole(roleID string) string {
	if roleID == "" {
		return "No moderator role: moderators are members with Manage Messages."
	}
	return fmt.Sprintf("Members with <@&%s> (and those with Manage Messages) can now handle reports.", roleID)
}

func msgLimitSet(r config.Rate) string {
	return fmt.Sprintf("Each member can now file %s in this server.", rate(r))
}

func msgAnonymous(on bool) string {
	if on {
		return "Anonymous reports are on: moderators won't see who filed a report. The bot still keeps it, for limits and abuse."
	}
	return "Anonymous reports are off: moderators see who filed each report."
}

// Formatting helpers.

// who shows a reported player: a member as a mention (which pings nobody: every
// message sets allowed_mentions to none), an id as code, a name as typed.
func who(t reporting.Target) string {
	switch t.Kind {
	case reporting.TargetMember:
		return "<@" + t.Value + ">"
	case reporting.TargetUUID:
		return "`" + t.Value + "`"
	case "":
		return "a player"
	}
	return escape(t.String())
}

// about shows the player a report is about; a Destiny report's player is only
// known once chosen from the activity.
func about(r *reporting.Report) string {
	if r.Game == reporting.Destiny2 && r.Target.Kind == "" {
		return "a player of activity `" + r.ActivityID + "`"
	}
	return who(r.Target)
}

func mappings(r reporting.Reason) string {
	var parts []string
	if r.RallyHere != "" {
		parts = append(parts, "RallyHere: `"+r.RallyHere+"`")
	}
	if r.Destiny != nil {
		parts = append(parts, "Destiny 2: "+r.Destiny.Label)
	}
	if len(parts) == 0 {
		return "no game"
	}
	return strings.Join(parts, " · ")
}

// stamp is a Discord timestamp, shown in each reader's own time zone; style R is
// relative ("in 5 minutes"), f is date and time.
func stamp(t time.Time, style string) string {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++ // never tell someone a moment that is still too early
	}
	return fmt.Sprintf("<t:%d:%s>", sec, style)
}

func rate(r config.Rate) string {
	n := "reports"
	if r.Count == 1 {
		n = "report"
	}
	// "per day" and "per hour" read better than "per 1 day".
	return fmt.Sprintf("%d %s per %s", r.Count, n, strings.TrimPrefix(humanDuration(r.Per), "1 "))
}

// humanDuration writes d in words: "10 minutes", "24 hours", "1 day 12 hours".
func humanDuration(d time.Duration) string {
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 {
			s := fmt.Sprintf("%d %s", n, u.name)
			if n > 1 {
				s += "s"
			}
			parts = append(parts, s)
			d -= n * u.size
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}

// escape neutralises Discord markdown in text people typed, so a name or label is
// shown as written.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\*_~`|>#-[]()<:@", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var refEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewRef returns a short id that ties what a person is told to the log line with the
// real error.
func NewRef() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return refEncoding.EncodeToString(b[:])
}

// msgPaused answers anything that needs Redis while it cannot be reached: nothing
// was stored or spent, and the ref is the outage's.
func msgPaused(ref string) string {
	return fmt.Sprintf("⏸️ Reports are paused for a moment: the bot can't reach its database. Nothing was saved; try again in a minute (ref `%s`).", ref)
}

// msgStoredUnconfirmed answers a report stored on the database's primary whose copy on
// a replica was not confirmed in time (REDIS_WAIT_REPLICAS).
func msgStoredUnconfirmed(id string) string {
	return fmt.Sprintf("📨 Your report is saved (reference `%s`) and will be sent as usual, but its backup copy couldn't be confirmed, so a database failure right now could lose it. If `/reports mine` doesn't show it in a few minutes, please report again.", id)
}

// Sign-in pages (package bot shows them in the browser). Each is a title and a detail.

// PageSignInElsewhere is the page of a Bungie.net sign-in that came back in a browser
// other than the one that opened its link: a consent page someone forwarded.
func PageSignInElsewhere() (title, detail string) {
	return "Nothing was linked",
		"This sign-in was started in another browser, so the bot stopped it and linked nothing. If you ran /link bungie yourself, run it again and open its button in the browser you sign in with. If someone sent you this link, don't use it: it would have linked your Bungie.net account to their Discord account."
}

// PageSignInOpenedElsewhere is the page of a sign-in link opened in a second browser.
func PageSignInOpenedElsewhere() (title, detail string) {
	return "This link was opened in another browser",
		"A sign-in link works in the first browser that opens it. Run /link bungie in Discord to get a new one, and open it in the browser you sign in with."
}

// msgEvidenceNotFetched is the mod-log line of evidence file n whose URL was refused:
// its name and why, without a link to it.
func msgEvidenceNotFetched(n int, e reporting.Evidence) string {
	host := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	why := "its link is not a plain web address"
	switch e.Refused {
	case reporting.EvidenceNotCDN:
		why = "it is not on Discord's CDN (`" + strings.ReplaceAll(truncate(host, 60), "`", "'") + "`)"
	case reporting.EvidenceNotHTTPS:
		why = "its link is not https"
	}
	return fmt.Sprintf("%d. %s: not fetched, %s", n, escape(truncate(e.Filename, 40)), why)
}
