package bot

import (
	"bytes"
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// FuzzFrontDoor drives the bot's real HTTP routes (the real commands router and
// reporting service, a real redis-server, the fakes of RallyHere and Bungie) with
// signed interaction bodies, seeded with every shape of interaction the tests use,
// and checks for each body:
//
//   - no panic, and none recovered by the router (its log has no error line);
//   - an answer within Discord's 3 seconds, never an internal error;
//   - no Redis change for anything invalid.
//
// What counts as a change: before each body, Redis is emptied and the fixture (a
// configured server, reports waiting for a choice, a delivered report) restored;
// afterwards every key is compared with the fixture (DUMP of its value, and its TTL:
// a TTL that grew or vanished is a change). Keys fall in classes: settings
// (rb:{g:…}:settings), limits (the reporter's limit, bar and per-target keys),
// reports (records, indexes, tokens, the queue), links (Bungie.net sign-ins and
// tokens) and the replay mark (rb:{u:<user>}:replay:<interaction>, or rb:{seen:…}
// for an interaction without a user). The rules:
//
//  1. An answer other than 200 changes nothing at all.
//  2. A refusal changes nothing but the replay key (replay protection must come
//     first; it expires after 11 minutes, and only Discord can sign). A refusal is
//     an immediate message (type 4) answering a report form or a component (the
//     answers that file or change something are deferred or update the message),
//     or answering a command that changes nothing when it works.
//  3. Whatever the answer, a class changes only for what may change it: settings for
//     /report-config from a member with Manage Server; limits and reports for a
//     report form answered with a deferral, a component answered with an update, or
//     /reports bar|unbar from a moderator; links for /link and /unlink. No other key
//     ever changes.
func FuzzFrontDoor(f *testing.F) {
	fd := newFrontDoor(f)
	for _, seed := range fd.seeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fd.check(t, body)
	})
}

const (
	fdGuild   = "910000000000000001"
	fdChannel = "910000000000000002"
	fdModLog  = "910000000000000003"
	fdModRole = "930000000000000001"
	fdApp     = "910000000000000009"
)

var (
	fdAlice = fdUser{"110000000000000001", "alice", 0, nil}
	fdBob   = fdUser{"110000000000000002", "bob", 0, nil}
	fdAdmin = fdUser{"110000000000000009", "admin", discordgo.PermissionManageGuild, nil}
	fdMod   = fdUser{"110000000000000008", "mod", discordgo.PermissionManageMessages, nil}
	fdHelp  = fdUser{"110000000000000007", "helper", 0, []string{fdModRole}}
)

type fdUser struct {
	id, name string
	perms    int64
	roles    []string
}

func (u fdUser) member() map[string]any {
	roles := u.roles
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{"user": map[string]any{"id": u.id, "username": u.name, "global_name": u.name},
		"permissions": strconv.FormatInt(u.perms, 10), "roles": roles}
}

// frontDoor is the bot under fuzzing, with its fixture.
type frontDoor struct {
	bot     *Bot
	handler http.Handler
	signer  *discordtest.Signer
	rdb     redis.UniversalClient
	reg     *prometheus.Registry
	logs    *lockedBuffer
	cdn     string
	fixture map[string]keyState
	// baseline is the fixture as it reads once restored: a restored hash may DUMP in
	// another order than the original, but the same way each time.
	baseline map[string]keyState
	// placeholders in the seeds, and what they stand for in this process's fixture.
	placeholders *strings.Replacer
	seq          atomic.Uint64
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was written since the last take.
func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// acceptingDiscord is Discord's REST API as the fuzzed bot sees it: everything works.
type acceptingDiscord struct{ n atomic.Int64 }

func (d *acceptingDiscord) EditResponse(context.Context, string, *discordgo.WebhookEdit) error {
	return nil
}

func (d *acceptingDiscord) SendMessage(_ context.Context, channelID string, _ *discordgo.MessageSend) (*discordgo.Message, error) {
	return &discordgo.Message{ID: fmt.Sprintf("94%016d", d.n.Add(1)), ChannelID: channelID}, nil
}

func (d *acceptingDiscord) EditMessage(context.Context, string, string, *discordgo.MessageEdit) error {
	return nil
}

func (d *acceptingDiscord) SendDM(context.Context, string, *discordgo.MessageSend) error { return nil }

func newFrontDoor(tb testing.TB) *frontDoor {
	return newFrontDoorOn(tb, redistest.Start(tb).Client(tb))
}

// newFrontDoorOn is newFrontDoor on rdb, with its hooks added before anything runs.
// On Redis Cluster, the fixture is made but not kept (no snapshot, no reset).
func newFrontDoorOn(tb testing.TB, rdb redis.UniversalClient, hooks ...redis.Hook) *frontDoor {
	tb.Helper()
	ctx := context.Background()
	fd := &frontDoor{signer: discordtest.NewSigner(), logs: &lockedBuffer{}, reg: prometheus.NewRegistry(), rdb: rdb}
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	log := zerolog.New(fd.logs)

	rh := rallyheretest.New(tb)
	rh.LinkDiscord(fdAlice.id, rh.AddPlayer("alice"))
	rh.AddPlayer("bob")
	rh.AddPlayer("twin")
	rh.AddPlayer("twin")
	const redirect = "https://bot.example/oauth/bungie/callback"
	bg := bungietest.New(tb, bungietest.Options{RedirectURL: redirect})
	me, stranger := bg.AddUser("Alice", "Hunter"), bg.AddUser("Cheater", "Titan")
	act := bg.AddActivity(true,
		bungietest.Player{Membership: &me.Memberships[0], Character: me.Memberships[0].Characters[0]},
		bungietest.Player{Membership: &stranger.Memberships[0], Character: stranger.Memberships[0].Characters[0]})
	client := bungie.New(bg.APIKey, bungie.Options{APIURL: bg.URL + "/Platform", StatsURL: bg.StatsURL, WebURL: bg.URL})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	links, err := reporting.NewLinks(fd.rdb, key, bungie.OAuth(bg.ClientID, bg.ClientSecret, bg.URL+"/en/OAuth/Authorize", bg.URL+"/Platform", redirect),
		client, "https://bot.example", log)
	if err != nil {
		tb.Fatal(err)
	}
	generous := config.Rate{Count: 1000, Per: time.Hour}
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("PNG")) }))
	svc := reporting.NewService(fd.rdb, reporting.Options{
		CDNHosts:  []string{strings.TrimPrefix(cdn.URL, "http://")},
		RallyHere: rallyhere.New(rh.URL, rh.ClientID, rh.ClientSecret, rallyhere.Options{}),
		Bungie:    client, BungieMode: reporting.BungieAPIMode, BungieWeb: bg.URL, Links: links,
		DefaultLimit: generous, MaxLimit: generous, GlobalLimit: generous, Retention: 24 * time.Hour,
		Logger: log, Registerer: fd.reg,
	})
	tb.Cleanup(cdn.Close)
	if err := svc.LoadScripts(ctx); err != nil {
		tb.Fatal(err)
	}
	fd.cdn = cdn.URL
	cdnHosts := []string{strings.TrimPrefix(cdn.URL, "http://")}
	discord := &acceptingDiscord{}
	pipeline := reporting.NewPipeline(svc, commands.NewNotifier(discord, nil, cdnHosts, log), reporting.PipelineOptions{
		Logger: log, BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond, ClaimIdle: time.Second})
	router := commands.NewRouter(svc, discord, commands.Options{Queue: pipeline, Logger: log, Registerer: fd.reg})
	fd.bot = New(Options{Discord: config.Discord{PublicKey: fd.signer.PublicKey(), ApplicationID: fdApp},
		Router: router, Store: fd.rdb, Registry: fd.reg, Logger: log})
	fd.handler = fd.bot.routes()

	// The fixture, made through the front door itself: a configured server, alice
	// linked to Bungie.net, a RallyHere report and a Destiny 2 report waiting for
	// alice to choose the player, and a delivered report in the mod log.
	start, err := links.Start(ctx, fdAlice.id)
	if err != nil {
		tb.Fatal(err)
	}
	su, _ := url.Parse(start)
	state := su.Query().Get("state")
	to, err := links.AuthorizeURL(ctx, state, "fixture-browser")
	if err != nil {
		tb.Fatal(err)
	}
	bg.SetAuthorizingUser(me)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(to)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if _, err := links.Complete(ctx, state, "fixture-browser", back.Query().Get("code"), ""); err != nil {
		tb.Fatal(err)
	}
	for _, body := range [][]byte{
		fd.interaction(discordgo.InteractionApplicationCommand, fdAdmin, slashOf("report-config", "channel", opt(7, "channel", fdModLog)), nil),
		fd.interaction(discordgo.InteractionApplicationCommand, fdAdmin, slashOf("report-config", "mod-role", opt(8, "role", fdModRole)), nil),
	} {
		if status, _ := fd.post(body); status != 200 {
			tb.Fatalf("fixture: %d for %s", status, body)
		}
	}
	submit := func(data map[string]any) string {
		body := fd.interaction(discordgo.InteractionModalSubmit, fdAlice, data, nil)
		if status, resp := fd.post(body); status != 200 || resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource {
			tb.Fatalf("fixture report: %d %+v\n%s", status, resp, fd.logs.take())
		}
		var i struct{ ID string }
		_ = json.Unmarshal(body, &i)
		return i.ID
	}
	twin := submit(rallyHereForm("report:rallyhere", "twin", "cheating", nil))
	destiny := submit(destinyForm("https://www.bungie.net/en/PGCR/"+act.ID, "cheating"))
	delivered := submit(rallyHereForm("report:rallyhere", "bob", "cheating", nil))
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(pctx) }()
	reportOf := func(interaction string) *reporting.Report {
		id, err := svc.ReportOf(ctx, interaction)
		if err != nil {
			return nil
		}
		r, _ := svc.Reports.Get(ctx, id)
		return r
	}
	var deliveredID, twinCandidate string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		t, d, b := reportOf(twin), reportOf(destiny), reportOf(delivered)
		if t != nil && t.Fault == reporting.FaultChoosing && d != nil && d.Fault == reporting.FaultChoosing &&
			b != nil && b.Delivery == reporting.StatusDelivered && b.ModLogMessageID != "" {
			deliveredID, twinCandidate = b.ID, t.Candidates[0].ID
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the fixture did not settle: %+v %+v %+v\n%s", t, d, b, fd.logs.take())
		}
	}
	stop()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	fd.bot.inflight.Wait()
	fd.placeholders = strings.NewReplacer(
		"@CHOOSING_RH@", twin, "@TWIN@", twinCandidate, "@CHOOSING_D2@", destiny, "@DELIVERED@", deliveredID,
		"@OFFENDER@", stranger.Memberships[0].Characters[0].ID, "@CDN@", fd.cdn)
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		return fd
	}
	for _, pattern := range []string{"rb:{seen:*", "rb:{u:*}:replay:*"} {
		if seen, _ := fd.rdb.Keys(ctx, pattern).Result(); len(seen) > 0 {
			fd.rdb.Del(ctx, seen...)
		}
	}
	fd.fixture = fd.snapshot(tb)
	fd.reset(tb)
	fd.baseline = fd.snapshot(tb)
	if out := fd.logs.take(); strings.Contains(out, `"level":"error"`) {
		tb.Fatalf("the fixture logged errors:\n%s", out)
	}
	return fd
}

// interaction is the JSON of an interaction as Discord sends it, from user in the
// fixture's server.
func (fd *frontDoor) interaction(typ discordgo.InteractionType, from fdUser, data any, extra map[string]any) []byte {
	n := fd.seq.Add(1)
	id := (uint64(time.Now().UnixMilli()-1420070400000) << 22) | n
	raw := map[string]any{
		"id": strconv.FormatUint(id, 10), "application_id": fdApp, "type": typ, "token": fmt.Sprintf("token-%d", id),
		"version": 1, "guild_id": fdGuild, "channel_id": fdChannel, "member": from.member(),
		"locale": "en-US", "guild_locale": "en-US", "context": 0,
	}
	if data != nil {
		raw["data"] = data
	}
	for k, v := range extra {
		if v == nil {
			delete(raw, k)
		} else {
			raw[k] = v
		}
	}
	b, _ := json.Marshal(raw)
	return b
}

func slashOf(name, sub string, opts ...map[string]any) map[string]any {
	o := map[string]any{"type": 1, "name": sub}
	if len(opts) > 0 {
		o["options"] = opts
	}
	return map[string]any{"id": "710000000000000001", "name": name, "type": 1, "options": []any{o}}
}

// resolving adds the users a command's user options name, as Discord resolves them.
func resolving(data map[string]any, users ...fdUser) map[string]any {
	resolved := map[string]any{}
	for _, u := range users {
		resolved[u.id] = map[string]any{"id": u.id, "username": u.name}
	}
	data["resolved"] = map[string]any{"users": resolved}
	return data
}

func opt(typ int, name string, value any) map[string]any {
	return map[string]any{"type": typ, "name": name, "value": value}
}

func input(customID string, typ int, value any) map[string]any {
	c := map[string]any{"type": typ, "custom_id": customID}
	if typ == 4 {
		c["value"] = value
	} else {
		c["values"] = value
	}
	return map[string]any{"type": 18, "component": c}
}

func rallyHereForm(customID, player, reason string, evidence map[string]string) map[string]any {
	comps := []any{}
	if player != "" {
		comps = append(comps, input("player", 4, player))
	}
	ids, atts := []string{}, map[string]any{}
	for id, u := range evidence {
		ids = append(ids, id)
		atts[id] = map[string]any{"id": id, "filename": "shot.png", "size": 3, "url": u, "proxy_url": u, "content_type": "image/png"}
	}
	comps = append(comps, input("reason", 3, []string{reason}), input("description", 4, "spinbot in round 3"),
		input("match", 4, "match-42"), input("evidence", 19, ids))
	return map[string]any{"custom_id": customID, "components": comps, "resolved": map[string]any{"attachments": atts}}
}

func destinyForm(activity, reason string) map[string]any {
	return map[string]any{"custom_id": "report:destiny2", "components": []any{
		input("activity", 4, activity), input("reason", 3, []string{reason}), input("description", 4, "aimbot"),
	}}
}

// onAnswer is a component's message: the answer to the interaction orig.
func onAnswer(orig string) map[string]any {
	return map[string]any{"message": map[string]any{"id": "920000000000000077", "channel_id": fdChannel, "content": "", "flags": 64,
		"interaction_metadata": map[string]any{"id": orig, "type": 5, "user": map[string]any{"id": fdAlice.id}}}}
}

func onModLog() map[string]any {
	return map[string]any{"message": map[string]any{"id": "940000000000000001", "channel_id": fdModLog, "content": ""}, "channel_id": fdModLog}
}

func button(customID string) map[string]any {
	return map[string]any{"custom_id": customID, "component_type": 2}
}

func pick(customID string, values ...string) map[string]any {
	return map[string]any{"custom_id": customID, "component_type": 3, "values": values}
}

// seeds are every shape of interaction the tests send, good and bad.
func (fd *frontDoor) seeds() [][]byte {
	cmd, ac, modal, comp := discordgo.InteractionApplicationCommand, discordgo.InteractionApplicationCommandAutocomplete,
		discordgo.InteractionModalSubmit, discordgo.InteractionMessageComponent
	i := fd.interaction
	userCmd := func(target fdUser) map[string]any {
		return map[string]any{"id": "710000000000000002", "name": "Report player", "type": 2, "target_id": target.id,
			"resolved": map[string]any{
				"users":   map[string]any{target.id: map[string]any{"id": target.id, "username": target.name}},
				"members": map[string]any{target.id: map[string]any{"nick": target.name + "-nick", "roles": []string{}}},
			}}
	}
	seeds := [][]byte{
		i(discordgo.InteractionPing, fdAlice, nil, map[string]any{"member": nil, "guild_id": nil, "channel_id": nil}),
		// Commands.
		i(cmd, fdAlice, slashOf("report", "player"), nil),
		i(cmd, fdAlice, slashOf("report", "player", opt(3, "player", "bob")), nil),
		i(cmd, fdAlice, slashOf("report", "player", opt(3, "player", "https://evil.example/x")), nil),
		i(cmd, fdAlice, slashOf("report", "activity", opt(3, "activity", "https://raid.report/pgcr/12345678901")), nil),
		i(cmd, fdAlice, slashOf("report", "activity", opt(3, "activity", "-5")), nil),
		i(cmd, fdAlice, slashOf("report", "weather"), nil),
		i(cmd, fdAlice, userCmd(fdBob), nil),
		i(cmd, fdAlice, userCmd(fdAlice), nil),
		i(cmd, fdAlice, slashOf("reports", "mine"), nil),
		i(cmd, fdMod, slashOf("reports", "list", opt(3, "status", "delivered"), opt(3, "player", "bob")), nil),
		i(cmd, fdAlice, slashOf("reports", "list"), nil),
		i(cmd, fdMod, resolving(slashOf("reports", "bar", opt(6, "member", fdBob.id), opt(3, "duration", "7d")), fdBob), nil),
		i(cmd, fdHelp, resolving(slashOf("reports", "unbar", opt(6, "member", fdBob.id)), fdBob), nil),
		i(cmd, fdAlice, resolving(slashOf("reports", "bar", opt(6, "member", fdBob.id), opt(3, "duration", "7d")), fdBob), nil),
		i(cmd, fdMod, resolving(slashOf("reports", "bar", opt(6, "member", fdBob.id), opt(3, "duration", "400d")), fdBob), nil),
		i(cmd, fdAdmin, slashOf("report-config", "show"), nil),
		i(cmd, fdAdmin, slashOf("report-config", "channel"), nil),
		i(cmd, fdAdmin, slashOf("report-config", "limit", opt(4, "count", 5), opt(3, "per", "1h")), nil),
		i(cmd, fdAdmin, slashOf("report-config", "limit", opt(4, "count", 500), opt(3, "per", "1s")), nil),
		i(cmd, fdAdmin, slashOf("report-config", "games", opt(5, "destiny2", false), opt(5, "rallyhere", true)), nil),
		i(cmd, fdAdmin, slashOf("report-config", "anonymous", opt(5, "on", true)), nil),
		i(cmd, fdAdmin, slashOf("report-config", "reason-add", opt(3, "label", "Toxic voice chat"), opt(3, "rallyhere-reason", "harassment")), nil),
		i(cmd, fdAdmin, slashOf("report-config", "reason-remove", opt(3, "reason", "afk")), nil),
		i(cmd, fdAdmin, slashOf("report-config", "reason-reset"), nil),
		i(cmd, fdAdmin, slashOf("report-config", "reasons"), nil),
		i(cmd, fdAlice, slashOf("report-config", "reason-reset"), nil),
		i(cmd, fdAlice, map[string]any{"id": "710000000000000009", "name": "link", "type": 1, "options": []any{map[string]any{"type": 1, "name": "bungie"}}}, nil),
		i(cmd, fdAlice, map[string]any{"id": "710000000000000010", "name": "unlink", "type": 1, "options": []any{map[string]any{"type": 1, "name": "bungie"}}}, nil),
		i(cmd, fdAlice, map[string]any{"id": "1", "name": "nope", "type": 1}, nil),
		// Autocomplete.
		i(ac, fdAdmin, map[string]any{"id": "710000000000000001", "name": "report-config", "type": 1, "options": []any{map[string]any{
			"type": 1, "name": "reason-add", "options": []any{map[string]any{"type": 3, "name": "destiny-reason", "value": "hack", "focused": true}}}}}, nil),
		i(ac, fdAlice, map[string]any{"id": "1", "name": "nope", "type": 1}, nil),
		// Report forms of both games, good and bad.
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "bob", "cheating", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "0fc5dd86-4a2b-4d8c-9a53-5f4a3b6bd1aa", "afk", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere:"+fdBob.id, "", "harassment", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "bob", "cheating", map[string]string{"500000000000000001": "@CDN@/a.png"}), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "bob", "cheating", map[string]string{"500000000000000002": "http://169.254.169.254/latest/meta-data/iam"}), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "bob", "not-a-reason", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "", "cheating", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:rallyhere", "<@"+fdAlice.id+">", "cheating", nil), nil),
		i(modal, fdAlice, rallyHereForm("report:fortnite", "bob", "cheating", nil), nil),
		i(modal, fdAlice, destinyForm("https://www.bungie.net/en/PGCR/12345678901", "cheating"), nil),
		i(modal, fdAlice, destinyForm("https://evil.example/pgcr/1", "cheating"), nil),
		i(modal, fdAlice, map[string]any{"custom_id": "report:rallyhere", "components": []any{input("player", 4, "bob"), input("reason", 3, []string{"afk"}),
			input("description", 4, strings.Repeat("x", 4001))}}, nil),
		// Components on the fixture's answers and mod-log post.
		i(comp, fdAlice, pick("player", "@TWIN@"), onAnswer("@CHOOSING_RH@")),
		i(comp, fdAlice, pick("offender", "@OFFENDER@"), onAnswer("@CHOOSING_D2@")),
		i(comp, fdBob, pick("offender", "@OFFENDER@"), onAnswer("@CHOOSING_D2@")),
		i(comp, fdAlice, pick("offender", "1"), onAnswer("@CHOOSING_D2@")),
		i(comp, fdAlice, button("offpage:1"), onAnswer("@CHOOSING_D2@")),
		i(comp, fdMod, button("mod:claim:@DELIVERED@"), onModLog()),
		i(comp, fdHelp, button("mod:resolve:@DELIVERED@"), onModLog()),
		i(comp, fdAlice, button("mod:dismiss:@DELIVERED@"), onModLog()),
		i(comp, fdMod, button("mod:claim:R-0000000000000"), onModLog()),
		i(comp, fdMod, button("list:1:all:bob"), onModLog()),
		i(comp, fdAlice, button("launch:missiles"), nil),
		// Malformed ones.
		[]byte(`{}`),
		[]byte(`not json`),
		[]byte(`{"id":"1","type":2}`),
		[]byte(`{"id":"1","type":2,"data":"x","member":{"user":{"id":"1"}}}`),
		i(99, fdAlice, map[string]any{"custom_id": "x"}, nil),
		i(cmd, fdAlice, slashOf("report", "player"), map[string]any{"member": nil, "guild_id": nil, "user": map[string]any{"id": fdAlice.id, "username": "alice"}}),
		i(modal, fdAlice, map[string]any{"custom_id": "report:rallyhere", "components": "x"}, nil),
		i(comp, fdAlice, map[string]any{"custom_id": "player", "component_type": 3, "values": []any{1, nil}}, onAnswer("@CHOOSING_RH@")),
	}
	return seeds
}

// post signs body, hands it to the bot's routes, and waits for the deferred work.
func (fd *frontDoor) post(body []byte) (int, *discordgo.InteractionResponse) {
	req := httptest.NewRequest(http.MethodPost, "/interactions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	fd.signer.Sign(req, body, time.Now())
	rec := httptest.NewRecorder()
	fd.handler.ServeHTTP(rec, req)
	fd.bot.inflight.Wait()
	var resp discordgo.InteractionResponse
	if rec.Code == http.StatusOK {
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	}
	return rec.Code, &resp
}

// keyState is what a key holds: its DUMP, what it reads as (a hash's fields in
// order, for a hash; its DUMP otherwise), and its TTL in milliseconds (-1: none).
//
// A hash is compared by what it reads as because its DUMP is not stable: a lookup
// (HMGET in a script that only reads) takes a step of the dictionary's incremental
// rehash and so changes the order a large hash DUMPs in, with no write at all.
type keyState struct {
	dump, value string
	pttl        int64
}

func (fd *frontDoor) snapshot(tb testing.TB) map[string]keyState {
	tb.Helper()
	ctx := context.Background()
	keys, err := fd.rdb.Keys(ctx, "*").Result()
	if err != nil {
		tb.Fatal(err)
	}
	dumps, pttls := make([]*redis.StringCmd, len(keys)), make([]*redis.DurationCmd, len(keys))
	types := make([]*redis.StatusCmd, len(keys))
	if _, err := fd.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, key := range keys {
			dumps[k], pttls[k], types[k] = p.Dump(ctx, key), p.PTTL(ctx, key), p.Type(ctx, key)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]keyState, len(keys))
	for k, key := range keys {
		ttl := int64(-1)
		if d := pttls[k].Val(); d > 0 {
			ttl = d.Milliseconds()
		}
		st := keyState{dump: dumps[k].Val(), value: dumps[k].Val(), pttl: ttl}
		if types[k].Val() == "hash" {
			h, err := fd.rdb.HGetAll(ctx, key).Result()
			if err != nil {
				tb.Fatal(err)
			}
			fields := make([]string, 0, len(h))
			for f, v := range h {
				fields = append(fields, strconv.Quote(f)+"="+strconv.Quote(v))
			}
			slices.Sort(fields)
			st.value = strings.Join(fields, ",")
		}
		out[key] = st
	}
	return out
}

// reset empties Redis and puts the fixture back.
func (fd *frontDoor) reset(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	if _, err := fd.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.FlushAll(ctx)
		for key, st := range fd.fixture {
			ttl := time.Duration(0)
			if st.pttl > 0 {
				ttl = time.Duration(st.pttl) * time.Millisecond
			}
			p.Restore(ctx, key, ttl, st.dump)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// changed are the keys whose value or TTL differs from the fixture, or that are new
// or gone.
func (fd *frontDoor) changed(after map[string]keyState) []string {
	var out []string
	for key, st := range after {
		was, ok := fd.baseline[key]
		switch {
		case !ok, was.value != st.value,
			was.pttl > 0 && (st.pttl < 0 || st.pttl > was.pttl+1000),
			was.pttl < 0 && st.pttl > 0:
			out = append(out, key)
		}
	}
	for key := range fd.baseline {
		if _, ok := after[key]; !ok {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// keyClass names what a key is about (see FuzzFrontDoor).
func keyClass(key string) string {
	switch {
	case strings.HasPrefix(key, "rb:{seen:"), strings.HasPrefix(key, "rb:{u:") && strings.Contains(key, "}:replay:"):
		return "seen"
	case strings.HasPrefix(key, "rb:{g:") && strings.HasSuffix(key, "}:settings"):
		return "settings"
	case strings.HasPrefix(key, "rb:{oauth:"), strings.HasPrefix(key, "rb:{u:") && strings.Contains(key, "}:bungie"):
		return "links"
	case strings.HasPrefix(key, "rb:{u:") && (strings.Contains(key, "}:limit") || strings.Contains(key, "}:seen:") || strings.Contains(key, "}:bar:")):
		return "limits"
	case strings.HasPrefix(key, "rb:{R-"), strings.HasPrefix(key, "rb:{ia:"), strings.HasPrefix(key, "rb:{queue"),
		strings.HasSuffix(key, "}:reports"):
		return "reports"
	}
	return "other"
}

// sent is what the fuzzed body says, decoded as leniently as the bot decodes it.
type sent struct {
	Type   discordgo.InteractionType `json:"type"`
	Guild  string                    `json:"guild_id"`
	Member *struct {
		Permissions string   `json:"permissions"`
		Roles       []string `json:"roles"`
	} `json:"member"`
	Data struct {
		Name    string `json:"name"`
		Options []struct {
			Name string `json:"name"`
		} `json:"options"`
	} `json:"data"`
}

func (s sent) perms() int64 {
	if s.Member == nil {
		return 0
	}
	p, _ := strconv.ParseInt(s.Member.Permissions, 10, 64)
	return p
}

func (s sent) admin() bool {
	return s.perms()&(discordgo.PermissionAdministrator|discordgo.PermissionManageGuild) != 0
}

func (s sent) moderator() bool {
	return s.perms()&(discordgo.PermissionAdministrator|discordgo.PermissionManageGuild|discordgo.PermissionManageMessages) != 0 ||
		s.Member != nil && s.Guild == fdGuild && slices.Contains(s.Member.Roles, fdModRole)
}

// may reports whether class may change for the interaction s answered with resp.
func (s sent) may(class string, resp *discordgo.InteractionResponse) bool {
	command := s.Type == discordgo.InteractionApplicationCommand
	sub := ""
	if len(s.Data.Options) > 0 {
		sub = s.Data.Options[0].Name
	}
	switch class {
	case "seen":
		return true
	case "settings":
		return command && s.Data.Name == "report-config" && s.admin()
	case "links":
		return command && (s.Data.Name == "link" || s.Data.Name == "unlink")
	case "limits", "reports":
		switch {
		case s.Type == discordgo.InteractionModalSubmit:
			return resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource
		case s.Type == discordgo.InteractionMessageComponent:
			return resp.Type == discordgo.InteractionResponseUpdateMessage
		case command && class == "limits":
			return s.Data.Name == "reports" && (sub == "bar" || sub == "unbar") && s.moderator()
		}
	}
	return false
}

// refusal reports whether resp refuses s (rule 2 of FuzzFrontDoor).
func (s sent) refusal(resp *discordgo.InteractionResponse) bool {
	if resp.Type != discordgo.InteractionResponseChannelMessageWithSource {
		return false
	}
	switch s.Type {
	case discordgo.InteractionModalSubmit, discordgo.InteractionMessageComponent:
		return true
	case discordgo.InteractionApplicationCommand:
		switch s.Data.Name {
		case "report-config", "link", "unlink":
			return false
		case "reports":
			return len(s.Data.Options) == 0 || s.Data.Options[0].Name != "bar" && s.Data.Options[0].Name != "unbar"
		}
		return true
	}
	return true
}

func (fd *frontDoor) check(t *testing.T, body []byte) {
	body = []byte(fd.placeholders.Replace(string(body)))
	fd.reset(t)
	fd.logs.take()
	start := time.Now()
	status, resp := fd.post(body)
	took := time.Since(start)
	after := fd.snapshot(t)
	logs := fd.logs.take()

	if took > 3*time.Second {
		t.Errorf("answered after %s; Discord gives up after 3 s", took)
	}
	if strings.Contains(logs, `"level":"error"`) {
		t.Errorf("an error was logged (a recovered panic, or a fault on our side):\n%s", logs)
	}
	if resp.Data != nil && strings.Contains(resp.Data.Content, "went wrong on our side") {
		t.Errorf("answered with an internal error: %s\n%s", resp.Data.Content, logs)
	}
	fd.checkLabels(t)
	changed := fd.changed(after)
	t.Logf("answered %d, type %d %.80q in %s; changed %v", status, resp.Type, content(resp), took.Round(time.Microsecond), changed)
	var s sent
	if status != http.StatusOK {
		if len(changed) > 0 {
			t.Errorf("answered %d and changed %v", status, changed)
		}
		return
	}
	if err := json.Unmarshal(body, &s); err != nil {
		// Decoded this strictly, it grants nothing but its type: rule 3 is stricter.
		s = sent{}
		var typ struct {
			Type discordgo.InteractionType `json:"type"`
		}
		_ = json.Unmarshal(body, &typ)
		s.Type = typ.Type
	}
	refused := s.refusal(resp)
	for _, key := range changed {
		class := keyClass(key)
		switch {
		case refused && class != "seen":
			t.Errorf("refused (%q) and changed %s", content(resp), key)
		case !s.may(class, resp):
			t.Errorf("changed %s (%s), which a type %d %q answered with %d may not change", key, class, s.Type, s.Data.Name, resp.Type)
		}
	}
}

// interactionLabels are the values reportbot_interactions_total may carry, whatever
// arrives.
var interactionLabels = map[string][]string{
	"type": {"ping", "command", "autocomplete", "modal", "component", "unknown"},
	"name": {"", "report", "Report player", "reports", "report-config", "link", "unlink",
		"player", "offender", "offpage", "mod", "list", "unknown"},
}

// checkLabels fails t if a metric label took a value from outside its closed set.
func (fd *frontDoor) checkLabels(t *testing.T) {
	mfs, err := fd.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "reportbot_interactions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(interactionLabels[l.GetName()], l.GetValue()) {
					t.Errorf("reportbot_interactions_total{%s=%q}: a label value from the payload", l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func content(resp *discordgo.InteractionResponse) string {
	if resp.Data == nil {
		return ""
	}
	return resp.Data.Content
}
