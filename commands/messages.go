package commands

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
)

// Everything a person reads is a message of the catalog (commands/catalog/locales),
// rendered here in the reader's language; the English wording is pinned by
// testdata/messages.golden, every other language by testdata/messages.<code>.golden.

// words is a reader's language: the catalog's messages in it, and Bungie's names of
// the Destiny report reasons in it.
type words struct {
	*catalog.Localizer
	// destiny names a Destiny reason ("Category › Reason") in this language.
	destiny func(reporting.DestinyReason) string
	// title names a game the catalog does not (its publisher's Title).
	title func(reporting.Game) string
}

// v is shorthand for a message's values.
type v = catalog.V

func msgInternal(w words, ref string) string {
	return w.T("reply.internal", v{"Ref": ref})
}

func msgGameOff(w words, g reporting.Game) string {
	return w.T("reply.game_off", v{"Game": gameTitle(w, g)})
}

func msgGameOffHere(w words, g reporting.Game) string {
	return w.T("reply.game_off_here", v{"Game": gameTitle(w, g)})
}

func msgUnlinked(w words, was bool) string {
	if !was {
		return w.T("reply.nothing_to_unlink", nil)
	}
	return w.T("reply.unlinked", nil)
}

// msgGames says which of games (the configured ones) the server takes reports for.
func msgGames(w words, st reporting.Settings, games []reporting.Game) string {
	var parts []string
	for _, g := range games {
		id := "games.on"
		if !st.GameOn(g) {
			id = "games.off"
		}
		parts = append(parts, w.T(id, v{"Game": gameTitle(w, g)}))
	}
	return strings.Join(parts, " · ")
}

func msgNoReasons(w words, g reporting.Game) string {
	return w.T("reply.no_reasons", v{"Game": gameTitle(w, g)})
}

// problem says what is wrong with an input, in words (the catalog's problem.*).
func problem(w words, e *reporting.InputError) string {
	if n, ok := e.Vars["Count"].(int); ok {
		return w.N("problem."+e.Problem, n, e.Vars)
	}
	return w.T("problem."+e.Problem, e.Vars)
}

func msgBadInput(w words, e *reporting.InputError) string {
	vars := v{"Problem": problem(w, e), "Field": e.Field}
	switch e.Field {
	case inputPlayer:
		return w.T("bad_input.player", vars)
	case inputDescription:
		return w.T("bad_input.text", vars)
	case inputMatch:
		return w.T("bad_input.match", vars)
	case inputEvidence:
		return w.T("bad_input.evidence", vars)
	}
	return w.T("bad_input.field", vars)
}

func msgLimited(w words, d reporting.Decision, now time.Time) string {
	at := now.Add(d.RetryAfter)
	switch d.Scope {
	case reporting.LimitBarred:
		if d.RetryAfter <= 0 {
			return w.T("limit.barred", nil)
		}
		return w.T("limit.barred_until", v{"Until": stamp(at, "f")})
	case reporting.LimitDuplicate:
		return w.T("limit.duplicate", v{"When": stamp(at, "R")})
	case reporting.LimitGlobal:
		return w.T("limit.global", v{"Rate": rate(w, d.Limit), "When": stamp(at, "R")})
	}
	return w.T("limit.guild", v{"Rate": rate(w, d.Limit), "When": stamp(at, "R")})
}

func msgTargetNotLinked(w words, t reporting.Target) string {
	return w.T("reply.target_not_linked", v{"Player": who(w, t)})
}

func msgPlayerNotFound(w words, t reporting.Target) string {
	if t.Kind == reporting.TargetUUID {
		return w.T("reply.player_not_found_id", v{"ID": t.Value})
	}
	return w.T("reply.player_not_found_name", v{"Name": escape(t.Value)})
}

func msgAmbiguous(w words, name string, n int) string {
	return w.N("reply.ambiguous", n, v{"Name": escape(name)})
}

func msgSending(w words, t reporting.Target) string {
	return w.T("reply.sending", v{"Player": who(w, t)})
}

func msgDelivered(w words, r *reporting.Report) string {
	switch {
	case r.Game == reporting.Destiny2:
		return w.T("news.delivered_bungie", v{"Player": about(w, r), "Activity": r.ActivityID, "Ref": r.ID})
	case r.UpstreamID == "":
		// A studio's endpoint may answer without an id of its own.
		return w.T("news.delivered_no_id", v{"Player": about(w, r), "Game": gameTitle(w, r.Game), "Ref": r.ID})
	}
	return w.T("news.delivered", v{"Player": about(w, r), "Game": gameTitle(w, r.Game), "UpstreamID": r.UpstreamID, "Ref": r.ID})
}

func msgHandedOff(w words, r *reporting.Report) string {
	return w.T("news.handed_off", v{"Player": about(w, r), "Link": r.Link, "Ref": r.ID})
}

// msgReporterNews tells a reporter what became of their report (SPEC §4): the
// pipeline sends it as an edit of their answer, or as a DM.
func msgReporterNews(w words, r *reporting.Report, now time.Time) string {
	vars := v{"Player": about(w, r), "Ref": r.ID, "Game": gameTitle(w, r.Game), "Activity": r.ActivityID}
	refunded := func(text string) string { return w.T("news.failed.refunded", v{"Text": text}) }
	switch reporting.ReporterNews(r) {
	case reporting.NewsDelivered:
		return msgDelivered(w, r)
	case reporting.NewsHandedOff:
		return msgHandedOff(w, r)
	case reporting.NewsChoosing:
		if r.ActivityID != "" {
			return w.N("news.choosing_activity", len(r.Candidates), vars)
		}
		return msgAmbiguous(w, r.Target.Value, len(r.Candidates))
	case reporting.NewsRetrying:
		return w.T("news.retrying", vars)
	case reporting.NewsClaimed:
		return w.T("news.claimed", vars)
	case reporting.NewsResolved:
		return w.T("news.resolved", vars)
	case reporting.NewsDismissed:
		return w.T("news.dismissed", vars)
	}
	// failed
	switch r.Fault {
	case reporting.FaultInvalid:
		vars["Detail"] = escape(r.FaultDetail)
		return w.T("news.failed.invalid", vars)
	case reporting.FaultPlayerNotFound:
		return refunded(msgPlayerNotFound(w, r.Target))
	case reporting.FaultAmbiguous:
		vars["Name"] = escape(r.Target.Value)
		return w.T("news.failed.ambiguous", vars)
	case reporting.FaultReporterNotLinked:
		return refunded(w.T("reply.reporter_unknown", nil))
	case reporting.FaultTargetNotLinked:
		return "❌ " + msgTargetNotLinked(w, r.Target)
	case reporting.FaultSelfReport:
		return "❌ " + w.T("reply.self", nil)
	case reporting.FaultTargetGone, reporting.FaultDuplicate, reporting.FaultActivityNotFound, reporting.FaultActivityPrivate,
		reporting.FaultNobodyElse, reporting.FaultOffenderNotInActivity, reporting.FaultReporterNotInActivity,
		reporting.FaultBungieNotLinked, reporting.FaultRelink, reporting.FaultExpired:
		return w.T("news.failed."+string(r.Fault), vars)
	}
	vars["Fault"] = faultText(w, r.Fault, r.FaultDetail)
	return w.T("news.failed.setup", vars)
}

// msgMine lists a reporter's latest reports (/reports mine).
func msgMine(w words, list []*reporting.Report, now time.Time) string {
	if len(list) == 0 {
		return w.T("mine.empty", nil)
	}
	var b strings.Builder
	b.WriteString(w.T("mine.title", nil) + "\n")
	for _, r := range list {
		b.WriteString(w.T("mine.line", v{"ID": r.ID, "When": stamp(r.CreatedAt.Time, "R"), "Reason": escape(reasonLabel(w, r.Reason)),
			"Player": about(w, r), "Status": statusLine(w, r, now)}) + "\n")
	}
	return truncate(strings.TrimRight(b.String(), "\n"), 2000)
}

// msgList is a page of /reports list.
func msgList(w words, list []*reporting.Report, anonymous bool, page int, status, player string, now time.Time) string {
	var b strings.Builder
	b.WriteString(w.T("list.title", nil))
	var filters []string
	if status != "all" {
		filters = append(filters, w.T("list.filter_status", v{"Status": statusName(w, reporting.Status(status))}))
	}
	if player != "" {
		filters = append(filters, w.T("list.filter_player", v{"Player": escape(player)}))
	}
	if len(filters) > 0 {
		b.WriteString(" · " + strings.Join(filters, ", "))
	}
	b.WriteString(" · " + w.T("list.page", v{"Page": page + 1}) + "\n")
	if len(list) == 0 {
		b.WriteString(w.T("list.none", nil))
		return b.String()
	}
	for _, r := range list {
		by := "<@" + r.ReporterID + ">"
		if anonymous {
			by = w.T("list.anonymous", nil)
		}
		b.WriteString(w.T("list.line", v{"ID": r.ID, "When": stamp(r.CreatedAt.Time, "R"), "Reason": escape(reasonLabel(w, r.Reason)),
			"Player": about(w, r), "By": by, "Status": statusLine(w, r, now)}) + "\n")
	}
	return truncate(strings.TrimRight(b.String(), "\n"), 2000)
}

func msgBarred(w words, memberID string, until time.Time) string {
	return w.T("reply.barred", v{"Member": "<@" + memberID + ">", "Until": stamp(until, "f")})
}

func msgUnbarred(w words, memberID string, was bool) string {
	if !was {
		return w.T("reply.not_barred", v{"Member": "<@" + memberID + ">"})
	}
	return w.T("reply.unbarred", v{"Member": "<@" + memberID + ">"})
}

func msgAlreadyClosed(w words, r *reporting.Report) string {
	return w.T("reply.already_closed", v{"ID": r.ID, "Status": statusName(w, r.Moderation)})
}

// Settings messages.

func msgReasonAdded(w words, r reporting.Reason, count int) string {
	return w.N("reason.added", count, v{"Label": escape(r.Label), "Mappings": mappings(w, r)})
}

func msgReasonRemoved(w words, label string, count int) string {
	return w.N("reason.removed", count, v{"Label": escape(label)})
}

func msgNoSuchReason(w words, key string) string {
	return w.T("reason.no_such", v{"Key": escape(key)})
}

func msgReasonExists(w words, label string) string {
	return w.T("reason.exists", v{"Label": escape(label)})
}

func msgTooManyReasons(w words) string {
	return w.N("reason.too_many", reporting.MaxReasons, nil)
}

func msgReasons(w words, list []reporting.Reason) string {
	if len(list) == 0 {
		return w.T("reasons.empty", nil)
	}
	var b strings.Builder
	b.WriteString(w.N("reasons.title", len(list), v{"Max": reporting.MaxReasons}) + "\n")
	for _, r := range list {
		b.WriteString(w.T("reasons.line", v{"Label": escape(reasonLabel(w, r)), "Mappings": mappings(w, r)}) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// ShowView is what /report-config show presents.
type ShowView struct {
	Settings  reporting.Settings
	Games     []reporting.Game // games the operator configured
	MaxLimit  config.Rate
	Transport string
	// Language is the mod log's language: the admin's choice (Settings.Language),
	// else the server's Discord locale.
	Language *catalog.Localizer
}

func msgShow(w words, sv ShowView) string {
	var b strings.Builder
	b.WriteString(w.T("show.title", nil) + "\n")
	games := w.T("show.games_none", nil)
	if len(sv.Games) > 0 {
		games = msgGames(w, sv.Settings, sv.Games)
	}
	b.WriteString(w.T("show.games", v{"Games": games}) + "\n")
	source := w.T("show.limit_admin", nil)
	if !sv.Settings.LimitSet {
		source = w.T("show.limit_default", nil)
	}
	b.WriteString(w.T("show.limit", v{"Limit": rate(w, sv.Settings.Limit), "Source": source, "Max": rate(w, sv.MaxLimit)}) + "\n")
	channel := w.T("show.modlog_off", nil)
	if sv.Settings.ModLogChannel != "" {
		channel = "<#" + sv.Settings.ModLogChannel + ">"
	}
	b.WriteString(w.T("show.modlog", v{"Channel": channel}) + "\n")
	role := w.T("show.mod_role_none", nil)
	if sv.Settings.ModRole != "" {
		role = w.T("show.mod_role_set", v{"Role": "<@&" + sv.Settings.ModRole + ">"})
	}
	b.WriteString(w.T("show.mod_role", v{"Role": role}) + "\n")
	anon := w.T("show.anonymous_off", nil)
	if sv.Settings.Anonymous {
		anon = w.T("show.anonymous_on", nil)
	}
	b.WriteString(w.T("show.anonymous", v{"State": anon}) + "\n")
	if sv.Language != nil {
		id := "show.language_server"
		if sv.Settings.Language != "" {
			id = "show.language_admin"
		}
		b.WriteString(w.T(id, v{"Language": sv.Language.Name}) + "\n")
	}
	b.WriteString(msgReasons(w, sv.Settings.Reasons))
	return b.String()
}

func msgModLogSet(w words, channelID string) string {
	return w.T("modlog.set", v{"Channel": "<#" + channelID + ">"})
}

func msgModLogCantPost(w words, channelID string) string {
	return w.T("modlog.cant_post", v{"Channel": "<#" + channelID + ">"})
}

func msgModRole(w words, roleID string) string {
	if roleID == "" {
		return w.T("mod_role.none", nil)
	}
	return w.T("mod_role.set", v{"Role": "<@&" + roleID + ">"})
}

func msgLimitSet(w words, r config.Rate) string {
	return w.T("reply.limit_set", v{"Rate": rate(w, r)})
}

func msgAnonymous(w words, on bool) string {
	if on {
		return w.T("reply.anonymous_on", nil)
	}
	return w.T("reply.anonymous_off", nil)
}

// msgLanguage confirms the mod log's new language: chosen, or the server's own.
func msgLanguage(w words, lang *catalog.Localizer, chosen bool) string {
	if chosen {
		return w.T("reply.language_set", v{"Language": lang.Name})
	}
	return w.T("reply.language_server", v{"Language": lang.Name})
}

// Formatting helpers.

// gameTitle is the game's name as players read it.
// gameTitle is the game's name as players read it: the catalog's, or, for a game the
// operator names (a studio's webhook, WEBHOOK_GAME_NAME), its publisher's.
func gameTitle(w words, g reporting.Game) string {
	if id := "game." + string(g); w.Has(id) || w.title == nil {
		return w.T(id, nil)
	}
	return w.title(g)
}

// who shows a reported player: a member as a mention (which pings nobody: every
// message sets allowed_mentions to none), an id as code, a name as typed.
func who(w words, t reporting.Target) string {
	switch t.Kind {
	case reporting.TargetMember:
		return "<@" + t.Value + ">"
	case reporting.TargetUUID:
		return "`" + t.Value + "`"
	case reporting.TargetCharacter:
		return character(w, t.String(), t.Class, t.Team, escape)
	case "":
		return w.T("who.someone", nil)
	}
	return escape(t.String())
}

// character shows a player of an activity: "Name#1234 · Hunter · Alpha team", its
// class and team in the reader's language; esc escapes what Bungie sent (the name,
// the team, a class the catalog does not know) for where it is shown.
func character(w words, name, class, team string, esc func(string) string) string {
	parts := []string{esc(name)}
	if class != "" {
		if id := "destiny.class." + class; w.Has(id) {
			parts = append(parts, w.T(id, nil))
		} else {
			parts = append(parts, esc(class))
		}
	}
	if team != "" {
		parts = append(parts, w.T("destiny.team", v{"Team": esc(team)}))
	}
	return strings.Join(parts, " · ")
}

// about shows the player a report is about; the player of an activity's report is
// only known once chosen from its players.
func about(w words, r *reporting.Report) string {
	if r.ActivityID != "" && r.Target.Kind == "" {
		return w.T("who.activity_player", v{"Activity": r.ActivityID})
	}
	return who(w, r.Target)
}

// defaultLabels are the English labels of the default reasons, by key. A reason with
// its default label is shown in the reader's language; a label an admin typed is shown
// as typed.
var defaultLabels = func() map[string]string {
	m := map[string]string{}
	for _, r := range reporting.DefaultReasons() {
		m[r.Key] = r.Label
	}
	return m
}()

// reasonLabel is a reason's label as the reader sees it (not escaped).
func reasonLabel(w words, r reporting.Reason) string {
	if l, ok := defaultLabels[r.Key]; ok && l == r.Label {
		return w.T("reason."+r.Key+".label", nil)
	}
	return r.Label
}

func mappings(w words, r reporting.Reason) string {
	var parts []string
	if r.RallyHere != "" {
		parts = append(parts, w.T("mapping.rallyhere", v{"Reason": r.RallyHere}))
	}
	if r.Destiny != nil {
		parts = append(parts, w.T("mapping.destiny", v{"Reason": w.destiny(*r.Destiny)}))
	}
	if len(parts) == 0 {
		return w.T("mapping.none", nil)
	}
	return strings.Join(parts, " · ")
}

// statusName is a status as one word (or a few), as the status choices of /reports
// list name it.
func statusName(w words, s reporting.Status) string {
	return w.T(statusChoice+string(s), nil)
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

// rate is a limit in words: "3 reports per 10 minutes", "20 reports per day".
func rate(w words, r config.Rate) string {
	if unit, ok := singleUnit(r.Per); ok {
		return w.N("rate.unit", r.Count, v{"Per": w.T("unit."+unit, nil)})
	}
	return w.N("rate.span", r.Count, v{"Per": humanDuration(w, r.Per)})
}

// durationUnits are the units durations are written in, largest first.
var durationUnits = []struct {
	size time.Duration
	name string
}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}

// singleUnit reports whether d is exactly one of durationUnits ("per day" reads
// better than "per 1 day"), and which.
func singleUnit(d time.Duration) (string, bool) {
	for _, u := range durationUnits {
		if d == u.size {
			return u.name, true
		}
	}
	return "", false
}

// humanDuration writes d in words: "10 minutes", "24 hours", "1 day 12 hours".
func humanDuration(w words, d time.Duration) string {
	var parts []string
	for _, u := range durationUnits {
		if n := d / u.size; n > 0 {
			parts = append(parts, w.N("duration."+u.name, int(n), nil))
			d -= n * u.size
		}
	}
	if len(parts) == 0 {
		return w.N("duration.second", 0, nil)
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

// msgPaused answers anything that needs Redis while it cannot be reached: nothing
// was stored or spent, and the ref is the outage's.
func msgPaused(w words, ref string) string {
	return w.T("reply.paused", v{"Ref": ref})
}

// msgStoredUnconfirmed answers a report stored on the database's primary whose copy on
// a replica was not confirmed in time (REDIS_WAIT_REPLICAS).
func msgStoredUnconfirmed(w words, id string) string {
	return w.T("reply.stored_unconfirmed", v{"ID": id})
}

// msgEvidenceNotFetched is the mod-log line of evidence file n whose URL was refused:
// its name and why, without a link to it.
func msgEvidenceNotFetched(w words, n int, e reporting.Evidence) string {
	host := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	why := w.T("modlog.evidence.not_url", nil)
	switch e.Refused {
	case reporting.EvidenceNotCDN:
		why = w.T("modlog.evidence.not_cdn", v{"Host": strings.ReplaceAll(truncate(host, 60), "`", "'")})
	case reporting.EvidenceNotHTTPS:
		why = w.T("modlog.evidence.not_https", nil)
	}
	return w.T("modlog.evidence.not_fetched", v{"N": n, "File": escape(truncate(e.Filename, 40)), "Why": why})
}
