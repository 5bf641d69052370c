package reporting

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
)

// TestSettingsLanguage: the mod log's language is what an admin set, "" (the
// server's own) until then and after a reset.
func TestSettingsLanguage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	if st, _ := s.Get(ctx, "g"); st.Language != "" {
		t.Fatalf("a new server's language %q", st.Language)
	}
	for _, code := range []string{"pl", "pt-BR", ""} {
		if err := s.SetLanguage(ctx, "g", code); err != nil {
			t.Fatal(err)
		}
		st, err := s.Get(ctx, "g")
		if err != nil || st.Language != code {
			t.Fatalf("after setting %q: %q, %v", code, st.Language, err)
		}
	}
}

// TestReportRemembersLocales: a report keeps its reporter's and its server's Discord
// locales, for what the pipeline says later without an interaction.
func TestReportRemembersLocales(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	d := &Draft{ID: NewID(time.Now()), Game: RallyHere, GuildID: "g", ChannelID: "c", ReporterID: w.reporter,
		Target: Target{Kind: TargetUUID, Value: w.target}, Reason: DefaultReasons()[0],
		ReporterLocale: "pl", GuildLocale: "de"}
	st, _ := w.svc.Settings.Get(ctx, "g")
	r, err := w.svc.File(ctx, st, d, Reply{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.svc.Reports.Get(ctx, r.ID)
	if err != nil || got.ReporterLocale != "pl" || got.GuildLocale != "de" {
		t.Fatalf("stored %+v, %v", got, err)
	}
}

// TestManifestLanguages: reason names in another language come from that language's
// manifest file, fetched once a day like the English one; hashes, order and what is
// stored stay English; while Bungie cannot give a language, English stands in.
func TestManifestLanguages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bg := bungietest.New(t, bungietest.Options{})
	m := NewManifest(bungie.New(bg.APIKey, bungie.Options{APIURL: bg.URL + "/Platform", StatsURL: bg.StatsURL, WebURL: bg.URL}),
		zerolog.New(zerolog.NewTestWriter(t)))
	hacking := DestinyReason{CategoryHash: 1851805954, ReasonHash: 2352608786, Label: "Cheating › Hacking"}
	want := bungietest.ReasonName("de", "Cheating") + " › " + bungietest.ReasonName("de", "Hacking")
	if got := m.Label(ctx, "de", hacking); got != want || want == hacking.Label {
		t.Fatalf("German label %q, want %q", got, want)
	}
	if got := m.Label(ctx, English, hacking); got != hacking.Label {
		t.Fatalf("English label %q", got)
	}
	de, en := m.Categories(ctx, "de"), m.Categories(ctx, English)
	if len(de) != len(en) {
		t.Fatalf("%d German categories, %d English", len(de), len(en))
	}
	for i := range en {
		if de[i].Hash != en[i].Hash || len(de[i].Reasons) != len(en[i].Reasons) {
			t.Fatalf("category %d: %+v against %+v", i, de[i], en[i])
		}
		if last := de[i].Reasons[len(de[i].Reasons)-1]; len(de[i].Reasons) > 1 && last.Name != bungietest.ReasonName("de", "Other") {
			t.Errorf("%s: %q is last, not Other", de[i].Name, last.Name)
		}
	}
	for _, typed := range []string{"hack", "hacken", "betrug hack"} {
		found := m.Search(ctx, "de", typed, 25)
		if len(found) != 1 || found[0].Label != want || found[0].Key() != hacking.Key() {
			t.Errorf("Search(de, %q) = %+v", typed, found)
		}
	}
	if got, ok := m.Find(ctx, hacking.CategoryHash, hacking.ReasonHash); !ok || got.Label != hacking.Label {
		t.Fatalf("Find %+v: want the English label stored", got)
	}
	if n := bg.Calls(bungietest.OpManifestComponent); n != 2 {
		t.Fatalf("%d component fetches for English and German, want 2 (each cached)", n)
	}

	bg.SetFailure(bungietest.OpManifestComponent, bungietest.Failure{HTTPStatus: 503})
	if got := m.Label(ctx, "pl", hacking); got != hacking.Label {
		t.Fatalf("Polish with Bungie down: %q, want English", got)
	}
}

// TestManifestLanguageNeverHoldsAnAnswer: a slow Bungie keeps nobody waiting past the
// manifest's wait (the answer to Discord has three seconds): English stands in, and
// the names arrive in the background.
func TestManifestLanguageNeverHoldsAnAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bg := bungietest.New(t, bungietest.Options{})
	m := NewManifest(bungie.New(bg.APIKey, bungie.Options{APIURL: bg.URL + "/Platform", StatsURL: bg.StatsURL, WebURL: bg.URL}),
		zerolog.New(zerolog.NewTestWriter(t)))
	m.wait = 50 * time.Millisecond
	bg.FailNext(bungietest.OpManifestComponent, 1, bungietest.Failure{Delay: 2 * time.Second})
	hacking := DestinyReason{CategoryHash: 1851805954, ReasonHash: 2352608786, Label: "Cheating › Hacking"}
	start := time.Now()
	for range 5 { // five reasons of one form: the wait is shared, not five times over
		if got := m.Label(ctx, "pl", hacking); got != hacking.Label {
			t.Fatalf("while Bungie is slow: %q, want English", got)
		}
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("waited %v for a slow Bungie", waited)
	}
	want := bungietest.ReasonName("pl", "Cheating") + " › " + bungietest.ReasonName("pl", "Hacking")
	for deadline := time.Now().Add(20 * time.Second); m.Label(ctx, "pl", hacking) != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Polish names never arrived")
		}
	}
	if n := bg.Calls(bungietest.OpManifestComponent); n != 1 {
		t.Fatalf("%d fetches of the Polish file, want 1", n)
	}
}
