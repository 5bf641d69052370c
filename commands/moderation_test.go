package commands

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

const modlogChannel = "920000000000000001"

var (
	moderator = user{ID: "100000000000000008", Name: "mod", Perms: discordgo.PermissionManageMessages}
	roleMod   = user{ID: "100000000000000007", Name: "helper"}
)

// setChannel runs /report-config channel as an admin and returns what they saw.
func (h *harness) setChannel(channel string) string {
	h.t.Helper()
	var opts []map[string]any
	if channel != "" {
		opts = append(opts, map[string]any{"type": 7, "name": optChannel, "value": channel})
	}
	i := h.interaction(discordgo.InteractionApplicationCommand, admin, slash(cmdConfig, subChannel, opts...), nil)
	resp := h.handle(i)
	return h.shown(i, resp)
}

// config runs a /report-config subcommand as an admin.
func (h *harness) config(sub string, opts ...map[string]any) string {
	h.t.Helper()
	return h.handle(h.interaction(discordgo.InteractionApplicationCommand, admin, slash(cmdConfig, sub, opts...), nil)).Reply.Data.Content
}

// fileReport files a report of alice against bob (by id) and waits for its outcome.
func (h *harness) fileReport(w world, from user, target string, attachments map[string]any, evidence []string) (*discordgo.Interaction, Response) {
	h.t.Helper()
	v := formValues(target, "cheating")
	if evidence != nil {
		v[inputEvidence] = evidence
	}
	i := h.interaction(discordgo.InteractionModalSubmit, from, modal("report:rallyhere", v, attachments), nil)
	return i, h.handle(i)
}

// modPost waits for the mod-log post of the only report and returns it.
func (h *harness) modPost() *sentMessage {
	h.t.Helper()
	var msgs []*sentMessage
	h.eventually("the mod-log post", func() bool {
		msgs = h.discord.channel(modlogChannel)
		return len(msgs) >= 2 // the hello, then the report
	})
	return msgs[len(msgs)-1]
}

func click(custom string, origID string) (map[string]any, map[string]any) {
	data := map[string]any{"custom_id": custom, "component_type": 2}
	msg := map[string]any{"message": map[string]any{"id": "600000000000000009", "channel_id": modlogChannel, "content": "",
		"interaction_metadata": map[string]any{"id": origID, "type": 5, "user": map[string]any{"id": alice.ID}}}}
	return data, msg
}

func TestModLogChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	t.Run("a channel the bot cannot post in is refused", func(t *testing.T) {
		h.discord.refuse["920000000000000099"] = http.StatusForbidden
		if got := h.setChannel("920000000000000099"); !strings.Contains(got, "I can't post in") {
			t.Fatalf("got %q", got)
		}
		st, _ := h.svc.Settings.Get(context.Background(), guildID)
		if st.ModLogChannel != "" {
			t.Fatal("the refused channel was saved")
		}
	})
	t.Run("set", func(t *testing.T) {
		if got := h.setChannel(modlogChannel); got != msgModLogSet(en, modlogChannel) {
			t.Fatalf("got %q", got)
		}
		if msgs := h.discord.channel(modlogChannel); len(msgs) != 1 || msgs[0].Send.Content != tr("modlog.hello") {
			t.Fatalf("channel got %+v", msgs)
		}
	})
	t.Run("only admins", func(t *testing.T) {
		i := h.interaction(discordgo.InteractionApplicationCommand, moderator, slash(cmdConfig, subChannel), nil)
		if got := h.handle(i).Reply.Data.Content; got != tr("reply.not_admin") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("off", func(t *testing.T) {
		if got := h.setChannel(""); got != tr("modlog.off") {
			t.Fatalf("got %q", got)
		}
	})
}

func TestModLogPostAndButtons(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	w := h.world()
	ctx := context.Background()
	h.setChannel(modlogChannel)
	if got := h.config(subModRole, map[string]any{"type": 8, "name": optRole, "value": "930000000000000001"}); !strings.Contains(got, "930000000000000001") {
		t.Fatalf("mod-role: %q", got)
	}

	// Evidence is downloaded from Discord's CDN and uploaded again with the post.
	h.cdn.HandleFunc("/aimbot.png", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "PNG bytes") })
	att := map[string]any{"500000000000000001": map[string]any{"id": "500000000000000001", "filename": "aimbot.png",
		"content_type": "image/png", "size": 9, "url": h.cdnURL + "/aimbot.png", "proxy_url": h.cdnURL + "/aimbot.png"}}
	i, resp := h.fileReport(w, alice, w.bobPlayer, att, []string{"500000000000000001"})
	h.outcome(i, resp, "✅")
	post := h.modPost()
	if len(post.Send.Embeds) != 1 || len(post.Send.Files) != 1 || post.Send.Files[0].Name != "aimbot.png" {
		t.Fatalf("post %+v", post.Send)
	}
	if data, _ := io.ReadAll(post.Send.Files[0].Reader); string(data) != "PNG bytes" {
		t.Fatalf("re-uploaded %q", data)
	}
	embed := post.Send.Embeds[0]
	if !strings.Contains(embed.Title, "RallyHere report · R-") || !strings.Contains(fieldValue(embed, "Status"), "✅ Delivered") ||
		fieldValue(embed, "Reporter") != "<@"+alice.ID+">" {
		t.Fatalf("embed %+v", embed)
	}
	reportID := strings.TrimPrefix(embed.Title, "RallyHere report · ")
	claim, resolve, dismiss := "mod:claim:"+reportID, "mod:resolve:"+reportID, "mod:dismiss:"+reportID

	t.Run("not for players", func(t *testing.T) {
		data, extra := click(claim, "1")
		if got := h.handle(h.interaction(discordgo.InteractionMessageComponent, bob, data, extra)).Reply.Data.Content; got != tr("reply.not_moderator") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("claim by the moderator role", func(t *testing.T) {
		data, extra := click(claim, "1")
		member := roleMod.member()
		member["roles"] = []string{"930000000000000001"}
		resp := h.handle(h.interaction(discordgo.InteractionMessageComponent, roleMod, data, map[string]any{"message": extra["message"], "member": member}))
		if resp.Reply.Type != discordgo.InteractionResponseUpdateMessage || !strings.Contains(fieldValue(resp.Reply.Data.Embeds[0], "Status"), "👀 Claimed by <@"+roleMod.ID+">") {
			t.Fatalf("reply %+v", resp.Reply)
		}
		h.eventually("the reporter's DM", func() bool {
			dms := h.discord.dmsOf(alice.ID)
			return len(dms) == 1 && strings.HasPrefix(dms[0], "👀 A moderator is looking")
		})
		// The delivery notice in the reporter's answer stays as it was.
		if got := h.shown(i, Response{}); !strings.HasPrefix(got, "✅") {
			t.Fatalf("the answer now says %q", got)
		}
	})
	t.Run("resolve, then dismiss is refused", func(t *testing.T) {
		data, extra := click(resolve, "1")
		resp := h.handle(h.interaction(discordgo.InteractionMessageComponent, moderator, data, extra))
		buttons := resp.Reply.Data.Components[0].(discordgo.ActionsRow).Components
		for _, b := range buttons {
			if !b.(discordgo.Button).Disabled {
				t.Fatalf("button %+v still enabled on a resolved report", b)
			}
		}
		data, extra = click(dismiss, "1")
		if got := h.handle(h.interaction(discordgo.InteractionMessageComponent, moderator, data, extra)).Reply.Data.Content; !strings.Contains(got, "already resolved") {
			t.Fatalf("got %q", got)
		}
		r, _ := h.svc.Reports.Get(ctx, reportID)
		if r.Status() != reporting.StatusResolved || r.ModeratorID != moderator.ID {
			t.Fatalf("record %+v", r)
		}
		h.eventually("the resolution DM", func() bool { return len(h.discord.dmsOf(alice.ID)) == 2 })
	})
	t.Run("the pipeline does not repost what the button showed", func(t *testing.T) {
		time.Sleep(200 * time.Millisecond)
		if n := len(h.discord.channel(modlogChannel)); n != 2 || len(h.discord.channel(modlogChannel)[1].Edits) != 0 {
			t.Fatalf("%d messages, %d edits", n, len(h.discord.channel(modlogChannel)[1].Edits))
		}
	})
}

func fieldValue(e *discordgo.MessageEmbed, name string) string {
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func TestModLogShowsRetriesAndAnonymity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	w := h.world()
	h.setChannel(modlogChannel)
	if got := h.config(subAnonymous, map[string]any{"type": 5, "name": optOn, "value": true}); !strings.Contains(got, "Anonymous reports are on") {
		t.Fatalf("anonymous: %q", got)
	}
	h.rh.FailNext(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503})
	i, resp := h.fileReport(w, alice, w.bobPlayer, nil, nil)
	h.outcome(i, resp, "✅")
	post := h.modPost()
	if got := fieldValue(post.Send.Embeds[0], "Status"); !strings.HasPrefix(got, "⏳ Queued: the game's report service is not answering") {
		t.Fatalf("first post status %q", got)
	}
	if got := fieldValue(post.Send.Embeds[0], "Reporter"); strings.Contains(got, alice.ID) {
		t.Fatalf("an anonymous report names its reporter: %q", got)
	}
	h.eventually("the post edited to delivered", func() bool {
		m := h.discord.channel(modlogChannel)[1]
		return len(m.Edits) > 0 && strings.HasPrefix(fieldValue((*m.Edits[len(m.Edits)-1].Embeds)[0], "Status"), "✅ Delivered")
	})
}

func TestReportsMineAndList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{limit: config.Rate{Count: 10, Per: 10 * time.Minute}})
	w := h.world()
	var players []string
	for n := range 12 {
		p := h.rh.AddPlayer(fmt.Sprintf("target-%02d", n))
		players = append(players, p)
		from := alice
		if n >= 9 { // the limit is 10 per 10 minutes: bob files the rest
			from = bob
		}
		i, resp := h.fileReport(w, from, p, nil, nil)
		h.outcome(i, resp, "✅")
	}

	mine := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReports, subMine), nil)).Reply.Data.Content
	if strings.Count(mine, "\n• ") != 9 || !strings.Contains(mine, "✅ Delivered") {
		t.Fatalf("mine: %q", mine)
	}
	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReports, subList), nil)).Reply.Data.Content; got != tr("reply.not_moderator") {
		t.Fatalf("list for a player: %q", got)
	}
	// A list is read after the answer (a deferral) and shown by editing it.
	shownList := func(i *discordgo.Interaction, wantAck discordgo.InteractionResponseType) (string, []discordgo.MessageComponent) {
		t.Helper()
		resp := h.handle(i)
		e := h.discord.last(i.Token)
		if resp.Reply.Type != wantAck || e == nil || e.Content == nil || e.Components == nil {
			t.Fatalf("answered %d, then edited %+v", resp.Reply.Type, e)
		}
		return *e.Content, *e.Components
	}
	list, buttons := shownList(h.interaction(discordgo.InteractionApplicationCommand, moderator, slash(cmdReports, subList), nil),
		discordgo.InteractionResponseDeferredChannelMessageWithSource)
	if n := strings.Count(list, "\n• "); n != 10 || len(buttons) != 1 {
		t.Fatalf("page 1: %d lines, %d rows", n, len(buttons))
	}
	older := buttons[0].(discordgo.ActionsRow).Components[1].(discordgo.Button)
	data, extra := click(older.CustomID, "1")
	page2, _ := shownList(h.interaction(discordgo.InteractionMessageComponent, moderator, data, extra), discordgo.InteractionResponseDeferredMessageUpdate)
	if n := strings.Count(page2, "\n• "); n != 2 {
		t.Fatalf("page 2: %q", page2)
	}
	filtered, _ := shownList(h.interaction(discordgo.InteractionApplicationCommand, moderator,
		slash(cmdReports, subList, strOpt(optPlayer, strings.ToUpper(players[3][:13])), strOpt(optStatus, "delivered")), nil),
		discordgo.InteractionResponseDeferredChannelMessageWithSource)
	if strings.Count(filtered, "\n• ") != 1 || !strings.Contains(filtered, players[3]) {
		t.Fatalf("filtered: %q", filtered)
	}
	none, _ := shownList(h.interaction(discordgo.InteractionApplicationCommand, moderator, slash(cmdReports, subList, strOpt(optStatus, "failed")), nil),
		discordgo.InteractionResponseDeferredChannelMessageWithSource)
	if !strings.Contains(none, "No reports match.") {
		t.Fatalf("failed filter: %q", none)
	}
}

func TestBarAndUnbar(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.world()
	memberOpt := map[string]any{"type": 6, "name": optMember, "value": alice.ID}
	resolved := map[string]any{"users": map[string]any{alice.ID: map[string]any{"id": alice.ID, "username": "alice"}}}
	bar := slash(cmdReports, subBar, memberOpt, strOpt(optDuration, "2d"))
	bar["resolved"] = resolved
	unbar := slash(cmdReports, subUnbar, memberOpt)
	unbar["resolved"] = resolved
	open := func() Response {
		return h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil))
	}

	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, bob, bar, nil)).Reply.Data.Content; got != tr("reply.not_moderator") {
		t.Fatalf("a player barred someone: %q", got)
	}
	badDuration := slash(cmdReports, subBar, memberOpt, strOpt(optDuration, "forever"))
	badDuration["resolved"] = resolved
	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, moderator, badDuration, nil)).Reply.Data.Content; !strings.Contains(got, "up to 365 days") {
		t.Fatalf("bad duration: %q", got)
	}
	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, moderator, bar, nil)).Reply.Data.Content; !strings.Contains(got, "can't file reports in this server until <t:") {
		t.Fatalf("bar: %q", got)
	}
	if got := open().Reply.Data.Content; !strings.Contains(got, "barred you from reporting in this server until") {
		t.Fatalf("barred member opened the form: %q", got)
	}
	if got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, moderator, unbar, nil)).Reply.Data.Content; !strings.Contains(got, "can file reports again") {
		t.Fatalf("unbar: %q", got)
	}
	if got := open(); got.Reply.Type != discordgo.InteractionResponseModal {
		t.Fatalf("after unbar: %q", got.Reply.Data.Content)
	}
}

func TestAbuseLimits(t *testing.T) {
	t.Parallel()
	t.Run("one report per target per day", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		w := h.world()
		i, resp := h.fileReport(w, alice, w.bobPlayer, nil, nil)
		h.outcome(i, resp, "✅")
		// By name this time: the same player, so the same target.
		i, resp = h.fileReport(w, alice, "bob", nil, nil)
		h.outcome(i, resp, "You already reported bob in the last 24 hours, so this report was not filed again")
		if !h.slotsFree(alice.ID, 2) {
			t.Fatal("the duplicate kept its slot")
		}
		if n := len(h.rh.Reports()); n != 1 {
			t.Fatalf("%d reports upstream", n)
		}
	})
	t.Run("global limit across servers", func(t *testing.T) {
		h := newHarness(t, harnessOptions{global: config.Rate{Count: 2, Per: 24 * time.Hour}})
		w := h.world()
		for n := range 3 {
			p := h.rh.AddPlayer(fmt.Sprintf("p%d", n))
			i, resp := h.fileReport(w, alice, p, nil, nil)
			if n < 2 {
				h.outcome(i, resp, "✅")
			} else {
				h.outcome(i, resp, "limit of 2 reports per day across all servers")
			}
		}
	})
	t.Run("an admin's limit, within the operator's bound", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		w := h.world()
		limit := func(count int, per string) string {
			return h.config(subLimit, map[string]any{"type": 4, "name": optCount, "value": count}, strOpt(optPer, per))
		}
		if got := limit(11, "10m"); !strings.Contains(got, "looser than this bot allows") {
			t.Fatalf("too loose: %q", got)
		}
		if got := limit(1, "soon"); !strings.Contains(got, "a duration like") {
			t.Fatalf("bad duration: %q", got)
		}
		if got := limit(1, "1h"); got != msgLimitSet(en, config.Rate{Count: 1, Per: time.Hour}) {
			t.Fatalf("set: %q", got)
		}
		i, resp := h.fileReport(w, alice, w.bobPlayer, nil, nil)
		h.outcome(i, resp, "✅")
		got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), nil)).Reply.Data.Content
		if !strings.Contains(got, "limit of 1 report per hour") {
			t.Fatalf("second report: %q", got)
		}
	})
}
