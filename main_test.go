package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// These tests run the bot through run(), its real wiring, against a fake Discord
// (REST, gateway, and a signer standing in for Discord's outgoing requests), a fake
// RallyHere and a real redis-server.

const (
	testGuild   = "910000000000000001"
	testChannel = "910000000000000002"
	// waitFor is how long a test waits for what the bot does in the background. It is
	// generous because CI runs every package at once, under -race, on two cores; a
	// wait ends as soon as what it waits for is seen.
	waitFor = 30 * time.Second
)

var (
	reporter = &discordgo.User{ID: "110000000000000001", Username: "alice", GlobalName: "Alice"}
	reported = &discordgo.User{ID: "110000000000000002", Username: "bob", GlobalName: "Bob"}
)

// logBuffer is the bot's stdout, kept for the test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines whose message is msg.
func (l *logBuffer) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a test deployment: the fakes and the variables that point the bot at them.
type env struct {
	discord *discordtest.Server
	rh      *rallyheretest.Server
	signer  *discordtest.Signer
	// redis is a single node, or a Redis Cluster when the run asks for one
	// (REPORTBOT_TEST_REDIS=cluster, which `make test` sets for a second pass).
	redis redistest.Redis
	vars  map[string]string
	// serving, when set, is told the bot's base URL once it serves HTTP.
	serving func(base string)
}

// newEnv is a deployment of its own (fakes, Redis, variables), so the tests that each
// make one run in parallel.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		// Discord takes the bot's HTTP answer a moment after reading it, and the
		// deferred work's first edit often overtakes it (CI once failed on this).
		discord: discordtest.New(t, discordtest.Options{AnswerLag: 50 * time.Millisecond}),
		rh:      rallyheretest.New(t),
		signer:  discordtest.NewSigner(),
		redis:   redistest.New(t),
	}
	e.vars = map[string]string{
		"DISCORD_TOKEN":           e.discord.BotToken,
		"DISCORD_APPLICATION_ID":  e.discord.AppID,
		"DISCORD_PUBLIC_KEY":      e.signer.PublicKeyHex(),
		"DISCORD_GATEWAY":         "false",
		"DISCORD_API_URL":         e.discord.URL,
		"DISCORD_CDN_HOSTS":       e.discord.CDNHost,
		"HTTP_ADDR":               "127.0.0.1:0",
		"REDIS_URL":               e.redis.URL(),
		"REDIS_MODE":              e.redis.Mode(),
		"RALLYHERE_API_URL":       e.rh.URL,
		"RALLYHERE_CLIENT_ID":     e.rh.ClientID,
		"RALLYHERE_CLIENT_SECRET": e.rh.ClientSecret,
		"LOG_LEVEL":               "debug",
	}
	return e
}

// running is a bot started by start.
type running struct {
	base   string // http://addr
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs the bot until the test ends and waits until it is ready.
func (e *env) start(t *testing.T) *running {
	t.Helper()
	r := e.launch(t)
	r.waitFor(t, "the bot to become ready", func() bool {
		return len(r.logs.lines("commands registered")) > 0 &&
			(e.vars["DISCORD_GATEWAY"] != "true" || len(r.logs.lines("gateway connected")) > 0)
	})
	return r
}

// launch runs the bot, with a copy of e's variables, until the test ends, and waits
// until it serves HTTP.
func (e *env) launch(t *testing.T) *running {
	t.Helper()
	vars := maps.Clone(e.vars)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: &logBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, nil, func(k string) string { return vars[k] }, r.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("the bot did not stop within 30 s of its context ending")
		}
		if t.Failed() {
			t.Logf("the bot's log:\n%s", r.logs)
		}
	})
	r.waitFor(t, "the bot to serve HTTP", func() bool {
		if l := r.logs.lines("serving HTTP"); len(l) > 0 {
			r.base = "http://" + l[0]["addr"].(string)
		}
		return r.base != ""
	})
	if e.serving != nil {
		e.serving(r.base)
	}
	return r
}

// waitFor polls ok for up to 30 s; it fails the test if the bot stops first.
func (r *running) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			r.done <- err // for the cleanup
			t.Fatalf("the bot stopped: %v\n%s", err, r.logs)
		default:
		}
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("waited 30 s for %s:\n%s", what, r.logs)
}

func slashData(name, sub string, opts ...map[string]any) map[string]any {
	o := map[string]any{"type": 1, "name": sub}
	if len(opts) > 0 {
		o["options"] = opts
	}
	return map[string]any{"id": "710000000000000001", "name": name, "type": 1, "options": []any{o}}
}

// modalData is a submitted report form; evidence holds attachment ids.
func modalData(customID, player, reason string, evidence []*discordgo.MessageAttachment) map[string]any {
	comps := []any{}
	if player != "" {
		comps = append(comps, map[string]any{"type": 18, "id": 1, "component": map[string]any{"type": 4, "id": 2, "custom_id": "player", "value": player}})
	}
	ids := []string{}
	atts := map[string]any{}
	for _, a := range evidence {
		ids = append(ids, a.ID)
		atts[a.ID] = a
	}
	comps = append(comps,
		map[string]any{"type": 18, "id": 3, "component": map[string]any{"type": 3, "id": 4, "custom_id": "reason", "values": []string{reason}}},
		map[string]any{"type": 18, "id": 5, "component": map[string]any{"type": 4, "id": 6, "custom_id": "description", "value": "spinbot in round 3"}},
		map[string]any{"type": 18, "id": 7, "component": map[string]any{"type": 4, "id": 8, "custom_id": "match", "value": ""}},
		map[string]any{"type": 18, "id": 9, "component": map[string]any{"type": 19, "id": 10, "custom_id": "evidence", "values": ids}},
	)
	return map[string]any{"custom_id": customID, "components": comps, "resolved": map[string]any{"attachments": atts}}
}

func (e *env) post(t *testing.T, r *running, i *discordgo.Interaction) (*discordgo.InteractionResponse, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, status, err := e.discord.Post(ctx, r.base+"/interactions", e.signer, i)
	if err != nil {
		t.Fatalf("posting interaction: %v", err)
	}
	return resp, status
}

func content(raw json.RawMessage) string {
	var m struct {
		Content string `json:"content"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Content
}

func TestHTTPTransport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alicePlayer, bobPlayer := e.rh.AddPlayer("alice"), e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, alicePlayer)
	r := e.start(t)

	t.Run("commands registered globally with one overwrite", func(t *testing.T) {
		var names []string
		for _, raw := range e.discord.Commands("") {
			var c struct {
				Name     string `json:"name"`
				Contexts []int  `json:"contexts"`
			}
			_ = json.Unmarshal(raw, &c)
			if len(c.Contexts) != 1 || c.Contexts[0] != 0 {
				t.Errorf("%s: contexts %v, want guild only", c.Name, c.Contexts)
			}
			names = append(names, c.Name)
		}
		if got := strings.Join(names, ","); got != "report,Report player,reports,report-config" {
			t.Fatalf("commands %s", got)
		}
		puts := 0
		for _, c := range e.discord.Calls() {
			if c.Method == http.MethodPut {
				puts++
			}
		}
		if puts != 1 {
			t.Fatalf("%d PUTs, want one bulk overwrite", puts)
		}
	})

	t.Run("ping", func(t *testing.T) {
		resp, status := e.post(t, r, e.discord.NewInteraction(discordgo.InteractionPing, "", "", nil, 0, nil))
		if status != 200 || resp.Type != discordgo.InteractionResponsePong {
			t.Fatalf("status %d, %+v", status, resp)
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		body := []byte(`{"id":"123","type":1,"token":"x","application_id":"1","version":1}`)
		send := func(sign func(*http.Request)) int {
			req, _ := http.NewRequest(http.MethodPost, r.base+"/interactions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			sign(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		other := discordtest.NewSigner()
		tests := []struct {
			name string
			sign func(*http.Request)
		}{
			{"unsigned", func(*http.Request) {}},
			{"signed by someone else", func(req *http.Request) { other.Sign(req, body, time.Now()) }},
			{"six minutes old", func(req *http.Request) { e.signer.Sign(req, body, time.Now().Add(-6*time.Minute)) }},
			{"six minutes ahead", func(req *http.Request) { e.signer.Sign(req, body, time.Now().Add(6*time.Minute)) }},
			{"body changed after signing", func(req *http.Request) {
				e.signer.Sign(req, []byte(`{"id":"124"}`), time.Now())
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := send(tt.sign); got != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", got)
				}
			})
		}
		t.Run("replayed interaction id", func(t *testing.T) {
			i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
			raw, _ := json.Marshal(i)
			var statuses []int
			for range 2 {
				req, _ := e.signer.Request(context.Background(), r.base+"/interactions", raw, time.Now())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				statuses = append(statuses, resp.StatusCode)
			}
			if statuses[0] != 200 || statuses[1] != http.StatusUnauthorized {
				t.Fatalf("statuses %v, want [200 401]", statuses)
			}
		})
	})

	t.Run("a report end to end", func(t *testing.T) {
		open := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0,
			slashData("report", "player", map[string]any{"type": 3, "name": "player", "value": "bob"}))
		resp, status := e.post(t, r, open)
		if status != 200 || resp.Type != discordgo.InteractionResponseModal {
			t.Fatalf("status %d, %+v", status, resp)
		}
		shot := e.discord.AddAttachment("aimbot.png", "image/png", []byte("\x89PNG..."))
		submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0,
			modalData("report:rallyhere", "bob", "cheating", []*discordgo.MessageAttachment{shot}))
		resp, status = e.post(t, r, submit)
		if status != 200 || resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource || resp.Data.Flags != discordgo.MessageFlagsEphemeral {
			t.Fatalf("status %d, %+v: want a deferred ephemeral answer", status, resp)
		}
		final := e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool {
			return strings.HasPrefix(content(m), "✅")
		})
		reports := e.rh.Reports()
		if len(reports) != 1 || reports[0].TargetUUID != bobPlayer {
			t.Fatalf("upstream reports %+v", reports)
		}
		custom := reports[0].Body["custom_data"].(map[string]any)
		if custom["evidence_1"] != shot.URL || custom["discord_reporter_id"] != reporter.ID {
			t.Fatalf("custom_data %v", custom)
		}
		if !strings.Contains(content(final), reports[0].ReportID) {
			t.Fatalf("the reporter did not see RallyHere's report id: %s", final)
		}
	})

	t.Run("report-config is refused to non-admins", func(t *testing.T) {
		i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report-config", "reason-reset"))
		resp, _ := e.post(t, r, i)
		if resp.Data == nil || !strings.Contains(resp.Data.Content, "Manage Server") {
			t.Fatalf("%+v", resp)
		}
		admin := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reported, discordgo.PermissionManageGuild,
			slashData("report-config", "reason-add", map[string]any{"type": 3, "name": "label", "value": "Toxic voice chat"},
				map[string]any{"type": 3, "name": "rallyhere-reason", "value": "harassment"}))
		resp, _ = e.post(t, r, admin)
		if resp.Data == nil || !strings.Contains(resp.Data.Content, "Added **Toxic voice chat**") {
			t.Fatalf("%+v", resp)
		}
	})

	t.Run("no message can ping anyone", func(t *testing.T) {
		// Every message the bot wrote through REST sets allowed_mentions to nothing.
		for _, c := range e.discord.Calls() {
			if c.Method != http.MethodPatch && !(c.Method == http.MethodPost && strings.Contains(c.Path, "/messages")) {
				continue
			}
			var m struct {
				AllowedMentions *struct {
					Parse []string `json:"parse"`
				} `json:"allowed_mentions"`
			}
			if err := json.Unmarshal(c.Body, &m); err != nil || m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
				t.Errorf("%s %s: allowed_mentions %s", c.Method, c.Path, c.Body)
			}
		}
	})

	t.Run("health, readiness and metrics", func(t *testing.T) {
		for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": `reportbot_interactions_total{name="report",type="command"}`} {
			resp, err := http.Get(r.base + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
				t.Errorf("%s: %d %.200s", path, resp.StatusCode, b)
			}
		}
	})

	t.Run("no secret reaches the log", func(t *testing.T) {
		logs := r.logs.String()
		for _, secret := range []string{e.discord.BotToken, e.rh.ClientSecret} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a secret")
			}
		}
	})
}

func TestGatewayTransport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alicePlayer := e.rh.AddPlayer("alice")
	e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, alicePlayer)
	e.vars["DISCORD_GATEWAY"] = "true"
	e.vars["DISCORD_PUBLIC_KEY"] = ""
	e.vars["DISCORD_GUILD_ID"] = testGuild
	r := e.start(t)

	id := e.discord.WaitIdentify(t, waitFor)
	if id.Token != e.discord.BotToken && id.Token != "Bot "+e.discord.BotToken {
		t.Fatalf("identified with %q", id.Token)
	}
	if len(e.discord.Commands(testGuild)) != 4 || len(e.discord.Commands("")) != 0 {
		t.Fatalf("commands: guild %d, global %d; want all in DISCORD_GUILD_ID", len(e.discord.Commands(testGuild)), len(e.discord.Commands("")))
	}
	if resp, err := http.Post(r.base+"/interactions", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("/interactions answered %d without DISCORD_PUBLIC_KEY", resp.StatusCode)
		}
	}

	open := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
	if err := e.discord.DispatchInteraction(open); err != nil {
		t.Fatal(err)
	}
	e.discord.WaitCall(t, waitFor, func(c discordtest.Call) bool { return strings.Contains(c.Path, "/"+open.ID+"/") })
	if cb, ok := e.discord.Callback(open.Token); !ok || cb.Type != discordgo.InteractionResponseModal {
		t.Fatalf("callback %+v, %v: want the modal", cb, ok)
	}

	submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "afk", nil))
	if err := e.discord.DispatchInteraction(submit); err != nil {
		t.Fatal(err)
	}
	e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	if n := len(e.rh.Reports()); n != 1 {
		t.Fatalf("%d upstream reports", n)
	}
}

func TestEmbeddedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	delete(e.vars, "REDIS_URL")
	delete(e.vars, "REDIS_MODE")
	p := e.rh.AddPlayer("alice")
	e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, p)
	r := e.start(t)
	if n := len(r.logs.lines("REDIS_URL is not set: using an embedded in-memory store; reports, limits and settings are lost when the bot stops")); n != 1 {
		t.Fatalf("%d warnings about the embedded store, want exactly one", n)
	}
	submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "afk", nil))
	e.post(t, r, submit)
	e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
}

func TestStartupRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(e *env)
		want   string
	}{
		{"bad limit", func(e *env) { e.vars["REPORT_LIMIT"] = "lots" }, "REPORT_LIMIT:"},
		{"no token", func(e *env) { e.vars["DISCORD_TOKEN"] = "" }, "DISCORD_TOKEN: required"},
		{"token Discord refuses", func(e *env) { e.vars["DISCORD_TOKEN"] = "wrong" }, "registering commands"},
		{"unreachable redis", func(e *env) { e.vars["REDIS_URL"] = "redis://127.0.0.1:1/0" }, "REDIS_URL: cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.change(e)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, nil, func(k string) string { return e.vars[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestShutdownFinishesInFlightWork stops the bot while a report is being sent: the
// report still arrives and the reporter is told, before run returns.
func TestShutdownFinishesInFlightWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.rh.AddPlayer("alice")
	e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, p)
	e.rh.SetDelay(rallyheretest.OpCreateReport, time.Second)
	r := e.start(t)
	submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "afk", nil))
	e.post(t, r, submit)
	for deadline := time.Now().Add(waitFor); e.rh.Calls(rallyheretest.OpCreateReport) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the report was never sent")
		}
	}
	r.cancel() // while RallyHere takes its second to answer
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return")
	}
	r.done <- nil // for the cleanup
	if n := len(e.rh.Reports()); n != 1 {
		t.Fatalf("%d reports arrived, want the one in flight", n)
	}
	if orig, ok := e.discord.Original(submit.Token); !ok || !strings.HasPrefix(content(orig), "✅") {
		t.Fatalf("the reporter saw %s", orig)
	}
	if n := len(r.logs.lines("stopped")); n != 1 {
		t.Fatalf("no clean stop in the log:\n%s", r.logs)
	}
}

// TestModeratorsEndToEnd runs the moderators' side through the real REST client
// against the fake Discord, which checks every message (multipart uploads, embeds,
// buttons) against Discord's document: the mod-log channel is set, a report with
// evidence is posted there with the file re-uploaded, a moderator claims it, the
// reporter is told by DM, and the lookups answer.
func TestModeratorsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alicePlayer := e.rh.AddPlayer("alice")
	e.rh.AddPlayer("bob")
	e.rh.LinkDiscord(reporter.ID, alicePlayer)
	r := e.start(t)
	const modlog = "910000000000000003"
	admin := &discordgo.User{ID: "110000000000000009", Username: "admin"}

	set := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, admin, discordgo.PermissionManageGuild,
		slashData("report-config", "channel", map[string]any{"type": 7, "name": "channel", "value": modlog}))
	e.post(t, r, set)
	e.discord.WaitOriginal(t, set.Token, waitFor, func(m json.RawMessage) bool { return strings.Contains(content(m), "Reports will be posted in") })

	shot := e.discord.AddAttachment("aimbot.png", "image/png", []byte("\x89PNG evidence"))
	submit := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0,
		modalData("report:rallyhere", "bob", "cheating", []*discordgo.MessageAttachment{shot}))
	e.post(t, r, submit)
	e.discord.WaitOriginal(t, submit.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })

	var post discordtest.Message
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		if msgs := e.discord.Messages(modlog); len(msgs) == 2 {
			post = msgs[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mod log: %+v", e.discord.Messages(modlog))
		}
	}
	if len(post.Files) != 1 || string(post.Files[0].Data) != "\x89PNG evidence" {
		t.Fatalf("evidence not re-uploaded: %+v", post.Files)
	}
	var body struct {
		Embeds []struct {
			Title string `json:"title"`
		} `json:"embeds"`
		Components []struct {
			Components []struct {
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(post.Body, &body); err != nil || len(body.Embeds) != 1 || len(body.Components) != 1 {
		t.Fatalf("post %s: %v", post.Body, err)
	}
	claimID := body.Components[0].Components[0].CustomID

	mod := &discordgo.User{ID: "110000000000000008", Username: "mod"}
	click := e.discord.NewInteraction(discordgo.InteractionMessageComponent, testGuild, modlog, mod, discordgo.PermissionManageMessages,
		map[string]any{"custom_id": claimID, "component_type": 2})
	click.Message = &discordgo.Message{ID: post.ID, ChannelID: modlog}
	resp, status := e.post(t, r, click)
	if status != 200 || resp.Type != discordgo.InteractionResponseUpdateMessage || len(resp.Data.Embeds) != 1 {
		t.Fatalf("claim: %d %+v", status, resp)
	}
	// The DM channel is opened first, then the message posted in it: wait for both.
	var dms []discordtest.Message
	for deadline := time.Now().Add(waitFor); len(dms) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reporter got no DM")
		}
		if ch := e.discord.DMChannel(reporter.ID); ch != "" {
			dms = e.discord.Messages(ch)
		}
	}
	if len(dms) != 1 || !strings.Contains(string(dms[0].Body), "A moderator is looking at your report") {
		t.Fatalf("DMs %+v", dms)
	}

	for _, tc := range []struct {
		from  *discordgo.User
		perms int64
		data  map[string]any
		want  string
	}{
		{reporter, 0, slashData("reports", "mine"), "👀 Claimed by <@" + mod.ID + ">"},
		{mod, discordgo.PermissionManageMessages, slashData("reports", "list"), "by <@" + reporter.ID + ">"},
	} {
		i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, tc.from, tc.perms, tc.data)
		resp, _ := e.post(t, r, i)
		if resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource {
			// A list is deferred (it reads several reports) and follows as an edit.
			e.discord.WaitOriginal(t, i.Token, waitFor, func(m json.RawMessage) bool { return strings.Contains(content(m), tc.want) })
			continue
		}
		if resp.Data == nil || !strings.Contains(resp.Data.Content, tc.want) {
			t.Fatalf("%v: %+v", tc.data["options"], resp.Data)
		}
	}
}

// freeAddr is a loopback address nothing listens on, for a variable that needs an
// address of its own before the bot starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestMetricsAddr: with METRICS_ADDR set, /metrics is served there, on a listener of
// its own that stops with the bot, and no longer on HTTP_ADDR.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	metrics := freeAddr(t)
	e.vars["METRICS_ADDR"] = metrics
	r := e.start(t)
	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if status, body, err := get("http://" + metrics + "/metrics"); err != nil || status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("METRICS_ADDR /metrics: %d %v %.200s", status, err, body)
	}
	if status, _, err := get(r.base + "/metrics"); err != nil || status != http.StatusNotFound {
		t.Fatalf("HTTP_ADDR /metrics: %d %v, want 404", status, err)
	}
	for _, path := range []string{"/healthz", "/interactions", "/readyz"} {
		if status, _, err := get("http://" + metrics + path); err != nil || status != http.StatusNotFound {
			t.Errorf("METRICS_ADDR %s: %d %v, want 404: only /metrics is served there", path, status, err)
		}
	}
	if l := r.logs.lines("serving metrics"); len(l) != 1 || l[0]["addr"] != metrics {
		t.Errorf("log lines %v, want one saying where metrics are served", l)
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	r.done <- nil // for the cleanup
	if _, _, err := get("http://" + metrics + "/metrics"); err == nil {
		t.Fatal("the metrics listener still answers after the bot stopped")
	}
}
