package commands

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
)

// pseudo is the pseudo-locale: every message with its letters swapped for accented
// look-alikes.
func pseudo(t *testing.T) *catalog.Catalog {
	t.Helper()
	p, err := catalog.Shipped().Pseudo()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pseudoWords are the pseudo-locale's words, Destiny reasons named without ASCII
// letters (Bungie's names are Bungie's data, not the catalog's).
func pseudoWords(p *catalog.Catalog) words {
	return words{Localizer: p.Source(), destiny: func(reporting.DestinyReason) string { return "Δ › Δ" }}
}

var (
	codeRE    = regexp.MustCompile("`[^`]*`")
	angleRE   = regexp.MustCompile(`<[^>]*>`)
	linkRE    = regexp.MustCompile(`\]\([^)]*\)|https?://\S+`)
	englishRE = regexp.MustCompile(`[A-Za-z]+`)
)

// english is what is left of ASCII words in s once the data the test put in (names,
// labels, ids, upstream words), code spans, mentions, timestamps and links are taken
// out: words that did not come through the catalog.
func english(s string, data []string) []string {
	if strings.HasSuffix(s, "…") {
		// Cut to fit Discord's limit: the last line may end inside a timestamp.
		s = s[:max(strings.LastIndex(s, "\n"), 0)]
	}
	data = slices.Clone(data)
	for _, d := range data {
		data = append(data, escape(d))
	}
	slices.SortFunc(data, func(a, b string) int { return len(b) - len(a) })
	for _, d := range data {
		s = strings.ReplaceAll(s, d, " ")
	}
	for _, re := range []*regexp.Regexp{codeRE, angleRE, linkRE} {
		s = re.ReplaceAllString(s, " ")
	}
	return englishRE.FindAllString(s, -1)
}

// sampleData is everything the samples put into messages that is not the catalog's.
func sampleData() []string {
	data := []string{"xX_*Sniper*_Xx", "xX_Sniper_Xx", "bob", "Cheater#0420", "Other#0001", "Bravo", "Alpha", "Teaming",
		"Cheating", "Toxic voice chat", "nope", "String should have at most 4096 characters", "rallyhere create-report: HTTP 503",
		"bungie.net, raid.report", "evil.example", `"cheat"`, "11/10m", "10/10m", "shot.png", "R-0000000000000"}
	for _, r := range sampleReports(time.Now()) {
		data = append(data, r.ID)
	}
	for _, l := range catalog.Shipped().Languages() {
		data = append(data, l.Name) // a language's own name is the same for everyone
	}
	for _, c := range bungie.ShippedReasons() {
		data = append(data, c.Name) // Bungie's names, from its manifest
		for _, r := range c.Reasons {
			data = append(data, r.Name)
		}
	}
	// Option names, which are not translated (a contract), in "The label isn't valid".
	return append(data, "label", "activity", "limit", "rallyhere-reason", "reason", "duration", "destiny-reason", "player")
}

// checkPseudo fails for text with words that bypassed the catalog.
func checkPseudo(t *testing.T, where, text string, data []string) {
	t.Helper()
	if left := english(text, data); len(left) > 0 {
		t.Errorf("%s: %q bypass the catalog in %q", where, left, text)
	}
}

// checkComponents checks every text of components.
func checkComponents(t *testing.T, where string, cs []discordgo.MessageComponent, data []string) {
	t.Helper()
	for _, c := range cs {
		switch v := c.(type) {
		case discordgo.ActionsRow:
			checkComponents(t, where, v.Components, data)
		case discordgo.Label:
			checkPseudo(t, where+" label", v.Label, data)
			checkPseudo(t, where+" label description", v.Description, data)
			checkComponents(t, where, []discordgo.MessageComponent{v.Component}, data)
		case discordgo.TextInput:
			checkPseudo(t, where+" "+v.CustomID+" placeholder", v.Placeholder, data)
		case discordgo.SelectMenu:
			checkPseudo(t, where+" "+v.CustomID+" placeholder", v.Placeholder, data)
			for _, o := range v.Options {
				checkPseudo(t, where+" option", o.Label, data)
				checkPseudo(t, where+" option description", o.Description, data)
			}
		case discordgo.Button:
			checkPseudo(t, where+" button", v.Label, data)
		case discordgo.FileUpload:
		default:
			t.Errorf("%s: a %T the test does not read", where, c)
		}
	}
}

func checkEmbed(t *testing.T, where string, e *discordgo.MessageEmbed, data []string) {
	t.Helper()
	checkPseudo(t, where+" title", e.Title, data)
	checkPseudo(t, where+" footer", e.Footer.Text, data)
	for _, f := range e.Fields {
		checkPseudo(t, where+" field name", f.Name, data)
		checkPseudo(t, where+" field "+f.Name, f.Value, data)
	}
}

// TestPseudoLocale renders every message, modal, select, button, embed, DM and
// command description through the pseudo-locale: a plain English word left over did
// not come from the catalog.
func TestPseudoLocale(t *testing.T) {
	t.Parallel()
	p := pseudo(t)
	w := pseudoWords(p)
	data := sampleData()
	now := time.Unix(1_800_000_000, 0)

	t.Run("messages", func(t *testing.T) {
		for _, m := range sampleMessages(w) {
			checkPseudo(t, m.name, m.text, data)
		}
	})
	t.Run("mod log", func(t *testing.T) {
		for _, anonymous := range []bool{false, true} {
			for _, r := range sampleReports(now) {
				r.Description, r.MatchID = "Wallhacks", "m-42"
				r.Evidence = []reporting.Evidence{{Filename: "shot.png", URL: "https://cdn.example/shot.png"}}
				embed, buttons := modLogView(w, r, reporting.Settings{Anonymous: anonymous}, now)
				checkEmbed(t, r.ID, embed, append(data, "Wallhacks", "m-42"))
				checkComponents(t, r.ID, buttons, data)
			}
		}
	})
	t.Run("choices", func(t *testing.T) {
		for _, r := range sampleReports(now) {
			for n := range 30 {
				r.Candidates = append(r.Candidates, reporting.Candidate{ID: fmt.Sprint(2305843009301234567 + n), Label: "Cheater#0420",
					Class: []string{"Titan", "Hunter", "Warlock"}[n%3], Team: "Alpha"})
			}
			checkComponents(t, r.ID, choiceComponents(w, r, 0), data)
		}
		checkComponents(t, "list", listButtons(w, 1, "all", "", true), data)
	})
	t.Run("commands", func(t *testing.T) {
		for _, c := range definitions(p, allGames, reporting.BungieAPIMode) {
			forEachText(c, func(where, text string) { checkPseudo(t, where, text, data) })
		}
	})
	t.Run("interactions", func(t *testing.T) {
		h := newHarness(t, harnessOptions{bungie: reporting.BungieAPIMode, catalog: p})
		for _, tc := range []struct {
			name string
			data map[string]any
		}{
			{"report player", slash(cmdReport, subPlayer)},
			{"report activity", slash(cmdReport, subActivity)},
			{"context menu", userCommand(bob)},
			{"link", slash(cmdLink, subBungie)},
			{"show", slash(cmdConfig, subShow)},
		} {
			from := alice
			if tc.name == "show" {
				from = admin
			}
			resp := h.handle(h.interaction(discordgo.InteractionApplicationCommand, from, tc.data, nil)).Reply
			checkPseudo(t, tc.name+" title", resp.Data.Title, append(data, "bob-nick"))
			checkPseudo(t, tc.name+" content", resp.Data.Content, data)
			checkComponents(t, tc.name, resp.Data.Components, data)
		}
	})
	t.Run("notices", func(t *testing.T) {
		rec := newRecorder()
		n := NewNotifier(rec, nil, nil, zerolog.Nop())
		n.cat = p
		r := sampleDestiny(now, "R-0000000000000")
		r.Delivery, r.Link, r.ReporterLocale = reporting.StatusHandedOff, "https://www.bungie.net/en/PGCR/Report/1/?characterId=2", "de"
		if err := n.Reporter(context.Background(), r, "token"); err != nil {
			t.Fatal(err)
		}
		e := rec.last("token")
		checkPseudo(t, "handed off", *e.Content, data)
		checkComponents(t, "handed off", *e.Components, data)
		r.Moderation = reporting.StatusClaimed
		if err := n.Reporter(context.Background(), r, ""); err != nil {
			t.Fatal(err)
		}
		checkPseudo(t, "DM", rec.dmsOf(r.ReporterID)[0], data)
	})
}

// forEachText calls f with every text of a command Discord shows: descriptions,
// choice names and their localizations.
func forEachText(c *discordgo.ApplicationCommand, f func(where, text string)) {
	if c.Type == discordgo.UserApplicationCommand {
		for locale, name := range *c.NameLocalizations {
			f(c.Name+" name "+string(locale), name)
		}
		return
	}
	f(c.Name, c.Description)
	for locale, d := range *c.DescriptionLocalizations {
		f(c.Name+" "+string(locale), d)
	}
	var walk func(path string, opts []*discordgo.ApplicationCommandOption)
	walk = func(path string, opts []*discordgo.ApplicationCommandOption) {
		for _, o := range opts {
			p := path + " " + o.Name
			f(p, o.Description)
			for locale, d := range o.DescriptionLocalizations {
				f(p+" "+string(locale), d)
			}
			for _, ch := range o.Choices {
				f(p+" choice "+fmt.Sprint(ch.Value), ch.Name)
				for locale, n := range ch.NameLocalizations {
					f(p+" choice "+fmt.Sprint(ch.Value)+" "+string(locale), n)
				}
			}
			walk(p, o.Options)
		}
	}
	walk(c.Name, c.Options)
}

// TestDiscordLimitsInEveryLanguage checks each language's words fit where Discord
// shows them, before the code's own truncation would cut them.
func TestDiscordLimitsInEveryLanguage(t *testing.T) {
	t.Parallel()
	cat := catalog.Shipped()
	max := func(t *testing.T, where, text string, n int) {
		t.Helper()
		if c := utf8.RuneCountInString(text); c > n || c == 0 {
			t.Errorf("%s: %d characters (Discord allows 1 to %d): %q", where, c, n, text)
		}
	}
	for _, c := range definitions(cat, allGames, reporting.BungieAPIMode) {
		forEachText(c, func(where, text string) {
			limit := 100 // descriptions and choice names
			if strings.Contains(where, " name ") {
				limit = 32 // a context menu command's name
			}
			max(t, where, text, limit)
		})
		if c.Type == discordgo.UserApplicationCommand {
			continue
		}
		if got, want := len(*c.DescriptionLocalizations), len(cat.Locales()); got != want {
			t.Errorf("%s: %d description localizations, want %d", c.Name, got, want)
		}
	}
	longest := strings.Repeat("W", 32) // a Discord nickname is at most 32 characters
	bungieNames := strings.Repeat("W", 40) + " › " + strings.Repeat("W", 40)
	for _, l := range cat.Languages() {
		t.Run(l.Code, func(t *testing.T) {
			w := testWords(l)
			for _, id := range []string{"modal.title_player", "modal.title_destiny"} {
				max(t, id, w.T(id, nil), 45)
			}
			max(t, "modal.title_member", w.T("modal.title_member", v{"Name": longest}), 45)
			for _, input := range []string{inputPlayer, inputActivity, inputReason, inputDescription, inputMatch, inputEvidence} {
				max(t, input+" label", w.T("modal."+input+".label", nil), 45)
				if id := "modal." + input + ".hint"; w.Has(id) {
					max(t, id, w.T(id, nil), 100)
				}
			}
			for _, id := range []string{"modal.player.placeholder", "modal.activity.placeholder"} {
				max(t, id, w.T(id, nil), 100) // a text input's placeholder
			}
			for _, id := range []string{"modal.reason.placeholder", "pick.which_player", "pick.who_reporting"} {
				max(t, id, w.T(id, nil), 150) // a select's placeholder
			}
			max(t, "pick.player_id", w.T("pick.player_id", v{"ID": "5f1b1e4e-0000-4000-8000-000000000001"}), 100)
			max(t, "modal.reason.files_as", w.T("modal.reason.files_as", v{"Reason": bungieNames}), 100)
			for _, r := range reporting.DefaultReasons() {
				max(t, r.Key, reasonLabel(w, r), reporting.MaxReasonLabel)
			}
			for _, id := range []string{"modlog.button.claim", "modlog.button.resolve", "modlog.button.dismiss", "pick.previous",
				"pick.next", "list.newer", "list.older", "button.link_bungie", "button.open_bungie"} {
				max(t, id, w.T(id, nil), 80)
			}
			for _, f := range []string{"player", "reason", "reporter", "match", "activity", "status", "what_happened", "evidence"} {
				max(t, f, w.T("modlog.field."+f, nil), 256)
			}
			max(t, "modlog.title", w.T("modlog.title", v{"Game": "Destiny 2", "ID": "R-0000000000000"}), 256)
			max(t, "modlog.footer", w.T("modlog.footer", nil), 2048)
			for _, class := range []string{"Titan", "Hunter", "Warlock"} {
				label := character(w, longest, class, "Bravo", plain)
				max(t, "a player of an activity", label, 100) // a select option's label
			}
		})
	}
}

// TestLanguagesFollowTheirReaders files a report from a German member in a server
// whose Discord language is Polish: the member reads German, the mod log Polish,
// until an admin sets it to French.
func TestLanguagesFollowTheirReaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	w := h.world()
	ctx := context.Background()
	german := map[string]any{"locale": "de", "guild_locale": "pl"}
	h.handle(h.interaction(discordgo.InteractionApplicationCommand, admin, slash(cmdConfig, subChannel,
		map[string]any{"type": 7, "name": optChannel, "value": modlogChannel}), map[string]any{"guild_locale": "pl"}))
	if hello := h.discord.channel(modlogChannel)[0].Send.Content; !strings.HasPrefix(hello, "📋 Zgłoszenia z tego serwera") {
		t.Fatalf("the hello in the mod log: %q", hello)
	}

	open := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subPlayer), german))
	if open.Reply.Data.Title != "Spieler melden" {
		t.Fatalf("modal title %q", open.Reply.Data.Title)
	}
	sel := open.Reply.Data.Components[1].(discordgo.Label).Component.(discordgo.SelectMenu)
	if sel.Placeholder != "Wähle einen Grund" || sel.Options[0].Label != "Cheaten" || sel.Options[0].Value != "cheating" {
		t.Fatalf("reason select %+v", sel)
	}

	i := h.interaction(discordgo.InteractionModalSubmit, alice, modal("report:rallyhere", formValues(w.bobPlayer, "cheating"), nil), german)
	resp := h.handle(i)
	h.outcome(i, resp, "wurde an RallyHere gesendet")
	post := h.modPost()
	embed := post.Send.Embeds[0]
	if !strings.HasPrefix(embed.Title, "Zgłoszenie RallyHere · R-") || fieldValue(embed, "Powód") != "Oszukiwanie (`cheating`)" {
		t.Fatalf("mod-log post %+v", embed)
	}
	reportID := strings.TrimPrefix(embed.Title, "Zgłoszenie RallyHere · ")
	r, err := h.svc.Reports.Get(ctx, reportID)
	if err != nil || r.ReporterLocale != "de" || r.GuildLocale != "pl" {
		t.Fatalf("record %+v, %v: want the reporter's and the server's locales", r, err)
	}

	// The admin (who reads English) sets the mod log to French.
	frenchAdmin := h.handle(h.interaction(discordgo.InteractionApplicationCommand, admin,
		slash(cmdConfig, subLanguage, strOpt(optLocale, "fr")), map[string]any{"guild_locale": "pl"})).Reply.Data.Content
	if frenchAdmin != "The mod log is now in Français." {
		t.Fatalf("language: %q", frenchAdmin)
	}
	show := h.handle(h.interaction(discordgo.InteractionApplicationCommand, admin, slash(cmdConfig, subShow), nil)).Reply.Data.Content
	if !strings.Contains(show, "Mod-log language: Français (set by an admin)") {
		t.Fatalf("show: %q", show)
	}
	// A Brazilian moderator claims it: the post is edited in French, the moderator
	// is answered in Portuguese, the reporter told in German.
	data, extra := click("mod:claim:"+reportID, "1")
	extra["locale"], extra["guild_locale"] = "pt-BR", "pl"
	claimed := h.handle(h.interaction(discordgo.InteractionMessageComponent, moderator, data, extra)).Reply
	if e := claimed.Data.Embeds[0]; !strings.HasPrefix(e.Title, "Signalement RallyHere") || !strings.HasPrefix(fieldValue(e, "Statut"), "👀 Pris en charge par") {
		t.Fatalf("claimed post %+v", e)
	}
	h.eventually("the reporter's DM", func() bool {
		dms := h.discord.dmsOf(alice.ID)
		return len(dms) == 1 && strings.HasPrefix(dms[0], "👀 Ein Moderator sieht sich deine Meldung")
	})
	data, extra = click("mod:claim:"+reportID, "1")
	extra["locale"] = "pt-BR"
	if got := h.handle(h.interaction(discordgo.InteractionMessageComponent, bob, data, extra)).Reply.Data.Content; !strings.HasPrefix(got, "Só moderadores") {
		t.Fatalf("a player's click, answered in Portuguese: %q", got)
	}

	// auto follows the server's Discord language again; a made-up language changes nothing.
	if got := h.config(subLanguage, strOpt(optLocale, languageAuto)); got != "The mod log now follows the server's language in Discord (now English)." {
		t.Fatalf("auto: %q", got)
	}
	if got := h.config(subLanguage, strOpt(optLocale, "tlh")); got != tr("reply.unknown_interaction") {
		t.Fatalf("a made-up language: %q", got)
	}
	if st, _ := h.svc.Settings.Get(ctx, guildID); st.Language != "" {
		t.Fatalf("language %q after auto and a made-up one", st.Language)
	}

	// Unshipped and regional locales: English, Spanish for Latin America.
	unshipped := ""
	for _, locale := range slices.Sorted(maps.Keys(discordgo.Locales)) {
		if l := catalog.Shipped().For(string(locale)); l.Code == catalog.Source && locale != discordgo.EnglishUS && locale != discordgo.EnglishGB && locale != "" {
			unshipped = string(locale)
			break
		}
	}
	for locale, want := range map[string]string{unshipped: "You can't report yourself.", "en-GB": "You can't report yourself.",
		"es-419": "No puedes reportarte a ti mismo.", "pl": "Nie możesz zgłosić samego siebie."} {
		got := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, userCommand(alice), map[string]any{"locale": locale})).Reply.Data.Content
		if got != want {
			t.Errorf("%s: %q, want %q", locale, got, want)
		}
	}
}

// TestDestinyReasonsInTheReadersLanguage: Bungie's names of the reasons come from the
// manifest in the reader's language; what is stored stays English; with Bungie's
// localized manifest unreachable the English names stand in.
func TestDestinyReasonsInTheReadersLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{bungie: reporting.BungieLink})
	de := map[string]any{"locale": "de"}
	for _, typed := range []string{"hack", "hacken", "betrug"} {
		ac := slash(cmdConfig, subReasonAdd, map[string]any{"type": 3, "name": optDestinyReason, "value": typed, "focused": true})
		choices := h.handle(h.interaction(discordgo.InteractionApplicationCommandAutocomplete, admin, ac, de)).Reply.Data.Choices
		if !slices.ContainsFunc(choices, func(c *discordgo.ApplicationCommandOptionChoice) bool {
			return c.Name == "Betrug › Hacken" && c.Value == "1851805954:2352608786"
		}) {
			t.Fatalf("autocomplete %q in German: %+v", typed, choices)
		}
	}
	added := h.handle(h.interaction(discordgo.InteractionApplicationCommand, admin, slash(cmdConfig, subReasonAdd,
		strOpt(optLabel, "Wallhacks"), strOpt(optDestinyReason, "1851805954:2352608786")), de)).Reply.Data.Content
	if !strings.Contains(added, "Destiny 2: Betrug › Hacken") || !strings.Contains(added, "**Wallhacks**") {
		t.Fatalf("reason-add in German: %q", added)
	}
	st, _ := h.svc.Settings.Get(context.Background(), guildID)
	if r := st.Reasons[len(st.Reasons)-1]; r.Destiny.Label != "Cheating › Hacking" {
		t.Fatalf("stored %+v: want the English label", r.Destiny)
	}

	open := h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subActivity), map[string]any{"locale": "pl"}))
	sel := open.Reply.Data.Components[1].(discordgo.Label).Component.(discordgo.SelectMenu)
	if sel.Options[0].Label != "Oszukiwanie" || sel.Options[0].Description != "Bungie: "+
		bungietest.ReasonName("pl", "Cheating")+" › "+bungietest.ReasonName("pl", "Hacking") {
		t.Fatalf("the Polish form's first reason: %+v", sel.Options[0])
	}

	// French: Bungie is down, and has been since the bot started.
	h.bg.SetFailure(bungietest.OpManifestComponent, bungietest.Failure{HTTPStatus: 503})
	open = h.handle(h.interaction(discordgo.InteractionApplicationCommand, alice, slash(cmdReport, subActivity), map[string]any{"locale": "fr"}))
	sel = open.Reply.Data.Components[1].(discordgo.Label).Component.(discordgo.SelectMenu)
	if sel.Options[0].Label != "Triche" || sel.Options[0].Description != "Bungie : Cheating › Hacking" {
		t.Fatalf("with Bungie down: %+v", sel.Options[0])
	}
}

// allGames are RallyHere and Destiny 2, as the commands see them.
var allGames = []Game{{ID: reporting.RallyHere, Title: "RallyHere", Flow: reporting.FlowPlayer},
	{ID: reporting.Destiny2, Title: "Destiny 2", Flow: reporting.FlowActivity}}
