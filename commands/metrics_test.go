package commands

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricLabelsClosedSet: names and custom_ids come from whoever sends the
// interaction, so they never become label values as they are. 2,000 random ones add
// no series to reportbot_interactions_total beyond a fixed "unknown" per type (and
// one for interaction types the bot does not know).
func TestMetricLabelsClosedSet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	reg := prometheus.NewRegistry()
	h.router = NewRouter(h.svc, h.discord, Options{Queue: h.pipeline, Logger: h.router.log, Registerer: reg})
	series := func() map[string]bool {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				out[mf.GetName()+labels(m)] = true
			}
		}
		return out
	}
	// One of each kind the bot knows, so their series exist.
	known := []struct {
		typ  discordgo.InteractionType
		data map[string]any
	}{
		{discordgo.InteractionApplicationCommand, slash(cmdReport, subPlayer)},
		{discordgo.InteractionApplicationCommand, slash(cmdReports, "mine")},
		{discordgo.InteractionApplicationCommand, slash(cmdConfig, "show")},
		{discordgo.InteractionApplicationCommand, userCommand(bob)},
		{discordgo.InteractionApplicationCommandAutocomplete, slash(cmdConfig, "reason-add")},
		{discordgo.InteractionModalSubmit, modal("report:rallyhere", formValues("bob", "forged"), nil)},
		{discordgo.InteractionMessageComponent, map[string]any{"custom_id": "mod:claim:R-0000000000000", "component_type": 2}},
		{discordgo.InteractionMessageComponent, map[string]any{"custom_id": "list:0:all:", "component_type": 2}},
		{discordgo.InteractionMessageComponent, map[string]any{"custom_id": "offpage:1", "component_type": 2}},
	}
	for _, k := range known {
		h.handle(h.interaction(k.typ, alice, k.data, nil))
	}
	before := series()

	rng := rand.New(rand.NewPCG(9, 9))
	word := func() string {
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_:. ÄéΩ💥"
		runes := []rune(alphabet)
		b := make([]rune, 1+rng.IntN(40))
		for i := range b {
			b[i] = runes[rng.IntN(len(runes))]
		}
		s := string(b)
		// Half of them look like the bot's own custom_ids, to reach past the kind.
		if rng.IntN(2) == 0 {
			kinds := []string{kindReport, kindPlayer, kindMod, kindOffender, kindOffenderPage, kindList}
			s = kinds[rng.IntN(len(kinds))] + ":" + s
		}
		return s
	}
	for n := range 2000 {
		name := word()
		var typ discordgo.InteractionType
		var data map[string]any
		switch n % 5 {
		case 0:
			typ, data = discordgo.InteractionApplicationCommand, map[string]any{"id": "700000000000000001", "name": name, "type": 1}
		case 1:
			typ, data = discordgo.InteractionApplicationCommandAutocomplete, map[string]any{"id": "700000000000000001", "name": name, "type": 1}
		case 2:
			typ, data = discordgo.InteractionModalSubmit, modal(name, formValues("bob", "afk"), nil)
		case 3:
			typ, data = discordgo.InteractionMessageComponent, map[string]any{"custom_id": name, "component_type": 2}
		case 4:
			typ, data = discordgo.InteractionType(6+rng.IntN(250)), map[string]any{"custom_id": name, "name": name}
		}
		h.handle(h.interaction(typ, alice, data, nil))
	}
	after := series()
	var added []string
	for s := range after {
		if !before[s] {
			added = append(added, s)
		}
	}
	slices.Sort(added)
	// At most one "unknown" series per interaction type, and one for unknown types.
	for _, s := range added {
		if !strings.Contains(s, `name="unknown"`) {
			t.Errorf("new series %s", s)
		}
	}
	if len(added) > 5 {
		t.Fatalf("2,000 random names and custom_ids added %d series: %v", len(added), added[:min(len(added), 10)])
	}
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+`"`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
