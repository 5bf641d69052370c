// Package rallyheretest runs a fake RallyHere backend (users-api under /users and
// sanctions-api under /sanctions) for tests. It serves the operations the bot uses,
// behaves as the official OpenAPI documents describe (and like the FastAPI service
// behind them where the documents are silent), and checks every request it receives and
// every response it sends against those documents, so that a test fails when the bot
// sends something the real service would refuse.
package rallyheretest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/openapitest"
)

// Op names one operation of the fake, for counting calls and injecting failures.
type Op string

// The operations the fake serves.
const (
	OpToken        Op = "token"         // POST /users/v2/oauth/token
	OpPlatformUser Op = "platform-user" // GET /users/v1/platform-user
	OpLookupPlayer Op = "lookup-player" // GET /users/v1/player
	OpCreateReport Op = "create-report" // POST /sanctions/v2/player/{player_uuid}/reports
	OpListReports  Op = "list-reports"  // GET /sanctions/v2/player/{player_uuid}/reports
)

// documented lists, per operation, the statuses its document describes. Only those
// responses are validated: the real service also answers statuses the documents leave
// out (403 from the token endpoint, 429, 5xx), and their bodies have no schema to check.
var documented = map[Op][]int{
	OpToken:        {200, 422},
	OpPlatformUser: {200, 403, 404, 422},
	OpLookupPlayer: {200, 403, 422},
	OpCreateReport: {200, 400, 403, 404, 422},
	OpListReports:  {200, 403, 404, 422},
}

// platforms is the Platform enum of the users document. The validator does not follow
// allOf in query parameters, so the fake checks the platform parameters itself.
var platforms = []string{
	"Anon", "Basic", "XboxLive", "PSN", "NintendoNAID", "NintendoSwitch", "NintendoPPID",
	"Google", "GooglePlay", "Apple", "Epic", "Steam", "Amazon", "Twitch", "RallyHere",
	"LegacyName", "AndroidDevice", "iosDevice", "Discord",
}

const defaultPageSize = 10

// Failure describes how the fake answers a request instead of (or on top of) its
// normal behaviour. Requests refused for a bad token or for not matching the documents
// never consume a failure: those answers come first, as they do upstream.
type Failure struct {
	// Status is the HTTP status to answer, e.g. 400, 403, 404, 422, 429, 500, 503.
	// Zero answers normally (after Delay), which makes a delay-only failure.
	Status int
	// Code is the error_code of the body; a default fitting Status and the operation
	// when empty ("internal_error" for 5xx). Ignored for 422.
	Code string
	// Desc is the desc of the body; the documented text of Code when empty.
	Desc string
	// RetryAfter sets Retry-After, in whole seconds rounded up, when positive.
	RetryAfter time.Duration
	// Delay is waited before serving the request; it simulates timeouts. When the
	// client gives up first, the request is abandoned undone (no report is stored).
	Delay time.Duration
	// Detail is the detail list of a 422 body; one generic entry when nil.
	Detail []map[string]any
	// Drop serves the request normally (a report is stored) and then closes the
	// connection without answering: the upstream did the work but the answer was lost.
	// Status is ignored when Drop is set.
	Drop bool
}

// Report is a report the fake accepted.
type Report struct {
	ReportID   string
	TargetUUID string
	// Body is the request JSON as received; every call of Reports decodes a fresh copy.
	Body    map[string]any
	Created time.Time
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:34567; services live under /users and
	// /sanctions below it.
	URL string
	// ClientID and ClientSecret are the only credentials the token endpoint accepts;
	// they are random per server.
	ClientID     string
	ClientSecret string

	tb        testing.TB
	users     *openapitest.Validator
	sanctions *openapitest.Validator
	// done is closed when the test ends so that delayed requests stop waiting and
	// httptest.Server.Close does not block on them.
	done chan struct{}

	mu       sync.Mutex
	players  map[string]*player // by lowercase UUID
	order    []*player          // in creation order, for deterministic lookups
	nextID   int64
	discord  map[string]string    // Discord user ID → player UUID
	tokens   map[string]time.Time // access token → expiry
	tokenTTL time.Duration
	issued   int
	reports  []storedReport // in creation order
	calls    map[Op]int
	delays   map[Op]time.Duration
	queued   map[Op][]Failure
	rates    map[Op]failureRate
	maxRun   int            // CapFailureRun's n; 0: no cap
	runs     map[string]int // request → random failures in a row (SetFailureRate's)
}

type player struct {
	uuid, personID, name string
	id                   int64
	active               string // UUID of the active player, if any
}

type storedReport struct {
	id, target string
	raw        []byte         // the request body as received
	resp       map[string]any // the PlayerReport answered; never modified once stored
	created    time.Time
}

type failureRate struct {
	p float64
	f Failure
}

// reply is a response before it is validated and written.
type reply struct {
	status int
	header http.Header
	body   any
}

// New starts the fake; it is closed when tb ends. Any request or response that does
// not match the OpenAPI documents is reported with tb.Errorf (the request is answered
// 422 with a FastAPI-style {"detail":[{"loc":[...],"msg":...,"type":...}]} body and
// never reaches the handlers).
func New(tb testing.TB) *Server {
	tb.Helper()
	users, err := openapitest.Load(openapitest.RallyHereUsers)
	if err != nil {
		tb.Fatalf("rallyheretest: %v", err)
	}
	sanctions, err := openapitest.Load(openapitest.RallyHereSanctions)
	if err != nil {
		tb.Fatalf("rallyheretest: %v", err)
	}
	s := &Server{
		ClientID:     rand.Text(),
		ClientSecret: rand.Text(),
		tb:           tb,
		users:        users,
		sanctions:    sanctions,
		done:         make(chan struct{}),
		players:      map[string]*player{},
		nextID:       1000,
		discord:      map[string]string{},
		tokens:       map[string]time.Time{},
		tokenTTL:     time.Hour,
		calls:        map[Op]int{},
		delays:       map[Op]time.Duration{},
		queued:       map[Op][]Failure{},
		rates:        map[Op]failureRate{},
		runs:         map[string]int{},
	}
	mux := http.NewServeMux()
	mux.Handle("POST /users/v2/oauth/token", s.serve(OpToken, users, s.token))
	mux.Handle("GET /users/v1/platform-user", s.serve(OpPlatformUser, users, s.platformUser))
	mux.Handle("GET /users/v1/player", s.serve(OpLookupPlayer, users, s.lookupPlayer))
	mux.Handle("POST /sanctions/v2/player/{player_uuid}/reports", s.serve(OpCreateReport, sanctions, s.createReport))
	mux.Handle("GET /sanctions/v2/player/{player_uuid}/reports", s.serve(OpListReports, sanctions, s.listReports))
	mux.HandleFunc("/", s.notServed)
	srv := httptest.NewServer(mux)
	s.URL = srv.URL
	tb.Cleanup(func() {
		close(s.done)
		srv.Close()
	})
	return s
}

// AddPlayer adds a player and returns its new UUID. Several players may share a name.
func (s *Server) AddPlayer(displayName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	p := &player{uuid: newUUID(), personID: newUUID(), name: displayName, id: s.nextID}
	s.players[p.uuid] = p
	s.order = append(s.order, p)
	return p.uuid
}

// LinkDiscord makes the platform-user lookup of platform=Discord and
// platform_user_id=discordUserID answer playerUUID, a player added with AddPlayer.
func (s *Server) LinkDiscord(discordUserID, playerUUID string) {
	s.tb.Helper()
	s.mu.Lock()
	p := s.players[strings.ToLower(playerUUID)]
	if p != nil {
		s.discord[discordUserID] = p.uuid
	}
	s.mu.Unlock()
	if p == nil {
		s.tb.Fatalf("rallyheretest: LinkDiscord: unknown player %s", playerUUID)
	}
}

// SetActivePlayer makes activeUUID the active player of playerUUID, both added with
// AddPlayer: platform-user lookups answer it as active_player_uuid, and display-name
// lookups answer it in place of playerUUID, as the document says.
func (s *Server) SetActivePlayer(playerUUID, activeUUID string) {
	s.tb.Helper()
	s.mu.Lock()
	p, a := s.players[strings.ToLower(playerUUID)], s.players[strings.ToLower(activeUUID)]
	if p != nil && a != nil {
		p.active = a.uuid
	}
	s.mu.Unlock()
	if p == nil || a == nil {
		s.tb.Fatalf("rallyheretest: SetActivePlayer: unknown player %s or %s", playerUUID, activeUUID)
	}
}

// Reports returns every report accepted, in order, including those whose answer a
// Drop failure lost.
func (s *Server) Reports() []Report {
	return s.reportsWhere(func(map[string]any) bool { return true })
}

// ReportsWithCustom returns the accepted reports whose custom_data[key] is value.
func (s *Server) ReportsWithCustom(key, value string) []Report {
	return s.reportsWhere(func(body map[string]any) bool {
		custom, _ := body["custom_data"].(map[string]any)
		v, ok := custom[key].(string)
		return ok && v == value
	})
}

func (s *Server) reportsWhere(keep func(map[string]any) bool) []Report {
	s.mu.Lock()
	stored := slices.Clone(s.reports)
	s.mu.Unlock()
	var out []Report
	for _, r := range stored {
		var body map[string]any
		if err := json.Unmarshal(r.raw, &body); err != nil {
			s.tb.Errorf("rallyheretest: decoding stored report %s: %v", r.id, err)
			continue
		}
		if keep(body) {
			out = append(out, Report{ReportID: r.id, TargetUUID: r.target, Body: body, Created: r.created})
		}
	}
	return out
}

// Calls returns how many requests of op the fake received, including refused ones and
// those that got an injected failure.
func (s *Server) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TokensIssued returns how many access tokens the fake issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// FailNext makes the next n requests of op get f. Calls queue up in order.
func (s *Server) FailNext(op Op, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.queued[op] = append(s.queued[op], f)
	}
}

// SetFailureRate makes each later request of op get f with probability p, once the
// failures queued by FailNext are used up. p <= 0 turns it off.
func (s *Server) SetFailureRate(op Op, p float64, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p <= 0 {
		delete(s.rates, op)
		return
	}
	s.rates[op] = failureRate{p: p, f: f}
}

// CapFailureRun spares a request that SetFailureRate's random failures have failed n
// times in a row: its next try (the same method, URL and body) gets the real answer.
// Independent failures give some request among thousands a long unlucky run, and a
// client that backs off exponentially (the bot's pipeline: 2 s, doubling) can then
// wait longer than a test should; the cap bounds it. 0, the default, lifts it.
func (s *Server) CapFailureRun(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxRun = n
	clear(s.runs)
}

// ExpireTokens makes every token issued so far answer 403 auth_token_expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.tokens {
		s.tokens[tok] = time.Time{}
	}
}

// SetTokenTTL sets the lifetime of the tokens issued from now on (default one hour);
// expires_in is rounded up to whole seconds.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// SetDelay adds d of latency to every request of op (zero removes it).
func (s *Server) SetDelay(op Op, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[op] = d
}

// serve wraps the handler of op with what every request goes through, in the order of
// the real service: latency, authentication, validation, then injected failures.
// openapitest's Handler does not fit: it validates every JSON response, whatever its
// status, and buffers the response, which leaves no way to drop the connection.
func (s *Server) serve(op Op, v *openapitest.Validator, h func(*http.Request) reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[op]++
		delay := s.delays[op]
		s.mu.Unlock()
		openapitest.Delay(r, delay, s.done)
		if rep, ok := s.authorize(op, r); !ok {
			s.respond(w, r, op, v, rep, false)
			return
		}
		if err := v.Request(r); err != nil {
			s.tb.Errorf("rallyheretest: %v", err)
			writeJSON(w, reply{status: http.StatusUnprocessableEntity, body: detail("request", err.Error(), "value_error")})
			return
		}
		f := s.nextFailure(op, r)
		openapitest.Delay(r, f.Delay, s.done)
		if f.Status == 0 || f.Drop {
			s.respond(w, r, op, v, h(r), f.Drop)
		} else {
			s.respond(w, r, op, v, s.failure(op, r, f), false)
		}
	})
}

// respond validates rep when the document describes its status, then writes it, or
// hangs up without answering when drop is set.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, op Op, v *openapitest.Validator, rep reply, drop bool) {
	body, err := json.Marshal(rep.body)
	if err != nil {
		s.tb.Errorf("rallyheretest: encoding response to %s %s: %v", r.Method, r.URL.Path, err)
		panic(http.ErrAbortHandler)
	}
	rep.header = withJSON(rep.header)
	if slices.Contains(documented[op], rep.status) {
		if err := v.Response(r, rep.status, rep.header, body); err != nil {
			s.tb.Errorf("rallyheretest: %v", err)
		}
	}
	if drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler) // closes the connection all the same
		}
		conn.Close()
		return
	}
	maps.Copy(w.Header(), rep.header)
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, rep reply) {
	body, _ := json.Marshal(rep.body)
	maps.Copy(w.Header(), withJSON(rep.header))
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

func withJSON(h http.Header) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return h
}

// notServed answers what the fake does not serve as FastAPI does, and reports it: the
// bot has no business calling it, or the fake lacks an operation.
func (s *Server) notServed(w http.ResponseWriter, r *http.Request) {
	s.tb.Errorf("rallyheretest: %s %s is not served by the fake", r.Method, r.URL.Path)
	writeJSON(w, reply{status: http.StatusNotFound, body: map[string]any{"detail": "Not Found"}})
}

func (s *Server) authorize(op Op, r *http.Request) (reply, bool) {
	if op == OpToken {
		id, secret, ok := r.BasicAuth()
		if !ok || id != s.ClientID || secret != s.ClientSecret {
			return apiError(http.StatusForbidden, "auth_invalid_credentials", "Invalid client credentials"), false
		}
		return reply{}, true
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	expiry, known := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !strings.EqualFold(scheme, "Bearer") || !known:
		return apiError(http.StatusForbidden, "auth_token_unknown", describeCode("auth_token_unknown")), false
	case !time.Now().Before(expiry):
		return apiError(http.StatusForbidden, "auth_token_expired", describeCode("auth_token_expired")), false
	}
	return reply{}, true
}

// nextFailure returns the failure r, a request of op, gets; the zero Failure, which
// changes nothing, when none.
func (s *Server) nextFailure(op Op, r *http.Request) Failure {
	key := requestKey(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queued[op]; len(q) > 0 {
		s.queued[op] = q[1:]
		return q[0]
	}
	fr, ok := s.rates[op]
	if ok && (s.maxRun == 0 || s.runs[key] < s.maxRun) && mrand.Float64() < fr.p {
		s.runs[key]++
		return fr.f
	}
	delete(s.runs, key)
	return Failure{}
}

// requestKey tells a request from others and its own tries from each other's: the
// method, URL and body. It leaves r's body to be read again.
func requestKey(r *http.Request) string {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r.Method + " " + r.URL.RequestURI() + "\n" + string(body)
}

func (s *Server) failure(op Op, r *http.Request, f Failure) reply {
	var rep reply
	if f.Status == http.StatusUnprocessableEntity {
		d := f.Detail
		if d == nil {
			d = []map[string]any{{"loc": []string{"body"}, "msg": "invalid request", "type": "value_error"}}
		}
		rep = reply{status: f.Status, body: map[string]any{"detail": d}}
	} else {
		code := f.Code
		if code == "" {
			code = defaultCode(op, f.Status)
		}
		desc := f.Desc
		if desc == "" {
			desc = strings.ReplaceAll(describeCode(code), "{id}", r.PathValue("player_uuid"))
		}
		if desc == "" {
			desc = http.StatusText(f.Status)
		}
		rep = apiError(f.Status, code, desc)
	}
	if f.RetryAfter > 0 {
		rep.header = http.Header{"Retry-After": {strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds())))}}
	}
	return rep
}

func defaultCode(op Op, status int) string {
	switch {
	case status == http.StatusBadRequest && op == OpCreateReport:
		return "source_player_required"
	case status == http.StatusForbidden:
		return "insufficient_permissions"
	case status == http.StatusNotFound && op == OpPlatformUser:
		return "user_not_found"
	case status == http.StatusNotFound:
		return "player_not_found"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status >= 500:
		return "internal_error"
	}
	return "error"
}

// describeCode returns the desc the documents give for an error code.
func describeCode(code string) string {
	switch code {
	case "auth_token_expired":
		return "Token is expired"
	case "auth_token_unknown":
		return "Failed to parse token"
	case "insufficient_permissions":
		return "Insufficient Permissions"
	case "user_not_found":
		return "User not found"
	case "player_not_found":
		return "Player {id} not found"
	case "source_player_required":
		return "Source Player must be provided in request or with a user token"
	case "internal_error":
		return "Internal server error"
	}
	return ""
}

// apiError is an HzApiErrorModel reply; auth_success is false for authentication
// errors, as the real service sends.
func apiError(status int, code, desc string) reply {
	body := map[string]any{"error_code": code, "desc": desc}
	if strings.HasPrefix(code, "auth_") {
		body["auth_success"] = false
	}
	return reply{status: status, body: body}
}

func playerNotFound(id string) reply {
	return apiError(http.StatusNotFound, "player_not_found", fmt.Sprintf("Player %s not found", id))
}

// detail is a FastAPI HTTPValidationError body with one entry.
func detail(loc, msg, typ string) map[string]any {
	return map[string]any{"detail": []map[string]any{{"loc": strings.Split(loc, "."), "msg": msg, "type": typ}}}
}

// checkPlatform refuses a platform outside the enum as FastAPI does, and reports it
// since the request does not match the document.
func (s *Server) checkPlatform(r *http.Request, platform string) (reply, bool) {
	if slices.Contains(platforms, platform) {
		return reply{}, true
	}
	s.tb.Errorf("rallyheretest: %s %s: platform %q is not in the document's Platform enum", r.Method, r.URL.Path, platform)
	permitted := "'" + strings.Join(platforms, "', '") + "'"
	return reply{
		status: http.StatusUnprocessableEntity,
		body:   detail("query.platform", "value is not a valid enumeration member; permitted: "+permitted, "type_error.enum"),
	}, false
}

func (s *Server) token(*http.Request) reply {
	tok := rand.Text()
	s.mu.Lock()
	ttl := s.tokenTTL
	s.tokens[tok] = time.Now().Add(ttl)
	s.issued++
	s.mu.Unlock()
	return reply{status: http.StatusOK, body: map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   int(math.Ceil(ttl.Seconds())),
	}}
}

func (s *Server) platformUser(r *http.Request) reply {
	q := r.URL.Query()
	platform, userID := q.Get("platform"), q.Get("platform_user_id")
	if rep, ok := s.checkPlatform(r, platform); !ok {
		return rep
	}
	notFound := apiError(http.StatusNotFound, "user_not_found", describeCode("user_not_found"))
	if platform != "Discord" {
		return notFound // the fake only knows Discord identities
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.players[s.discord[userID]]
	if p == nil {
		return notFound
	}
	body := map[string]any{
		"platform":         platform,
		"platform_user_id": userID,
		"display_name":     p.name,
		"player_id":        p.id,
		"player_uuid":      p.uuid,
		"person_id":        p.personID,
	}
	if a := s.players[p.active]; a != nil {
		body["active_player_uuid"] = a.uuid
		body["active_player_id"] = a.id
	}
	return reply{status: http.StatusOK, body: body}
}

func (s *Server) lookupPlayer(r *http.Request) reply {
	q := r.URL.Query()
	if q.Has("platform") {
		if rep, ok := s.checkPlatform(r, q.Get("platform")); !ok {
			return rep
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := []map[string][]map[string]any{}
	for _, name := range q["display_name"] {
		found := []map[string]any{}
		seen := map[string]bool{}
		for _, p := range s.order {
			if p.name != name {
				continue
			}
			if a := s.players[p.active]; a != nil {
				p = a
			}
			if !seen[p.uuid] {
				seen[p.uuid] = true
				found = append(found, map[string]any{"player_id": p.id, "player_uuid": p.uuid})
			}
		}
		names = append(names, map[string][]map[string]any{name: found})
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"display_names":                  names,
		"identity_platforms":             map[string]any{},
		"identity_platforms_by_platform": map[string]any{},
	}}
}

// reportCreate is PlayerReportCreate; the validator has checked the body already.
type reportCreate struct {
	SourcePlayerUUID *string           `json:"source_player_uuid"`
	Reason           string            `json:"reason"`
	Description      *string           `json:"description"`
	SessionID        *string           `json:"session_id"`
	InstanceID       *string           `json:"instance_id"`
	MatchID          *string           `json:"match_id"`
	MatchSegment     *string           `json:"match_segment"`
	CustomData       map[string]string `json:"custom_data"`
}

func (s *Server) createReport(r *http.Request) reply {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return reply{status: http.StatusBadRequest, body: map[string]any{"detail": "could not read the body"}}
	}
	var in reportCreate
	if err := json.Unmarshal(raw, &in); err != nil {
		return reply{status: http.StatusUnprocessableEntity, body: detail("body", err.Error(), "value_error.jsondecode")}
	}
	if in.CustomData == nil {
		in.CustomData = map[string]string{}
	}
	target := r.PathValue("player_uuid")
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.players[strings.ToLower(target)]
	if tp == nil {
		return playerNotFound(target)
	}
	if in.SourcePlayerUUID == nil {
		return apiError(http.StatusBadRequest, "source_player_required", describeCode("source_player_required"))
	}
	sp := s.players[strings.ToLower(*in.SourcePlayerUUID)]
	if sp == nil {
		return playerNotFound(*in.SourcePlayerUUID)
	}
	now := time.Now().UTC()
	id := newUUID()
	resp := map[string]any{
		"report_id":          id,
		"source_player_uuid": sp.uuid,
		"source_player_id":   sp.id,
		"target_player_uuid": tp.uuid,
		"target_player_id":   tp.id,
		"reason":             in.Reason,
		"description":        in.Description,
		"session_id":         in.SessionID,
		"instance_id":        in.InstanceID,
		"match_id":           in.MatchID,
		"match_segment":      in.MatchSegment,
		"custom_data":        in.CustomData,
		"created":            now.Format(time.RFC3339Nano),
		"modified":           now.Format(time.RFC3339Nano),
	}
	s.reports = append(s.reports, storedReport{id: id, target: tp.uuid, raw: raw, resp: resp, created: now})
	return reply{status: http.StatusOK, body: resp}
}

func (s *Server) listReports(r *http.Request) reply {
	q := r.URL.Query()
	size := defaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return reply{status: http.StatusUnprocessableEntity, body: detail("query.page_size", "ensure this value is greater than 0", "value_error.number.not_gt")}
		}
		size = n
	}
	// A cursor is the index of the last report answered, so that reports created
	// between two pages do not shift the next one.
	end := math.MaxInt // the page holds reports at indexes below end
	if v := q.Get("cursor"); v != "" {
		n, err := decodeCursor(v)
		if err != nil {
			return reply{status: http.StatusUnprocessableEntity, body: detail("query.cursor", "invalid cursor", "value_error")}
		}
		end = n
	}
	target := r.PathValue("player_uuid")
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.players[strings.ToLower(target)]
	if tp == nil {
		return playerNotFound(target)
	}
	page := []map[string]any{}
	var next any // null on the last page
	for i := min(end, len(s.reports)) - 1; i >= 0; i-- {
		if s.reports[i].target != tp.uuid {
			continue
		}
		if len(page) == size {
			next = encodeCursor(end)
			break
		}
		page = append(page, s.reports[i].resp)
		end = i
	}
	return reply{status: http.StatusOK, body: map[string]any{"reports": page, "next_cursor": next}}
}

func encodeCursor(index int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(index)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("decoding cursor: %w", err)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("parsing cursor: %w", err)
	}
	return n, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
