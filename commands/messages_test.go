package commands

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
		{"upstream unavailable", msgUpstream(reporting.Fault{Kind: reporting.FaultUnavailable}, "", now)},
		{"upstream busy", msgUpstream(reporting.Fault{Kind: reporting.FaultBusy, RetryAfter: 30 * time.Second}, "", now)},
		{"upstream busy no wait", msgUpstream(reporting.Fault{Kind: reporting.FaultBusy}, "", now)},
		{"upstream invalid", msgUpstream(reporting.Fault{Kind: reporting.FaultInvalid, Detail: "String should have at most 4096 characters"}, "", now)},
		{"upstream target gone", msgUpstream(reporting.Fault{Kind: reporting.FaultTargetGone}, "", now)},
		{"upstream no source", msgUpstream(reporting.Fault{Kind: reporting.FaultNoSource}, "ABCD2345", now)},
		{"upstream permissions", msgUpstream(reporting.Fault{Kind: reporting.FaultPermissions}, "ABCD2345", now)},
		{"upstream credentials", msgUpstream(reporting.Fault{Kind: reporting.FaultCredentials}, "ABCD2345", now)},
		{"upstream unknown", msgUpstream(reporting.Fault{Kind: reporting.FaultUnknown}, "ABCD2345", now)},
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
	}
	var b strings.Builder
	for _, m := range msgs {
		if len(m.text) > 2000 {
			t.Errorf("%s: %d characters, over Discord's 2,000", m.name, len(m.text))
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
