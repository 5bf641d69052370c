package discordtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway opcodes.
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
	// writeTimeout bounds a write to a session that stopped reading.
	writeTimeout = 5 * time.Second
	// maxReplay is how many of a session's events the fake keeps for a RESUME.
	maxReplay = 1000
)

// Identify is what a session sent in its IDENTIFY.
type Identify struct {
	// Token is the token as sent (discordgo sends "Bot <token>").
	Token string
	// Intents is the intents bit set.
	Intents int
	// Shard is [shard id, shard count], nil when not sharded.
	Shard *[2]int
	// At is when the fake received it.
	At time.Time
}

// Connection is the fake's record of one gateway connection.
type Connection struct {
	// Opened is when the connection was upgraded; Closed when it ended (zero while
	// it is open).
	Opened, Closed time.Time
	// Began is how a session began on it: "identify", "resume" (a RESUME the fake
	// took), or "" (none yet, or a RESUME answered with op 9).
	Began string
	// Session is the id of the session on it, "" until one began.
	Session string
	// Heartbeats counts the heartbeats received. Unacked counts those of them
	// received while the connection was a zombie (StopHeartbeatAcks): never
	// acknowledged.
	Heartbeats, Unacked int
	// Replayed counts the events a RESUME sent again.
	Replayed int
	// CloseCode is the code of the client's close frame: 1006 when it hung up
	// without one, 0 when the fake ended the connection.
	CloseCode int
}

// frame is a gateway payload. s and t are null except in dispatches.
type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

// gwSession is a session the fake started on an IDENTIFY; guarded by Server.gwMu.
type gwSession struct {
	id    string
	shard *[2]int
	seq   int64
	// sent are the last maxReplay dispatches after READY, for RESUME.
	sent []event
	// conn is the connection the session runs on, nil between connections.
	conn *gwConn
	// ended is set when the session cannot be resumed: invalidated with op 9
	// (false), or closed by the client with 1000 or 1001.
	ended bool
}

type event struct {
	seq int64
	t   string
	d   json.RawMessage
	// token is an INTERACTION_CREATE's interaction token: a replay restarts its
	// acknowledgement clock.
	token string
}

// gwConn is one websocket connection. wmu serialises its writes; the other fields
// are guarded by Server.gwMu.
type gwConn struct {
	ws  *websocket.Conn
	wmu sync.Mutex

	session *gwSession
	// zombie connections acknowledge nothing and send nothing.
	zombie bool
	rec    *Connection
}

// write sends one payload; s is the sequence number of a dispatch.
func (c *gwConn) write(op int, t string, seq int64, d json.RawMessage) error {
	f := frame{Op: op, D: d}
	if op == opDispatch {
		f.S, f.T = &seq, &t
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteJSON(f); err != nil {
		return fmt.Errorf("writing op %d: %w", op, err)
	}
	return nil
}

// hangUp closes the connection with a close frame, as Discord does.
func (c *gwConn) hangUp(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

// serveGateway runs one gateway connection: HELLO, then IDENTIFY or RESUME, then
// heartbeats until either side closes.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.gwDone.Add(1)
	s.mu.Unlock()
	defer s.gwDone.Done()

	s.gwMu.Lock()
	refusal := s.gwRefusal
	if refusal != nil && !refusal.active(time.Now()) {
		s.gwRefusal, refusal = nil, nil
	}
	s.gwMu.Unlock()
	if refusal != nil {
		sw := &statusWriter{ResponseWriter: w}
		s.writeFailure(sw, refusal.Failure)
		sw.hangUp()
		return
	}

	// Discord's compression is opt-in (compress, zlib-stream); the fake sends plain
	// JSON text frames, which discordgo reads either way.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client.
	}
	c := &gwConn{ws: ws, rec: &Connection{Opened: time.Now()}}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		c.hangUp(1001, "server closing")
		return
	}
	s.gwMu.Lock()
	s.conns[c] = struct{}{}
	s.connections = append(s.connections, c.rec)
	s.gwMu.Unlock()

	code := 0
	defer func() {
		s.gwMu.Lock()
		delete(s.conns, c)
		c.rec.Closed, c.rec.CloseCode = time.Now(), code
		if sess := c.session; sess != nil && sess.conn == c {
			sess.conn = nil
			// A client closing with 1000 or 1001 ends its session.
			sess.ended = sess.ended || code == websocket.CloseNormalClosure || code == websocket.CloseGoingAway
		}
		s.gwMu.Unlock()
		_ = ws.Close()
	}()

	hello := mustJSON(map[string]int64{"heartbeat_interval": s.heartbeat.Milliseconds()})
	if c.write(opHello, "", 0, hello) != nil {
		return
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
				code = ce.Code
			}
			return
		}
		if !s.handleGateway(c, msg) {
			return
		}
	}
}

// handleGateway answers one payload from the client; false ends the connection.
func (s *Server) handleGateway(c *gwConn, msg []byte) bool {
	var p struct {
		Op int             `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(msg, &p); err != nil {
		c.hangUp(4002, "Error while decoding payload.")
		return false
	}
	s.gwMu.Lock()
	identified, zombie := c.session != nil, c.zombie
	if p.Op == opHeartbeat {
		c.rec.Heartbeats++
		if zombie {
			c.rec.Unacked++
		}
	}
	s.gwMu.Unlock()
	switch p.Op {
	case opHeartbeat:
		return zombie || c.write(opHeartbeatAck, "", 0, nil) == nil
	case opIdentify:
		if identified {
			c.hangUp(4005, "Already authenticated.")
			return false
		}
		return s.identify(c, p.D)
	case opResume:
		return s.resume(c, p.D)
	default:
		if !identified {
			c.hangUp(4003, "Not authenticated.")
			return false
		}
		return true // presence updates, member requests…: nothing to model
	}
}

func (s *Server) tokenOK(token string) bool {
	return token == s.BotToken || token == "Bot "+s.BotToken
}

// identify starts a session and sends READY.
func (s *Server) identify(c *gwConn, d json.RawMessage) bool {
	var id struct {
		Token   string  `json:"token"`
		Intents int     `json:"intents"`
		Shard   *[2]int `json:"shard"`
	}
	if err := json.Unmarshal(d, &id); err != nil {
		c.hangUp(4002, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(id.Token) {
		c.hangUp(4004, "Authentication failed")
		return false
	}
	if id.Shard != nil && (id.Shard[1] < 1 || id.Shard[0] < 0 || id.Shard[0] >= id.Shard[1]) {
		c.hangUp(4010, "Invalid shard.")
		return false
	}
	sess := &gwSession{id: randomHex(16), shard: id.Shard, seq: 1, conn: c}
	ready := map[string]any{
		"v":                  10,
		"user":               s.botUser(),
		"guilds":             []any{},
		"session_id":         sess.id,
		"resume_gateway_url": s.GatewayURL,
		"application":        map[string]any{"id": s.AppID, "flags": 0},
	}
	if id.Shard != nil {
		ready["shard"] = id.Shard
	}
	// The session counts (Sessions, WaitIdentify, Dispatch) from now on, so a test
	// may dispatch as soon as the client has READY; holding gwMu until READY is
	// written keeps any dispatch from overtaking it.
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	c.session = sess
	c.rec.Began, c.rec.Session = "identify", sess.id
	s.sessions[sess.id] = sess
	s.identifies = append(s.identifies, Identify{Token: id.Token, Intents: id.Intents, Shard: id.Shard, At: time.Now()})
	return c.write(opDispatch, "READY", sess.seq, mustJSON(ready)) == nil
}

// resume continues a session the fake started from the client's sequence number:
// the events it missed, then RESUMED. A session that ended is answered op 9 false.
func (s *Server) resume(c *gwConn, d json.RawMessage) bool {
	var rp struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	if err := json.Unmarshal(d, &rp); err != nil {
		c.hangUp(4002, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(rp.Token) {
		c.hangUp(4004, "Authentication failed")
		return false
	}
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	sess := s.sessions[rp.SessionID]
	if sess == nil || sess.ended {
		// Not resumable: the client must identify again.
		return c.write(opInvalidSession, "", 0, json.RawMessage("false")) == nil
	}
	if rp.Seq > sess.seq {
		c.hangUp(4007, "Invalid seq.")
		return false
	}
	if old := sess.conn; old != nil && old != c {
		// The session moves; Discord hangs up the connection it leaves.
		old.session = nil
		go old.hangUp(4000, "Session resumed elsewhere.")
	}
	sess.conn, c.session = c, sess
	c.rec.Began, c.rec.Session = "resume", sess.id
	for _, ev := range sess.sent {
		if ev.seq > rp.Seq {
			if c.write(opDispatch, ev.t, ev.seq, ev.d) != nil {
				return false
			}
			c.rec.Replayed++
			if ev.token != "" {
				// Discord's clock runs from creation, and an interaction held for
				// a RESUME may be past it; the fake times the bot from now, when
				// the interaction reached it, so that the seconds a zombie took to
				// be told are not counted against the bot.
				s.markSent(ev.token, ev.d, s.now())
			}
		}
	}
	sess.seq++
	return c.write(opDispatch, "RESUMED", sess.seq, json.RawMessage("{}")) == nil
}

// Dispatch sends the event (op 0, with each session's next sequence number) to every
// session. data is encoded as JSON unless it is a json.RawMessage already. A session
// between connections, or on a zombie connection, keeps the event for its RESUME.
// It fails when there is no session, connected or resumable, so that a test does
// not wait for an event nobody will receive.
func (s *Server) Dispatch(eventType string, data any) error {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return fmt.Errorf("encoding %s: %w", eventType, err)
		}
	}
	return s.dispatch(eventType, raw, "", nil)
}

// dispatch sends to the sessions that wants accepts (all when nil). token names the
// interaction an INTERACTION_CREATE carries.
func (s *Server) dispatch(eventType string, raw json.RawMessage, token string, wants func(shard *[2]int) bool) error {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if sess.ended || wants != nil && !wants(sess.shard) {
			continue
		}
		n++
		sess.seq++
		sess.sent = append(sess.sent, event{seq: sess.seq, t: eventType, d: raw, token: token})
		if len(sess.sent) > maxReplay {
			sess.sent = sess.sent[1:]
		}
		if c := sess.conn; c != nil && !c.zombie {
			// A failed write is a connection going away: the event waits for the
			// RESUME, as on Discord.
			_ = c.write(opDispatch, eventType, sess.seq, raw)
		}
	}
	if n == 0 {
		return fmt.Errorf("dispatching %s: no gateway session is connected or resumable", eventType)
	}
	return nil
}

// shardOf selects the sessions that receive a guild's events, as Discord routes them:
// shard (guild_id >> 22) % count, shard 0 for DMs.
func shardOf(guildID string) func(*[2]int) bool {
	return func(shard *[2]int) bool {
		if shard == nil || shard[1] <= 1 {
			return true
		}
		var id uint64
		if guildID != "" {
			var err error
			if id, err = strconv.ParseUint(guildID, 10, 64); err != nil {
				return true
			}
		}
		return int((id>>22)%uint64(shard[1])) == shard[0]
	}
}

// StopHeartbeatAcks turns the gateway connections open now into zombies, as when
// the network between a bot and Discord dies without either end noticing: they
// acknowledge no heartbeat and send nothing more. Their sessions keep the events
// dispatched meanwhile for a RESUME, as Discord does. Connections opened later are
// healthy.
func (s *Server) StopHeartbeatAcks() {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	for c := range s.conns {
		c.zombie = true
	}
}

// RequestReconnect sends op 7 (Reconnect) on every healthy connection with a
// session: the client should close it and resume.
func (s *Server) RequestReconnect() {
	s.sendOp(opReconnect, nil, nil)
}

// RequestHeartbeat sends op 1 on every healthy connection with a session: the
// client must send a heartbeat at once.
func (s *Server) RequestHeartbeat() {
	s.sendOp(opHeartbeat, nil, nil)
}

// InvalidateSessions sends op 9 (Invalid Session) with d = resumable on every
// healthy connection with a session. When not resumable, the sessions end: the
// client must identify again, and a RESUME of one is answered op 9 false.
func (s *Server) InvalidateSessions(resumable bool) {
	var end func(*gwConn)
	if !resumable {
		end = func(c *gwConn) {
			c.session.ended = true
			c.session.conn, c.session = nil, nil
		}
	}
	s.sendOp(opInvalidSession, json.RawMessage(strconv.FormatBool(resumable)), end)
}

// sendOp sends op with d on every healthy connection with a session, then runs
// after (when set) on each, holding gwMu.
func (s *Server) sendOp(op int, d json.RawMessage, after func(*gwConn)) {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	for c := range s.conns {
		if c.session == nil || c.zombie {
			continue
		}
		_ = c.write(op, "", 0, d)
		if after != nil {
			after(c)
		}
	}
}

// DropConnections closes every gateway connection without a close frame, as a
// network failure does; their sessions stay resumable.
func (s *Server) DropConnections() {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	for c := range s.conns {
		_ = c.ws.Close()
	}
}

// RefuseGateway makes new gateway connections fail, for d from now or until Recover
// when d is 0: the handshake is answered f.Status without an upgrade (the client's
// "bad handshake"), or, with f.Drop, the connection is closed unanswered.
// Connections already open are left alone (DropConnections ends them).
func (s *Server) RefuseGateway(d time.Duration, f Failure) {
	ft := &fault{left: -1, Failure: f}
	if d > 0 {
		ft.until = time.Now().Add(d)
	}
	s.gwMu.Lock()
	s.gwRefusal = ft
	s.gwMu.Unlock()
}

// Connections returns the records of the gateway connections so far, oldest first.
func (s *Server) Connections() []Connection {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	out := make([]Connection, len(s.connections))
	for n, c := range s.connections {
		out[n] = *c
	}
	return out
}

// WaitIdentify waits for the next IDENTIFY not yet returned by WaitIdentify, oldest
// first (so a sharded test calls it once per shard), and returns it; the session
// then receives dispatches, after its READY. On timeout it fails the test.
func (s *Server) WaitIdentify(tb testing.TB, timeout time.Duration) Identify {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.gwMu.Lock()
		if s.nextIdent < len(s.identifies) {
			id := s.identifies[s.nextIdent]
			s.nextIdent++
			s.gwMu.Unlock()
			return id
		}
		s.gwMu.Unlock()
		if time.Now().After(deadline) {
			tb.Fatalf("discordtest: no gateway IDENTIFY within %v", timeout)
			return Identify{}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Identifies returns every IDENTIFY received so far, oldest first.
func (s *Server) Identifies() []Identify {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	return append([]Identify(nil), s.identifies...)
}

// Sessions returns the number of sessions connected on a connection now.
func (s *Server) Sessions() int {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if sess.conn != nil {
			n++
		}
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
