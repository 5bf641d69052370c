package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/reportbot/reportbot/reporting/upstream"
	"github.com/rs/zerolog"
)

// Gateway opcodes the bot sends or handles.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatAck   = 11
)

const (
	// gatewayQuery selects the API version and encoding; the bot asks for no
	// compression, so every frame is a JSON text frame.
	gatewayQuery = "?v=10&encoding=json"
	// closeResumable is the close code the bot sends when it means to resume: Discord
	// ends a session closed with 1000 or 1001 and keeps it for any other code.
	closeResumable = 4000
	// identifyEvery is Discord's identify rate limit for a bot whose max_concurrency
	// is 1: one IDENTIFY per 5 seconds. Each process runs one shard, so spacing its
	// own IDENTIFYs keeps to it; shards in several processes that identify at the
	// same moment are told with an op 9, which the bot waits out (1–5 s, at random).
	identifyEvery = 5 * time.Second
	// helloWithin bounds the wait for HELLO on a new connection.
	helloWithin = 20 * time.Second
	// writeWithin bounds one write to the gateway.
	writeWithin = 10 * time.Second
	// maxFrame bounds one frame read; READY of a shard with 2,500 servers is far less.
	maxFrame = 32 << 20
)

// gateway is the bot's client of Discord's gateway, for one shard. It does only what
// the bot needs: HELLO; IDENTIFY (no intents, the shard) within the identify rate
// limits, or RESUME at resume_gateway_url; heartbeats, the first one jittered, with
// ACK tracking; op 1, op 7 and op 9; Discord's close codes; READY, RESUMED and
// INTERACTION_CREATE, which goes to the bot's handler. It reconnects for as long as
// Discord cannot be reached, with capped, jittered backoff; only close codes that no
// retry can cure (4004 authentication failed, 4010–4014) stop it.
//
// The bot used discordgo's Session until measured against bot/discordtest: a gateway
// that stopped acknowledging heartbeats was noticed only after 5 missed ACKs (4 s at
// a 1 s interval; FailedHeartbeatAcks is a constant), the session then closed with
// code 1000, which ends it on Discord's side, so the RESUME that followed got op 9;
// and Open, which holds the session's lock while it reads the answer to RESUME,
// handled that op 9 by calling CloseWithCode, which takes the same lock: the session
// deadlocked and the bot stayed deaf until restarted (an open upstream pull request
// is about it). Its first Open also fails for good when the gateway refuses the
// connection. None of that can be changed from outside a Session, so the bot speaks
// the small part of the protocol it needs itself, on gorilla/websocket (which
// discordgo uses too); payloads are discordgo's types.
type gateway struct {
	rest   *REST
	token  string
	shard  [2]int
	log    zerolog.Logger
	status *outage
	// handle answers an interaction; it is called on a goroutine of its own.
	handle func(*discordgo.Interaction)
	dialer *websocket.Dialer

	backoff       backoff
	identifyEvery time.Duration
	// invalidWait is how long to wait after an op 9 (Discord: 1 to 5 s, at random).
	invalidWait func() time.Duration

	// The session, used by run's goroutine only.
	sessionID, resumeURL string
	seq                  int64
	lastIdentify         time.Time
}

func newGateway(rest *REST, token string, shardID, shardCount int, log zerolog.Logger, status *outage, handle func(*discordgo.Interaction)) *gateway {
	return &gateway{
		rest: rest, token: token, shard: [2]int{shardID, shardCount}, status: status, handle: handle,
		log:           log.With().Int("shard", shardID).Logger(),
		dialer:        &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 20 * time.Second},
		backoff:       backoff{min: 500 * time.Millisecond, max: 30 * time.Second},
		identifyEvery: identifyEvery,
		invalidWait:   func() time.Duration { return time.Second + rand.N(4*time.Second) },
	}
}

// connEnd is how one connection ended.
type connEnd struct {
	// err is why; ctx's error when the bot is stopping.
	err error
	// connected is set when the connection got as far as READY or RESUMED.
	connected bool
	// wait is the least wait before the next connection.
	wait time.Duration
}

// run keeps the shard connected until ctx ends (nil) or Discord refuses the bot for
// good (a *RefusedError).
func (g *gateway) run(ctx context.Context) error {
	for {
		end := g.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if refused := (*RefusedError)(nil); errors.As(end.err, &refused) {
			g.status.refuse(end.err)
			return end.err
		}
		g.status.fail(end.err)
		wait := end.wait
		if end.connected {
			// A connection that worked is resumed at once; backoff is for outages.
			g.backoff.reset()
		} else {
			wait = max(wait, g.backoff.next())
		}
		if api := (*APIError)(nil); errors.As(end.err, &api) {
			wait = max(wait, api.RetryAfter)
		}
		if !upstream.Sleep(ctx, wait) {
			return nil
		}
	}
}

// frame is a gateway payload as received.
type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  string          `json:"t"`
}

// outgoing is a gateway payload as sent.
type outgoing struct {
	Op int `json:"op"`
	D  any `json:"d"`
}

// identifyData is IDENTIFY's payload as Discord documents it (discordgo's Identify
// still has the old "$os" property keys and always sends a presence).
type identifyData struct {
	Token      string            `json:"token"`
	Intents    discordgo.Intent  `json:"intents"`
	Properties map[string]string `json:"properties"`
	Shard      *[2]int           `json:"shard,omitempty"`
}

type resumeData struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

// connection runs one connection: dial, HELLO, IDENTIFY or RESUME, then heartbeats
// and dispatches until it ends.
func (g *gateway) connection(ctx context.Context) connEnd {
	resuming := g.sessionID != "" && g.resumeURL != ""
	url := g.resumeURL
	if !resuming {
		var err error
		if url, err = g.beforeIdentify(ctx); err != nil {
			return connEnd{err: err}
		}
	}
	ws, resp, err := g.dialer.DialContext(ctx, url+gatewayQuery, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
		}
		return connEnd{err: fmt.Errorf("connecting to the gateway: %w", err)}
	}
	defer ws.Close()
	ws.SetReadLimit(maxFrame)
	frames, readErr, stop := readFrames(ws)
	defer stop()

	hello := time.NewTimer(helloWithin)
	defer hello.Stop()
	var interval time.Duration
	select {
	case <-ctx.Done():
		closeWith(ws, websocket.CloseNormalClosure, "shutting down")
		return connEnd{err: ctx.Err()}
	case err := <-readErr:
		return g.lost(err, false)
	case <-hello.C:
		closeWith(ws, closeResumable, "no hello")
		return connEnd{err: errors.New("the gateway sent no HELLO")}
	case f := <-frames:
		var h struct {
			HeartbeatInterval int64 `json:"heartbeat_interval"`
		}
		if f.Op != opHello || json.Unmarshal(f.D, &h) != nil || h.HeartbeatInterval <= 0 {
			closeWith(ws, closeResumable, "expected hello")
			return connEnd{err: fmt.Errorf("the gateway's first payload was op %d, not a valid HELLO", f.Op)}
		}
		interval = time.Duration(h.HeartbeatInterval) * time.Millisecond
	}

	send := func(op int, d any) error {
		_ = ws.SetWriteDeadline(time.Now().Add(writeWithin))
		if err := ws.WriteJSON(outgoing{Op: op, D: d}); err != nil {
			return fmt.Errorf("writing op %d to the gateway: %w", op, err)
		}
		return nil
	}
	if resuming {
		err = send(opResume, resumeData{Token: g.token, SessionID: g.sessionID, Seq: g.seq})
	} else {
		d := identifyData{Token: g.token, Intents: discordgo.IntentsNone,
			Properties: map[string]string{"os": runtime.GOOS, "browser": "reportbot", "device": "reportbot"}}
		if g.shard[1] > 1 {
			d.Shard = &g.shard
		}
		g.lastIdentify = time.Now()
		err = send(opIdentify, d)
	}
	if err != nil {
		return connEnd{err: err}
	}

	// The first heartbeat goes after a random part of the interval, so that shards
	// coming back together do not beat in step; each later one checks that the one
	// before was acknowledged, which tells a zombie connection within two intervals.
	beat := time.NewTimer(time.Duration(rand.Int64N(int64(interval))))
	defer beat.Stop()
	acked, connected := true, false
	heartbeat := func() error {
		var seq any // null until the first dispatch
		if g.seq > 0 {
			seq = g.seq
		}
		acked = false
		return send(opHeartbeat, seq)
	}
	for {
		select {
		case <-ctx.Done():
			// 1000 ends the session: the bot is stopping, not coming back.
			closeWith(ws, websocket.CloseNormalClosure, "shutting down")
			return connEnd{err: ctx.Err(), connected: connected}
		case <-beat.C:
			if !acked {
				closeWith(ws, closeResumable, "zombie connection")
				return connEnd{err: fmt.Errorf("no heartbeat ACK within %v: the connection is dead", interval), connected: connected}
			}
			if err := heartbeat(); err != nil {
				return connEnd{err: err, connected: connected}
			}
			beat.Reset(interval)
		case err := <-readErr:
			return g.lost(err, connected)
		case f := <-frames:
			switch f.Op {
			case opDispatch:
				if f.S != nil {
					g.seq = *f.S
				}
				if g.dispatch(f) {
					connected = true
				}
			case opHeartbeat:
				if err := heartbeat(); err != nil {
					return connEnd{err: err, connected: connected}
				}
			case opHeartbeatAck:
				acked = true
			case opReconnect:
				closeWith(ws, closeResumable, "reconnecting")
				return connEnd{err: errors.New("asked to reconnect by Discord (op 7)"), connected: connected}
			case opInvalidSession:
				var resumable bool
				_ = json.Unmarshal(f.D, &resumable)
				if !resumable {
					g.forget()
				}
				closeWith(ws, closeResumable, "invalid session")
				return connEnd{err: fmt.Errorf("session invalidated by Discord (op 9, resumable: %v)", resumable),
					connected: connected, wait: g.invalidWait()}
			}
		}
	}
}

// beforeIdentify asks where the gateway is and waits as long as the identify rate
// limits ask; it returns the gateway's URL.
func (g *gateway) beforeIdentify(ctx context.Context) (string, error) {
	gb, err := g.rest.GatewayBot(ctx)
	if err != nil {
		if refusesCredentials(err) {
			return "", &RefusedError{Op: "opening the gateway", Hint: credentialsHint, Err: err}
		}
		return "", fmt.Errorf("asking for the gateway's address: %w", err)
	}
	wait := time.Until(g.lastIdentify.Add(g.identifyEvery))
	if l := gb.SessionStartLimit; l.Total > 0 && l.Remaining <= 0 {
		reset := time.Duration(l.ResetAfter) * time.Millisecond
		g.log.Warn().Dur("wait", reset).Int("total", l.Total).
			Msg("the bot has started as many gateway sessions as Discord allows in a day; waiting for the reset")
		wait = max(wait, reset)
	}
	if wait > 0 && !upstream.Sleep(ctx, wait) {
		return "", ctx.Err()
	}
	return gb.URL, nil
}

// dispatch handles one event and reports whether it completed the handshake (READY
// or RESUMED).
func (g *gateway) dispatch(f frame) bool {
	switch f.T {
	case "READY":
		var r discordgo.Ready
		if err := json.Unmarshal(f.D, &r); err != nil {
			g.log.Error().Err(err).Msg("undecodable READY")
			return false
		}
		g.sessionID, g.resumeURL = r.SessionID, r.ResumeGatewayURL
		g.connected(false)
		return true
	case "RESUMED":
		g.connected(true)
		return true
	case "INTERACTION_CREATE":
		i, err := decodeInteraction(f.D)
		if err != nil || i.ID == "" {
			g.log.Error().Err(err).Msg("undecodable interaction from the gateway")
			return false
		}
		g.log.Debug().Str("interaction_id", i.ID).Str("guild_id", i.GuildID).Msg("interaction from the gateway")
		go g.handle(i)
	}
	return false
}

func (g *gateway) connected(resumed bool) {
	downFor, attempts := g.status.ok()
	ev := g.log.Info().Int("shards", g.shard[1]).Bool("resumed", resumed)
	if downFor > 0 {
		ev = ev.Dur("down_for", downFor).Int("attempts", attempts)
	}
	ev.Msg("gateway connected")
}

// forget drops the session, so that the next connection identifies.
func (g *gateway) forget() {
	g.sessionID, g.resumeURL, g.seq = "", "", 0
}

// lost is the end of a connection that failed while reading: a close code that no
// retry can cure refuses the bot; 4007 and 4009 end the session; anything else
// (another close code, a connection dropped without one) is resumed.
func (g *gateway) lost(err error, connected bool) connEnd {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == 4004 {
			return connEnd{err: &RefusedError{Op: "gateway", Hint: credentialsHint, Err: err}}
		}
		if hint, fatal := fatalCloses[ce.Code]; fatal {
			return connEnd{err: &RefusedError{Op: "gateway", Hint: hint, Err: err}}
		}
		if ce.Code == 4007 || ce.Code == 4009 {
			g.forget()
		}
	}
	return connEnd{err: fmt.Errorf("gateway connection lost: %w", err), connected: connected}
}

// fatalCloses are the close codes after which Discord will not take the bot back as
// it is configured, with what to do about each.
var fatalCloses = map[int]string{
	4010: "invalid shard: DISCORD_SHARD_ID must be below DISCORD_SHARD_COUNT",
	4011: "sharding required: the bot is in too many servers for one shard; raise DISCORD_SHARD_COUNT",
	4012: "invalid gateway API version",
	4013: "invalid intents",
	4014: "disallowed intents",
}

// readFrames reads ws on a goroutine of its own until it fails. stop ends it and
// waits for it (ws must be closed first, or be closed by stop's caller's defer).
func readFrames(ws *websocket.Conn) (frames <-chan frame, readErr <-chan error, stop func()) {
	fc, ec := make(chan frame), make(chan error, 1)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, msg, err := ws.ReadMessage()
			var f frame
			if err == nil {
				if err = json.Unmarshal(msg, &f); err != nil {
					err = fmt.Errorf("undecodable gateway payload: %w", err)
				}
			}
			if err != nil {
				ec <- err
				return
			}
			select {
			case fc <- f:
			case <-quit:
				return
			}
		}
	}()
	return fc, ec, func() {
		close(quit)
		_ = ws.Close()
		<-done
	}
}

// closeWith sends a close frame without waiting for the answer: a dead connection
// would never give one.
func closeWith(ws *websocket.Conn, code int, text string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// gatewayInteraction answers an interaction from the gateway through the callback
// endpoint, within Discord's deadline.
func (b *Bot) gatewayInteraction(i *discordgo.Interaction) {
	received := time.Now()
	if !b.begin() {
		b.log.Warn().Str("interaction_id", i.ID).Msg("interaction arrived while shutting down; not answered")
		return
	}
	defer b.inflight.Done()
	ctx, cancel := context.WithDeadline(b.workCtx, received.Add(answerWithin))
	defer cancel()
	resp := b.router.Handle(ctx, i)
	if err := b.rest.Respond(ctx, i.ID, i.Token, resp.Reply); err != nil {
		b.log.Error().Err(err).Str("interaction_id", i.ID).Msg("answering an interaction")
		return
	}
	b.metrics.observe("gateway", received)
	if resp.Then != nil {
		b.later(resp.Then)
	}
}
