package commands

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
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

// recorder is a Discord that keeps what the bot sent: edits of answers, channel
// messages (with their edits) and DMs. Package bot's tests run the same flows against
// the fake Discord of bot/discordtest, through the real REST client.
type recorder struct {
	mu       sync.Mutex
	edits    map[string][]*discordgo.WebhookEdit
	messages map[string][]*sentMessage // by channel
	dms      map[string][]string       // by user
	seq      int
	// refuse makes SendMessage to a channel fail with that HTTP status.
	refuse map[string]int
}

type sentMessage struct {
	ID    string
	Send  *discordgo.MessageSend
	Edits []*discordgo.MessageEdit
}

// httpError stands in for bot.APIError: commands only needs its status.
type httpError int

func (e httpError) Error() string   { return fmt.Sprintf("HTTP %d", int(e)) }
func (e httpError) HTTPStatus() int { return int(e) }

func newRecorder() *recorder {
	return &recorder{edits: map[string][]*discordgo.WebhookEdit{}, messages: map[string][]*sentMessage{},
		dms: map[string][]string{}, refuse: map[string]int{}}
}

func (r *recorder) EditResponse(_ context.Context, token string, e *discordgo.WebhookEdit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edits[token] = append(r.edits[token], e)
	return nil
}

func (r *recorder) SendMessage(_ context.Context, channelID string, m *discordgo.MessageSend) (*discordgo.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.refuse[channelID]; s != 0 {
		return nil, httpError(s)
	}
	r.seq++
	id := fmt.Sprintf("5%017d", r.seq)
	r.messages[channelID] = append(r.messages[channelID], &sentMessage{ID: id, Send: m})
	return &discordgo.Message{ID: id, ChannelID: channelID}, nil
}

func (r *recorder) EditMessage(_ context.Context, channelID, messageID string, m *discordgo.MessageEdit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sm := range r.messages[channelID] {
		if sm.ID == messageID {
			sm.Edits = append(sm.Edits, m)
			return nil
		}
	}
	return httpError(404)
}

func (r *recorder) SendDM(_ context.Context, userID string, m *discordgo.MessageSend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dms[userID] = append(r.dms[userID], m.Content)
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

// editsOf is the content of every edit of the answer with token, in order.
func (r *recorder) editsOf(token string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.edits[token] {
		if e.Content != nil {
			out = append(out, *e.Content)
		}
	}
	return out
}

func (r *recorder) channel(id string) []*sentMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.messages[id])
}

func (r *recorder) dmsOf(user string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dms[user])
}

// harness is a Router on the real service, a real redis-server and the RallyHere fake.
type harness struct {
	t        *testing.T
	rh       *rallyheretest.Server
	svc      *reporting.Service
	pipeline *reporting.Pipeline
	bg       *bungietest.Server
	router   *Router
	discord  *recorder
	seq      atomic.Int64
	// fallback is the operator's fallback source player, when asked for.
	fallback string
	global   config.Rate
	rdb      redis.UniversalClient
	// cdn is the fake Discord CDN evidence is served from (its host is the only one
	// allowed); fetched records every URL the notifier requested, wherever it went.
	cdn     *http.ServeMux
	cdnURL  string
	fetched *fetchLog
}

// fetchLog is a RoundTripper that records every request before making it.
type fetchLog struct {
	mu   sync.Mutex
	urls []string
}

func (f *fetchLog) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.urls = append(f.urls, r.URL.String())
	f.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// cdnHosts is DISCORD_CDN_HOSTS in the tests: Discord's and the fake CDN.
func (h *harness) cdnHosts() []string {
	return append(reporting.DefaultCDNHosts(), strings.TrimPrefix(h.cdnURL, "http://"))
}

func (f *fetchLog) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.urls)
}

// linkBungie links the Discord user to the Bungie.net account u, through the whole
// OAuth exchange with the fake: a sign-in link, Bungie's consent, the callback.
func (h *harness) linkBungie(discordID string, u *bungietest.User) {
	h.t.Helper()
	ctx := context.Background()
	start, err := h.svc.Links.Start(ctx, discordID)
	if err != nil {
		h.t.Fatal(err)
	}
	su, _ := url.Parse(start)
	state := su.Query().Get("state")
	to, err := h.svc.Links.AuthorizeURL(ctx, state, "the-test-browser")
	if err != nil {
		h.t.Fatal(err)
	}
	h.bg.SetAuthorizingUser(u)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(to)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != state {
		h.t.Fatalf("consent redirected to %q", resp.Header.Get("Location"))
	}
	if _, err := h.svc.Links.Complete(ctx, state, "the-test-browser", back.Query().Get("code"), back.Query().Get("error")); err != nil {
		h.t.Fatal(err)
	}
}

// rdbClient is the harness's Redis, for tests that adjust what is stored.
func (h *harness) rdbClient() redis.UniversalClient { return h.rdb }

type harnessOptions struct {
	noRallyHere bool
	fallback    bool
	limit       config.Rate
	global      config.Rate
	// bungie turns Destiny 2 on, in this mode (reporting.BungieLink or BungieAPIMode).
	bungie string
	// catalog replaces the shipped messages (the pseudo-locale).
	catalog *catalog.Catalog
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	rdb := redistest.New(t).UniversalClient(t)
	h := &harness{t: t, discord: newRecorder(), rdb: rdb, cdn: http.NewServeMux(), fetched: &fetchLog{}}
	cdn := httptest.NewServer(h.cdn)
	t.Cleanup(cdn.Close)
	h.cdnURL = cdn.URL
	if o.limit.Count == 0 {
		o.limit = config.Rate{Count: 3, Per: 10 * time.Minute}
	}
	if o.global.Count == 0 {
		o.global = config.Rate{Count: 20, Per: 24 * time.Hour}
	}
	h.global = o.global
	opts := reporting.Options{
		DefaultLimit: o.limit, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute},
		GlobalLimit: o.global,
		Retention:   90 * 24 * time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t)),
		CDNHosts: h.cdnHosts(),
	}
	if o.bungie != "" {
		h.bg = bungietest.New(t, bungietest.Options{RedirectURL: "https://bot.example/oauth/bungie/callback"})
		client := bungie.New(h.bg.APIKey, bungie.Options{APIURL: h.bg.URL + "/Platform", StatsURL: h.bg.StatsURL, WebURL: h.bg.URL})
		opts.Bungie, opts.BungieMode, opts.BungieWeb = client, o.bungie, h.bg.URL
		if o.bungie == reporting.BungieAPIMode {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			oauth := bungie.OAuth(h.bg.ClientID, h.bg.ClientSecret, h.bg.URL+"/en/OAuth/Authorize", h.bg.URL+"/Platform",
				"https://bot.example/oauth/bungie/callback")
			links, err := reporting.NewLinks(rdb, key, oauth, client, "https://bot.example", zerolog.New(zerolog.NewTestWriter(t)))
			if err != nil {
				t.Fatal(err)
			}
			opts.Links = links
		}
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
	log := zerolog.New(zerolog.NewTestWriter(t))
	notifier := NewNotifier(h.discord, &http.Client{Transport: h.fetched}, h.cdnHosts(), log).WithService(h.svc)
	if o.catalog != nil {
		notifier.cat = o.catalog
	}
	h.pipeline = reporting.NewPipeline(h.svc, notifier, reporting.PipelineOptions{
		Logger: log, BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond,
		ClaimIdle: time.Second, AttemptTimeout: 3 * time.Second,
	})
	h.router = NewRouter(h.svc, h.discord, Options{Queue: h.pipeline, Logger: log, Catalog: o.catalog})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.pipeline.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
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
	// A real snowflake: its time is when the interaction's token expires from.
	id := (uint64(time.Now().UnixMilli()-1420070400000) << 22) | uint64(n)
	raw := map[string]any{
		"id": strconv.FormatUint(id, 10), "application_id": appID, "type": typ, "token": fmt.Sprintf("token-%d", n),
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

// shown is the text the user sees now: the last edit of the original response, or
// the immediate reply.
func (h *harness) shown(i *discordgo.Interaction, resp Response) string {
	if e := h.discord.last(i.Token); e != nil && e.Content != nil {
		return *e.Content
	}
	if resp.Reply != nil && resp.Reply.Data != nil {
		return resp.Reply.Data.Content
	}
	return ""
}

// outcome waits (the pipeline works in the background) until the user is shown text
// containing want, and returns it; the test fails with what they saw instead.
func (h *harness) outcome(i *discordgo.Interaction, resp Response, want string) string {
	h.t.Helper()
	// Generous: CI runs every package at once, under -race, on two cores; the wait
	// ends as soon as the outcome is shown.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := h.shown(i, resp)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the user saw %q; want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond for up to 30 s (see outcome).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	return reporting.LimitRequest{ReporterID: reporter, GuildID: guildID, Guild: st.Limit, Global: h.global}
}
