package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

// modalInputs returns the custom_ids of a modal's inputs, in order.
func modalInputs(t *testing.T, resp Response) []string {
	t.Helper()
	if resp.Reply.Type != discordgo.InteractionResponseModal {
		t.Fatalf("reply type %d (%q), want a modal", resp.Reply.Type, resp.Reply.Data.Content)
	}
	var ids []string
	for _, c := range resp.Reply.Data.Components {
		l, ok := c.(discordgo.Label)
		if !ok {
			t.Fatalf("top-level component %T, want a Label", c)
		}
		switch v := l.Component.(type) {
		case discordgo.TextInput:
			ids = append(ids, v.CustomID)
		case discordgo.SelectMenu:
			ids = append(ids, v.CustomID)
		case discordgo.FileUpload:
			ids = append(ids, v.CustomID)
		}
	}
	return ids
}

func TestReportOpensModal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tests := []struct {
		name     string
		data     map[string]any
		customID string
		inputs   string
		title    string
	}{
		{"slash without player", slash(cmdReport, subPlayer), "report:rallyhere", "player reason description match evidence", "Report a player"},
		{"slash with player", slash(cmdReport, subPlayer, strOpt(optPlayer, "bob")), "report:rallyhere", "player reason description match evidence", "Report a player"},
		{"context menu", userCommand(bob), "report:rallyhere:" + bob.ID, "reason description match evidence", "Report bob-nick"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := discordgo.InteractionApplicationCommand
			resp := h.handle(h.interaction(typ, alice, tt.data, nil))
			if got := strings.Join(modalInputs(t, resp), " "); got != tt.inputs {
				t.Fatalf("inputs %q, want %q", got, tt.inputs)
			}
			d := resp.Reply.Data
			if d.CustomID != tt.customID || d.Title != tt.title {
				t.Fatalf("custom_id %q title %q", d.CustomID, d.Title)
			}
			if len(d.Components) > 5 {
				t.Fatalf("%d components; a modal holds at most 5", len(d.Components))
			}
		})
	}
	t.Run("reason select offers the server's RallyHere reasons", func(t *testing.T) {
		resp := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil))
		sel := resp.Reply.Data.Components[1].(discordgo.Label).Component.(discordgo.SelectMenu)
		var got []string
		for _, o := range sel.Options {
			got = append(got, o.Value)
		}
		want := "cheating exploiting hate_speech harassment real_life_threat griefing teaming afk quitting other"
		if strings.Join(got, " ") != want {
			t.Fatalf("options %v", got)
		}
	})
	t.Run("prefill", func(t *testing.T) {
		resp := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer, strOpt(optPlayer, "bob")), nil))
		if v := resp.Reply.Data.Components[0].(discordgo.Label).Component.(discordgo.TextInput).Value; v != "bob" {
			t.Fatalf("player prefilled with %q", v)
		}
	})
}

func TestReportRefusedBeforeModal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    harnessOptions
		from user
		data map[string]any
		want string
	}{
		{"bad player option", harnessOptions{}, alice, slash(cmdReport, subPlayer, strOpt(optPlayer, "two\nlines")), "I can't look that player up"},
		{"self", harnessOptions{}, alice, userCommand(alice), tr("reply.self")},
		{"bot", harnessOptions{}, alice, userCommand(user{ID: "100000000000000077", Name: "robot", Bot: true}), tr("reply.bot")},
		{"rallyhere off", harnessOptions{noRallyHere: true}, alice, slash(cmdReport, subPlayer), "isn't set up to report RallyHere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.o)
			resp := h.handle(h.interaction(discordgo.InteractionApplicationCommand, tt.from, tt.data, nil))
			if resp.Reply.Type != discordgo.InteractionResponseChannelMessageWithSource || resp.Reply.Data.Flags != discordgo.MessageFlagsEphemeral {
				t.Fatalf("reply %+v, want an ephemeral message", resp.Reply)
			}
			if !strings.Contains(resp.Reply.Data.Content, tt.want) {
				t.Fatalf("got %q, want %q", resp.Reply.Data.Content, tt.want)
			}
		})
	}
	t.Run("not in a server", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		i := h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), map[string]any{"guild_id": nil, "member": nil, "user": map[string]any{"id": alice.ID}})
		if got := h.handle(i).Reply.Data.Content; got != tr("reply.guild_only") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("no reasons for the game", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		ctx := context.Background()
		st, _ := h.svc.Settings.Get(ctx, guildID)
		for _, r := range st.Reasons {
			if _, _, err := h.svc.Settings.RemoveReason(ctx, guildID, r.Key); err != nil {
				t.Fatal(err)
			}
		}
		got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil)).Reply.Data.Content
		if !strings.Contains(got, "no report reasons for RallyHere") {
			t.Fatalf("got %q", got)
		}
	})
}

// world is a RallyHere with players for the report flow tests.
type world struct {
	alicePlayer, bobPlayer, bob2Player string
}

func (h *harness) world() world {
	w := world{alicePlayer: h.rh.AddPlayer("alice"), bobPlayer: h.rh.AddPlayer("bob"), bob2Player: h.rh.AddPlayer("bobby")}
	h.rh.LinkDiscord(alice.ID, w.alicePlayer)
	h.rh.LinkDiscord(bob.ID, w.bobPlayer)
	return w
}

func formValues(player, reason string) map[string]any {
	return map[string]any{inputPlayer: player, inputReason: []string{reason}, inputDescription: "  wallhacking all game  ", inputMatch: "match-42", inputEvidence: []string{}}
}

func TestReportDelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		customID string
		values   func(w world) map[string]any
		target   func(w world) string
	}{
		{"by player id", "report:rallyhere", func(w world) map[string]any { return formValues(strings.ToUpper(w.bobPlayer), "cheating") },
			func(w world) string { return w.bobPlayer }},
		{"by name", "report:rallyhere", func(w world) map[string]any { return formValues("bobby", "cheating") },
			func(w world) string { return w.bob2Player }},
		{"by mention", "report:rallyhere", func(w world) map[string]any { return formValues("<@"+bob.ID+">", "cheating") },
			func(w world) string { return w.bobPlayer }},
		{"by context menu", "report:rallyhere:" + bob.ID, func(w world) map[string]any {
			v := formValues("", "cheating")
			delete(v, inputPlayer)
			return v
		}, func(w world) string { return w.bobPlayer }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			w := h.world()
			i := h.interaction(discordgo.InteractionModalSubmit, alice, modal(tt.customID, tt.values(w), nil), nil)
			resp := h.handle(i)
			if resp.Reply.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource || resp.Reply.Data.Flags != discordgo.MessageFlagsEphemeral {
				t.Fatalf("reply %+v, want a deferred ephemeral answer", resp.Reply)
			}
			out := h.outcome(i, resp, "✅")
			reports := h.rh.Reports()
			if len(reports) != 1 {
				t.Fatalf("%d reports upstream, want 1", len(reports))
			}
			got := reports[0]
			if got.TargetUUID != tt.target(w) {
				t.Fatalf("target %s, want %s", got.TargetUUID, tt.target(w))
			}
			body := got.Body
			custom, _ := body["custom_data"].(map[string]any)
			checks := map[string]any{
				"source_player_uuid": w.alicePlayer, "reason": "cheating", "description": "wallhacking all game", "match_id": "match-42",
			}
			for k, v := range checks {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			for k, v := range map[string]string{"discord_guild_id": guildID, "discord_channel_id": channelID, "discord_reporter_id": alice.ID} {
				if custom[k] != v {
					t.Errorf("custom_data.%s = %v, want %v", k, custom[k], v)
				}
			}
			ourID, _ := custom["report_id"].(string)
			if !strings.Contains(out, got.ReportID) || !strings.Contains(out, ourID) {
				t.Fatalf("reporter saw %q; want the upstream id %s and ours %s", out, got.ReportID, ourID)
			}
			stored, err := h.svc.Reports.Get(context.Background(), ourID)
			if err != nil || stored.Status() != reporting.StatusDelivered || stored.UpstreamID != got.ReportID || stored.Attempts != 1 {
				t.Fatalf("record %+v, %v", stored, err)
			}
		})
	}
}

func TestReportAmbiguousName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.world()
	twin := h.rh.AddPlayer("bob")
	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues("bob", "harassment"), nil), nil)
	h.outcome(i, h.handle(i), "2 players are named")
	edit := h.discord.last(i.Token)
	if edit.Components == nil || len(*edit.Components) != 1 {
		t.Fatalf("edit %+v", edit)
	}
	sel := (*edit.Components)[0].(discordgo.ActionsRow).Components[0].(discordgo.SelectMenu)
	if sel.CustomID != "player" || len(sel.Options) != 2 {
		t.Fatalf("select %+v", sel)
	}
	if len(h.rh.Reports()) != 0 {
		t.Fatal("filed before the reporter chose")
	}

	// Someone else cannot use alice's choice.
	data, extra := component("player", []string{twin}, i.ID)
	other := h.handle(h.interaction(discordgo.InteractionMessageComponent, bob, data, extra))
	if other.Reply.Data.Content != tr("reply.not_yours") {
		t.Fatalf("bob's click: %q", other.Reply.Data.Content)
	}
	// A player that was not offered is refused.
	stranger := h.rh.AddPlayer("mallory")
	for _, forged := range []string{"nope", stranger} {
		data, extra = component("player", []string{forged}, i.ID)
		if got := h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra)).Reply.Data.Content; got != tr("reply.unknown_interaction") {
			t.Fatalf("forged choice %q: %q", forged, got)
		}
	}

	data, extra = component("player", []string{twin}, i.ID)
	pick := h.interaction(discordgo.InteractionMessageComponent, alice, data, extra)
	presp := h.handle(pick)
	if presp.Reply.Type != discordgo.InteractionResponseUpdateMessage || !strings.HasPrefix(presp.Reply.Data.Content, "Sending your report") {
		t.Fatalf("pick reply %+v", presp.Reply)
	}
	h.outcome(i, Response{}, "✅") // the pipeline edits the form's answer, the same message
	reports := h.rh.Reports()
	if len(reports) != 1 || reports[0].TargetUUID != twin {
		t.Fatalf("reports %+v, want one against %s", reports, twin)
	}
	// A second click changes nothing.
	again := h.handle(h.interaction(discordgo.InteractionMessageComponent, alice, data, extra))
	if again.Reply.Data.Content != tr("reply.expired") || len(h.rh.Reports()) != 1 {
		t.Fatalf("second click: %q, %d reports", again.Reply.Data.Content, len(h.rh.Reports()))
	}
}

// TestReportChoiceLapses: the reporter never picks; the report fails when the
// question lapses, and gives its slot back.
func TestReportChoiceLapses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.world()
	h.rh.AddPlayer("bob")
	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues("bob", "harassment"), nil), nil)
	h.outcome(i, h.handle(i), "2 players are named")
	// Bring the deadline forward rather than waiting 14 minutes.
	id, err := h.svc.ReportOf(context.Background(), i.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rdbClient().HSet(context.Background(), "rb:{"+id+"}:report", "next_attempt_at", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := h.pipeline.Enqueue(context.Background(), reporting.RallyHere, id); err != nil {
		t.Fatal(err)
	}
	h.outcome(i, Response{}, "Several RallyHere players are named")
	if !h.slotsFree(alice.ID, 3) {
		t.Fatal("a report that lapsed kept its slot")
	}
}

func TestReportResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		o        harnessOptions
		from     user
		customID string
		player   string
		want     string
		filed    bool
	}{
		{"reporter not linked", harnessOptions{}, user{ID: "100000000000000005", Name: "carol"}, "report:rallyhere", "bob", "isn't linked to a RallyHere player", false},
		{"fallback reporter", harnessOptions{fallback: true}, user{ID: "100000000000000005", Name: "carol"}, "report:rallyhere", "bob", "✅", true},
		{"member not linked", harnessOptions{}, alice, "report:rallyhere:100000000000000006", "", "hasn't linked Discord", false},
		{"name not found", harnessOptions{}, alice, "report:rallyhere", "nobody", "No RallyHere player is named", false},
		{"self by name", harnessOptions{}, alice, "report:rallyhere", "alice", tr("reply.self"), false},
		{"self by mention", harnessOptions{}, alice, "report:rallyhere", "<@" + alice.ID + ">", tr("reply.self"), false},
		{"self by context menu id", harnessOptions{}, alice, "report:rallyhere:" + alice.ID, "", tr("reply.self"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.o)
			h.world()
			values := formValues(tt.player, "afk")
			if tt.player == "" {
				delete(values, inputPlayer)
			}
			i := h.interaction(discordgo.InteractionModalSubmit, tt.from, modal(tt.customID, values, nil), nil)
			resp := h.handle(i)
			h.outcome(i, resp, tt.want)
			if got := len(h.rh.Reports()) == 1; got != tt.filed {
				t.Fatalf("filed %v, want %v", got, tt.filed)
			}
			if tt.filed {
				return
			}
			// Nothing was filed, so all three of the reporter's slots are still free.
			for k := range 3 {
				if d, _ := h.svc.Limits.Take(context.Background(), h.limitOf(tt.from.ID), fmt.Sprintf("probe-%d", k)); !d.Allowed {
					t.Fatal("a report that was never filed spent the limit")
				}
			}
		})
	}
}

func TestReportFallbackRecordsTheReporter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{fallback: true})
	fb := h.fallback
	h.world()
	carol := user{ID: "100000000000000005", Name: "carol"}
	i := h.interaction(discordgo.InteractionModalSubmit, carol, modal("report:rallyhere", formValues("bob", "afk"), nil), nil)
	h.outcome(i, h.handle(i), "✅")
	reports := h.rh.Reports()
	if len(reports) != 1 {
		t.Fatalf("%d reports upstream", len(reports))
	}
	custom := reports[0].Body["custom_data"].(map[string]any)
	if reports[0].Body["source_player_uuid"] != fb || custom["discord_reporter_id"] != carol.ID || custom["source_player_fallback"] != "true" {
		t.Fatalf("body %+v", reports[0].Body)
	}
}

// slotsFree reports whether reporter can still file all 3 of the limit's reports.
func (h *harness) slotsFree(reporter string, n int) bool {
	h.t.Helper()
	for k := range n {
		d, err := h.svc.Limits.Check(context.Background(), h.limitOf(reporter))
		if err != nil || !d.Allowed {
			return false
		}
		if d, _ := h.svc.Limits.Take(context.Background(), h.limitOf(reporter), fmt.Sprintf("probe-%d", k)); !d.Allowed {
			return false
		}
	}
	return true
}

// TestReportRefused: the upstream refuses the report for good. The reporter is told
// why; a report refused as invalid does not count against them, one the bot's set-up
// broke does (it was a legitimate report) and names its reference for the operator.
func TestReportRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failure  rallyheretest.Failure
		want     string
		refunded bool
	}{
		{"source required", rallyheretest.Failure{Status: 400, Code: "source_player_required"}, "problem with the bot's set-up", false},
		{"insufficient permissions", rallyheretest.Failure{Status: 403, Code: "insufficient_permissions"}, "credentials may not file reports", false},
		{"credentials", rallyheretest.Failure{Status: 403, Code: "auth_token_sig_invalid"}, "credentials were refused", false},
		{"player not found", rallyheretest.Failure{Status: 404, Code: "player_not_found"}, "doesn't exist (any more)", true},
		{"validation", rallyheretest.Failure{Status: 422, Detail: []map[string]any{{"loc": []string{"body", "description"}, "msg": "String should have at most 4096 characters", "type": "string_too_long"}}},
			"refused your report about `", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			w := h.world()
			h.rh.FailNext(rallyheretest.OpCreateReport, 1, tt.failure)
			i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues(w.bobPlayer, "cheating"), nil), nil)
			out := h.outcome(i, h.handle(i), tt.want)
			if !strings.HasPrefix(out, "❌") {
				t.Fatalf("reporter saw %q", out)
			}
			if !tt.refunded && !strings.Contains(out, "reference `R-") {
				t.Fatalf("a set-up fault without the report's reference: %q", out)
			}
			if n := h.rh.Calls(rallyheretest.OpCreateReport); n != 1 {
				t.Fatalf("%d attempts; a permanent refusal is not retried", n)
			}
			if got := h.slotsFree(alice.ID, 3); got != tt.refunded {
				t.Fatalf("all slots free: %v, want %v", got, tt.refunded)
			}
		})
	}
}

// TestReportRetried: the upstream fails for a while. The reporter is told the report
// is queued and retried, then that it got through; it arrives exactly once.
func TestReportRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		failure  rallyheretest.Failure
		minWait  time.Duration
	}{
		{"server errors", 3, rallyheretest.Failure{Status: 502}, 0},
		{"throttled", 1, rallyheretest.Failure{Status: 429, RetryAfter: time.Second}, time.Second},
		{"timeout", 1, rallyheretest.Failure{Delay: 5 * time.Second}, 0},
		{"answer lost after filing", 1, rallyheretest.Failure{Drop: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			w := h.world()
			h.rh.FailNext(rallyheretest.OpCreateReport, tt.failures, tt.failure)
			i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues(w.bobPlayer, "cheating"), nil), nil)
			resp := h.handle(i)
			h.outcome(i, resp, "✅")
			told := h.discord.editsOf(i.Token)
			if len(told) != 2 || !strings.HasPrefix(told[0], "⏳ RallyHere isn't answering") {
				t.Fatalf("the reporter was told %q; want the retry notice, then the outcome", told)
			}
			reports := h.rh.Reports()
			if len(reports) != 1 {
				t.Fatalf("%d reports upstream, want exactly 1", len(reports))
			}
			id := reports[0].Body["custom_data"].(map[string]any)["report_id"].(string)
			r, _ := h.svc.Reports.Get(context.Background(), id)
			if took := r.DeliveredAt.Sub(r.CreatedAt.Time); took < tt.minWait {
				t.Fatalf("delivered after %s; the upstream asked for %s", took, tt.minWait)
			}
			if r.Fault != "" || r.UpstreamID != reports[0].ReportID || !r.AttemptStartedAt.IsZero() {
				t.Fatalf("record %+v", r)
			}
			if h.slotsFree(alice.ID, 3) {
				t.Fatal("a delivered report gave its slot back")
			}
		})
	}
}

func TestReportBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	attachments := func(n int) (map[string]any, []string) {
		m := map[string]any{}
		var ids []string
		for k := range n {
			id := "5000000000000000" + string(rune('0'+k)) + "0"
			ids = append(ids, id)
			m[id] = map[string]any{"id": id, "filename": "shot.png", "size": 10, "url": "https://cdn.example/" + id, "proxy_url": "https://cdn.example/" + id}
		}
		return m, ids
	}
	six, sixIDs := attachments(6)
	_, oneID := attachments(1)
	tests := []struct {
		name     string
		customID string
		values   map[string]any
		att      map[string]any
		want     string
	}{
		{"forged reason", "report:rallyhere", formValues("bob", "not-a-reason"), nil, tr("reply.forged_reason")},
		{"reason without rallyhere mapping", "report:rallyhere", formValues("bob", "made_up"), nil, tr("reply.forged_reason")},
		{"two reasons", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk", "cheating"}}, nil, tr("reply.forged_reason")},
		{"long description", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk"}, inputDescription: strings.Repeat("x", 4001)}, nil, "too long"},
		{"bad match id", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk"}, inputMatch: "match 42; drop"}, nil, "match ID isn't valid"},
		{"bad player", "report:rallyhere", formValues("https://evil.example/x", "afk"), nil, "I can't look that player up"},
		{"empty player", "report:rallyhere", formValues("  ", "afk"), nil, "I can't look that player up"},
		{"too many files", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk"}, inputEvidence: sixIDs}, six, "at most 5 files"},
		{"unresolved file", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk"}, inputEvidence: oneID}, nil, "attach them again"},
		{"unknown input", "report:rallyhere", map[string]any{inputPlayer: "bob", inputReason: []string{"afk"}, "ssn": "123"}, nil, tr("reply.unknown_interaction")},
		{"player input on a member form", "report:rallyhere:" + bob.ID, formValues("bob", "afk"), nil, tr("reply.unknown_interaction")},
		{"unknown modal", "report:fortnite", formValues("bob", "afk"), nil, tr("reply.unknown_interaction")},
		{"garbage custom_id", "💥", formValues("bob", "afk"), nil, tr("reply.unknown_interaction")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.world()
			// A reason offered for Destiny 2 only must not be accepted for RallyHere.
			destinyOnly, err := reporting.NewReason("Made up", "", &reporting.DestinyReason{CategoryHash: 1, ReasonHash: 2, Label: "A › B"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.Settings.AddReason(context.Background(), guildID, destinyOnly); err != nil {
				t.Fatal(err)
			}
			i := h.interaction(discordgo.InteractionModalSubmit, alice, modal(tt.customID, tt.values, tt.att), nil)
			resp := h.handle(i)
			if resp.Then != nil || resp.Reply.Type != discordgo.InteractionResponseChannelMessageWithSource {
				t.Fatalf("reply %+v: bad input is refused at once", resp.Reply)
			}
			if got := resp.Reply.Data.Content; !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for _, op := range []rallyheretest.Op{rallyheretest.OpToken, rallyheretest.OpPlatformUser, rallyheretest.OpLookupPlayer, rallyheretest.OpCreateReport} {
				if n := h.rh.Calls(op); n != 0 {
					t.Fatalf("%d upstream %s calls for bad input", n, op)
				}
			}
			for k := range 3 {
				if d, _ := h.svc.Limits.Take(context.Background(), h.limitOf(alice.ID), "probe"+string(rune('a'+k))); !d.Allowed {
					t.Fatal("bad input spent the limit")
				}
			}
		})
	}
}

func TestReportLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	w := h.world()
	others := []string{h.rh.AddPlayer("p1"), h.rh.AddPlayer("p2"), h.rh.AddPlayer("p3"), h.rh.AddPlayer("p4")}
	_ = w
	for k := range 3 {
		i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues(others[k], "afk"), nil), nil)
		h.outcome(i, h.handle(i), "✅")
	}
	// The fourth is refused before the modal opens, and again if a stale modal is sent.
	open := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil))
	if !strings.Contains(open.Reply.Data.Content, "limit of 3 reports per 10 minutes") || !strings.Contains(open.Reply.Data.Content, ":R>") {
		t.Fatalf("fourth command: %q", open.Reply.Data.Content)
	}
	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues(others[3], "afk"), nil), nil)
	resp := h.handle(i)
	if resp.Then != nil || !strings.Contains(resp.Reply.Data.Content, "limit of 3") {
		t.Fatalf("fourth modal: %+v", resp.Reply)
	}
	if n := len(h.rh.Reports()); n != 3 {
		t.Fatalf("%d reports upstream, want 3", n)
	}
	// Another member is not affected.
	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, bob, slash(cmdReport, subPlayer), nil)); got.Reply.Type != discordgo.InteractionResponseModal {
		t.Fatalf("bob refused: %q", got.Reply.Data.Content)
	}
}

func TestUnknownInteractions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tests := []struct {
		name string
		typ  discordgo.InteractionType
		data map[string]any
	}{
		{"unknown command", discordgo.InteractionApplicationCommand, map[string]any{"id": "1", "name": "nope", "type": 1}},
		{"unknown subcommand", discordgo.InteractionApplicationCommand, slash(cmdReport, "weather")},
		{"unknown button", discordgo.InteractionMessageComponent, map[string]any{"custom_id": "launch:missiles", "component_type": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.handle(h.interaction(tt.typ, alice, tt.data, nil)).Reply.Data.Content; got != tr("reply.unknown_interaction") {
				t.Fatalf("got %q", got)
			}
		})
	}
	t.Run("ping", func(t *testing.T) {
		if got := h.handle(h.interaction(discordgo.InteractionPing, alice, nil, nil)).Reply.Type; got != discordgo.InteractionResponsePong {
			t.Fatalf("got %d", got)
		}
	})
}
