package commands

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./commands -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./commands -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// testWords is l with the Destiny reasons named as the fake Bungie.net's manifest
// names them in l's language.
func testWords(l *catalog.Localizer) words {
	return words{Localizer: l, destiny: func(d reporting.DestinyReason) string {
		cat, reason, _ := strings.Cut(d.Label, " › ")
		return bungietest.ReasonName(l.Bungie, cat) + " › " + bungietest.ReasonName(l.Bungie, reason)
	}}
}

// en is English, the source language.
var en = testWords(catalog.Shipped().Source())

// tr is message id in English.
func tr(id string) string { return en.T(id, nil) }

// sampleMessages is every message a person can read, rendered in w's language.
func sampleMessages(w words) []struct{ name, text string } {
	now := time.Unix(1_800_000_000, 0)
	member := reporting.Target{Kind: reporting.TargetMember, Value: "123456789012345678", Label: "<@123456789012345678>"}
	name := reporting.Target{Kind: reporting.TargetName, Value: "xX_*Sniper*_Xx"}
	uuid := reporting.Target{Kind: reporting.TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}
	limit := config.Rate{Count: 3, Per: 10 * time.Minute}
	reasons := reporting.DefaultReasons()
	cat := catalog.Shipped()
	german, ok := cat.Lookup("de")
	if !ok {
		german = cat.Source()
	}
	bad := func(field, problem string, vars v) string {
		return msgBadInput(w, &reporting.InputError{Field: field, Problem: problem, Vars: vars})
	}
	msgs := []struct{ name, text string }{
		{"internal", msgInternal(w, "ABCD2345")},
		{"guild only", w.T("reply.guild_only", nil)},
		{"not admin", w.T("reply.not_admin", nil)},
		{"self", w.T("reply.self", nil)},
		{"bot", w.T("reply.bot", nil)},
		{"not yours", w.T("reply.not_yours", nil)},
		{"expired", w.T("reply.expired", nil)},
		{"forged reason", w.T("reply.forged_reason", nil)},
		{"unknown interaction", w.T("reply.unknown_interaction", nil)},
		{"reporter not linked", w.T("reply.reporter_unknown", nil)},
		{"game off", msgGameOff(w, reporting.RallyHere)},
		{"no reasons", msgNoReasons(w, reporting.RallyHere)},
		{"bad player", bad("player", "player_too_long", nil)},
		{"bad description", bad("description", "description_too_long", v{"Count": 4100})},
		{"bad match", bad("match", "match_chars", nil)},
		{"bad evidence", bad("evidence", "evidence_too_many", v{"Count": 5})},
		{"bad label", bad("label", "label_empty", nil)},
		{"limit guild", msgLimited(w, reporting.Decision{Scope: reporting.LimitGuild, RetryAfter: 9*time.Minute + 500*time.Millisecond, Limit: limit}, now)},
		{"limit global", msgLimited(w, reporting.Decision{Scope: reporting.LimitGlobal, RetryAfter: 5 * time.Hour, Limit: config.Rate{Count: 20, Per: 24 * time.Hour}}, now)},
		{"limit duplicate", msgLimited(w, reporting.Decision{Scope: reporting.LimitDuplicate, RetryAfter: 23 * time.Hour}, now)},
		{"limit barred", msgLimited(w, reporting.Decision{Scope: reporting.LimitBarred, RetryAfter: 48 * time.Hour}, now)},
		{"target not linked", msgTargetNotLinked(w, member)},
		{"player not found by name", msgPlayerNotFound(w, name)},
		{"player not found by id", msgPlayerNotFound(w, uuid)},
		{"ambiguous", msgAmbiguous(w, "bob", 3)},
		{"sending", msgSending(w, member)},
		{"delivered", msgDelivered(w, &reporting.Report{ID: "R-0000000000000", Game: reporting.RallyHere, Target: name, UpstreamID: "9b2f"})},
		{"reason added", msgReasonAdded(w, reasons[0], 11)},
		{"reason removed", msgReasonRemoved(w, "Teaming", 9)},
		{"no such reason", msgNoSuchReason(w, "nope")},
		{"reason exists", msgReasonExists(w, "Cheating")},
		{"too many reasons", msgTooManyReasons(w)},
		{"reasons reset", w.T("reply.reasons_reset", nil)},
		{"reasons empty", msgReasons(w, nil)},
		{"reasons", msgReasons(w, reasons)},
		{"show", msgShow(w, ShowView{Settings: reporting.Settings{Reasons: reasons[:2], Limit: limit},
			Games: []reporting.Game{reporting.RallyHere}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}, Language: cat.Source()})},
		{"show configured", msgShow(w, ShowView{Settings: reporting.Settings{Reasons: reasons[:1], Limit: config.Rate{Count: 5, Per: time.Hour}, LimitSet: true,
			ModLogChannel: "920000000000000001", ModRole: "930000000000000001", Anonymous: true, Language: "de"},
			Games: []reporting.Game{reporting.RallyHere}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}, Language: german})},
		{"show both games", msgShow(w, ShowView{Settings: reporting.Settings{Reasons: reasons[:1], Limit: limit, Off: map[reporting.Game]bool{reporting.RallyHere: true}},
			Games: []reporting.Game{reporting.RallyHere, reporting.Destiny2}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}, Language: cat.Source()})},
		{"not moderator", w.T("reply.not_moderator", nil)},
		{"report gone", w.T("reply.report_gone", nil)},
		{"barred", msgBarred(w, "123456789012345678", now.Add(7*24*time.Hour))},
		{"unbarred", msgUnbarred(w, "123456789012345678", true)},
		{"not barred", msgUnbarred(w, "123456789012345678", false)},
		{"already closed", msgAlreadyClosed(w, &reporting.Report{ID: "R-0000000000000", Moderation: reporting.StatusResolved})},
		{"mod log set", msgModLogSet(w, "920000000000000001")},
		{"mod log off", w.T("modlog.off", nil)},
		{"mod log refused", msgModLogCantPost(w, "920000000000000001")},
		{"mod log hello", w.T("modlog.hello", nil)},
		{"mod role", msgModRole(w, "930000000000000001")},
		{"mod role cleared", msgModRole(w, "")},
		{"limit set", msgLimitSet(w, config.Rate{Count: 5, Per: time.Hour})},
		{"anonymous on", msgAnonymous(w, true)},
		{"anonymous off", msgAnonymous(w, false)},
		{"mine empty", msgMine(w, nil, now)},
		{"mine", msgMine(w, sampleReports(now), now)},
		{"list", msgList(w, sampleReports(now), false, 0, "all", "", now)},
		{"list anonymous filtered", msgList(w, sampleReports(now)[:1], true, 2, "delivered", "bob", now)},
		{"list empty", msgList(w, nil, false, 0, "failed", "", now)},
		{"game off here", msgGameOffHere(w, reporting.Destiny2)},
		{"games", msgGames(w, reporting.Settings{Off: map[reporting.Game]bool{reporting.Destiny2: true}}, []reporting.Game{reporting.RallyHere, reporting.Destiny2})},
		{"games without Destiny", msgGames(w, reporting.Settings{}, []reporting.Game{reporting.RallyHere})},
		{"bad activity", bad("activity", "activity_site", v{"Sites": "bungie.net, raid.report", "Host": "evil.example"})},
		{"link bungie", w.T("reply.link_bungie", nil)},
		{"unlinked", msgUnlinked(w, true)},
		{"nothing to unlink", msgUnlinked(w, false)},
		{"delivered to Bungie", msgDelivered(w, &reporting.Report{ID: "R-0000000000000", Game: reporting.Destiny2, ActivityID: "14926341201",
			Target: reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420", Class: "Titan", Team: "Bravo"}})},
		{"handed off", msgHandedOff(w, &reporting.Report{ID: "R-0000000000000", Game: reporting.Destiny2, ActivityID: "14926341201",
			Target: reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420", Class: "Titan", Team: "Bravo"},
			Link:   reporting.ReportLink("https://www.bungie.net", "14926341201", "2305843009301234567")})},
	}
	for _, r := range sampleReports(now) {
		msgs = append(msgs, struct{ name, text string }{"reporter news: " + r.ID, msgReporterNews(w, r, now)})
	}
	// Added with the languages (issue 11).
	more := []struct{ name, text string }{
		{"language set", msgLanguage(w, german, true)},
		{"language of the server", msgLanguage(w, cat.Source(), false)},
		{"limit too loose", bad("limit", "limit_too_loose", v{"Rate": "11/10m", "Max": "10/10m"})},
		{"limit of one", msgLimitSet(w, config.Rate{Count: 1, Per: 36 * time.Hour})},
		{"limit of two", msgLimitSet(w, config.Rate{Count: 2, Per: 2*time.Hour + time.Minute + 5*time.Second})},
		{"limit of 22", msgLimitSet(w, config.Rate{Count: 22, Per: 5 * 24 * time.Hour})},
		{"one reason added", msgReasonAdded(w, reporting.Reason{Key: "toxic", Label: "Toxic voice chat", RallyHere: "harassment"}, 1)},
		{"ambiguous, two", msgAmbiguous(w, "bob", 2)},
		{"ambiguous, five", msgAmbiguous(w, "bob", 5)},
	}
	for _, p := range []struct {
		field, problem string
		vars           v
	}{
		{"player", "player_empty", nil}, {"player", "not_text", nil}, {"player", "player_link", nil},
		{"player", "player_invisible", nil}, {"player", "player_chars", nil}, {"player", "player_no_letter", nil},
		{"player", "not_offered", nil}, {"player", "player_filter_too_long", v{"Count": 64}},
		{"activity", "activity_empty", nil}, {"activity", "activity_not_id", nil}, {"activity", "activity_id_range", nil},
		{"activity", "activity_no_id", nil}, {"match", "too_long", v{"Count": 100}}, {"evidence", "evidence_missing", nil},
		{"label", "too_long", v{"Count": 45}}, {"label", "label_no_letter", nil}, {"label", "label_invisible", nil},
		{"rallyhere-reason", "not_rallyhere_reason", v{"Value": `"cheat"`}}, {"reason", "no_game", nil},
		{"limit", "limit", nil}, {"duration", "duration", nil}, {"destiny-reason", "destiny_reason", nil},
	} {
		more = append(more, struct{ name, text string }{"bad " + p.field + ": " + p.problem, bad(p.field, p.problem, p.vars)})
	}
	return append(msgs, more...)
}

// TestMessagesGolden pins every message a person can read in every language, so a
// change of wording is a reviewed change of testdata/messages.golden (English) or
// testdata/messages.<code>.golden.
func TestMessagesGolden(t *testing.T) {
	t.Parallel()
	for _, l := range catalog.Shipped().Languages() {
		t.Run(l.Code, func(t *testing.T) {
			var b strings.Builder
			for _, m := range sampleMessages(testWords(l)) {
				if n := utf8.RuneCountInString(m.text); n > 2000 {
					t.Errorf("%s: %d characters, over Discord's 2,000", m.name, n)
				}
				if strings.Contains(m.text, "⟦") || strings.Contains(m.text, "<no value>") {
					t.Errorf("%s: a message or a value is missing: %s", m.name, m.text)
				}
				fmt.Fprintf(&b, "== %s\n%s\n\n", m.name, m.text)
			}
			name := "messages." + l.Code + ".golden"
			if l.Code == catalog.Source {
				name = "messages.golden"
			}
			golden(t, name, b.String())
		})
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	tests := map[time.Duration]string{
		10 * time.Minute:                "10 minutes",
		24 * time.Hour:                  "1 day",
		36 * time.Hour:                  "1 day 12 hours",
		time.Second:                     "1 second",
		90*time.Minute + 30*time.Second: "1 hour 30 minutes 30 seconds",
	}
	for d, want := range tests {
		if got := humanDuration(en, d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// sampleReports is one report in each state the messages distinguish.
func sampleReports(now time.Time) []*reporting.Report {
	base := func(id string) *reporting.Report {
		return &reporting.Report{
			ID: id, Game: reporting.RallyHere, GuildID: "900000000000000001", ReporterID: "100000000000000001",
			Target:       reporting.Target{Kind: reporting.TargetName, Value: "xX_Sniper_Xx"},
			TargetPlayer: "5f1b1e4e-0000-4000-8000-000000000001",
			Reason:       reporting.DefaultReasons()[0], CreatedAt: reporting.At(now.Add(-time.Hour)),
		}
	}
	var out []*reporting.Report
	add := func(id string, f func(r *reporting.Report)) {
		r := base(id)
		f(r)
		out = append(out, r)
	}
	add("R-DELIVERED000", func(r *reporting.Report) { r.Delivery, r.UpstreamID = reporting.StatusDelivered, "9b2f" })
	add("R-QUEUED000000", func(r *reporting.Report) { r.Delivery = reporting.StatusQueued })
	add("R-RETRYING0000", func(r *reporting.Report) {
		r.Delivery, r.Fault, r.Attempts, r.NextAttemptAt = reporting.StatusQueued, reporting.FaultUnavailable, 3, reporting.At(now.Add(time.Minute))
	})
	for _, f := range []reporting.FaultKind{reporting.FaultInvalid, reporting.FaultTargetGone, reporting.FaultPlayerNotFound,
		reporting.FaultAmbiguous, reporting.FaultReporterNotLinked, reporting.FaultTargetNotLinked, reporting.FaultSelfReport,
		reporting.FaultPermissions, reporting.FaultCredentials, reporting.FaultNoSource, reporting.FaultUnknown} {
		add("R-FAILED-"+string(f), func(r *reporting.Report) {
			r.Delivery, r.Fault, r.FaultDetail = reporting.StatusFailed, f, "String should have at most 4096 characters"
		})
	}
	add("R-DEAD00000000", func(r *reporting.Report) {
		r.Delivery, r.Fault, r.Dead, r.LastError = reporting.StatusFailed, reporting.FaultExpired, true, "rallyhere create-report: HTTP 503"
	})
	for _, m := range []reporting.Status{reporting.StatusClaimed, reporting.StatusResolved, reporting.StatusDismissed} {
		add("R-"+strings.ToUpper(string(m)), func(r *reporting.Report) {
			r.Delivery, r.UpstreamID, r.Moderation, r.ModeratorID = reporting.StatusDelivered, "9b2f", m, "100000000000000009"
		})
	}
	for _, f := range []func(r *reporting.Report){
		func(r *reporting.Report) {
			r.Delivery, r.Link = reporting.StatusHandedOff, reporting.ReportLink("https://www.bungie.net", r.ActivityID, r.TargetPlayer)
		},
		func(r *reporting.Report) { r.Delivery, r.UpstreamID = reporting.StatusDelivered, r.ActivityID },
		func(r *reporting.Report) {
			r.Target, r.TargetPlayer, r.Delivery, r.Fault = reporting.Target{}, "", reporting.StatusQueued, reporting.FaultChoosing
			r.Candidates = []reporting.Candidate{{ID: "2305843009301234567", Label: "Cheater#0420", Class: "Titan", Team: "Bravo"},
				{ID: "2305843009301234568", Label: "Other#0001", Class: "Hunter", Team: "Alpha"}}
		},
	} {
		r := sampleDestiny(now, fmt.Sprintf("R-DESTINY%05d", len(out)))
		f(r)
		out = append(out, r)
	}
	for _, f := range []reporting.FaultKind{reporting.FaultActivityNotFound, reporting.FaultActivityPrivate, reporting.FaultNobodyElse,
		reporting.FaultOffenderNotInActivity, reporting.FaultReporterNotInActivity, reporting.FaultBungieNotLinked, reporting.FaultRelink} {
		r := sampleDestiny(now, "R-FAILED-"+string(f))
		r.Delivery, r.Fault = reporting.StatusFailed, f
		if f != reporting.FaultOffenderNotInActivity {
			r.Target, r.TargetPlayer = reporting.Target{}, ""
		}
		out = append(out, r)
	}
	return out
}

// sampleDestiny is a Destiny 2 report about a chosen player of an activity.
func sampleDestiny(now time.Time, id string) *reporting.Report {
	return &reporting.Report{
		ID: id, Game: reporting.Destiny2, GuildID: "900000000000000001", ReporterID: "100000000000000001",
		ActivityID:   "14926341201",
		Target:       reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420", Class: "Titan", Team: "Bravo"},
		TargetPlayer: "2305843009301234567",
		Reason:       reporting.DefaultReasons()[0], CreatedAt: reporting.At(now.Add(-time.Hour)),
	}
}

// TestModLogGolden pins the mod-log post (embed and buttons) of a report in each
// state.
func TestModLogGolden(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0).UTC()
	var b strings.Builder
	for _, anonymous := range []bool{false, true} {
		for _, r := range sampleReports(now) {
			r.Description, r.MatchID = "Wallhacks *all* game @everyone", "m-42"
			r.Evidence = []reporting.Evidence{{Filename: "shot.png", URL: "https://cdn.example/shot.png"}}
			embed, buttons := modLogView(en, r, reporting.Settings{Anonymous: anonymous}, now)
			js, err := json.MarshalIndent(map[string]any{"embed": embed, "components": buttons}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "== %s (anonymous %v)\n%s\n\n", r.ID, anonymous, js)
		}
	}
	golden(t, "modlog.golden", b.String())
}
