package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/bot/discordtest"
)

// These tests are Discord's faults, seen from the whole bot: Discord unreachable or
// failing at start-up and later, a gateway that goes zombie, asks to reconnect,
// invalidates the session or drops the connection, and a token Discord refuses.

// faultHeartbeat is the heartbeat interval the fake announces here: a zombie is told
// within three seconds, and healthy connections keep their ACKs under make test's
// load (at 500 ms, an ACK was late once and a healthy connection was taken for dead).
const faultHeartbeat = 1500 * time.Millisecond

// faultEnv is newEnv with the gateway on (and the HTTP endpoint too) and a fake
// Discord that heartbeats fast.
func faultEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.discord = discordtest.New(t, discordtest.Options{HeartbeatInterval: faultHeartbeat, AnswerLag: 50 * time.Millisecond})
	e.vars["DISCORD_TOKEN"] = e.discord.BotToken
	e.vars["DISCORD_APPLICATION_ID"] = e.discord.AppID
	e.vars["DISCORD_API_URL"] = e.discord.URL
	e.vars["DISCORD_GATEWAY"] = "true"
	return e
}

// waitReadyz waits until /readyz answers status with a body that ok accepts.
func (r *running) waitReadyz(t *testing.T, status int, ok func(body string) bool) string {
	t.Helper()
	var last string
	r.waitFor(t, "/readyz to answer "+strconv.Itoa(status), func() bool {
		code, body := readyz(t, r.base)
		last = body
		return code == status && ok(body)
	})
	return last
}

// opensModalOnGateway sends /report player through the gateway in guild and
// checks that the bot answers with the modal.
func (e *env) opensModalOnGateway(t *testing.T, guild string) *discordgo.Interaction {
	t.Helper()
	i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, guild, testChannel, reporter, 0, slashData("report", "player"))
	if err := e.discord.DispatchInteraction(i); err != nil {
		t.Fatal(err)
	}
	e.discord.WaitCall(t, waitFor, func(c discordtest.Call) bool {
		return strings.HasPrefix(c.Path, "/interactions/"+i.ID+"/") && c.Status == http.StatusNoContent
	})
	if cb, ok := e.discord.Callback(i.Token); !ok || cb.Type != discordgo.InteractionResponseModal {
		t.Fatalf("callback %+v, %v: want the modal", cb, ok)
	}
	return i
}

// opensModalOnHTTP does the same through the HTTP endpoint.
func (e *env) opensModalOnHTTP(t *testing.T, r *running) {
	t.Helper()
	i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
	resp, status := e.post(t, r, i)
	if status != http.StatusOK || resp == nil || resp.Type != discordgo.InteractionResponseModal {
		t.Fatalf("HTTP endpoint answered %d %+v; want the modal", status, resp)
	}
}

// TestGatewayFaultsEndToEnd: the gateway survives a zombie connection, op 7, op 9
// (both kinds) and a dropped connection, and answers the next interaction each
// time; /readyz is 200 again after each.
func TestGatewayFaultsEndToEnd(t *testing.T) {
	t.Parallel()
	e := faultEnv(t)
	r := e.start(t)
	e.opensModalOnGateway(t, testGuild)

	faults := []struct {
		name  string
		fault func()
		// hidden: an interaction dispatched during the fault reaches the bot on the
		// RESUME.
		hidden bool
		began  string
	}{
		{"missed heartbeat ACKs", e.discord.StopHeartbeatAcks, true, "resume"},
		{"op 7", e.discord.RequestReconnect, false, "resume"},
		{"dropped without a close frame", e.discord.DropConnections, true, "resume"},
		{"op 9 resumable", func() { e.discord.InvalidateSessions(true) }, false, "resume"},
		{"op 9 not resumable", func() { e.discord.InvalidateSessions(false) }, false, "identify"},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			before := e.discord.Connections()
			faulty := before[len(before)-1]
			tt.fault()
			if tt.hidden {
				e.opensModalOnGateway(t, testGuild)
			}
			r.waitFor(t, "a new session", func() bool {
				cs := e.discord.Connections()
				return len(cs) > len(before) && cs[len(cs)-1].Began != ""
			})
			cs := e.discord.Connections()
			old, next := cs[len(before)-1], cs[len(cs)-1]
			if old.CloseCode == 1000 || old.CloseCode == 1001 {
				t.Errorf("the bot closed the faulty connection with %d, which ends the session", old.CloseCode)
			}
			if next.Began != tt.began || tt.began == "resume" && next.Session != faulty.Session {
				t.Errorf("next connection %+v; want a %s (session %s)", next, tt.began, faulty.Session)
			}
			if tt.name == "missed heartbeat ACKs" && old.Unacked > 1 {
				t.Errorf("%d heartbeats unacknowledged before the bot gave up; want it told within two intervals", old.Unacked)
			}
			r.waitReadyz(t, http.StatusOK, func(string) bool { return true })
			e.opensModalOnGateway(t, testGuild)
		})
	}
	if n := len(r.logs.lines("gateway down; reconnecting")); n != len(faults) {
		t.Errorf("%d \"gateway down\" lines for %d faults", n, len(faults))
	}
}

// TestGatewayDownAtStartup: a gateway refusing connections at start-up is waited
// out; meanwhile the commands register, the HTTP endpoint answers, and /readyz says
// what is wrong.
func TestGatewayDownAtStartup(t *testing.T) {
	t.Parallel()
	e := faultEnv(t)
	e.discord.RefuseGateway(0, discordtest.Failure{Status: http.StatusServiceUnavailable})
	r := e.launch(t)
	r.waitFor(t, "the commands to register", func() bool { return len(r.logs.lines("commands registered")) > 0 })
	body := r.waitReadyz(t, http.StatusServiceUnavailable, func(b string) bool { return strings.Contains(b, "bad handshake") })
	if !strings.HasPrefix(body, "gateway: down since ") || !strings.Contains(body, "(reconnecting: connecting to the gateway: HTTP 503: websocket: bad handshake)") ||
		strings.Count(body, "\n") != 1 {
		t.Errorf("/readyz body %q; want the gateway's line only", body)
	}
	e.opensModalOnHTTP(t, r)
	time.Sleep(2 * time.Second) // several attempts
	e.discord.Recover()
	r.waitFor(t, "the gateway to connect", func() bool { return len(r.logs.lines("gateway connected")) > 0 })
	r.waitReadyz(t, http.StatusOK, func(b string) bool { return b == "ready\n" })
	e.opensModalOnGateway(t, testGuild)
	if n := len(r.logs.lines("gateway down; reconnecting")); n != 1 {
		t.Errorf("%d \"gateway down\" lines, want 1 for the whole outage", n)
	}
	if l := r.logs.lines("gateway connected"); len(l) != 1 || l[0]["down_for"] == nil {
		t.Errorf("\"gateway connected\" lines %v; want one, with the outage's length", l)
	}
}

// TestRegistrationOutage: the bulk overwrite failing (5xx, 429, unreachable) at
// start-up is retried until it works; the gateway connects meanwhile, both
// transports answer, and /readyz says why the bot is not ready.
func TestRegistrationOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    discordtest.Failure
		why  string
	}{
		{"5xx", discordtest.Failure{Status: http.StatusBadGateway}, "HTTP 502"},
		{"429", discordtest.Failure{Status: http.StatusTooManyRequests, RetryAfter: 200 * time.Millisecond, Global: true}, "HTTP 429"},
		{"unreachable", discordtest.Failure{Drop: true}, "discord PUT /applications/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := faultEnv(t)
			e.discord.FailFor(http.MethodPut, "/applications/", 0, tt.f)
			r := e.launch(t)
			r.waitFor(t, "the gateway to connect", func() bool { return len(r.logs.lines("gateway connected")) > 0 })
			body := r.waitReadyz(t, http.StatusServiceUnavailable, func(b string) bool { return strings.Contains(b, tt.why) })
			if !strings.HasPrefix(body, "registration: failing since ") || !strings.Contains(body, "(retrying: ") || strings.Count(body, "\n") != 1 {
				t.Errorf("/readyz body %q; want the registration's line only", body)
			}
			e.opensModalOnHTTP(t, r)
			e.opensModalOnGateway(t, testGuild)
			e.discord.Recover()
			r.waitFor(t, "the commands to register", func() bool { return len(r.logs.lines("commands registered")) > 0 })
			r.waitReadyz(t, http.StatusOK, func(b string) bool { return b == "ready\n" })
			if len(e.discord.Commands("")) != 4 {
				t.Errorf("%d commands registered", len(e.discord.Commands("")))
			}
			if n := len(r.logs.lines("registering commands failed; retrying until Discord answers")); n != 1 {
				t.Errorf("%d outage lines, want 1", n)
			}
		})
	}
}

// TestDiscordRefusesTheToken: the built binary stops at once with one clear line
// and exit status 1 when Discord refuses its token, where an outage is waited out.
func TestDiscordRefusesTheToken(t *testing.T) {
	t.Parallel() // the bot is a process of its own, with its own fakes
	e := faultEnv(t)
	e.vars["DISCORD_TOKEN"] = "not-the-token"
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t))
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || ctx.Err() != nil {
		t.Fatalf("the bot ended with %v after %v; want exit status 1\nstdout:\n%s\nstderr:\n%s", err, time.Since(start), &stdout, &stderr)
	}
	line := stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "reportbot: ") ||
		!strings.Contains(line, "Discord refused the bot (check DISCORD_TOKEN and DISCORD_APPLICATION_ID)") || !strings.Contains(line, "401") {
		t.Errorf("stderr %q; want one line saying Discord refused the token", line)
	}
	if strings.Contains(stdout.String()+line, "not-the-token") {
		t.Error("the token reached the output")
	}
	t.Logf("stopped after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(line))
}

// TestGatewayShards: two bots as shards 0 and 1 of 2 each get, and answer, only
// their own servers' interactions, as Discord routes them: (guild_id >> 22) % 2.
func TestGatewayShards(t *testing.T) {
	t.Parallel()
	e := faultEnv(t)
	e.vars["DISCORD_PUBLIC_KEY"] = ""
	e.vars["DISCORD_SHARD_COUNT"] = "2"
	shards := make([]*running, 2)
	for n := range shards {
		e.vars["DISCORD_SHARD_ID"] = strconv.Itoa(n)
		shards[n] = e.start(t)
		if id := e.discord.WaitIdentify(t, waitFor); id.Shard == nil || *id.Shard != [2]int{n, 2} {
			t.Fatalf("shard %d identified with %v", n, id.Shard)
		}
	}
	guilds := [2][]string{}
	for k := uint64(1000); k < 1006; k++ {
		guilds[k%2] = append(guilds[k%2], strconv.FormatUint(k<<22|k, 10))
	}
	sent := [2]map[string]bool{{}, {}}
	for n := range guilds {
		for _, g := range guilds[n] {
			sent[n][e.opensModalOnGateway(t, g).ID] = true
		}
	}
	for n, r := range shards {
		got := map[string]bool{}
		for _, l := range r.logs.lines("interaction from the gateway") {
			got[l["interaction_id"].(string)] = true
		}
		for id := range sent[n] {
			if !got[id] {
				t.Errorf("shard %d did not get interaction %s of its own servers", n, id)
			}
		}
		for id := range sent[1-n] {
			if got[id] {
				t.Errorf("shard %d got interaction %s of shard %d's servers", n, id, 1-n)
			}
		}
	}
}
