package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

// TestUpstreamsAreIsolated: each upstream has its own delivery workers. Measured before
// they did: with 12 RallyHere deliveries hanging, a Destiny 2 report waited 15-20 s
// for its offender select, and the wait grew with the queue. Here one upstream hangs
// with more reports in hand than it has workers, and a report for the other game is
// still handled at once; both ways.
func TestUpstreamsAreIsolated(t *testing.T) {
	t.Parallel()
	// hang outlasts within by far, and is short enough not to hold up the bot's shutdown.
	const hanging, within, hang = 12, 5 * time.Second, 12 * time.Second
	setup := func(t *testing.T) (*env, *bungietest.Server, *running, *bungietest.Activity) {
		e, bg := destinyEnv(t, "link")
		e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
		e.rh.AddPlayer("bob")
		for _, k := range []string{"REPORT_LIMIT", "REPORT_LIMIT_MAX", "REPORT_LIMIT_GLOBAL"} {
			e.vars[k] = "10000/1m"
		}
		stranger := bg.AddUser("Cheater", "Titan")
		act := bg.AddActivity(true, bungietest.Player{Membership: &stranger.Memberships[0], Character: stranger.Memberships[0].Characters[0]})
		return e, bg, e.start(t), act
	}
	member := func(n int) *discordgo.User {
		return &discordgo.User{ID: fmt.Sprintf("33%016d", n), Username: fmt.Sprintf("m%d", n)}
	}
	offenderShown := func(m json.RawMessage) bool {
		s := shownOf(m)
		return len(s.Components) > 0 && len(s.Components[0].Components) > 0 && s.Components[0].Components[0].CustomID == "offender"
	}

	t.Run("a hanging RallyHere delays no Destiny 2 report", func(t *testing.T) {
		t.Parallel()
		e, _, r, act := setup(t)
		e.rh.SetDelay(rallyheretest.OpCreateReport, hang)
		for n := range hanging {
			e.post(t, r, e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, member(n), 0,
				modalData("report:rallyhere", "bob", "cheating", nil)))
		}
		for deadline := time.Now().Add(waitFor); e.rh.Calls(rallyheretest.OpCreateReport) < 8; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d RallyHere deliveries started", e.rh.Calls(rallyheretest.OpCreateReport))
			}
		}
		start := time.Now()
		submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, activityModal(act.ID, "cheating"))
		e.post(t, r, submit)
		e.discord.WaitOriginal(t, submit.Token, within, offenderShown)
		t.Logf("the Destiny 2 offender select came %s after the form, with %d RallyHere deliveries hanging",
			time.Since(start).Round(time.Millisecond), e.rh.Calls(rallyheretest.OpCreateReport))
	})

	t.Run("a hanging Bungie.net delays no RallyHere report", func(t *testing.T) {
		t.Parallel()
		e, bg, r, act := setup(t)
		bg.SetFailure(bungietest.OpPGCR, bungietest.Failure{Delay: hang})
		for n := range hanging {
			e.post(t, r, e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, member(n), 0, activityModal(act.ID, "cheating")))
		}
		for deadline := time.Now().Add(waitFor); bg.Calls(bungietest.OpPGCR) < 8; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d activity reads started", bg.Calls(bungietest.OpPGCR))
			}
		}
		start := time.Now()
		submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "cheating", nil))
		e.post(t, r, submit)
		e.discord.WaitOriginal(t, submit.Token, within, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
		t.Logf("the RallyHere report was delivered %s after the form, with %d Bungie.net reads hanging",
			time.Since(start).Round(time.Millisecond), bg.Calls(bungietest.OpPGCR))
	})
}
