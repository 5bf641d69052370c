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
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatAck   = 11
)

// writeTimeout bounds a write to a session that stopped reading.
const writeTimeout = 5 * time.Second

// Identify is what a session sent in its IDENTIFY.
type Identify struct {
	// Token is the token as sent (discordgo sends "Bot <token>").
	Token string
	// Intents is the intents bit set.
	Intents int
	// Shard is [shard id, shard count], nil when not sharded.
	Shard *[2]int
}

// frame is a gateway payload. s and t are null except in dispatches.
type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

// gwConn is one websocket connection. mu serialises writes and guards seq, so that
// sequence numbers go out in order; the session fields are guarded by Server.mu.
// When both are held, mu is taken first.
type gwConn struct {
	ws  *websocket.Conn
	mu  sync.Mutex
	seq int64

	identified bool
	sessionID  string
	shard      *[2]int
}

// send writes one payload; dispatches get the session's next sequence number.
func (c *gwConn) send(op int, t string, d json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(op, t, d)
}

func (c *gwConn) sendLocked(op int, t string, d json.RawMessage) error {
	f := frame{Op: op, D: d}
	if op == opDispatch {
		c.seq++
		seq := c.seq
		f.S, f.T = &seq, &t
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteJSON(f); err != nil {
		return fmt.Errorf("writing op %d: %w", op, err)
	}
	return nil
}

// hangUp closes the connection with a close frame, as Discord does.
func (c *gwConn) hangUp(code int, text string) {
	c.mu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.mu.Unlock()
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

	// Discord's compression is opt-in (compress, zlib-stream); the fake sends plain
	// JSON text frames, which discordgo reads either way.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client.
	}
	c := &gwConn{ws: ws}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.hangUp(1001, "server closing")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = ws.Close()
	}()

	hello := mustJSON(map[string]int64{"heartbeat_interval": s.heartbeat.Milliseconds()})
	if c.send(opHello, "", hello) != nil {
		return
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
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
	s.mu.Lock()
	identified := c.identified
	s.mu.Unlock()
	switch p.Op {
	case opHeartbeat:
		return c.send(opHeartbeatAck, "", nil) == nil
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
	sid := randomHex(16)
	ready := map[string]any{
		"v":                  10,
		"user":               s.botUser(),
		"guilds":             []any{},
		"session_id":         sid,
		"resume_gateway_url": s.GatewayURL,
		"application":        map[string]any{"id": s.AppID, "flags": 0},
	}
	if id.Shard != nil {
		ready["shard"] = id.Shard
	}
	// The session counts (Sessions, WaitIdentify, Dispatch) from now on, so a test
	// may dispatch as soon as the client has READY; holding the connection's lock
	// until READY is written keeps any dispatch from overtaking it.
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mu.Lock()
	c.identified, c.sessionID, c.shard = true, sid, id.Shard
	s.sessions[sid] = id.Shard
	s.identifies = append(s.identifies, Identify{Token: id.Token, Intents: id.Intents, Shard: id.Shard})
	s.mu.Unlock()
	return c.sendLocked(opDispatch, "READY", mustJSON(ready)) == nil
}

// resume continues a session the fake started, with the client's sequence number.
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
	s.mu.Lock()
	shard, known := s.sessions[rp.SessionID]
	s.mu.Unlock()
	if !known {
		// Not resumable: the client must identify again.
		return c.send(opInvalidSession, "", json.RawMessage("false")) == nil
	}
	// As in identify: count the session, and let nothing overtake RESUMED.
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mu.Lock()
	c.identified, c.sessionID, c.shard = true, rp.SessionID, shard
	s.mu.Unlock()
	c.seq = rp.Seq
	return c.sendLocked(opDispatch, "RESUMED", json.RawMessage("{}")) == nil
}

// Dispatch sends the event (op 0, with each session's next sequence number) to every
// identified session. data is encoded as JSON unless it is a json.RawMessage already.
// It fails when no session is connected, so that a test does not wait for an event
// nobody received.
func (s *Server) Dispatch(eventType string, data any) error {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return fmt.Errorf("encoding %s: %w", eventType, err)
		}
	}
	return s.dispatch(eventType, raw, nil)
}

// dispatch sends to the identified sessions that want accepts (all when nil).
func (s *Server) dispatch(eventType string, raw json.RawMessage, wants func(shard *[2]int) bool) error {
	s.mu.Lock()
	var to []*gwConn
	for c := range s.conns {
		if c.identified && (wants == nil || wants(c.shard)) {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	if len(to) == 0 {
		return fmt.Errorf("dispatching %s: no gateway session is connected", eventType)
	}
	var errs []error
	for _, c := range to {
		if err := c.send(opDispatch, eventType, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dispatching %s: %w", eventType, err)
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

// WaitIdentify waits for the next IDENTIFY not yet returned by WaitIdentify, oldest
// first (so a sharded test calls it once per shard), and returns it; the session
// then receives dispatches, after its READY. On timeout it fails the test.
func (s *Server) WaitIdentify(tb testing.TB, timeout time.Duration) Identify {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		if s.nextIdent < len(s.identifies) {
			id := s.identifies[s.nextIdent]
			s.nextIdent++
			s.mu.Unlock()
			return id
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			tb.Fatalf("discordtest: no gateway IDENTIFY within %v", timeout)
			return Identify{}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sessions returns the number of connected, identified gateway sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.identified {
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
