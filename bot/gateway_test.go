package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot/discordtest"
)

// heartbeat is the interval the fake announces in these tests: short, so that a
// zombie is told within half a second, and long enough that a loaded CI machine
// does not miss ACKs of healthy connections.
const heartbeat = 250 * time.Millisecond

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count is how many lines have message msg.
func (l *logBuffer) count(msg string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Message == msg {
			n++
		}
	}
	return n
}

// gwRun is a gateway client running against the fake.
type gwRun struct {
	d      *discordtest.Server
	g      *gateway
	status *outage
	logs   *logBuffer
	got    chan *discordgo.Interaction
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// runGateway runs a gateway client for shard on d, with the fake's token unless
// token is set, and timings shortened for tests unless tune changes them.
func runGateway(t *testing.T, d *discordtest.Server, token string, shard [2]int, tune func(*gateway)) *gwRun {
	t.Helper()
	r := &gwRun{d: d, logs: &logBuffer{}, got: make(chan *discordgo.Interaction, 64), done: make(chan struct{})}
	log := zerolog.New(r.logs)
	r.status = gatewayOutage(log)
	if token == "" {
		token = d.BotToken
	}
	r.g = newGateway(NewREST(d.URL, d.BotToken, d.AppID, nil), token, shard[0], shard[1], log, r.status,
		func(i *discordgo.Interaction) { r.got <- i })
	r.g.identifyEvery = 300 * time.Millisecond
	r.g.invalidWait = func() time.Duration { return 50 * time.Millisecond }
	r.g.backoff = backoff{min: 20 * time.Millisecond, max: 200 * time.Millisecond}
	if tune != nil {
		tune(r.g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = r.g.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("the gateway did not stop within 5 s of its context ending")
		}
		if t.Failed() {
			t.Logf("the gateway's log:\n%s", r.logs)
		}
	})
	return r
}

// stopped waits for run to return and returns its error.
func (r *gwRun) stopped(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(within):
		t.Fatalf("the gateway still runs after %v", within)
		return nil
	}
}

// connected waits until the client has a working session.
func (r *gwRun) connected(t *testing.T) {
	t.Helper()
	waitUntil(t, 10*time.Second, "the gateway to connect", func() bool { return r.status.check(context.Background()) == nil })
}

// answers dispatches an interaction in guild and waits until the client handles it,
// once: an interaction seen twice (a replay gone wrong) fails the test.
func (r *gwRun) answers(t *testing.T, guild string) {
	t.Helper()
	i := r.d.NewInteraction(discordgo.InteractionApplicationCommand, guild, "910000000000000002", nil, 0,
		map[string]any{"id": "1", "name": "report", "type": 1})
	if err := r.d.DispatchInteraction(i); err != nil {
		t.Fatal(err)
	}
	r.expect(t, i.ID)
}

func (r *gwRun) expect(t *testing.T, id string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.got:
			if got.ID == id {
				select {
				case again := <-r.got:
					t.Fatalf("interaction %s handled, then %s: a duplicate or stray", id, again.ID)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			t.Fatalf("handled interaction %s, want %s", got.ID, id)
		case <-timeout:
			t.Fatalf("interaction %s was not handled; connections: %+v", id, r.d.Connections())
		}
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
	}
}

// last returns the newest connection record.
func last(d *discordtest.Server) discordtest.Connection {
	cs := d.Connections()
	if len(cs) == 0 {
		return discordtest.Connection{}
	}
	return cs[len(cs)-1]
}

func TestGatewayIdentifies(t *testing.T) {
	t.Parallel()
	for _, shard := range [][2]int{{0, 1}, {1, 2}} {
		t.Run(strconv.Itoa(shard[0])+"/"+strconv.Itoa(shard[1]), func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
			r := runGateway(t, d, "", shard, nil)
			id := d.WaitIdentify(t, 10*time.Second)
			if id.Token != d.BotToken || id.Intents != 0 {
				t.Errorf("IDENTIFY %+v: want the bare token and no intents", id)
			}
			if shard[1] == 1 && id.Shard != nil || shard[1] > 1 && (id.Shard == nil || *id.Shard != shard) {
				t.Errorf("IDENTIFY shard %v, want %v", id.Shard, shard)
			}
			r.connected(t)
			// Shard 1 of 2 gets guilds with (id >> 22) % 2 == 1.
			r.answers(t, strconv.FormatUint(uint64(shard[0])<<22, 10))
			if n := r.logs.count("gateway connected"); n != 1 {
				t.Errorf("%d \"gateway connected\" lines, want 1", n)
			}
		})
	}
}

// TestGatewaySurvives is point 3 of the task: after each fault the client is back
// on its session (or a new one when told) and handles the next interaction, which
// a fault that hides it (a zombie, a dropped connection) replays on RESUME.
func TestGatewaySurvives(t *testing.T) {
	t.Parallel()
	const guild = "910000000000000001"
	tests := []struct {
		name  string
		fault func(d *discordtest.Server)
		// during is dispatched while the fault lasts, before the client is back.
		during bool
		// began is how the next connection's session begins.
		began string
		// closeCode is what the client closes the faulty connection with; -1: any
		// but 1000 and 1001.
		closeCode int
	}{
		{"missed heartbeat ACKs", func(d *discordtest.Server) { d.StopHeartbeatAcks() }, true, "resume", closeResumable},
		{"op 7 reconnect", func(d *discordtest.Server) { d.RequestReconnect() }, false, "resume", closeResumable},
		{"op 9 resumable", func(d *discordtest.Server) { d.InvalidateSessions(true) }, false, "resume", closeResumable},
		{"op 9 not resumable", func(d *discordtest.Server) { d.InvalidateSessions(false) }, false, "identify", closeResumable},
		// Refused until the test has dispatched, so that the event is surely one
		// the RESUME replays.
		{"dropped without a close frame", func(d *discordtest.Server) {
			d.RefuseGateway(0, discordtest.Failure{Drop: true})
			d.DropConnections()
		}, true, "resume", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
			r := runGateway(t, d, "", [2]int{0, 1}, nil)
			r.connected(t)
			r.answers(t, guild)
			before := d.Connections()
			faulty := before[len(before)-1]
			start := time.Now()
			tt.fault(d)
			if tt.during {
				i := d.NewInteraction(discordgo.InteractionApplicationCommand, guild, "2", nil, 0, map[string]any{"id": "1", "name": "report", "type": 1})
				if err := d.DispatchInteraction(i); err != nil {
					t.Fatal(err)
				}
				d.Recover()
				r.expect(t, i.ID)
			}
			waitUntil(t, 10*time.Second, "a new session", func() bool {
				c := last(d)
				return len(d.Connections()) > len(before) && c.Began != ""
			})
			r.connected(t)
			cs := d.Connections()
			old, next := cs[len(before)-1], cs[len(cs)-1]
			if old.Session != faulty.Session || old.Closed.IsZero() {
				t.Fatalf("the faulty connection %+v is still open", old)
			}
			if tt.closeCode >= 0 && old.CloseCode != tt.closeCode {
				t.Errorf("the faulty connection closed with %d, want %d", old.CloseCode, tt.closeCode)
			}
			if old.CloseCode == 1000 || old.CloseCode == 1001 {
				t.Errorf("closed with %d, which ends the session", old.CloseCode)
			}
			if next.Began != tt.began {
				t.Errorf("the next session began with %q, want %q", next.Began, tt.began)
			}
			if tt.began == "resume" && next.Session != faulty.Session {
				t.Errorf("resumed session %s, want %s", next.Session, faulty.Session)
			}
			if tt.during && next.Replayed != 1 {
				t.Errorf("the RESUME replayed %d events, want the 1 the fault hid", next.Replayed)
			}
			if tt.name == "missed heartbeat ACKs" {
				// One heartbeat goes unanswered, and the next tick tells the zombie:
				// within two intervals (discordgo waited for five).
				if old.Unacked != 1 {
					t.Errorf("%d heartbeats went unacknowledged before the client gave up, want 1", old.Unacked)
				}
				t.Logf("zombie told and closed %v after the ACKs stopped (heartbeat interval %v)", old.Closed.Sub(start).Round(time.Millisecond), heartbeat)
			}
			if tt.began == "identify" {
				// The client spaces its sends; the fake stamps each when it reads it,
				// which a loaded machine delays by a few ms (once, 285 ms for 300). A
				// client that did not wait would reconnect within a few ms.
				ids := d.Identifies()
				if slack := 100 * time.Millisecond; len(ids) != 2 || ids[1].At.Sub(ids[0].At) < r.g.identifyEvery-slack {
					t.Errorf("identifies %+v: want two, %v apart at least (less %v for the fake's reading)", ids, r.g.identifyEvery, slack)
				}
			}
			r.answers(t, guild)
			if n := r.logs.count("gateway down; reconnecting"); n != 1 {
				t.Errorf("%d \"gateway down\" lines for one fault, want 1", n)
			}
		})
	}
}

func TestGatewayHeartbeatsOnRequest(t *testing.T) {
	t.Parallel()
	d := discordtest.New(t, discordtest.Options{HeartbeatInterval: time.Minute})
	r := runGateway(t, d, "", [2]int{0, 1}, nil)
	r.connected(t)
	before := last(d).Heartbeats
	d.RequestHeartbeat()
	waitUntil(t, 5*time.Second, "a heartbeat answering op 1", func() bool { return last(d).Heartbeats > before })
}

// TestGatewayWaitsOutOutages: a gateway that cannot be reached, or whose address
// cannot be asked, is retried until it comes back; /readyz's check says why
// meanwhile, and the outage is logged once.
func TestGatewayWaitsOutOutages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(d *discordtest.Server)
		why    string
	}{
		{"handshake refused", func(d *discordtest.Server) { d.RefuseGateway(0, discordtest.Failure{Status: 503}) }, "HTTP 503: websocket: bad handshake"},
		{"gateway dropping connections", func(d *discordtest.Server) { d.RefuseGateway(0, discordtest.Failure{Drop: true}) }, "connecting to the gateway"},
		{"REST 5xx", func(d *discordtest.Server) {
			d.FailFor(http.MethodGet, "/gateway/bot", 0, discordtest.Failure{Status: 502})
		}, "HTTP 502"},
		{"REST 429", func(d *discordtest.Server) {
			d.FailFor(http.MethodGet, "/gateway/bot", 0, discordtest.Failure{Status: 429, RetryAfter: 50 * time.Millisecond})
		}, "HTTP 429"},
		{"REST unreachable", func(d *discordtest.Server) {
			d.FailFor(http.MethodGet, "/gateway/bot", 0, discordtest.Failure{Drop: true})
		}, "asking for the gateway's address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
			tt.break_(d)
			r := runGateway(t, d, "", [2]int{0, 1}, nil)
			// An attempt may be several calls: the REST client retries 5xx and 429.
			waitUntil(t, 10*time.Second, "several failed attempts", func() bool {
				r.status.mu.Lock()
				defer r.status.mu.Unlock()
				return r.status.attempts >= 3
			})
			err := r.status.check(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), "down since ") || !strings.Contains(err.Error(), "(reconnecting: ") || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("readiness %v; want down since …, reconnecting: …%s…", err, tt.why)
			}
			d.Recover()
			r.connected(t)
			r.answers(t, "910000000000000001")
			if n := r.logs.count("gateway down; reconnecting"); n != 1 {
				t.Errorf("%d \"gateway down\" lines for one outage, want 1 (not one per attempt)", n)
			}
			if n := r.logs.count("gateway still down"); n != 0 {
				t.Errorf("%d \"still down\" lines within a minute", n)
			}
		})
	}
}

// TestGatewayRefusals: only what no retry can cure stops the client, with a
// RefusedError that says what to fix.
func TestGatewayRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		restToken  string
		wsToken    string
		shard      [2]int
		want, hint string
	}{
		{"gateway authentication failed (4004)", "", "wrong", [2]int{0, 1}, "4004", "DISCORD_TOKEN"},
		{"invalid shard (4010)", "", "", [2]int{3, 2}, "4010", "DISCORD_SHARD_ID"},
		{"REST 401 on /gateway/bot", "wrong", "", [2]int{0, 1}, "HTTP 401", "DISCORD_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
			r := runGateway(t, d, tt.wsToken, tt.shard, func(g *gateway) {
				if tt.restToken != "" {
					g.rest = NewREST(d.URL, tt.restToken, d.AppID, nil)
				}
			})
			err := r.stopped(t, 10*time.Second)
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.hint) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v; want one line refusing the bot with %q, naming %s", err, tt.want, tt.hint)
			}
			if c := r.status.check(context.Background()); c == nil || !strings.Contains(c.Error(), "refused") {
				t.Errorf("readiness %v", c)
			}
		})
	}
}

// TestGatewayStopsPromptly: the client's context ends its backoff, and a working
// connection is closed with 1000, which ends the session (the bot is not coming
// back to it).
func TestGatewayStopsPromptly(t *testing.T) {
	t.Parallel()
	t.Run("mid-backoff", func(t *testing.T) {
		d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
		d.RefuseGateway(0, discordtest.Failure{Status: 503})
		r := runGateway(t, d, "", [2]int{0, 1}, func(g *gateway) { g.backoff = backoff{min: time.Hour, max: time.Hour} })
		waitUntil(t, 10*time.Second, "a failed attempt", func() bool {
			return r.status.check(context.Background()) != nil && r.logs.count("gateway down; reconnecting") == 1
		})
		start := time.Now()
		r.cancel()
		if err := r.stopped(t, 5*time.Second); err != nil {
			t.Fatalf("run: %v", err)
		}
		t.Logf("stopped %v into a backoff of at least 30 min", time.Since(start).Round(time.Millisecond))
	})
	t.Run("connected", func(t *testing.T) {
		d := discordtest.New(t, discordtest.Options{HeartbeatInterval: heartbeat})
		r := runGateway(t, d, "", [2]int{0, 1}, nil)
		r.connected(t)
		r.cancel()
		if err := r.stopped(t, 5*time.Second); err != nil {
			t.Fatalf("run: %v", err)
		}
		waitUntil(t, 5*time.Second, "the connection to close", func() bool { return !last(d).Closed.IsZero() })
		if c := last(d).CloseCode; c != 1000 {
			t.Errorf("closed with %d, want 1000", c)
		}
	})
}
