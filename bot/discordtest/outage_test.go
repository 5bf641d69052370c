package discordtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// TestRESTOutages covers FailFor: errors, rate limits and dropped connections for as
// long as the outage lasts, only on the matching routes, ended by time or Recover.
func TestRESTOutages(t *testing.T) {
	t.Parallel()
	put := func(s *Server) (int, error) {
		req, _ := http.NewRequest(http.MethodPut, s.URL+"/applications/"+s.AppID+"/commands", strings.NewReader(`[]`))
		req.Header.Set("Authorization", "Bot "+s.BotToken)
		req.Header.Set("User-Agent", testUA)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	tests := []struct {
		name string
		f    Failure
		want int // 0: the connection is dropped
	}{
		{"server error", Failure{Status: http.StatusServiceUnavailable}, 503},
		{"rate limited", Failure{Status: http.StatusTooManyRequests, RetryAfter: 300 * time.Millisecond}, 429},
		{"unreachable", Failure{Drop: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, Options{})
			s.FailFor(http.MethodPut, "/applications/", 0, tt.f)
			for range 3 {
				status, err := put(s)
				if tt.want == 0 && err == nil || tt.want != 0 && status != tt.want {
					t.Fatalf("during the outage: %d, %v; want %d", status, err, tt.want)
				}
			}
			if r := call(t, s, "GET", "/gateway/bot", "", nil); r.status != 200 {
				t.Errorf("another route during the outage: %d", r.status)
			}
			s.Recover()
			if status, err := put(s); err != nil || status != 200 {
				t.Fatalf("after Recover: %d, %v", status, err)
			}
			var statuses []int
			for _, c := range s.Calls() {
				if c.Method == http.MethodPut {
					statuses = append(statuses, c.Status)
				}
			}
			if len(statuses) != 4 || statuses[0] != tt.want || statuses[3] != 200 {
				t.Errorf("recorded statuses %v", statuses)
			}
		})
	}

	t.Run("ends by itself", func(t *testing.T) {
		s := New(t, Options{})
		s.FailNext(http.MethodPut, "/applications/", 1, http.StatusBadGateway)
		s.FailFor(http.MethodPut, "/applications/", 200*time.Millisecond, Failure{Status: 500})
		s.Recover() // ends the outage, keeps the counted fault
		if status, _ := put(s); status != 502 {
			t.Fatalf("counted fault: %d", status)
		}
		// A loaded machine can take longer than the outage to serve a request, so
		// what "during" means is measured: a request that came back within the
		// outage must have failed; one that did not proves nothing and the outage
		// is tried again, longer.
		for d := 200 * time.Millisecond; ; d *= 2 {
			start := time.Now()
			s.FailFor(http.MethodPut, "/applications/", d, Failure{Status: 500})
			status, _ := put(s)
			if time.Since(start) >= d {
				if d >= 5*time.Second {
					t.Fatalf("a request took over %v", d)
				}
				continue
			}
			if status != 500 {
				t.Fatalf("during the outage (%v after it began, of %v): %d", time.Since(start), d, status)
			}
			time.Sleep(time.Until(start.Add(d + 50*time.Millisecond)))
			break
		}
		if status, _ := put(s); status != 200 {
			t.Fatalf("after the outage: %d", status)
		}
	})

	t.Run("a wrong token is refused", func(t *testing.T) {
		s := New(t, Options{})
		r := callWith(t, s, "GET", "/gateway/bot", "", nil, http.Header{"Authorization": {"Bot nope"}, "User-Agent": {testUA}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("GET /gateway/bot with a wrong token: %d", r.status)
		}
	})
}

func TestRefuseGateway(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	s.RefuseGateway(0, Failure{Status: http.StatusBadGateway})
	_, res, err := websocket.DefaultDialer.Dial(s.GatewayURL+"?v=10&encoding=json", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || res == nil || res.StatusCode != http.StatusBadGateway {
		t.Fatalf("refused: %v, %+v", err, res)
	}
	s.RefuseGateway(0, Failure{Drop: true})
	if _, res, err := websocket.DefaultDialer.Dial(s.GatewayURL, nil); err == nil || res != nil {
		t.Fatalf("dropped: %v, %+v", err, res)
	}
	s.RefuseGateway(100*time.Millisecond, Failure{Status: 503})
	time.Sleep(150 * time.Millisecond)
	dialGateway(t, s) // the refusal ended by itself
	s.RefuseGateway(0, Failure{Status: 503})
	s.Recover()
	c := dialGateway(t, s)
	c.identify(t, s.BotToken, nil)
	if len(s.Connections()) != 2 {
		t.Errorf("connections %+v; refused handshakes are no connections", s.Connections())
	}
}

// session identifies on a new connection and returns its session id.
func session(t *testing.T, s *Server) (*gwClient, string) {
	t.Helper()
	c := dialGateway(t, s)
	ready := c.identify(t, s.BotToken, nil)
	var sid string
	_ = json.Unmarshal(ready["session_id"], &sid)
	return c, sid
}

func TestGatewayFaults(t *testing.T) {
	t.Parallel()
	t.Run("zombie connection, then a resume that replays what it missed", func(t *testing.T) {
		s := New(t, Options{})
		c, sid := session(t, s)
		s.StopHeartbeatAcks()
		c.write(t, opHeartbeat, 1)
		if err := s.Dispatch("GUILD_UPDATE", json.RawMessage(`{"id":"1"}`)); err != nil {
			t.Fatal(err)
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, msg, err := c.ws.ReadMessage(); err == nil {
			t.Fatalf("a zombie connection sent %s", msg)
		}
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "zombie"), time.Now().Add(time.Second))
		c.ws.Close()

		r := dialGateway(t, s)
		r.write(t, opHeartbeat, 1)
		if f := r.read(t); f.Op != opHeartbeatAck {
			t.Fatalf("a new connection is healthy: got %+v", f)
		}
		r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 1})
		if f := r.expectDispatch(t, "GUILD_UPDATE"); *f.S != 2 {
			t.Errorf("replayed seq %d, want 2", *f.S)
		}
		if f := r.expectDispatch(t, "RESUMED"); *f.S != 3 {
			t.Errorf("RESUMED seq %d, want 3", *f.S)
		}
		conns := waitConnections(t, s, func(cs []Connection) bool { return len(cs) == 2 && !cs[0].Closed.IsZero() })
		if z := conns[0]; z.Heartbeats != 1 || z.Unacked != 1 || z.CloseCode != 4000 || z.Began != "identify" || z.Session != sid {
			t.Errorf("zombie connection %+v", z)
		}
		if n := conns[1]; n.Began != "resume" || n.Replayed != 1 || n.Unacked != 0 || n.Session != sid {
			t.Errorf("resumed connection %+v", n)
		}
	})

	t.Run("an interaction held for a resume: its 3 seconds start at the replay", func(t *testing.T) {
		// Discord's clock starts at creation, and an interaction a zombie connection
		// held may be past it when the RESUME brings it; the fake times the bot from
		// the moment the interaction reached it, so that a test of the bot's resume
		// does not fail on the seconds the zombie took to be told.
		s := New(t, Options{})
		c, sid := session(t, s)
		s.StopHeartbeatAcks()
		i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
		if err := s.DispatchInteraction(i); err != nil {
			t.Fatal(err)
		}
		s.Advance(3100 * time.Millisecond)
		c.ws.Close()

		r := dialGateway(t, s)
		r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 1})
		r.expectDispatch(t, "INTERACTION_CREATE")
		r.expectDispatch(t, "RESUMED")
		if res := callJSON(t, s, "POST", callbackPath(i), `{"type":5}`); res.status != http.StatusNoContent {
			t.Fatalf("answering the replayed interaction at once: %d %s; want 204", res.status, res.body)
		}
	})

	requests := []struct {
		name string
		send func(*Server)
		op   int
	}{
		{"op 7", (*Server).RequestReconnect, opReconnect},
		{"op 1", (*Server).RequestHeartbeat, opHeartbeat},
	}
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, Options{})
			c, _ := session(t, s)
			tt.send(s)
			if f := c.read(t); f.Op != tt.op {
				t.Fatalf("got %+v, want op %d", f, tt.op)
			}
		})
	}

	for _, resumable := range []bool{true, false} {
		t.Run("op 9 resumable "+strconv.FormatBool(resumable), func(t *testing.T) {
			s := New(t, Options{})
			c, sid := session(t, s)
			s.InvalidateSessions(resumable)
			if f := c.read(t); f.Op != opInvalidSession || string(f.D) != strconv.FormatBool(resumable) {
				t.Fatalf("got %+v %s", f, f.D)
			}
			c.ws.Close()
			r := dialGateway(t, s)
			r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 1})
			f := r.read(t)
			if resumable && (f.T == nil || *f.T != "RESUMED") || !resumable && (f.Op != opInvalidSession || string(f.D) != "false") {
				t.Fatalf("resume after op 9 %v: %+v %s", resumable, f, f.D)
			}
		})
	}

	closes := []struct {
		code      int
		resumable bool
	}{{1000, false}, {1001, false}, {4000, true}, {1012, true}}
	for _, tt := range closes {
		t.Run("client closes with "+strconv.Itoa(tt.code), func(t *testing.T) {
			s := New(t, Options{})
			c, sid := session(t, s)
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(tt.code, ""), time.Now().Add(time.Second))
			c.ws.Close()
			waitConnections(t, s, func(cs []Connection) bool { return !cs[0].Closed.IsZero() })
			if got := s.Connections()[0].CloseCode; got != tt.code {
				t.Errorf("recorded close code %d, want %d", got, tt.code)
			}
			r := dialGateway(t, s)
			r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 1})
			f := r.read(t)
			if got := f.T != nil && *f.T == "RESUMED"; got != tt.resumable {
				t.Errorf("close %d: resumed %v, want %v (%+v %s)", tt.code, got, tt.resumable, f, f.D)
			}
		})
	}

	t.Run("dropped connection, events kept for the resume", func(t *testing.T) {
		s := New(t, Options{})
		c, sid := session(t, s)
		s.DropConnections()
		if _, err := c.tryRead(); err == nil {
			t.Fatal("the connection survived DropConnections")
		} else if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("got %v, want an abnormal closure (no close frame)", err)
		}
		waitConnections(t, s, func(cs []Connection) bool { return !cs[0].Closed.IsZero() })
		if s.Sessions() != 0 {
			t.Errorf("Sessions() = %d between connections", s.Sessions())
		}
		if err := s.Dispatch("GUILD_UPDATE", json.RawMessage(`{"id":"1"}`)); err != nil {
			t.Fatalf("dispatch to a resumable session: %v", err)
		}
		r := dialGateway(t, s)
		r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 1})
		r.expectDispatch(t, "GUILD_UPDATE")
		r.expectDispatch(t, "RESUMED")
		if s.Connections()[0].CloseCode != 0 {
			t.Errorf("a connection the fake ended: close code %d, want 0", s.Connections()[0].CloseCode)
		}
	})

	t.Run("resume past the session's sequence", func(t *testing.T) {
		s := New(t, Options{})
		_, sid := session(t, s)
		r := dialGateway(t, s)
		r.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": sid, "seq": 99})
		_, err := r.tryRead()
		if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != 4007 {
			t.Fatalf("got %v, want close 4007", err)
		}
	})

	t.Run("no session at all", func(t *testing.T) {
		s := New(t, Options{})
		c, _ := session(t, s)
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		c.ws.Close()
		waitConnections(t, s, func(cs []Connection) bool { return !cs[0].Closed.IsZero() })
		if err := s.Dispatch("GUILD_UPDATE", json.RawMessage(`{}`)); err == nil {
			t.Fatal("dispatch with only an ended session succeeded")
		}
	})
}

// waitConnections polls Connections until ok accepts them.
func waitConnections(t *testing.T, s *Server, ok func([]Connection) bool) []Connection {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if cs := s.Connections(); len(cs) > 0 && ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections %+v", s.Connections())
		}
	}
}
