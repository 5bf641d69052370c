// Package discordtest is a fake Discord for tests that run the bot through its real
// wiring. One Server offers:
//
//   - a REST API under /api/v10 that models the routes the bot uses, checks every
//     request against Discord's official OpenAPI document (a violation fails the test
//     and is answered 400, as Discord would), records every call and keeps the state
//     a test wants to look at: interaction acknowledgements, original responses,
//     follow-ups, channel messages, DM channels and registered commands;
//   - a minimal gateway (websocket) that a client (the bot's, or a discordgo
//     session) can open, identify or resume on and receive dispatches from;
//   - a Signer and Server.Post, which deliver interactions to the bot's HTTP endpoint
//     exactly as Discord does, signature included;
//   - a "CDN" serving attachments, and fault injection: 429s and errors, outages of
//     the REST API (errors, rate limits, dropped connections) and of the gateway
//     (refused handshakes, dropped connections, zombie connections that stop
//     acknowledging heartbeats, op 7, op 9), with RESUME replaying what a session
//     missed.
//
// The bot under test is pointed at Server.URL as DISCORD_API_URL. Interactions are
// created with NewInteraction and delivered with DispatchInteraction (gateway) or Post
// (HTTP endpoint); Discord's 3-second acknowledgement deadline and 15-minute token
// lifetime are enforced.
package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/openapitest"
)

const (
	apiPrefix = "/api/v10"
	// discordEpoch is the first millisecond of 2015, the epoch of Discord's snowflakes.
	discordEpoch = 1420070400000
	// ackDeadline is how long Discord waits for an interaction's acknowledgement.
	ackDeadline = 3 * time.Second
	// tokenLifetime is how long an interaction token can be used for webhooks.
	tokenLifetime = 15 * time.Minute
	// defaultHeartbeat is the interval Discord usually sends in HELLO.
	defaultHeartbeat = 41250 * time.Millisecond
	// botName is the username of the bot user the fake reports (READY, message authors).
	botName = "reportbot"
)

// Discord requires every REST client to identify itself this way.
var discordBotUA = regexp.MustCompile(`^DiscordBot \([^,()]+, [^()]+\)`)

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// AppID is the application id (a snowflake); default a random one.
	AppID string
	// BotToken is the bot token, without the "Bot " prefix; default "test-token".
	BotToken string
	// HeartbeatInterval is the interval announced in the gateway's HELLO; default
	// 41.25 s, the value Discord usually sends.
	HeartbeatInterval time.Duration
	// AnswerLag is how long, after reading the bot's answer to an interaction posted
	// to its HTTP endpoint, the fake takes to make it the acknowledgement. Until then
	// the interaction's webhook routes answer Unknown Webhook, as Discord's do: the
	// token is usable only once Discord has taken the answer, and a bot's edit sent
	// right after its answer can overtake it. Default 0 (Post records the answer
	// before it returns; the bot's own requests can still overtake it).
	AnswerLag time.Duration
}

// Server is a fake Discord listening on a loopback port. All its methods are safe for
// concurrent use.
type Server struct {
	// URL is the REST base, http://127.0.0.1:N/api/v10: the bot's DISCORD_API_URL.
	URL string
	// GatewayURL is the gateway's websocket address, ws://127.0.0.1:N/gateway.
	GatewayURL string
	// AppID is the application id the fake belongs to.
	AppID string
	// BotToken is the token the bot must present, without the "Bot " prefix.
	BotToken string
	// CDNHost is the host (127.0.0.1:N) of the fake's CDN links: the bot's
	// DISCORD_CDN_HOSTS in tests.
	CDNHost string

	tb        testing.TB
	heartbeat time.Duration
	answerLag time.Duration
	validator *openapitest.Validator
	http      *httptest.Server
	api       *http.ServeMux
	client    *http.Client // for Post, towards the bot
	base      string       // http://127.0.0.1:N, for CDN links
	skew      atomic.Int64 // nanoseconds Advance moved the clock by
	// afterAnswer, when set (by this package's tests), runs once a request's answer
	// is written, before its handler returns: a server slow to get there.
	afterAnswer func()

	// callsMu guards calls alone: a call is recorded as its answer is written, which
	// some handlers do holding mu.
	callsMu sync.Mutex
	calls   []Call

	mu           sync.Mutex
	closed       bool
	lastID       uint64
	faults       []*fault
	interactions map[string]*interaction // by token
	channels     map[string][]*message   // by channel id, in creation order
	dmByUser     map[string]string       // user id → DM channel id
	userByDM     map[string]string       // DM channel id → user id
	closedDMs    map[string]bool         // user ids
	missing      map[string]bool         // channel ids answering 10003
	forbidden    map[string]bool         // channel ids answering 50013
	commands     map[string][]json.RawMessage
	commandIDs   map[string]string // scope/type/name → id, stable across overwrites
	attachments  map[string]*attachment
	locales      map[string]bool // Discord's locales (AvailableLocalesEnum), read-only

	gwDone sync.WaitGroup

	// gwMu guards the gateway state below. It is held across each dispatch's sequence
	// number and write, so that a session's events go out in order. It is taken
	// before a connection's write lock, never the other way round; mu may be taken
	// while it is held (a RESUME restarting a replayed interaction's clock), never
	// the other way round either.
	gwMu        sync.Mutex
	conns       map[*gwConn]struct{}
	sessions    map[string]*gwSession
	identifies  []Identify
	nextIdent   int // the next identify WaitIdentify returns
	connections []*Connection
	gwRefusal   *fault
}

// Call is one request the fake received.
type Call struct {
	// Method is the HTTP method.
	Method string
	// Path is the request path without the /api/v10 prefix, e.g.
	// /channels/1/messages; CDN downloads keep theirs (/cdn/attachments/…).
	Path string
	// Query holds the query parameters.
	Query url.Values
	// Header holds the request headers (User-Agent, Authorization, …).
	Header http.Header
	// Body is the JSON body, or the payload_json part of a multipart body.
	Body json.RawMessage
	// Files are the file parts of a multipart body.
	Files []File
	// Status is what the fake answered; 0 when it dropped the connection.
	Status int
	// At is when the request arrived, on the fake's clock (see Advance).
	At time.Time
}

// File is one file part of a multipart request.
type File struct {
	// Field is the form field, e.g. files[0].
	Field string
	// Name is the file name.
	Name string
	// ContentType is the part's Content-Type.
	ContentType string
	// Data is the content.
	Data []byte
}

// New starts a fake Discord, closed when tb ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	v, err := openapitest.Load(openapitest.Discord)
	if err != nil {
		tb.Fatalf("discordtest: %v", err)
	}
	locales, err := openapitest.Enum(openapitest.Discord, "AvailableLocalesEnum")
	if err != nil || len(locales) == 0 {
		tb.Fatalf("discordtest: Discord's locales: %v", err)
	}
	s := &Server{
		AppID:        opts.AppID,
		BotToken:     opts.BotToken,
		tb:           tb,
		heartbeat:    opts.HeartbeatInterval,
		answerLag:    opts.AnswerLag,
		validator:    v,
		client:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		interactions: map[string]*interaction{},
		channels:     map[string][]*message{},
		dmByUser:     map[string]string{},
		userByDM:     map[string]string{},
		closedDMs:    map[string]bool{},
		missing:      map[string]bool{},
		forbidden:    map[string]bool{},
		commands:     map[string][]json.RawMessage{},
		commandIDs:   map[string]string{},
		attachments:  map[string]*attachment{},
		locales:      map[string]bool{},
		conns:        map[*gwConn]struct{}{},
		sessions:     map[string]*gwSession{},
	}
	for _, l := range locales {
		s.locales[l] = true
	}
	if s.AppID == "" {
		s.AppID = randomSnowflake(time.Now())
	}
	if !isSnowflake(s.AppID) {
		tb.Fatalf("discordtest: AppID %q is not a snowflake", s.AppID)
	}
	if s.BotToken == "" {
		s.BotToken = "test-token"
	}
	if s.heartbeat <= 0 {
		s.heartbeat = defaultHeartbeat
	}
	s.warm()
	// The addresses are set before the server starts, so that handlers read them
	// without a race.
	s.http = httptest.NewUnstartedServer(s.routes())
	s.base = "http://" + s.http.Listener.Addr().String()
	s.CDNHost = s.http.Listener.Addr().String()
	s.URL = s.base + apiPrefix
	s.GatewayURL = "ws://" + s.http.Listener.Addr().String() + "/gateway"
	s.http.Start()
	tb.Cleanup(s.close)
	return s
}

// warm validates a sample request of every route that has a body, so that each
// schema is compiled now rather than on the bot's first request. A first compile takes
// up to half a second, several under -race: enough to make the bot miss the 3-second
// deadline, or a test's wait time out. The validator caches them per process, so
// later servers pay nothing.
func (s *Server) warm() {
	samples := []struct{ method, path, body string }{
		{"POST", "/interactions/1/t/callback", `{"type":5}`},
		{"PATCH", "/webhooks/1/t/messages/@original", `{"content":""}`},
		{"PATCH", "/webhooks/1/t/messages/1", `{"content":""}`},
		{"POST", "/webhooks/1/t", `{"content":""}`},
		{"POST", "/channels/1/messages", `{"content":""}`},
		{"PATCH", "/channels/1/messages/1", `{"content":""}`},
		{"PUT", "/applications/1/commands", `[]`},
		{"PUT", "/applications/1/guilds/1/commands", `[]`},
		{"POST", "/users/@me/channels", `{"recipient_id":"1"}`},
	}
	for _, sm := range samples {
		req := httptest.NewRequest(sm.method, apiPrefix+sm.path, strings.NewReader(sm.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bot "+s.BotToken)
		_ = s.validator.Request(req) // only the compiling matters
	}
}

// close hangs up the gateway sessions, then stops the HTTP server. Websocket
// connections are hijacked, so httptest would not wait for them: the fake does.
func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.gwMu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.gwMu.Unlock()
	for _, c := range conns {
		c.hangUp(1001, "server closing")
	}
	s.gwDone.Wait()
	s.http.Close()
	s.client.CloseIdleConnections()
}

// Advance moves the fake's clock forward by d, so that interactions age (the
// 3-second acknowledgement deadline, the 15-minute token lifetime) without the test
// sleeping. Generated snowflakes and timestamps follow the moved clock.
func (s *Server) Advance(d time.Duration) {
	s.skew.Add(int64(d))
}

func (s *Server) now() time.Time {
	return time.Now().Add(time.Duration(s.skew.Load()))
}

// errorf fails the test with a message naming the fake.
func (s *Server) errorf(format string, args ...any) {
	s.tb.Helper()
	s.tb.Errorf("discordtest: "+format, args...)
}

// Calls returns the requests received so far, oldest first. The returned values
// share their bodies with the fake: do not modify them.
func (s *Server) Calls() []Call {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return append([]Call(nil), s.calls...)
}

// WaitCall waits until a received request matches, polling, and returns the first
// that does; on timeout it fails the test listing the requests seen.
func (s *Server) WaitCall(tb testing.TB, timeout time.Duration, match func(Call) bool) Call {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		calls := s.Calls()
		for _, c := range calls {
			if match(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, c := range calls {
				fmt.Fprintf(&b, "\n  %s %s → %d", c.Method, c.Path, c.Status)
			}
			if len(calls) == 0 {
				b.WriteString(" none")
			}
			tb.Fatalf("discordtest: no matching request within %v; requests seen:%s", timeout, b.String())
			return Call{}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// record has the call recorded as its answer begins (statusWriter.answer), so that a
// client that has read an answer always finds its request in Calls: a large answer
// reaches the client before the handler returns.
func (s *Server) record(sw *statusWriter, call *Call) {
	sw.answer = func(status int) {
		call.Status = status
		s.addCall(*call)
	}
}

// finish records a call not answered (a dropped connection), then hangs up a dropped
// connection: recorded first, so that a client which sees the connection close finds
// its request in Calls.
func (s *Server) finish(sw *statusWriter, call *Call) {
	if s.afterAnswer != nil {
		s.afterAnswer()
	}
	sw.begin(sw.code())
	sw.hangUp()
}

func (s *Server) addCall(c Call) {
	s.callsMu.Lock()
	s.calls = append(s.calls, c)
	s.callsMu.Unlock()
}

// fault is a scripted answer: for the next left matching requests, or, when left
// is -1, for every matching request until until (for ever when until is zero).
type fault struct {
	method, prefix string
	left           int
	until          time.Time
	Failure
}

// Failure is how a request fails: an answer with an error status, or a connection
// dropped unanswered.
type Failure struct {
	// Status is the answer's status. A 429 carries what RateLimitNext describes
	// (RetryAfter, Global); any other status a Discord error body
	// {"code":0,"message":…}.
	Status int
	// RetryAfter and Global shape a 429.
	RetryAfter time.Duration
	Global     bool
	// Drop closes the connection without an answer, as when Discord cannot be
	// reached; Status is then unused.
	Drop bool
}

// active reports whether f still applies at now.
func (f *fault) active(now time.Time) bool {
	return f.left > 0 || f.left == -1 && (f.until.IsZero() || now.Before(f.until))
}

// RateLimitNext makes the next n requests whose method is method (any when "") and
// whose path (without /api/v10) starts with pathPrefix answer 429, with Retry-After
// (whole seconds, rounded up, as in HTTP), X-RateLimit-* headers (Reset-After exact)
// and the body {"message":"You are being rate limited.","retry_after":<seconds>,
// "global":global}. Faults apply to requests that pass authentication and validation.
func (s *Server) RateLimitNext(method, pathPrefix string, n int, retryAfter time.Duration, global bool) {
	s.addFault(&fault{method: method, prefix: pathPrefix, left: n,
		Failure: Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Global: global}})
}

// FailNext makes the next n requests matching method and pathPrefix (as in
// RateLimitNext) answer status with a Discord error body {"code":0,"message":…}.
func (s *Server) FailNext(method, pathPrefix string, n int, status int) {
	s.addFault(&fault{method: method, prefix: pathPrefix, left: n, Failure: Failure{Status: status}})
}

// FailFor is an outage: every request matching method and pathPrefix (as in
// RateLimitNext) fails as f says, for d from now, or until Recover when d is 0.
// Like the other faults it applies to requests that pass authentication and
// validation, after the faults added before it.
func (s *Server) FailFor(method, pathPrefix string, d time.Duration, f Failure) {
	ft := &fault{method: method, prefix: pathPrefix, left: -1, Failure: f}
	if d > 0 {
		ft.until = time.Now().Add(d)
	}
	s.addFault(ft)
}

// Recover ends every outage: those of FailFor and RefuseGateway. Faults counted by
// request (RateLimitNext, FailNext) stay.
func (s *Server) Recover() {
	s.mu.Lock()
	kept := s.faults[:0]
	for _, f := range s.faults {
		if f.left != -1 {
			kept = append(kept, f)
		}
	}
	s.faults = kept
	s.mu.Unlock()
	s.gwMu.Lock()
	s.gwRefusal = nil
	s.gwMu.Unlock()
}

func (s *Server) addFault(f *fault) {
	if f.left == 0 {
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// takeFault consumes one use of the first fault matching the request, if any;
// faults that no longer apply are dropped on the way.
func (s *Server) takeFault(method, path string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for i := 0; i < len(s.faults); i++ {
		f := s.faults[i]
		if !f.active(now) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			i--
			continue
		}
		if (f.method == "" || strings.EqualFold(f.method, method)) && strings.HasPrefix(path, f.prefix) {
			if f.left > 0 {
				f.left--
				if f.left == 0 {
					s.faults = append(s.faults[:i], s.faults[i+1:]...)
				}
			}
			return *f, true
		}
	}
	return fault{}, false
}

// writeFault answers with the request's fault and reports whether there was one.
func (s *Server) writeFault(w *statusWriter, method, path string) bool {
	f, ok := s.takeFault(method, path)
	if !ok {
		return false
	}
	s.writeFailure(w, f.Failure)
	return true
}

// writeFailure answers as f says.
func (s *Server) writeFailure(w *statusWriter, f Failure) {
	if f.Drop {
		w.drop()
		return
	}
	if f.Status != http.StatusTooManyRequests {
		writeError(w, f.Status, 0, fmt.Sprintf("%d: %s", f.Status, http.StatusText(f.Status)))
		return
	}
	secs := f.RetryAfter.Seconds()
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
	h.Set("X-RateLimit-Reset", resetAt(s.now(), f.RetryAfter))
	if f.Global {
		h.Set("X-RateLimit-Global", "true")
		h.Set("X-RateLimit-Scope", "global")
	} else {
		h.Set("X-RateLimit-Scope", "user")
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message":     "You are being rate limited.",
		"retry_after": secs,
		"global":      f.Global,
	})
}

// rateLimitHeaders gives every answer the headers Discord sends, so that clients'
// bucket bookkeeping runs as in production; the values never make a client wait.
func (s *Server) rateLimitHeaders(h http.Header, route string) {
	sum := fnv.New64a()
	sum.Write([]byte(route))
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "4")
	h.Set("X-RateLimit-Reset-After", "1.000")
	h.Set("X-RateLimit-Reset", resetAt(s.now(), time.Second))
	h.Set("X-RateLimit-Bucket", strconv.FormatUint(sum.Sum64(), 16))
}

func resetAt(now time.Time, after time.Duration) string {
	return strconv.FormatFloat(float64(now.Add(after).UnixMilli())/1000, 'f', 3, 64)
}

// SetChannelMissing makes requests on the channel answer 404 Unknown Channel (10003).
func (s *Server) SetChannelMissing(channelID string) {
	s.mu.Lock()
	s.missing[channelID] = true
	s.mu.Unlock()
}

// SetForbidden makes requests on the channel answer 403 Missing Permissions (50013).
func (s *Server) SetForbidden(channelID string) {
	s.mu.Lock()
	s.forbidden[channelID] = true
	s.mu.Unlock()
}

// CloseDMs makes messages sent to the user's DM channel answer 403 "Cannot send
// messages to this user" (50007), as when a user blocks DMs from server members.
func (s *Server) CloseDMs(userID string) {
	s.mu.Lock()
	s.closedDMs[userID] = true
	s.mu.Unlock()
}

// DMChannel returns the id of the DM channel the bot opened with the user, or "".
func (s *Server) DMChannel(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmByUser[userID]
}

// Commands returns the commands registered by the last bulk overwrite in the guild
// ("" for global ones), as the fake answered them (with id, application_id, version).
func (s *Server) Commands(guildID string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.commands[guildID]...)
}

// snowflake returns a fresh id: ((ms since 2015) << 22) | increment, never repeating.
func (s *Server) snowflake() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snowflakeLocked()
}

func (s *Server) snowflakeLocked() string {
	id := uint64(s.now().UnixMilli()-discordEpoch) << 22
	if id <= s.lastID {
		id = s.lastID + 1
	}
	s.lastID = id
	return strconv.FormatUint(id, 10)
}

func randomSnowflake(t time.Time) string {
	return strconv.FormatUint(uint64(t.UnixMilli()-discordEpoch)<<22|rand.Uint64N(1<<22), 10)
}

// snowflakeTime is the creation time encoded in a snowflake.
func snowflakeTime(id string) (time.Time, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(n>>22) + discordEpoch), true
}

func isSnowflake(id string) bool {
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil && id != "" && (id == "0" || id[0] != '0')
}

// routes wires the fake: the REST API behind its checks, the gateway and the CDN.
func (s *Server) routes() http.Handler {
	s.api = http.NewServeMux()
	handle := func(method, path string, h http.HandlerFunc) {
		s.api.HandleFunc(method+" "+apiPrefix+path, h)
	}
	handle("GET", "/gateway", s.getGateway)
	handle("GET", "/gateway/bot", s.getGatewayBot)
	handle("GET", "/users/@me", s.getMe)
	handle("PUT", "/applications/{app}/commands", s.putCommands)
	handle("PUT", "/applications/{app}/guilds/{guild}/commands", s.putCommands)
	handle("POST", "/interactions/{id}/{token}/callback", s.postCallback)
	handle("GET", "/webhooks/{app}/{token}/messages/@original", s.getWebhookMessage)
	handle("PATCH", "/webhooks/{app}/{token}/messages/@original", s.patchWebhookMessage)
	handle("GET", "/webhooks/{app}/{token}/messages/{mid}", s.getWebhookMessage)
	handle("PATCH", "/webhooks/{app}/{token}/messages/{mid}", s.patchWebhookMessage)
	handle("POST", "/webhooks/{app}/{token}", s.postFollowup)
	handle("POST", "/channels/{channel}/messages", s.postMessage)
	handle("GET", "/channels/{channel}/messages/{mid}", s.getMessage)
	handle("PATCH", "/channels/{channel}/messages/{mid}", s.patchMessage)
	handle("POST", "/users/@me/channels", s.postDM)

	root := http.NewServeMux()
	root.Handle(apiPrefix+"/", http.HandlerFunc(s.serveAPI))
	// discordgo appends a slash to the gateway URL before adding its query.
	root.HandleFunc("/gateway", s.serveGateway)
	root.HandleFunc("/gateway/", s.serveGateway)
	root.HandleFunc("GET /cdn/attachments/{id}/{name}", s.serveCDN)
	root.HandleFunc("GET /media/attachments/{id}/{name}", s.serveCDN)
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorf("%s %s is outside the API (%s)", r.Method, r.URL.Path, apiPrefix)
		writeError(w, http.StatusNotFound, 0, "404: Not Found")
	})
	return root
}

// input is what serveAPI parsed from a request, for the route handlers.
type input struct {
	body  []byte
	files []File
	at    time.Time
}

type inputKey struct{}

func inputOf(r *http.Request) *input {
	return r.Context().Value(inputKey{}).(*input)
}

// serveAPI runs the checks every REST request goes through (route, User-Agent,
// authentication, the OpenAPI document, injected faults), records the call, and hands
// the request to its route.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	at := s.now()
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	sw := &statusWriter{ResponseWriter: w}
	call := Call{Method: r.Method, Path: path, Query: r.URL.Query(), Header: r.Header.Clone(), At: at}
	s.record(sw, &call)
	defer s.finish(sw, &call)

	_, route := s.api.Handler(r)
	s.rateLimitHeaders(w.Header(), route)
	if ua := r.UserAgent(); !discordBotUA.MatchString(ua) {
		s.errorf("%s %s: User-Agent %q is not \"DiscordBot ($url, $version)\", which Discord requires", r.Method, path, ua)
	}
	body, files, multi, err := readBody(r)
	call.Body, call.Files = body, files
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The client went away in the middle of its request (a process that stops
		// while it registers): nothing reached Discord, and nothing was wrong with it.
		return
	}
	if err != nil {
		s.errorf("%s %s: %v", r.Method, path, err)
		writeError(sw, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	if route == "" {
		s.errorf("%s %s is not a route the fake models", r.Method, path)
		writeError(sw, http.StatusNotFound, 0, "404: Not Found")
		return
	}
	if needsAuth(route) && r.Header.Get("Authorization") != "Bot "+s.BotToken {
		writeError(sw, http.StatusUnauthorized, 0, "401: Unauthorized")
		return
	}
	if err := s.validate(r, body, multi); err != nil {
		s.errorf("%v", err)
		writeJSON(sw, http.StatusBadRequest, map[string]any{
			"code":    50035,
			"message": "Invalid Form Body",
			"errors": map[string]any{"_errors": []map[string]string{
				{"code": "OPENAPI_DOCUMENT_MISMATCH", "message": err.Error()},
			}},
		})
		return
	}
	if s.writeFault(sw, r.Method, path) {
		return
	}
	ctx := context.WithValue(r.Context(), inputKey{}, &input{body: body, files: files, at: at})
	s.api.ServeHTTP(sw, r.WithContext(ctx))
}

// needsAuth reports whether the route requires the bot token. Interaction callbacks
// and webhooks are authenticated by their token in the path, and Discord serves
// GET /gateway to anyone.
func needsAuth(route string) bool {
	return !strings.Contains(route, "/interactions/") &&
		!strings.Contains(route, "/webhooks/") &&
		route != "GET "+apiPrefix+"/gateway"
}

// validate checks the request against the OpenAPI document. A multipart body is
// checked as its payload_json part sent as JSON: the document's multipart schemas are
// the JSON ones, which the validator cannot apply to form data.
func (s *Server) validate(r *http.Request, body []byte, multi bool) error {
	req := r.Clone(r.Context())
	if multi {
		if body == nil {
			body = []byte("{}")
		}
		req.Header.Set("Content-Type", "application/json")
	}
	req.Body = http.NoBody
	if len(body) > 0 {
		req.Body = readCloser(body)
	}
	req.ContentLength = int64(len(body))
	return s.validator.Request(req)
}

// serveCDN serves attachments: those added with AddAttachment and the files the bot
// uploaded. Downloads are recorded and subject to injected faults.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), At: s.now()}
	s.record(sw, &call)
	defer s.finish(sw, &call)
	if s.writeFault(sw, r.Method, r.URL.Path) {
		return
	}
	s.mu.Lock()
	a := s.attachments[r.PathValue("id")]
	s.mu.Unlock()
	if a == nil || a.filename != r.PathValue("name") {
		http.Error(sw, "This content is no longer available.", http.StatusNotFound)
		return
	}
	sw.Header().Set("Content-Type", a.contentType)
	sw.Header().Set("Content-Length", strconv.Itoa(len(a.data)))
	sw.WriteHeader(http.StatusOK)
	_, _ = sw.Write(a.data)
}

// statusWriter remembers the status written, for the call record, and calls answer
// once, as the answer begins (or, for a connection dropped, when the handler ends).
type statusWriter struct {
	http.ResponseWriter
	status  int
	dropped bool
	answer  func(status int)
}

// begin calls answer, the first time only.
func (w *statusWriter) begin(status int) {
	if w.answer != nil {
		w.answer(status)
		w.answer = nil
	}
}

// drop marks the request to be answered by closing the connection; hangUp closes it.
func (w *statusWriter) drop() { w.dropped = true }

// hangUp closes the connection of a dropped request without an answer.
func (w *statusWriter) hangUp() {
	if !w.dropped {
		return
	}
	conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		panic(fmt.Sprintf("discordtest: cannot drop the connection: %v", err))
	}
	_ = conn.Close()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.begin(w.code())
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.begin(w.code())
	return w.ResponseWriter.Write(b)
}

// code is the status answered; 0 when the connection was dropped.
func (w *statusWriter) code() int {
	if w.dropped {
		return 0
	}
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
