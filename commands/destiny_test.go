package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
)

// activityForm is a submitted Destiny report form.
func activityForm(activity, reason string) map[string]any {
	return map[string]any{inputActivity: activity, inputReason: []string{reason}, inputDescription: "wallhacks"}
}

// offenderSelect waits for the question the pipeline asks on the answer to i, and
// returns its select.
func (h *harness) offenderSelect(i *discordgo.Interaction) (discordgo.SelectMenu, []discordgo.MessageComponent) {
	h.t.Helper()
	h.outcome(i, Response{}, "are you reporting?")
	edit := h.discord.last(i.Token)
	rows := *edit.Components
	return rows[0].(discordgo.ActionsRow).Components[0].(discordgo.SelectMenu), rows
}

// strangers adds n players nobody linked, in teams.
func strangers(bg *bungietest.Server, n int) []bungietest.Player {
	var ps []bungietest.Player
	for k := range n {
		u := bg.AddUser(fmt.Sprintf("Guardian%02d", k), "Hunter")
		ps = append(ps, bungietest.Player{Membership: &u.Memberships[0], Character: u.Memberships[0].Characters[0]})
	}
	return ps
}

func TestDestinyLinkMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{bungie: reporting.BungieLink})
	h.setChannel(modlogChannel)
	act := h.bg.AddActivity(true, strangers(h.bg, 3)...)

	open := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subActivity, strOpt(optActivity, act.ID)), nil))
	if got := strings.Join(modalInputs(t, open), " "); got != "activity reason description" {
		t.Fatalf("inputs %q", got)
	}
	reasons := open.Reply.Data.Components[1].(discordgo.Label).Component.(discordgo.SelectMenu).Options
	if len(reasons) != 7 { // the defaults that map to Destiny
		t.Fatalf("%d Destiny reasons offered", len(reasons))
	}

	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:destiny2", activityForm("https://raid.report/pgcr/"+act.ID, "cheating"), nil), nil)
	if resp := h.handle(i); resp.Reply.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource {
		t.Fatalf("reply %+v", resp.Reply)
	}
	sel, _ := h.offenderSelect(i)
	if sel.CustomID != "offender" || len(sel.Options) != 3 {
		t.Fatalf("select %+v", sel)
	}
	first := sel.Options[0]
	if !strings.Contains(first.Label, "#") || !strings.Contains(first.Label, " · Hunter · ") || !strings.HasSuffix(first.Label, " team") {
		t.Fatalf("option label %q, want Name#1234 · Hunter · Alpha team", first.Label)
	}

	data, extra := component("offender", []string{first.Value}, i.ID)
	pick := h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra))
	if pick.Reply.Type != discordgo.InteractionResponseUpdateMessage {
		t.Fatalf("pick %+v", pick.Reply)
	}
	h.outcome(i, Response{}, "Almost done")
	edit := h.discord.last(i.Token)
	button := (*edit.Components)[0].(discordgo.ActionsRow).Components[0].(discordgo.Button)
	want := h.bg.URL + "/en/PGCR/Report/" + act.ID + "/?characterId=" + first.Value
	if button.Style != discordgo.LinkButton || button.URL != want {
		t.Fatalf("button %+v, want a link to %s", button, want)
	}
	if n := h.bg.Calls(bungietest.OpReport); n != 0 {
		t.Fatalf("%d reports filed with Bungie in link mode", n)
	}
	id, _ := h.svc.ReportOf(context.Background(), i.ID)
	r, _ := h.svc.Reports.Get(context.Background(), id)
	if r.Status() != reporting.StatusHandedOff || r.Link != want || r.TargetPlayer != first.Value || r.ActivityID != act.ID {
		t.Fatalf("record %+v", r)
	}
	h.eventually("the mod-log post", func() bool {
		msgs := h.discord.channel(modlogChannel)
		return len(msgs) == 2 && strings.Contains(fieldValue(msgs[1].Send.Embeds[0], "Status"), "Handed to the reporter")
	})
}

func TestDestinyManyPlayersArePaged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{bungie: reporting.BungieLink})
	act := h.bg.AddActivity(false, strangers(h.bg, 30)...)
	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:destiny2", activityForm(act.ID, "afk"), nil), nil)
	h.handle(i)
	sel, rows := h.offenderSelect(i)
	if len(sel.Options) != 25 || len(rows) != 2 {
		t.Fatalf("first page: %d options, %d rows", len(sel.Options), len(rows))
	}
	next := rows[1].(discordgo.ActionsRow).Components[1].(discordgo.Button)
	data := map[string]any{"custom_id": next.CustomID, "component_type": 2}
	_, extra := component("offender", nil, i.ID)
	page := h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra))
	second := page.Reply.Data.Components[0].(discordgo.ActionsRow).Components[0].(discordgo.SelectMenu)
	if page.Reply.Type != discordgo.InteractionResponseUpdateMessage || len(second.Options) != 5 {
		t.Fatalf("second page: %+v", page.Reply)
	}
	// A player of the second page can be chosen.
	pick, pickExtra := component("offender", []string{second.Options[4].Value}, i.ID)
	h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, pick, pickExtra))
	h.outcome(i, Response{}, "Almost done")
}

func TestDestinyActivityProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		failure *bungietest.Failure
		typed   func(act string) string
		want    string
		retried bool
	}{
		{"not a link", nil, func(string) string { return "https://evil.example/pgcr/1" }, "not from evil.example", false},
		{"no such activity", nil, func(string) string { return "42" }, "Bungie has no activity `42`", false},
		{"private", &bungietest.Failure{ErrorCode: 1665}, func(a string) string { return a }, "is private on Bungie.net", false},
		{"maintenance page", &bungietest.Failure{HTML: true}, func(a string) string { return a }, "are you reporting?", true},
		{"broken JSON", &bungietest.Failure{Broken: true}, func(a string) string { return a }, "are you reporting?", true},
		{"throttled", &bungietest.Failure{ErrorCode: 36, ThrottleSeconds: 1}, func(a string) string { return a }, "are you reporting?", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{bungie: reporting.BungieLink})
			act := h.bg.AddActivity(false, strangers(h.bg, 2)...)
			if tt.failure != nil {
				h.bg.FailNext(bungietest.OpPGCR, 1, *tt.failure)
			}
			i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:destiny2", activityForm(tt.typed(act.ID), "cheating"), nil), nil)
			resp := h.handle(i)
			h.outcome(i, resp, tt.want)
			if tt.retried {
				told := h.discord.editsOf(i.Token)
				if len(told) < 2 || !strings.Contains(told[0], "isn't answering right now") {
					t.Fatalf("told %q; want the retry notice first", told)
				}
				return
			}
			if !h.slotsFree(alice.ID, 3) {
				t.Fatal("a report that never found its activity kept its slot")
			}
		})
	}
}

func TestDestinyAPIMode(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*harness, *bungietest.User, *bungietest.Activity, string) {
		h := newHarness(t, harnessOptions{bungie: reporting.BungieAPIMode})
		me := h.bg.AddUser("Alice", "Warlock")
		others := strangers(h.bg, 2)
		act := h.bg.AddActivity(true, append([]bungietest.Player{{Membership: &me.Memberships[0], Character: me.Memberships[0].Characters[0]}}, others...)...)
		return h, me, act, others[0].Character.ID
	}
	file := func(h *harness, act *bungietest.Activity, offender string) *discordgo.Interaction {
		h.t.Helper()
		i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:destiny2", activityForm(act.ID, "cheating"), nil), nil)
		h.handle(i)
		sel, _ := h.offenderSelect(i)
		for _, o := range sel.Options {
			if strings.Contains(o.Label, "Alice#") {
				h.t.Fatalf("the reporter's own character is offered: %q", o.Label)
			}
		}
		data, extra := component("offender", []string{offender}, i.ID)
		h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra))
		return i
	}

	t.Run("not linked", func(t *testing.T) {
		h, _, act, offender := setup(t)
		i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:destiny2", activityForm(act.ID, "cheating"), nil), nil)
		h.handle(i)
		sel, _ := h.offenderSelect(i)
		if len(sel.Options) != 3 {
			t.Fatalf("%d options: without a link, every player is offered", len(sel.Options))
		}
		data, extra := component("offender", []string{offender}, i.ID)
		h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra))
		h.outcome(i, Response{}, "run `/link bungie`, then report again")
		if !h.slotsFree(alice.ID, 3) {
			t.Fatal("the unlinked report kept its slot")
		}
	})
	t.Run("filed with the reporter's token", func(t *testing.T) {
		h, me, act, offender := setup(t)
		h.linkBungie(alice.ID, me)
		i := file(h, act, offender)
		h.outcome(i, Response{}, "was sent to Bungie")
		reports := h.bg.Reports()
		if len(reports) != 1 || reports[0].OffendingCharacterID != offender || reports[0].ReporterBungieID != me.BungieID ||
			reports[0].CategoryHashes[0] != 1851805954 || reports[0].ReasonHashes[0] != 2352608786 {
			t.Fatalf("Bungie got %+v", reports)
		}
	})
	tests := []struct {
		name     string
		prepare  func(h *harness)
		want     string
		refunded bool
	}{
		{"already reported counts as delivered", func(h *harness) { h.bg.FailNext(bungietest.OpReport, 1, bungietest.Failure{ErrorCode: 1403}) }, "was sent to Bungie", false},
		{"offender not in the activity", func(h *harness) { h.bg.FailNext(bungietest.OpReport, 1, bungietest.Failure{ErrorCode: 2700}) }, "wasn't in activity", true},
		{"reporter not in the activity", func(h *harness) { h.bg.FailNext(bungietest.OpReport, 1, bungietest.Failure{ErrorCode: 2701}) }, "your linked account wasn't in", true},
		{"reporting oneself", func(h *harness) { h.bg.FailNext(bungietest.OpReport, 1, bungietest.Failure{ErrorCode: 2703}) }, "can't report yourself", true},
		{"expired access token is refreshed once", func(h *harness) { h.bg.ExpireAccessTokens() }, "was sent to Bungie", false},
		{"dead refresh token asks to relink", func(h *harness) { h.bg.ExpireAccessTokens(); h.bg.RevokeRefreshTokens() }, "Run `/link bungie` again", true},
		{"throttle waits", func(h *harness) {
			h.bg.FailNext(bungietest.OpReport, 1, bungietest.Failure{ErrorCode: 36, ThrottleSeconds: 1})
		}, "was sent to Bungie", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, me, act, offender := setup(t)
			h.linkBungie(alice.ID, me)
			tt.prepare(h)
			start := time.Now()
			i := file(h, act, offender)
			h.outcome(i, Response{}, tt.want)
			if got := h.slotsFree(alice.ID, 3); got != tt.refunded {
				t.Fatalf("slots free: %v, want %v", got, tt.refunded)
			}
			if strings.HasPrefix(tt.name, "throttle") && time.Since(start) < time.Second {
				t.Fatal("delivered before the ThrottleSeconds passed")
			}
			if strings.HasPrefix(tt.name, "dead refresh") {
				if _, err := h.svc.Links.Memberships(context.Background(), alice.ID); err == nil {
					t.Fatal("the dead link was kept")
				}
			}
		})
	}
	t.Run("link and unlink", func(t *testing.T) {
		h, me, _, _ := setup(t)
		link := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdLink, subBungie), nil))
		button := link.Reply.Data.Components[0].(discordgo.ActionsRow).Components[0].(discordgo.Button)
		if !strings.HasPrefix(button.URL, "https://bot.example/oauth/bungie/start?state=") || link.Reply.Data.Flags != discordgo.MessageFlagsEphemeral {
			t.Fatalf("link %+v", link.Reply.Data)
		}
		h.linkBungie(alice.ID, me)
		unlink := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdUnlink, subBungie), nil)).Reply.Data.Content
		again := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdUnlink, subBungie), nil)).Reply.Data.Content
		if unlink != msgUnlinked(en, true) || again != msgUnlinked(en, false) {
			t.Fatalf("unlink %q, again %q", unlink, again)
		}
	})
}

func TestGamesAndDestinyReasons(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{bungie: reporting.BungieLink})
	got := h.config(subGames, map[string]any{"type": 5, "name": optDestiny2, "value": false})
	if got != "RallyHere reports: **on** · Destiny 2 reports: **off**" {
		t.Fatalf("games: %q", got)
	}
	refused := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subActivity), nil)).Reply.Data.Content
	if !strings.Contains(refused, "turned off in this server") {
		t.Fatalf("report activity while off: %q", refused)
	}
	if open := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil)); open.Reply.Type != discordgo.InteractionResponseModal {
		t.Fatalf("RallyHere turned off too: %q", open.Reply.Data.Content)
	}

	ac := slash(cmdConfig, subReasonAdd, map[string]any{"type": 3, "name": optDestinyReason, "value": "hack", "focused": true})
	choices := h.handle(h.interaction(discordgo.InteractionApplicationCommandAutocomplete, admin, ac, nil)).Reply.Data.Choices
	if len(choices) != 1 || choices[0].Name != "Cheating › Hacking" || choices[0].Value != "1851805954:2352608786" {
		t.Fatalf("autocomplete %+v", choices)
	}
	added := h.config(subReasonAdd, strOpt(optLabel, "Wallhacks"), strOpt(optDestinyReason, "1851805954:2352608786"))
	if !strings.Contains(added, "Destiny 2: Cheating › Hacking") {
		t.Fatalf("reason-add: %q", added)
	}
	if bogus := h.config(subReasonAdd, strOpt(optLabel, "Bogus"), strOpt(optDestinyReason, "1:2")); !strings.Contains(bogus, "isn't one of Bungie's report reasons") {
		t.Fatalf("bogus reason: %q", bogus)
	}
}
