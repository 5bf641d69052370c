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

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
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

// TestMessagesGolden pins every message a person can read, so a change of wording is
// a reviewed change of testdata/messages.golden.
func TestMessagesGolden(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	member := reporting.Target{Kind: reporting.TargetMember, Value: "123456789012345678", Label: "<@123456789012345678>"}
	name := reporting.Target{Kind: reporting.TargetName, Value: "xX_*Sniper*_Xx"}
	uuid := reporting.Target{Kind: reporting.TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}
	limit := config.Rate{Count: 3, Per: 10 * time.Minute}
	reasons := reporting.DefaultReasons()
	msgs := []struct{ name, text string }{
		{"internal", msgInternal("ABCD2345")},
		{"guild only", msgGuildOnly},
		{"not admin", msgNotAdmin},
		{"self", msgSelf},
		{"bot", msgBot},
		{"not yours", msgNotYours},
		{"expired", msgExpired},
		{"forged reason", msgForgedReason},
		{"unknown interaction", msgUnknownInteraction()},
		{"reporter not linked", msgReporterUnknown},
		{"game off", msgGameOff(reporting.RallyHere)},
		{"no reasons", msgNoReasons(reporting.RallyHere)},
		{"bad player", msgBadInput(&reporting.InputError{Field: "player", Problem: "it is longer than a player name can be (64 characters)"})},
		{"bad description", msgBadInput(&reporting.InputError{Field: "description", Problem: "it has 4100 characters and the limit is 4,000"})},
		{"bad match", msgBadInput(&reporting.InputError{Field: "match", Problem: "it may only have letters, digits, dashes, underscores, dots and colons"})},
		{"bad evidence", msgBadInput(&reporting.InputError{Field: "evidence", Problem: "at most 5 files"})},
		{"bad label", msgBadInput(&reporting.InputError{Field: "label", Problem: "it is empty"})},
		{"limit guild", msgLimited(reporting.Decision{Scope: reporting.LimitGuild, RetryAfter: 9*time.Minute + 500*time.Millisecond, Limit: limit}, now)},
		{"limit global", msgLimited(reporting.Decision{Scope: reporting.LimitGlobal, RetryAfter: 5 * time.Hour, Limit: config.Rate{Count: 20, Per: 24 * time.Hour}}, now)},
		{"limit duplicate", msgLimited(reporting.Decision{Scope: reporting.LimitDuplicate, RetryAfter: 23 * time.Hour}, now)},
		{"limit barred", msgLimited(reporting.Decision{Scope: reporting.LimitBarred, RetryAfter: 48 * time.Hour}, now)},
		{"target not linked", msgTargetNotLinked(member)},
		{"player not found by name", msgPlayerNotFound(name)},
		{"player not found by id", msgPlayerNotFound(uuid)},
		{"ambiguous", msgAmbiguous("bob", 3)},
		{"sending", msgSending(member)},
		{"delivered", msgDelivered(&reporting.Report{ID: "R-0000000000000", Game: reporting.RallyHere, Target: name, UpstreamID: "9b2f"})},
		{"reason added", msgReasonAdded(reasons[0], 11)},
		{"reason removed", msgReasonRemoved("Teaming", 9)},
		{"no such reason", msgNoSuchReason("nope")},
		{"reason exists", msgReasonExists("Cheating")},
		{"too many reasons", msgTooManyReasons()},
		{"reasons reset", msgReasonsReset},
		{"reasons empty", msgReasons(nil)},
		{"reasons", msgReasons(reasons)},
		{"show", msgShow(ShowView{Settings: reporting.Settings{Reasons: reasons[:2], Limit: limit},
			Games: []reporting.Game{reporting.RallyHere}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}})},
		{"show configured", msgShow(ShowView{Settings: reporting.Settings{Reasons: reasons[:1], Limit: config.Rate{Count: 5, Per: time.Hour}, LimitSet: true,
			ModLogChannel: "920000000000000001", ModRole: "930000000000000001", Anonymous: true},
			Games: []reporting.Game{reporting.RallyHere}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}})},
		{"show both games", msgShow(ShowView{Settings: reporting.Settings{Reasons: reasons[:1], Limit: limit, Off: map[reporting.Game]bool{reporting.RallyHere: true}},
			Games: []reporting.Game{reporting.RallyHere, reporting.Destiny2}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute}})},
		{"not moderator", msgNotModerator},
		{"report gone", msgReportGone},
		{"barred", msgBarred("123456789012345678", now.Add(7*24*time.Hour))},
		{"unbarred", msgUnbarred("123456789012345678", true)},
		{"not barred", msgUnbarred("123456789012345678", false)},
		{"already closed", msgAlreadyClosed(&reporting.Report{ID: "R-0000000000000", Moderation: reporting.StatusResolved})},
		{"mod log set", msgModLogSet("920000000000000001")},
		{"mod log off", msgModLogOff},
		{"mod log refused", msgModLogCantPost("920000000000000001")},
		{"mod log hello", msgModLogHello},
		{"mod role", msgModRole("930000000000000001")},
		{"mod role cleared", msgModRole("")},
		{"limit set", msgLimitSet(config.Rate{Count: 5, Per: time.Hour})},
		{"anonymous on", msgAnonymous(true)},
		{"anonymous off", msgAnonymous(false)},
		{"mine empty", msgMine(nil, now)},
		{"mine", msgMine(sampleReports(now), now)},
		{"list", msgList(sampleReports(now), false, 0, "all", "", now)},
		{"list anonymous filtered", msgList(sampleReports(now)[:1], true, 2, "delivered", "bob", now)},
		{"list empty", msgList(nil, false, 0, "failed", "", now)},
		{"game off here", msgGameOffHere(reporting.Destiny2)},
		{"games", msgGames(reporting.Settings{Off: map[reporting.Game]bool{reporting.Destiny2: true}}, func(reporting.Game) bool { return true })},
		{"games without Destiny", msgGames(reporting.Settings{}, func(g reporting.Game) bool { return g == reporting.RallyHere })},
		{"bad activity", msgBadInput(&reporting.InputError{Field: "activity", Problem: "it is a link to evil.example, not from Bungie.net or a site of §1.2"})},
		{"link bungie", msgLinkBungie},
		{"unlinked", msgUnlinked(true)},
		{"nothing to unlink", msgUnlinked(false)},
		{"delivered to Bungie", msgDelivered(&reporting.Report{ID: "R-0000000000000", Game: reporting.Destiny2, ActivityID: "14926341201",
			Target: reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420 · Titan · Bravo team"}})},
		{"handed off", msgHandedOff(&reporting.Report{ID: "R-0000000000000", Game: reporting.Destiny2, ActivityID: "14926341201",
			Target: reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420 · Titan · Bravo team"},
			Link:   reporting.ReportLink("https://www.bungie.net", "14926341201", "2305843009301234567")})},
	}
	for _, r := range sampleReports(now) {
		msgs = append(msgs, struct{ name, text string }{"reporter news: " + r.ID, msgReporterNews(r, now)})
	}
	var b strings.Builder
	for _, m := range msgs {
		if n := utf8.RuneCountInString(m.text); n > 2000 {
			t.Errorf("%s: %d characters, over Discord's 2,000", m.name, n)
		}
		fmt.Fprintf(&b, "== %s\n%s\n\n", m.name, m.text)
	}
	golden(t, "messages.golden", b.String())
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		10 * time.Minute:                "10 minutes",
		24 * time.Hour:                  "1 day",
		36 * time.Hour:                  "1 day 12 hours",
		time.Second:                     "1 second",
		90*time.Minute + 30*time.Second: "1 hour 30 minutes 30 seconds",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
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
			r.Candidates = []reporting.Candidate{{ID: "2305843009301234567", Label: "Cheater#0420 · Titan · Bravo team"}, {ID: "2305843009301234568", Label: "Other#0001 · Hunter · Alpha team"}}
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
		Target:       reporting.Target{Kind: reporting.TargetCharacter, Value: "2305843009301234567", Label: "Cheater#0420 · Titan · Bravo team"},
		TargetPlayer: "2305843009301234567",
		Reason:       reporting.DefaultReasons()[0], CreatedAt: reporting.At(now.Add(-time.Hour)),
	}
}

// TestModLogGolden pins the mod-log post (embed and buttons) of a report in each
// state.
func TestModLogGolden(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	var b strings.Builder
	for _, anonymous := range []bool{false, true} {
		for _, r := range sampleReports(now) {
			r.Description, r.MatchID = "Wallhacks *all* game @everyone", "m-42"
			r.Evidence = []reporting.Evidence{{Filename: "shot.png", URL: "https://cdn.example/shot.png"}}
			embed, buttons := modLogView(r, reporting.Settings{Anonymous: anonymous}, now)
			js, err := json.MarshalIndent(map[string]any{"embed": embed, "components": buttons}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "== %s (anonymous %v)\n%s\n\n", r.ID, anonymous, js)
		}
	}
	golden(t, "modlog.golden", b.String())
}
