package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
)

// speaking sets the member's and the server's Discord locales of i, as Discord sends
// them.
func speaking(i *discordgo.Interaction, locale, guildLocale string) *discordgo.Interaction {
	i.Locale = discordgo.Locale(locale)
	gl := discordgo.Locale(guildLocale)
	i.GuildLocale = &gl
	return i
}

// modLogPost waits for the post of a report in channel (after the bot's hello) and
// returns its embed.
func (e *env) modLogPost(t *testing.T, channel string) (title string, fields map[string]string, buttons []string) {
	t.Helper()
	var post discordtest.Message
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		if msgs := e.discord.Messages(channel); len(msgs) >= 2 {
			post = msgs[len(msgs)-1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mod-log post: %+v", e.discord.Messages(channel))
		}
	}
	var body struct {
		Embeds []struct {
			Title  string `json:"title"`
			Fields []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"fields"`
		} `json:"embeds"`
		Components []struct {
			Components []struct {
				Label string `json:"label"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(post.Body, &body); err != nil || len(body.Embeds) != 1 || len(body.Components) != 1 {
		t.Fatalf("post %s: %v", post.Body, err)
	}
	fields = map[string]string{}
	for _, f := range body.Embeds[0].Fields {
		fields[f.Name] = f.Value
	}
	for _, b := range body.Components[0].Components {
		buttons = append(buttons, b.Label)
	}
	return body.Embeds[0].Title, fields, buttons
}

// setModLog has an admin who reads English set the mod-log channel of a server whose
// Discord language is guildLocale.
func (e *env) setModLog(t *testing.T, r *running, channel, guildLocale string) {
	t.Helper()
	admin := &discordgo.User{ID: "110000000000000009", Username: "admin"}
	set := speaking(e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, admin, discordgo.PermissionManageGuild,
		slashData("report-config", "channel", map[string]any{"type": 7, "name": "channel", "value": channel})), "en-US", guildLocale)
	e.post(t, r, set)
	e.discord.WaitOriginal(t, set.Token, waitFor, func(m json.RawMessage) bool { return strings.Contains(content(m), "Reports will be posted in") })
}

// TestReportInGerman runs a report through the HTTP endpoint from a member whose
// Discord speaks German, in a German server: the commands are registered with German
// descriptions and the menu's German name, the form, the answer and the mod log are
// German.
func TestReportInGerman(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alicePlayer, bobPlayer := e.rh.AddPlayer("alice"), e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, alicePlayer)
	r := e.start(t)

	var registered []struct {
		Name                     string            `json:"name"`
		NameLocalizations        map[string]string `json:"name_localizations"`
		DescriptionLocalizations map[string]string `json:"description_localizations"`
	}
	for _, raw := range e.discord.Commands("") {
		var c struct {
			Name                     string            `json:"name"`
			NameLocalizations        map[string]string `json:"name_localizations"`
			DescriptionLocalizations map[string]string `json:"description_localizations"`
		}
		_ = json.Unmarshal(raw, &c)
		registered = append(registered, c)
	}
	if len(registered) != 4 || registered[0].Name != "report" || registered[0].DescriptionLocalizations["de"] != "Melde einen Spieler, den du in einem Match getroffen hast" ||
		registered[1].Name != "Report player" || registered[1].NameLocalizations["de"] != "Spieler melden" || registered[1].NameLocalizations["pl"] != "Zgłoś gracza" {
		t.Fatalf("registered %+v", registered)
	}

	const modlog = "910000000000000003"
	e.setModLog(t, r, modlog, "de")

	open := speaking(e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0,
		slashData("report", "player", map[string]any{"type": 3, "name": "player", "value": "bob"})), "de", "de")
	resp, status := e.post(t, r, open)
	if status != 200 || resp.Type != discordgo.InteractionResponseModal || resp.Data.Title != "Spieler melden" {
		t.Fatalf("status %d, %+v: want the German form", status, resp.Data)
	}
	submit := speaking(e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0,
		modalData("report:rallyhere", "bob", "cheating", nil)), "de", "de")
	e.post(t, r, submit)
	final := e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	reports := e.rh.Reports()
	if len(reports) != 1 || reports[0].TargetUUID != bobPlayer {
		t.Fatalf("upstream reports %+v", reports)
	}
	if want := "✅ Deine Meldung über bob wurde an RallyHere gesendet.\nMeldungs-ID bei RallyHere: `" + reports[0].ReportID + "`"; !strings.HasPrefix(content(final), want) {
		t.Fatalf("the reporter read %q, want %q…", content(final), want)
	}
	title, fields, buttons := e.modLogPost(t, modlog)
	if !strings.HasPrefix(title, "Meldung für RallyHere · R-") || fields["Grund"] != "Cheaten (`cheating`)" ||
		!strings.HasPrefix(fields["Status"], "✅ An RallyHere zugestellt") || strings.Join(buttons, ",") != "Übernehmen,Erledigt,Abweisen" {
		t.Fatalf("mod-log post %q %v %v", title, fields, buttons)
	}
}

// TestDestinyReportInPolish runs a Destiny 2 report (link mode) through the HTTP
// endpoint from a Polish member in a Polish server: the form, the choice of the
// player (classes and teams in Polish), the hand-off and the mod log are Polish, and
// Bungie's reason is named as Bungie's Polish manifest names it.
func TestDestinyReportInPolish(t *testing.T) {
	t.Parallel()
	e, bg := destinyEnv(t, "link")
	stranger := bg.AddUser("Cheater", "Titan")
	act := bg.AddActivity(true, bungietest.Player{Membership: &stranger.Memberships[0], Character: stranger.Memberships[0].Characters[0]})
	r := e.start(t)
	const modlog = "910000000000000004"
	e.setModLog(t, r, modlog, "pl")

	open := speaking(e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0,
		slashData("report", "activity")), "pl", "pl")
	resp, _ := e.post(t, r, open)
	if resp.Type != discordgo.InteractionResponseModal || resp.Data.Title != "Zgłoś gracza Destiny 2" {
		t.Fatalf("%+v: want the Polish form", resp.Data)
	}
	offender := stranger.Memberships[0].Characters[0].ID
	submit := e.reportDestinyIn(t, r, "pl", act.ID, offender, "", func(placeholder, label string) {
		if placeholder != "Kogo zgłaszasz?" || !strings.Contains(label, " · Tytan · drużyna ") {
			t.Errorf("the choice: placeholder %q, option %q", placeholder, label)
		}
	})
	raw := e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.Contains(shownOf(m).Content, "Prawie gotowe") })
	var shown struct {
		Components []struct {
			Components []struct {
				Label string `json:"label"`
			} `json:"components"`
		} `json:"components"`
	}
	_ = json.Unmarshal(raw, &shown)
	if len(shown.Components) != 1 || shown.Components[0].Components[0].Label != "Otwórz stronę zgłoszeń Bungie" {
		t.Fatalf("hand-off %s", raw)
	}
	title, fields, buttons := e.modLogPost(t, modlog)
	wantReason := "Oszukiwanie (" + bungietest.ReasonName("pl", "Cheating") + " › " + bungietest.ReasonName("pl", "Hacking") + ")"
	if !strings.HasPrefix(title, "Zgłoszenie Destiny 2 · R-") || fields["Powód"] != wantReason ||
		!strings.HasPrefix(fields["Status"], "↗️ Przekazane zgłaszającemu") || strings.Join(buttons, ",") != "Przejmij,Rozpatrzone,Odrzuć" {
		t.Fatalf("mod-log post %q %v %v", title, fields, buttons)
	}
}

// TestSignInPagesInTheBrowsersLanguage: the Bungie.net sign-in pages follow the
// browser's Accept-Language, English for a language the bot does not ship.
func TestSignInPagesInTheBrowsersLanguage(t *testing.T) {
	t.Parallel()
	e, _ := destinyEnv(t, "api")
	r := e.start(t)
	for accept, want := range map[string]string{
		"de-DE,de;q=0.9,en;q=0.8": `<html lang="de">`,
		"pt-BR":                   `<h1 id="title">Este link expirou</h1>`,
		"pl":                      `<h1 id="title">Ten link wygasł</h1>`,
		"ja":                      `<h1 id="title">This link has expired</h1>`,
		"":                        `<html lang="en">`,
	} {
		req, _ := http.NewRequest(http.MethodGet, r.base+"/oauth/bungie/start?state=nope", nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone || !strings.Contains(string(page), want) {
			t.Errorf("Accept-Language %q: %d\n%s\nwant %s", accept, resp.StatusCode, page, want)
		}
	}
}

// TestSignInInPolish follows the whole sign-in in a Chromium whose language is Polish:
// the page it ends on is Polish.
func TestSignInInPolish(t *testing.T) {
	t.Parallel()
	e, bg := destinyEnv(t, "api")
	r := e.start(t)
	bg.SetAuthorizingUser(bg.AddUser("Reporter", "Hunter"))
	link := speaking(e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0,
		map[string]any{"id": "710000000000000009", "name": "link", "type": 1, "options": []any{map[string]any{"type": 1, "name": "bungie"}}}), "pl", "pl")
	resp, _ := e.post(t, r, link)
	button := resp.Data.Components[0].(*discordgo.ActionsRow).Components[0].(*discordgo.Button)
	if button.Label != "Połącz Bungie.net" || !strings.HasPrefix(resp.Data.Content, "Połącz swoje konto Bungie.net") {
		t.Fatalf("/link bungie in Polish: %q, button %q", resp.Data.Content, button.Label)
	}
	if dom := chromium(t, button.URL, "--accept-lang=pl"); !strings.Contains(dom, `<h1 id="title">Bungie.net połączone</h1>`) || !strings.Contains(dom, `<html lang="pl">`) {
		t.Fatalf("the sign-in ended on:\n%s", dom)
	}
}
