package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting/webhook/webhooktest"
)

// webhookEnv is a deployment for a studio's own backend: the signed webhook takes the
// player-name reports, RallyHere is off.
func webhookEnv(t *testing.T) (*env, *webhooktest.Server) {
	t.Helper()
	e := newEnv(t)
	for _, k := range []string{"RALLYHERE_API_URL", "RALLYHERE_CLIENT_ID", "RALLYHERE_CLIENT_SECRET"} {
		delete(e.vars, k)
	}
	hook := webhooktest.New(t)
	e.vars["WEBHOOK_URL"], e.vars["WEBHOOK_SECRET"], e.vars["WEBHOOK_GAME_NAME"] = hook.URL, hook.Secret, "Skyline Arena"
	return e, hook
}

// TestWebhookEndToEnd: with WEBHOOK_URL set, /report player and the Report player menu
// go to the studio's endpoint: each report arrives signed and valid against the
// webhook's OpenAPI document (the fake checks both), the reporter sees the game's name
// and the studio's id, and the mod log and /reports mine show it as for other games.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	e, hook := webhookEnv(t)
	r := e.start(t)
	const modlog = "910000000000000003"
	admin := &discordgo.User{ID: "110000000000000009", Username: "admin"}

	var player struct {
		Options []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"options"`
	}
	var names []string
	for _, raw := range e.discord.Commands("") {
		var c struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &c)
		names = append(names, c.Name)
		if c.Name == "report" {
			_ = json.Unmarshal(raw, &player)
		}
	}
	if got := strings.Join(names, ","); got != "report,Report player,reports,report-config" {
		t.Fatalf("commands %s", got)
	}
	if len(player.Options) != 1 || player.Options[0].Name != "player" || !strings.Contains(player.Options[0].Description, "Skyline Arena") {
		t.Fatalf("/report: %+v; want only /report player, naming the game", player)
	}

	set := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, admin, discordgo.PermissionManageGuild,
		slashData("report-config", "channel", map[string]any{"type": 7, "name": "channel", "value": modlog}))
	e.post(t, r, set)
	e.discord.WaitOriginal(t, set.Token, waitFor, func(m json.RawMessage) bool { return strings.Contains(content(m), "Reports will be posted in") })

	open := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
	if resp, _ := e.post(t, r, open); resp.Type != discordgo.InteractionResponseModal || resp.Data.CustomID != "report:webhook" {
		t.Fatalf("/report player: %+v", resp)
	}
	submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:webhook", "xXsniperXx", "cheating", nil))
	if resp, _ := e.post(t, r, submit); resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource {
		t.Fatalf("submit: %+v", resp)
	}
	final := e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	got := hook.Reports()
	if len(got) != 1 || got[0].Report.Target.Kind != "name" || got[0].Report.Target.Value != "xXsniperXx" ||
		got[0].Report.Reason.Key != "cheating" || got[0].Report.Reporter.DiscordUserID != reporter.ID {
		t.Fatalf("received %+v", got)
	}
	if !strings.Contains(content(final), "Skyline Arena") || !strings.Contains(content(final), got[0].ID) {
		t.Fatalf("the reporter read %q; want the game's name and the studio's id %s", content(final), got[0].ID)
	}

	// The Report player menu sends the member as a discord_member target.
	menu := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0,
		modalData("report:webhook:"+reported.ID, "", "harassment", nil))
	e.post(t, r, menu)
	e.discord.WaitOriginal(t, menu.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	got = hook.Reports()
	if len(got) != 2 || got[1].Report.Target.Kind != "discord_member" || got[1].Report.Target.DiscordUserID != reported.ID {
		t.Fatalf("the menu's report arrived as %+v", got[len(got)-1].Report.Target)
	}

	// The mod log has both; /reports mine lists them.
	for deadline := time.Now().Add(waitFor); len(e.discord.Messages(modlog)) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mod log: %d messages", len(e.discord.Messages(modlog)))
		}
	}
	if post := e.discord.Messages(modlog)[1]; !strings.Contains(string(post.Body), "Skyline Arena report") {
		t.Fatalf("mod-log post %s", post.Body)
	}
	resp, _ := e.post(t, r, e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("reports", "mine")))
	if resp.Data == nil || strings.Count(resp.Data.Content, "Delivered to Skyline Arena") != 2 {
		t.Fatalf("/reports mine: %+v", resp.Data)
	}
}
