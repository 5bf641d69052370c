package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

const (
	guildID   = "900000000000000001"
	channelID = "900000000000000002"
	appID     = "900000000000000003"
	adminPerm = int64(discordgo.PermissionManageGuild)
)

// recorder is a Discord that keeps the edits of original responses.
type recorder struct {
	mu    sync.Mutex
	edits map[string][]*discordgo.WebhookEdit
}

func (r *recorder) EditResponse(_ context.Context, token string, e *discordgo.WebhookEdit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edits[token] = append(r.edits[token], e)
	return nil
}

func (r *recorder) last(token string) *discordgo.WebhookEdit {
	r.mu.Lock()
	defer r.mu.Unlock()
	if es := r.edits[token]; len(es) > 0 {
		return es[len(es)-1]
	}
	return nil
}

// harness is a Router on the real service, a real redis-server and the RallyHere fake.
type harness struct {
	t       *testing.T
	rh      *rallyheretest.Server
	svc     *reporting.Service
	router  *Router
	discord *recorder
	seq     atomic.Int64
	// fallback is the operator's fallback source player, when asked for.
	fallback string
}

type harnessOptions struct {
	noRallyHere bool
	fallback    bool
	limit       config.Rate
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	h := &harness{t: t, discord: &recorder{edits: map[string][]*discordgo.WebhookEdit{}}}
	if o.limit.Count == 0 {
		o.limit = config.Rate{Count: 3, Per: 10 * time.Minute}
	}
	opts := reporting.Options{
		DefaultLimit: o.limit, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute},
		GlobalLimit: config.Rate{Count: 20, Per: 24 * time.Hour},
		Retention:   90 * 24 * time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	}
	if !o.noRallyHere {
		h.rh = rallyheretest.New(t)
		opts.RallyHere = rallyhere.New(h.rh.URL, h.rh.ClientID, h.rh.ClientSecret, rallyhere.Options{})
		if o.fallback {
			h.fallback = h.rh.AddPlayer("community-reports")
			opts.RallyHereFallback = h.fallback
		}
	}
	h.svc = reporting.NewService(rdb, opts)
	h.router = NewRouter(h.svc, h.discord, Options{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	return h
}

// user is a Discord user in tests.
type user struct {
	ID, Name string
	Perms    int64
	Bot      bool
}

func (u user) member() map[string]any {
	return map[string]any{
		"user":        map[string]any{"id": u.ID, "username": u.Name, "global_name": u.Name, "bot": u.Bot},
		"permissions": strconv.FormatInt(u.Perms, 10),
		"roles":       []string{},
	}
}

var (
	alice = user{ID: "100000000000000001", Name: "alice"}
	bob   = user{ID: "100000000000000002", Name: "bob"}
	admin = user{ID: "100000000000000009", Name: "admin", Perms: adminPerm}
)

// interaction builds an interaction as Discord sends it (JSON) and decodes it with
// discordgo, so the handlers see exactly what they would in production.
func (h *harness) interaction(typ discordgo.InteractionType, from user, data any, extra map[string]any) *discordgo.Interaction {
	h.t.Helper()
	n := h.seq.Add(1)
	raw := map[string]any{
		"id": fmt.Sprintf("8%017d", n), "application_id": appID, "type": typ, "token": fmt.Sprintf("token-%d", n),
		"version": 1, "guild_id": guildID, "channel_id": channelID, "member": from.member(),
		"data": data, "locale": "en-US", "context": 0,
	}
	for k, v := range extra {
		raw[k] = v
	}
	b, err := json.Marshal(raw)
	if err != nil {
		h.t.Fatal(err)
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(b, &i); err != nil {
		h.t.Fatalf("decoding %s: %v", b, err)
	}
	return &i
}

// handle answers i and runs its deferred work to the end.
func (h *harness) handle(i *discordgo.Interaction) Response {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	resp := h.router.Handle(ctx, i)
	if resp.Reply == nil {
		h.t.Fatal("no reply")
	}
	if resp.Then != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp.Then(ctx)
	}
	return resp
}

// outcome is the text the user ends up seeing: the last edit of the original response,
// or the immediate reply.
func (h *harness) outcome(i *discordgo.Interaction, resp Response) string {
	if e := h.discord.last(i.Token); e != nil && e.Content != nil {
		return *e.Content
	}
	if resp.Reply.Data != nil {
		return resp.Reply.Data.Content
	}
	return ""
}

func slash(name string, sub string, opts ...map[string]any) map[string]any {
	o := map[string]any{"type": 1, "name": sub}
	if len(opts) > 0 {
		o["options"] = opts
	}
	return map[string]any{"id": "700000000000000001", "name": name, "type": 1, "options": []any{o}}
}

func strOpt(name, value string) map[string]any {
	return map[string]any{"type": 3, "name": name, "value": value}
}

func userCommand(target user) map[string]any {
	return map[string]any{
		"id": "700000000000000002", "name": cmdReportUser, "type": 2, "target_id": target.ID,
		"resolved": map[string]any{
			"users":   map[string]any{target.ID: map[string]any{"id": target.ID, "username": target.Name, "bot": target.Bot}},
			"members": map[string]any{target.ID: map[string]any{"nick": target.Name + "-nick", "roles": []string{}}},
		},
	}
}

// modal builds a modal submission; values maps custom_id to a string (text input) or
// a []string (select or file upload: evidence).
func modal(customID string, values map[string]any, attachments map[string]any) map[string]any {
	var comps []any
	for id, v := range values {
		var c map[string]any
		switch v := v.(type) {
		case string:
			c = map[string]any{"type": 4, "custom_id": id, "value": v}
		case []string:
			typ := 3
			if id == inputEvidence {
				typ = 19
			}
			c = map[string]any{"type": typ, "custom_id": id, "values": v}
		}
		comps = append(comps, map[string]any{"type": 18, "component": c})
	}
	d := map[string]any{"custom_id": customID, "components": comps}
	if attachments != nil {
		d["resolved"] = map[string]any{"attachments": attachments}
	}
	return d
}

// component builds a select interaction on the response of the interaction origID.
func component(customID string, values []string, origID string) (map[string]any, map[string]any) {
	data := map[string]any{"custom_id": customID, "component_type": 3, "values": values}
	msg := map[string]any{"message": map[string]any{
		"id": "600000000000000001", "channel_id": channelID, "content": "", "flags": 64,
		"interaction_metadata": map[string]any{"id": origID, "type": 5, "user": map[string]any{"id": alice.ID}},
	}}
	return data, msg
}

// limitOf is the per-server limit request of reporter in the test server.
func (h *harness) limitOf(reporter string) reporting.LimitRequest {
	st, err := h.svc.Settings.Get(context.Background(), guildID)
	if err != nil {
		h.t.Fatal(err)
	}
	return reporting.LimitRequest{ReporterID: reporter, GuildID: guildID, Guild: st.Limit, Global: config.Rate{Count: 20, Per: 24 * time.Hour}}
}
