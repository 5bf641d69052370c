// Package bungietest runs a fake Bungie.net for tests: the Platform API operations the
// bot uses (post-game carnage reports, reporting a player, the current user's
// memberships, the Destiny manifest), the manifest's report reason file in each of its
// languages (Languages: English, and German, French, Spanish, Brazilian Portuguese and
// Polish names), and the OAuth authorization-code flow with single-use refresh tokens.
//
// It answers as Bungie does: every Platform response is an envelope
// {Response, ErrorCode, ThrottleSeconds, ErrorStatus, Message, MessageData}, errors
// mostly arrive with HTTP 200, and int64 values (membership, character and activity ids)
// are JSON strings, although the official OpenAPI document says integer. Every request
// the document describes is validated against it (reporting/openapitest); a request that
// does not match is reported with tb.Errorf and answered 400 with ErrorCode 18
// InvalidParameters, so that a test fails when the bot sends something Bungie would
// refuse. Responses are not validated: the document's int64 fields are integers, and
// Bungie sends strings.
//
// Bot configuration against a Server s:
//
//	BUNGIE_API_URL       = s.URL + "/Platform"
//	BUNGIE_STATS_URL     = s.StatsURL (a second server, ending in /Platform)
//	BUNGIE_WEB_URL       = s.URL
//	BUNGIE_AUTHORIZE_URL = s.URL + "/en/OAuth/Authorize"
package bungietest

import (
	"cmp"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/openapitest"
)

// reasonCategories is the manifest's DestinyReportReasonCategoryDefinition, as
// /work/shared/specs has it: served as the manifest component, and used to check the
// reasons of a report.
//
//go:embed testdata/bungie-DestinyReportReasonCategoryDefinition.json
var reasonCategories []byte

// Op names one operation of the fake, for counting calls and injecting failures.
type Op string

// The operations the fake serves.
const (
	OpPGCR              Op = "pgcr"               // GET {StatsURL}/Destiny2/Stats/PostGameCarnageReport/{activityId}/
	OpReport            Op = "report"             // POST {URL}/Platform/Destiny2/Stats/PostGameCarnageReport/{activityId}/Report/
	OpMemberships       Op = "memberships"        // GET {URL}/Platform/User/GetMembershipsForCurrentUser/
	OpManifest          Op = "manifest"           // GET {URL}/Platform/Destiny2/Manifest/
	OpManifestComponent Op = "manifest-component" // GET {URL}/common/destiny2_content/json/{lang}/DestinyReportReasonCategoryDefinition-{version}.json
	OpAuthorize         Op = "authorize"          // GET {URL}/en/OAuth/Authorize
	OpToken             Op = "token"              // POST {URL}/Platform/App/OAuth/token/
)

// Error codes of Bungie's Exceptions.PlatformErrorCodes the fake answers by itself.
// ErrorName gives the name of any code of the document.
const (
	CodeSuccess                  = 1
	CodeUnhandledException       = 3
	CodeSystemDisabled           = 5
	CodeInvalidParameters        = 18
	CodeNotFound                 = 21
	CodeWebAuthRequired          = 99
	CodeReportAlreadyReported    = 1403
	CodeDestinyPGCRNotFound      = 1653
	CodeApiInvalidOrExpiredKey   = 2101
	CodeAccessTokenHasExpired    = 2111
	CodeReportOffenderNotInPgcr  = 2700
	CodeReportRequestorNotInPgcr = 2701
	CodeReportCannotReportSelf   = 2703
)

// Membership types (BungieMembershipType) of the document.
const (
	TypeXbox  = 1
	TypePSN   = 2
	TypeSteam = 3
	TypeEpic  = 6
)

// Activity modes (DestinyActivityModeType) the fake uses.
const (
	ModeRaid   = 4
	ModeAllPvP = 5
	ModeAllPvE = 7
)

// Team ids of Crucible PGCRs (values.team), named Alpha and Bravo.
const (
	teamAlphaID = 17
	teamBravoID = 18
)

// Consent is what the Bungie user answers on the OAuth authorization page.
type Consent int

// The answers SetConsent chooses from.
const (
	// ConsentApprove authorizes the application: the browser is redirected with a code.
	ConsentApprove Consent = iota
	// ConsentDeny refuses: the browser is redirected with error=access_denied.
	ConsentDeny
)

// Lifetimes of OAuth grants, as Bungie's.
const (
	defaultAccessTTL = time.Hour
	refreshTTL       = 90 * 24 * time.Hour // refresh_expires_in 7776000
	codeTTL          = 10 * time.Minute
)

// Failure describes how the fake answers a request instead of (or before) its normal
// answer. Any failure but a bare Delay replaces the answer: the request is not served
// (no report is recorded, no OAuth code or token used or issued). Every operation
// answers the same way, the token endpoint and the web pages too: an envelope, an
// HTML page or broken JSON. Requests refused for not matching the document, a bad API
// key or a bad access token never consume a failure: those answers come first. The
// zero Failure changes nothing (and clears SetFailure).
type Failure struct {
	// ErrorCode answers an envelope with this PlatformErrorCodes value; ErrorStatus is
	// its name in the document and Message a Bungie-like text. Zero with HTTPStatus set
	// means 3 UnhandledException.
	ErrorCode int
	// ThrottleSeconds is the envelope's ThrottleSeconds (throttle codes 31, 35–37, 51,
	// 54–57 come with it).
	ThrottleSeconds int
	// HTTPStatus is the status of the answer: 200 for envelopes and broken JSON, 503 for
	// HTML pages when zero.
	HTTPStatus int
	// HTML answers Bungie's HTML maintenance page (text/html) instead of JSON, as
	// Bungie does during outages.
	HTML bool
	// Broken answers truncated JSON.
	Broken bool
	// Delay is waited first; alone, it delays the normal answer. When the client gives
	// up first, the request is abandoned undone (no report is recorded, no code used).
	Delay time.Duration
}

// active reports whether f replaces the normal answer.
func (f Failure) active() bool {
	return f.ErrorCode != 0 || f.HTTPStatus != 0 || f.HTML || f.Broken
}

// Options configure New.
type Options struct {
	// APIKey, ClientID and ClientSecret are the only credentials the fake accepts;
	// random when empty.
	APIKey, ClientID, ClientSecret string
	// RedirectURL is the application's registered OAuth redirect URL; the authorize
	// page redirects there. Required for the OAuth flow.
	RedirectURL string
}

// User is a bungie.net account. The Server keeps its own copy: change one only
// through the Server's methods.
type User struct {
	// BungieID is the bungie.net membership id (membership_id of the token response).
	BungieID string
	// Memberships are the Destiny memberships of the account; with several, the first
	// is the cross-save primary.
	Memberships []Membership
}

// Membership is a Destiny membership (a platform account) of a User.
type Membership struct {
	// Type is the BungieMembershipType: 1 Xbox, 2 PSN, 3 Steam, 6 Epic...
	Type int
	// ID is the Destiny membership id, an int64 as a string.
	ID string
	// DisplayName is the platform display name.
	DisplayName string
	// GlobalName and GlobalCode are the Bungie Name, GlobalName#GlobalCode.
	GlobalName string
	GlobalCode int
	// Characters are the membership's characters.
	Characters []Character
}

// Character is a Destiny character.
type Character struct {
	// ID is the character id, an int64 as a string.
	ID string
	// Class is Hunter, Titan or Warlock.
	Class string
}

// Activity is a played activity whose PGCR the fake serves. The Server keeps its own
// copy: changing one returned by AddActivity changes nothing.
type Activity struct {
	// ID is the activity's instance id, an int64 as a string.
	ID string
	// Mode is the DestinyActivityModeType: 5 AllPvP with teams, 4 Raid without.
	Mode int
	// Teams tells a Crucible activity (teams Alpha and Bravo) from a PvE one.
	Teams bool
	// Players are the PGCR's entries, in order.
	Players []Player
	// Period is when the activity started.
	Period time.Time
}

// Player is one entry of a PGCR.
type Player struct {
	// Membership is who played; a membership of a User added to the Server, or any
	// other membership with an ID (a stranger the fake knows nothing else about).
	Membership *Membership
	// Character is the character played; a random id and Hunter when empty.
	Character Character
	// Team is "Alpha" or "Bravo" in activities with teams (alternately when empty);
	// ignored without teams.
	Team string
}

// Report is a report the fake accepted.
type Report struct {
	// ActivityID is the PGCR's instance id, as the path gave it (without leading zeros).
	ActivityID string
	// ReporterBungieID is the BungieID of the access token's user.
	ReporterBungieID string
	// OffendingCharacterID is the body's offendingCharacterId, as a string.
	OffendingCharacterID string
	// CategoryHashes and ReasonHashes are the body's reasonCategoryHashes and
	// reasonHashes, in order.
	CategoryHashes []uint32
	ReasonHashes   []uint32
	// At is when the fake accepted the report.
	At time.Time
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base of bungie.net: the web site (OAuth authorize page, manifest
	// files) and, under URL+"/Platform", the Platform API.
	URL string
	// StatsURL is the base of stats.bungie.net's Platform API; it ends in /Platform.
	StatsURL string
	// APIKey is the only X-API-Key the fake accepts.
	APIKey string
	// ClientID and ClientSecret are the OAuth client's credentials.
	ClientID, ClientSecret string

	tb       testing.TB
	v        *openapitest.Validator
	redirect string
	reasons  map[uint32]map[uint32]bool // category hash → its reason hashes
	// components are the report reason files by language (Languages).
	components map[string][]byte
	// done is closed when the test ends so that delayed requests stop waiting and
	// httptest.Server.Close does not block on them.
	done chan struct{}

	mu           sync.Mutex
	users        []*User          // the fake's own copies, in order
	byBungie     map[string]*User // by BungieID
	owner        map[string]*User // Destiny membership id → its user
	ids          map[string]bool  // every id handed out, to keep them unique
	activities   map[string]*Activity
	authorizing  string // BungieID; the first user when empty
	consent      Consent
	codes        map[string]codeGrant
	access       map[string]accessToken
	refresh      map[string]*refreshToken
	accessTTL    time.Duration
	issuedAccess int
	issuedRefr   int
	reports      []Report
	calls        map[Op]int
	queued       map[Op][]Failure
	failing      map[Op]Failure
	version      string
	versions     map[string]bool // every manifest version served so far
}

type codeGrant struct {
	bungieID string
	expires  time.Time
}

type accessToken struct {
	bungieID string
	expires  time.Time
}

type refreshToken struct {
	bungieID string
	expires  time.Time
	used     bool // rotated: refresh tokens are single-use
	revoked  bool
}

// reply is a response before it is written.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// New starts the fake; it is closed when tb ends. tb.Errorf reports every request that
// does not match the OpenAPI document, malformed OAuth requests, and requests to paths
// the fake does not serve.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	v, err := openapitest.Load(openapitest.Bungie)
	if err != nil {
		tb.Fatalf("bungietest: %v", err)
	}
	reasons, err := parseReasons(reasonCategories)
	if err != nil {
		tb.Fatalf("bungietest: %v", err)
	}
	components := map[string][]byte{"en": reasonCategories}
	for lang := range reasonNames {
		if components[lang], err = localizedReasons(reasonCategories, lang); err != nil {
			tb.Fatalf("bungietest: %s: %v", lang, err)
		}
	}
	s := &Server{
		APIKey:       orRandom(o.APIKey),
		ClientID:     orRandom(o.ClientID),
		ClientSecret: orRandom(o.ClientSecret),
		tb:           tb,
		v:            v,
		redirect:     o.RedirectURL,
		reasons:      reasons,
		components:   components,
		done:         make(chan struct{}),
		byBungie:     map[string]*User{},
		owner:        map[string]*User{},
		ids:          map[string]bool{},
		activities:   map[string]*Activity{},
		codes:        map[string]codeGrant{},
		access:       map[string]accessToken{},
		refresh:      map[string]*refreshToken{},
		accessTTL:    defaultAccessTTL,
		calls:        map[Op]int{},
		queued:       map[Op][]Failure{},
		failing:      map[Op]Failure{},
	}
	s.version = "227731.25.02.04.1730-1-bnet.58565"
	s.versions = map[string]bool{s.version: true}

	const pgcrPath = "/Platform/Destiny2/Stats/PostGameCarnageReport/{activityId}/"
	web := http.NewServeMux()
	web.Handle("POST "+pgcrPath+"Report/{$}", s.serve(OpReport, true, true, s.report))
	web.Handle("GET /Platform/User/GetMembershipsForCurrentUser/{$}", s.serve(OpMemberships, true, true, s.memberships))
	web.Handle("GET /Platform/Destiny2/Manifest/{$}", s.serve(OpManifest, true, false, s.manifest))
	web.Handle("POST /Platform/App/OAuth/token/{$}", s.serve(OpToken, false, false, s.token))
	web.Handle("GET /common/destiny2_content/json/{lang}/{file}", s.serve(OpManifestComponent, false, false, s.component))
	web.Handle("GET /en/OAuth/Authorize", s.serve(OpAuthorize, false, false, s.authorize))
	web.Handle("GET "+pgcrPath+"{$}", s.misdirected("PGCRs are read from BUNGIE_STATS_URL (Server.StatsURL)"))
	web.HandleFunc("/", s.notServed)
	stats := http.NewServeMux()
	stats.Handle("GET "+pgcrPath+"{$}", s.serve(OpPGCR, true, false, s.pgcr))
	stats.Handle("POST "+pgcrPath+"Report/{$}", s.misdirected("reports are sent to BUNGIE_API_URL (Server.URL+\"/Platform\")"))
	stats.HandleFunc("/", s.notServed)

	webSrv := httptest.NewServer(s.slashes(web))
	statsSrv := httptest.NewServer(s.slashes(stats))
	s.URL = webSrv.URL
	s.StatsURL = statsSrv.URL + "/Platform"
	tb.Cleanup(func() {
		close(s.done)
		webSrv.Close()
		statsSrv.Close()
	})
	return s
}

func orRandom(v string) string {
	if v == "" {
		return strings.ToLower(rand.Text())
	}
	return v
}

// ErrorName returns the name the OpenAPI document gives to a PlatformErrorCodes value
// (Bungie's ErrorStatus), or "" for a code the document does not know.
func ErrorName(code int) string {
	return errorNames[code]
}

// AddUser adds a bungie.net account with one Steam membership named name (display
// name and Bungie Name, with a random code) and one character of each class given, in
// order. Ids are random int64 strings shaped like Bungie's.
func (s *Server) AddUser(name string, classes ...string) *User {
	s.tb.Helper()
	checkClasses(s.tb, classes)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{BungieID: s.newID(1_000_000, 30_000_000)}
	u.Memberships = []Membership{s.newMembership(TypeSteam, name, classes)}
	own := cloneUser(u)
	s.users = append(s.users, own)
	s.byBungie[own.BungieID] = own
	s.owner[own.Memberships[0].ID] = own
	return u
}

// AddMembership adds a Destiny membership of type membershipType to u, a user added
// with AddUser, named name and with characters of the given classes. A user with
// several memberships is in cross save, its first membership the primary one. The
// membership is appended to u.Memberships too, and returned.
func (s *Server) AddMembership(u *User, membershipType int, name string, classes ...string) *Membership {
	s.tb.Helper()
	checkClasses(s.tb, classes)
	s.mu.Lock()
	own := s.byBungie[u.BungieID]
	var m Membership
	if own != nil {
		m = s.newMembership(membershipType, name, classes)
		own.Memberships = append(own.Memberships, cloneMembership(m))
		s.owner[m.ID] = own
	}
	s.mu.Unlock()
	if own == nil {
		s.tb.Fatalf("bungietest: AddMembership: unknown user %s", u.BungieID)
	}
	u.Memberships = append(u.Memberships, m)
	return &u.Memberships[len(u.Memberships)-1]
}

func checkClasses(tb testing.TB, classes []string) {
	tb.Helper()
	for _, c := range classes {
		if _, ok := classHashes[c]; !ok {
			tb.Fatalf("bungietest: unknown character class %q (Hunter, Titan or Warlock)", c)
		}
	}
}

// newMembership makes a membership with new ids; s.mu is held.
func (s *Server) newMembership(typ int, name string, classes []string) Membership {
	m := Membership{
		Type:        typ,
		ID:          s.newID(4611686018400000000, 100_000_000),
		DisplayName: name,
		GlobalName:  name,
		GlobalCode:  int(randN(9999)) + 1,
	}
	for _, c := range classes {
		m.Characters = append(m.Characters, Character{ID: s.newCharacterID(), Class: c})
	}
	return m
}

func (s *Server) newCharacterID() string { return s.newID(2305843009200000000, 500_000_000) }

// newID returns base+rand(n) as a string, never the same twice; s.mu is held.
func (s *Server) newID(base, n uint64) string {
	for {
		id := strconv.FormatUint(base+randN(n), 10)
		if !s.ids[id] {
			s.ids[id] = true
			return id
		}
	}
}

// randN returns a uniformly random number in [0, n).
func randN(n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if v := binary.LittleEndian.Uint64(b[:]); v < limit {
			return v % n
		}
	}
}

func cloneUser(u *User) *User {
	c := &User{BungieID: u.BungieID}
	for _, m := range u.Memberships {
		c.Memberships = append(c.Memberships, cloneMembership(m))
	}
	return c
}

func cloneMembership(m Membership) Membership {
	m.Characters = slices.Clone(m.Characters)
	return m
}

func cloneActivity(a *Activity) *Activity {
	c := *a
	c.Players = slices.Clone(a.Players)
	for i, p := range c.Players {
		m := cloneMembership(*p.Membership)
		c.Players[i].Membership = &m
	}
	return &c
}

// AddActivity adds an activity with a new instance id (11 digits, like today's) played
// an hour ago: mode 5 AllPvP with teams, 4 Raid without. Its PGCR lists players in order.
func (s *Server) AddActivity(teams bool, players ...Player) *Activity {
	s.tb.Helper()
	a := &Activity{Mode: ModeRaid, Teams: teams, Period: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
	if teams {
		a.Mode = ModeAllPvP
	}
	for i, p := range players {
		if p.Membership == nil || p.Membership.ID == "" {
			s.tb.Fatalf("bungietest: AddActivity: player %d has no membership id", i)
		}
		if p.Character.Class == "" {
			p.Character.Class = "Hunter"
		}
		checkClasses(s.tb, []string{p.Character.Class})
		switch {
		case !teams:
			p.Team = ""
		case p.Team == "" && i%2 == 0:
			p.Team = "Alpha"
		case p.Team == "":
			p.Team = "Bravo"
		case p.Team != "Alpha" && p.Team != "Bravo":
			s.tb.Fatalf("bungietest: AddActivity: player %d: team %q is neither Alpha nor Bravo", i, p.Team)
		}
		a.Players = append(a.Players, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a.ID = s.newID(14_000_000_000, 2_000_000_000)
	for i := range a.Players {
		if a.Players[i].Character.ID == "" {
			a.Players[i].Character.ID = s.newCharacterID()
		}
	}
	s.activities[a.ID] = cloneActivity(a)
	return cloneActivity(a)
}

// SetManifestVersion makes the manifest answer version v, with component paths of that
// version. Files of earlier versions stay served, as on Bungie's CDN.
func (s *Server) SetManifestVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
	s.versions[v] = true
}

// Reports returns every report accepted, in order.
func (s *Server) Reports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.reports)
	for i := range out {
		out[i].CategoryHashes = slices.Clone(out[i].CategoryHashes)
		out[i].ReasonHashes = slices.Clone(out[i].ReasonHashes)
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

// TokensIssued returns how many access and refresh tokens the token endpoint issued.
func (s *Server) TokensIssued() (access, refresh int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issuedAccess, s.issuedRefr
}

// SetConsent sets what the user answers on the authorization page (ConsentApprove
// until changed).
func (s *Server) SetConsent(c Consent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consent = c
}

// SetAuthorizingUser makes u, a user added with AddUser, the one who signs in on the
// authorization page; nil goes back to the default, the first user added.
func (s *Server) SetAuthorizingUser(u *User) {
	s.tb.Helper()
	s.mu.Lock()
	known := u == nil || s.byBungie[u.BungieID] != nil
	if known {
		s.authorizing = ""
		if u != nil {
			s.authorizing = u.BungieID
		}
	}
	s.mu.Unlock()
	if !known {
		s.tb.Fatalf("bungietest: SetAuthorizingUser: unknown user %s", u.BungieID)
	}
}

// SetAccessTTL sets the lifetime of the access tokens issued from now on (default one
// hour); expires_in is rounded up to whole seconds.
func (s *Server) SetAccessTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessTTL = d
}

// ExpireAccessTokens makes every access token issued so far answer 2111
// AccessTokenHasExpired. Refresh tokens keep working.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, at := range s.access {
		at.expires = time.Time{}
		s.access[tok] = at
	}
}

// RevokeRefreshTokens makes every refresh token issued so far refused with
// invalid_grant (TokenPreviouslyRevoked), as when the user revokes the application.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.refresh {
		rt.revoked = true
	}
}

// FailNext makes the next n requests of op get f; calls queue up in order, and come
// before a failure set with SetFailure.
func (s *Server) FailNext(op Op, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.queued[op] = append(s.queued[op], f)
	}
}

// SetFailure makes every later request of op get f, until called again with the zero
// Failure.
func (s *Server) SetFailure(op Op, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Failure{}) {
		delete(s.failing, op)
		return
	}
	s.failing[op] = f
}

func (s *Server) nextFailure(op Op) Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queued[op]; len(q) > 0 {
		s.queued[op] = q[1:]
		return q[0]
	}
	return s.failing[op]
}

// serve wraps the handler of op with what every request goes through, in order:
// validation against the document (platform operations), the X-API-Key (platform
// operations), the access token (when bearer), then injected failures.
func (s *Server) serve(op Op, platform, bearer bool, h func(*http.Request, *User) reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[op]++
		s.mu.Unlock()
		if platform {
			if err := s.v.Request(r); err != nil {
				s.tb.Errorf("bungietest: %v", err)
				write(w, invalid(err))
				return
			}
			if r.Header.Get("X-API-Key") != s.APIKey {
				write(w, bungieError(http.StatusUnauthorized, CodeApiInvalidOrExpiredKey, 0))
				return
			}
		}
		var u *User
		if bearer {
			var rep reply
			if u, rep = s.bearer(r); u == nil {
				write(w, rep)
				return
			}
		}
		f := s.nextFailure(op)
		openapitest.Delay(r, f.Delay, s.done)
		if f.active() {
			write(w, failure(f))
			return
		}
		write(w, h(r, u))
	})
}

// bearer returns the user of the request's access token, or the answer refusing it.
// Bungie answers these with HTTP 401.
func (s *Server) bearer(r *http.Request) (*User, reply) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[tok]
	switch {
	case !strings.EqualFold(scheme, "Bearer") || !ok:
		return nil, bungieError(http.StatusUnauthorized, CodeWebAuthRequired, 0)
	case !time.Now().Before(at.expires):
		return nil, bungieError(http.StatusUnauthorized, CodeAccessTokenHasExpired, 0)
	}
	return cloneUser(s.byBungie[at.bungieID]), reply{}
}

func write(w http.ResponseWriter, rep reply) {
	maps.Copy(w.Header(), rep.header)
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// notServed answers what the fake does not serve, and reports it: the bot has no
// business calling it, or the fake lacks an operation.
func (s *Server) notServed(w http.ResponseWriter, r *http.Request) {
	s.tb.Errorf("bungietest: %s %s is not served by the fake", r.Method, r.URL.Path)
	write(w, bungieError(http.StatusNotFound, CodeNotFound, 0))
}

// slashes answers a Platform path without its trailing slash as Bungie does, with a
// redirect (Bungie's drops the Authorization header, and once went to http), and
// reports it: every path of the document ends in a slash.
func (s *Server) slashes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/Platform/") || strings.HasSuffix(r.URL.Path, "/") {
			next.ServeHTTP(w, r)
			return
		}
		s.tb.Errorf("bungietest: %s %s: Platform paths end with a slash; Bungie redirects without it", r.Method, r.URL.Path)
		u := *r.URL
		u.Path += "/"
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	})
}

// misdirected answers an operation sent to the wrong server, and reports it.
func (s *Server) misdirected(hint string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.tb.Errorf("bungietest: %s %s sent to the wrong server: %s", r.Method, r.URL.Path, hint)
		write(w, bungieError(http.StatusNotFound, CodeNotFound, 0))
	})
}

// envelope is Bungie's response envelope.
type envelope struct {
	Response        any               `json:"Response,omitempty"`
	ErrorCode       int               `json:"ErrorCode"`
	ThrottleSeconds int               `json:"ThrottleSeconds"`
	ErrorStatus     string            `json:"ErrorStatus"`
	Message         string            `json:"Message"`
	MessageData     map[string]string `json:"MessageData"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bungietest: encoding %T: %v", v, err))
	}
	return b
}

// success is the envelope of a successful answer.
func success(resp any) reply {
	return reply{status: http.StatusOK, body: marshal(envelope{
		Response: resp, ErrorCode: CodeSuccess, ErrorStatus: "Success", Message: "Ok", MessageData: map[string]string{},
	})}
}

// bungieError is the envelope of an error answer.
func bungieError(status, code, throttle int) reply {
	return reply{status: status, body: marshal(envelope{
		ErrorCode: code, ThrottleSeconds: throttle, ErrorStatus: errorStatus(code), Message: errorMessage(code),
		MessageData: map[string]string{},
	})}
}

// invalid answers a request that does not match the document.
func invalid(err error) reply {
	rep := bungieError(http.StatusBadRequest, CodeInvalidParameters, 0)
	var e envelope
	_ = json.Unmarshal(rep.body, &e)
	e.MessageData = map[string]string{"detail": err.Error()}
	rep.body = marshal(e)
	return rep
}

func errorStatus(code int) string {
	if name, ok := errorNames[code]; ok {
		return name
	}
	return "Unknown"
}

// messages are Bungie-like Messages of the codes a bot meets; the others get a
// generic one.
var messages = map[int]string{
	3:    "An unexpected error has occurred.",
	5:    "This system is temporarily disabled for maintenance.",
	7:    "Unable to parse your parameters.  Please correct them, and try again.",
	18:   "The parameters provided are invalid.",
	21:   "The requested resource was not found.",
	99:   "Please sign-in to continue.",
	1403: "You have already reported this player for this activity.",
	1653: "The activity you requested could not be found.",
	1665: "This user has chosen to keep their Destiny data private.",
	2101: "Please use a valid API key.",
	2102: "An API key is required for this request.",
	2111: "Access token has expired, please refresh to continue.",
	2115: "OAuth access token has expired.",
	2117: "The provided token is not a valid refresh token.",
	2118: "Refresh token has expired.",
	2120: "This token was previously revoked.",
	2700: "The player you reported was not found in this activity.",
	2701: "You were not found in this activity.",
	2702: "Your report could not be submitted.",
	2703: "You cannot report yourself.",
}

func errorMessage(code int) string {
	if m, ok := messages[code]; ok {
		return m
	}
	switch code {
	case 31, 35, 36, 37, 51, 54, 55, 56, 57:
		return "Too many requests. Please wait a moment and try again."
	}
	return fmt.Sprintf("An error has occurred (%s).", errorStatus(code))
}

// maintenancePage is the kind of page Bungie answers during outages.
const maintenancePage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Bungie.net</title></head>
<body>
<div class="maintenance">
<h1>Bungie.net is down for maintenance</h1>
<p>We are performing scheduled maintenance. Please check @BungieHelp for updates.</p>
</div>
</body>
</html>
`

// brokenJSON is an answer cut short.
const brokenJSON = `{"Response":{"activityDetails":{"referenceId":2693136605,"instanceId":"1`

func failure(f Failure) reply {
	switch {
	case f.HTML:
		return reply{status: cmp.Or(f.HTTPStatus, http.StatusServiceUnavailable),
			header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: []byte(maintenancePage)}
	case f.Broken:
		return reply{status: cmp.Or(f.HTTPStatus, http.StatusOK), body: []byte(brokenJSON)}
	}
	return bungieError(cmp.Or(f.HTTPStatus, http.StatusOK), cmp.Or(f.ErrorCode, CodeUnhandledException), f.ThrottleSeconds)
}

// pgcr answers GetPostGameCarnageReport.
func (s *Server) pgcr(r *http.Request, _ *User) reply {
	s.mu.Lock()
	a := s.activities[canonical(r.PathValue("activityId"))]
	var infos []map[string]any
	if a != nil {
		for _, p := range a.Players {
			infos = append(infos, s.userInfo(*p.Membership))
		}
	}
	s.mu.Unlock()
	if a == nil {
		return bungieError(http.StatusOK, CodeDestinyPGCRNotFound, 0)
	}
	return success(renderPGCR(a, infos))
}

// canonical writes an integer path parameter (validated already) as Bungie stores it.
func canonical(id string) string {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return id
	}
	return strconv.FormatInt(n, 10)
}

var classHashes = map[string]uint32{"Titan": 3655393761, "Hunter": 671679327, "Warlock": 2271682572}

var iconPaths = map[int]string{
	TypeXbox:  "/img/theme/bungienet/icons/xboxLiveLogo.png",
	TypePSN:   "/img/theme/bungienet/icons/psnLogo.png",
	TypeSteam: "/img/theme/bungienet/icons/steamLogo.png",
	TypeEpic:  "/img/theme/bungienet/icons/egsLogo.png",
}

// userInfo is the UserInfoCard of m, with the cross-save state of its owner; s.mu is
// held.
func (s *Server) userInfo(m Membership) map[string]any {
	override, applicable := 0, []int{m.Type}
	if u := s.owner[m.ID]; u != nil && len(u.Memberships) > 1 {
		primary := u.Memberships[0]
		override = primary.Type
		if primary.ID == m.ID {
			applicable = nil
			for _, o := range u.Memberships {
				applicable = append(applicable, o.Type)
			}
		} else {
			applicable = []int{}
		}
	}
	info := map[string]any{
		"iconPath":                    iconPaths[m.Type],
		"crossSaveOverride":           override,
		"applicableMembershipTypes":   applicable,
		"isPublic":                    true,
		"membershipType":              m.Type,
		"membershipId":                m.ID,
		"displayName":                 m.DisplayName,
		"bungieGlobalDisplayName":     m.GlobalName,
		"bungieGlobalDisplayNameCode": m.GlobalCode,
	}
	if m.GlobalName == "" {
		info["bungieGlobalDisplayNameCode"] = nil
	}
	return info
}

func stat(id string, v float64, display string) map[string]any {
	if display == "" {
		display = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return map[string]any{"statId": id, "basic": map[string]any{"value": v, "displayValue": display}}
}

func valuePair(v float64, display string) map[string]any {
	if display == "" {
		display = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return map[string]any{"basic": map[string]any{"value": v, "displayValue": display}}
}

// renderPGCR is the DestinyPostGameCarnageReportData of a, with int64 values as strings.
// Stats are made up, but stable.
func renderPGCR(a *Activity, infos []map[string]any) map[string]any {
	const duration = 754
	membershipType := TypeSteam
	if len(a.Players) > 0 {
		membershipType = a.Players[0].Membership.Type
	}
	details := map[string]any{
		"referenceId":          uint32(2693136605),
		"directorActivityHash": uint32(2693136605),
		"instanceId":           a.ID,
		"mode":                 a.Mode,
		"modes":                []int{a.Mode, ModeAllPvE},
		"isPrivate":            false,
		"membershipType":       membershipType,
	}
	if a.Teams {
		details["referenceId"] = uint32(750001803)
		details["directorActivityHash"] = uint32(2259621230)
		details["modes"] = []int{a.Mode, 73}
	}
	teamScore := map[string]float64{}
	entries := []map[string]any{}
	for i, p := range a.Players {
		kills, deaths, assists := float64(5+i*7%20), float64(3+i*5%12), float64(i*3%9)
		score := kills*100 + assists*50
		values := map[string]any{
			"assists":                 stat("assists", assists, ""),
			"completed":               stat("completed", 1, "Yes"),
			"deaths":                  stat("deaths", deaths, ""),
			"kills":                   stat("kills", kills, ""),
			"opponentsDefeated":       stat("opponentsDefeated", kills+assists, ""),
			"efficiency":              stat("efficiency", (kills+assists)/deaths, strconv.FormatFloat((kills+assists)/deaths, 'f', 2, 64)),
			"killsDeathsRatio":        stat("killsDeathsRatio", kills/deaths, strconv.FormatFloat(kills/deaths, 'f', 2, 64)),
			"score":                   stat("score", score, ""),
			"activityDurationSeconds": stat("activityDurationSeconds", duration, "12m 34s"),
			"completionReason":        stat("completionReason", 0, "Objective Completed"),
			"startSeconds":            stat("startSeconds", 0, "0s"),
			"timePlayedSeconds":       stat("timePlayedSeconds", duration, "12m 34s"),
			"playerCount":             stat("playerCount", float64(len(a.Players)), ""),
		}
		standing := 0
		if a.Teams {
			id, result := teamAlphaID, "Victory" // Alpha always wins
			if p.Team == "Bravo" {
				id, result, standing = teamBravoID, "Defeat", 1
			}
			values["team"] = stat("team", float64(id), p.Team)
			values["standing"] = stat("standing", float64(standing), result)
			teamScore[p.Team] += score
		}
		entries = append(entries, map[string]any{
			"standing": standing,
			"score":    valuePair(score, ""),
			"player": map[string]any{
				"destinyUserInfo": infos[i],
				"characterClass":  p.Character.Class,
				"classHash":       classHashes[p.Character.Class],
				"raceHash":        uint32(3887404748),
				"genderHash":      uint32(3111576190),
				"characterLevel":  50,
				"lightLevel":      2010,
				"emblemHash":      uint32(4132147349),
			},
			"characterId": p.Character.ID,
			"values":      values,
		})
	}
	teams := []map[string]any{}
	if a.Teams {
		teams = append(teams,
			map[string]any{"teamId": teamAlphaID, "standing": valuePair(0, "Victory"), "score": valuePair(teamScore["Alpha"], ""), "teamName": "Alpha"},
			map[string]any{"teamId": teamBravoID, "standing": valuePair(1, "Defeat"), "score": valuePair(teamScore["Bravo"], ""), "teamName": "Bravo"},
		)
	}
	return map[string]any{
		"period":                          a.Period.UTC().Format(time.RFC3339),
		"startingPhaseIndex":              0,
		"activityWasStartedFromBeginning": true,
		"activityDifficultyTier":          0,
		"selectedSkullHashes":             []uint32{},
		"activityDetails":                 details,
		"entries":                         entries,
		"teams":                           teams,
	}
}

// offenseRequest is DestinyReportOffensePgcrRequest, with numbers kept as written.
type offenseRequest struct {
	ReasonCategoryHashes []json.Number `json:"reasonCategoryHashes"`
	ReasonHashes         []json.Number `json:"reasonHashes"`
	OffendingCharacterID json.Number   `json:"offendingCharacterId"`
}

// report answers ReportOffensivePostGameCarnageReportPlayer for u.
func (s *Server) report(r *http.Request, u *User) reply {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var in offenseRequest
	if err := dec.Decode(&in); err != nil { // the validator has parsed it already
		return invalid(fmt.Errorf("decoding the body: %w", err))
	}
	// The validator does not check the formats uint32 and int64: do it here.
	cats, err := uint32s(in.ReasonCategoryHashes)
	if err == nil {
		var reasons []uint32
		reasons, err = uint32s(in.ReasonHashes)
		if err == nil {
			return s.fileReport(r, u, cats, reasons, in.OffendingCharacterID)
		}
	}
	err = fmt.Errorf("POST %s: body does not match the document: %w", r.URL.Path, err)
	s.tb.Errorf("bungietest: %v", err)
	return invalid(err)
}

func uint32s(ns []json.Number) ([]uint32, error) {
	out := make([]uint32, 0, len(ns))
	for _, n := range ns {
		v, err := strconv.ParseUint(n.String(), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("hash %s is not a uint32", n)
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

func (s *Server) fileReport(r *http.Request, u *User, cats, reasons []uint32, offender json.Number) reply {
	offenderID := ""
	if offender != "" {
		n, err := strconv.ParseInt(offender.String(), 10, 64)
		if err != nil {
			err = fmt.Errorf("POST %s: offendingCharacterId %s is not an int64", r.URL.Path, offender)
			s.tb.Errorf("bungietest: %v", err)
			return invalid(err)
		}
		offenderID = strconv.FormatInt(n, 10)
	}
	activityID := canonical(r.PathValue("activityId"))
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.activities[activityID]
	if a == nil {
		return bungieError(http.StatusOK, CodeDestinyPGCRNotFound, 0)
	}
	if !s.validReasons(cats, reasons) {
		return bungieError(http.StatusOK, CodeInvalidParameters, 0)
	}
	mine := map[string]bool{}
	for _, m := range u.Memberships {
		mine[m.ID] = true
	}
	var target *Player
	reporterIn := false
	for i, p := range a.Players {
		if p.Character.ID == offenderID {
			target = &a.Players[i]
		}
		reporterIn = reporterIn || mine[p.Membership.ID]
	}
	switch {
	case target == nil:
		return bungieError(http.StatusOK, CodeReportOffenderNotInPgcr, 0)
	case mine[target.Membership.ID]:
		return bungieError(http.StatusOK, CodeReportCannotReportSelf, 0)
	case !reporterIn:
		return bungieError(http.StatusOK, CodeReportRequestorNotInPgcr, 0)
	}
	for _, rep := range s.reports {
		if rep.ActivityID == activityID && rep.ReporterBungieID == u.BungieID && rep.OffendingCharacterID == offenderID {
			return bungieError(http.StatusOK, CodeReportAlreadyReported, 0)
		}
	}
	s.reports = append(s.reports, Report{
		ActivityID: activityID, ReporterBungieID: u.BungieID, OffendingCharacterID: offenderID,
		CategoryHashes: cats, ReasonHashes: reasons, At: time.Now(),
	})
	return success(0)
}

// validReasons reports whether a report's reasons are acceptable: as many reasons as
// categories, at least one, every category in the manifest, and every reason a child of
// one of the categories, as the document asks.
func (s *Server) validReasons(cats, reasons []uint32) bool {
	if len(cats) == 0 || len(cats) != len(reasons) {
		return false
	}
	for _, c := range cats {
		if s.reasons[c] == nil {
			return false
		}
	}
	for _, r := range reasons {
		if !slices.ContainsFunc(cats, func(c uint32) bool { return s.reasons[c][r] }) {
			return false
		}
	}
	return true
}

func parseReasons(raw []byte) (map[uint32]map[uint32]bool, error) {
	var defs map[string]struct {
		Hash    uint32 `json:"hash"`
		Reasons map[string]struct {
			ReasonHash uint32 `json:"reasonHash"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, fmt.Errorf("parsing the report reason categories: %w", err)
	}
	out := map[uint32]map[uint32]bool{}
	for _, d := range defs {
		out[d.Hash] = map[uint32]bool{}
		for _, r := range d.Reasons {
			out[d.Hash][r.ReasonHash] = true
		}
	}
	return out, nil
}

// memberships answers GetMembershipsForCurrentUser for u.
func (s *Server) memberships(_ *http.Request, u *User) reply {
	s.mu.Lock()
	cards := []map[string]any{}
	for _, m := range u.Memberships {
		card := s.userInfo(m)
		card["LastSeenDisplayName"] = m.DisplayName
		card["LastSeenDisplayNameType"] = m.Type
		cards = append(cards, card)
	}
	s.mu.Unlock()
	name, code := "", 0
	if len(u.Memberships) > 0 {
		name, code = u.Memberships[0].GlobalName, u.Memberships[0].GlobalCode
	}
	data := map[string]any{
		"destinyMemberships": cards,
		"bungieNetUser": map[string]any{
			"membershipId":                      u.BungieID,
			"uniqueName":                        fmt.Sprintf("%s#%04d", name, code),
			"displayName":                       name,
			"profilePicture":                    70671,
			"profileTheme":                      1063,
			"userTitle":                         0,
			"successMessageFlags":               "0",
			"isDeleted":                         false,
			"about":                             "",
			"firstAccess":                       "2017-09-06T17:21:03.193Z",
			"lastUpdate":                        "2024-06-04T18:00:00.000Z",
			"showActivity":                      true,
			"locale":                            "en",
			"localeInheritDefault":              true,
			"showGroupMessaging":                true,
			"profilePicturePath":                "/img/profile/avatars/default_avatar.gif",
			"profileThemeName":                  "d2_25",
			"userTitleDisplay":                  "Newbie",
			"statusText":                        "",
			"statusDate":                        "0001-01-01T00:00:00Z",
			"steamDisplayName":                  name,
			"cachedBungieGlobalDisplayName":     name,
			"cachedBungieGlobalDisplayNameCode": code,
		},
	}
	if len(u.Memberships) > 1 {
		data["primaryMembershipId"] = u.Memberships[0].ID
	}
	return success(data)
}

// componentPath is where the manifest of version v says a component is in lang.
func componentPath(v, lang, component string) string {
	return "/common/destiny2_content/json/" + lang + "/" + component + "-" + v + ".json"
}

// manifest answers GetDestinyManifest.
func (s *Server) manifest(*http.Request, *User) reply {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	components := map[string]map[string]string{}
	world, sqlite := map[string]string{}, map[string]string{}
	for _, lang := range Languages() {
		components[lang] = map[string]string{}
		for _, c := range []string{"DestinyReportReasonCategoryDefinition", "DestinyActivityDefinition", "DestinyClassDefinition"} {
			components[lang][c] = componentPath(v, lang, c)
		}
		world[lang] = "/common/destiny2_content/json/" + lang + "/aggregate-" + v + ".json"
		sqlite[lang] = "/common/destiny2_content/sqlite/" + lang + "/world_sql_content_" + v + ".content"
	}
	return success(map[string]any{
		"version":                        v,
		"mobileAssetContentPath":         "/common/destiny2_content/sqlite/asset/asset_sql_content_" + v + ".content",
		"mobileGearAssetDataBases":       []any{},
		"mobileWorldContentPaths":        sqlite,
		"jsonWorldContentPaths":          world,
		"jsonWorldComponentContentPaths": components,
		"mobileClanBannerDatabasePath":   "/common/destiny2_content/clanbanner/clanbanner_sql_content_" + v + ".content",
		"mobileGearCDN":                  map[string]string{"Geometry": "/common/destiny2_content/geometry/platform/mobile/geometry"},
		"iconImagePyramidInfo":           []any{},
	})
}

// component serves the report reason categories file of any manifest version served,
// in each language the manifest lists.
func (s *Server) component(r *http.Request, _ *User) reply {
	file, lang := r.PathValue("file"), r.PathValue("lang")
	s.mu.Lock()
	known := false
	for v := range s.versions {
		known = known || r.URL.Path == componentPath(v, lang, "DestinyReportReasonCategoryDefinition")
	}
	s.mu.Unlock()
	body, served := s.components[lang]
	if !known || !served {
		s.tb.Errorf("bungietest: GET %s: the fake serves no manifest file %s", r.URL.Path, file)
		return reply{status: http.StatusNotFound, header: http.Header{"Content-Type": {"text/html"}}, body: []byte("<html><body>Not Found</body></html>")}
	}
	return reply{status: http.StatusOK, body: body}
}

// page is an HTML page of the web site.
func page(status int, text string) reply {
	return reply{status: status, header: http.Header{"Content-Type": {"text/html; charset=utf-8"}},
		body: []byte("<!DOCTYPE html><html><head><title>Bungie.net</title></head><body><p>" + text + "</p></body></html>\n")}
}

// authorize is the OAuth authorization page: the user (SetAuthorizingUser) answers at
// once (SetConsent) and the browser is redirected to the registered redirect URL.
func (s *Server) authorize(r *http.Request, _ *User) reply {
	q := r.URL.Query()
	if s.redirect == "" {
		s.tb.Errorf("bungietest: GET %s: Options.RedirectURL is required for OAuth", r.URL.Path)
		return page(http.StatusBadRequest, "This application has no redirect URL.")
	}
	if rt := q.Get("response_type"); rt != "code" {
		s.tb.Errorf("bungietest: GET %s: response_type %q, want code", r.URL.Path, rt)
		return page(http.StatusBadRequest, "Invalid response_type.")
	}
	if q.Get("client_id") != s.ClientID {
		return page(http.StatusBadRequest, "Unknown client_id.")
	}
	if ru := q.Get("redirect_uri"); ru != "" && ru != s.redirect {
		return page(http.StatusBadRequest, "The redirect_uri does not match the application's.")
	}
	target, err := url.Parse(s.redirect)
	if err != nil {
		s.tb.Errorf("bungietest: Options.RedirectURL %q: %v", s.redirect, err)
		return page(http.StatusBadRequest, "Bad redirect URL.")
	}
	s.mu.Lock()
	consent := s.consent
	user := s.authorizing
	if user == "" && len(s.users) > 0 {
		user = s.users[0].BungieID
	}
	params := target.Query()
	if consent == ConsentDeny {
		params.Set("error", "access_denied")
		params.Set("error_description", "The user denied the authorization request.")
	} else if user != "" {
		code := strings.ToLower(rand.Text())
		s.codes[code] = codeGrant{bungieID: user, expires: time.Now().Add(codeTTL)}
		params.Set("code", code)
	}
	s.mu.Unlock()
	if consent == ConsentApprove && user == "" {
		s.tb.Errorf("bungietest: GET %s: no user to sign in: call AddUser first", r.URL.Path)
		return page(http.StatusBadRequest, "Nobody is signed in.")
	}
	if q.Has("state") {
		params.Set("state", q.Get("state"))
	}
	target.RawQuery = params.Encode()
	return reply{status: http.StatusFound, header: http.Header{
		"Location": {target.String()}, "Content-Type": {"text/html; charset=utf-8"},
	}}
}

// oauthError is an RFC 6749 error answer of the token endpoint.
func oauthError(status int, code, desc string) reply {
	rep := reply{status: status, body: marshal(map[string]string{"error": code, "error_description": desc})}
	rep.header = http.Header{"Cache-Control": {"no-store"}}
	if status == http.StatusUnauthorized {
		rep.header.Set("WWW-Authenticate", `Basic realm="bungie.net"`)
	}
	return rep
}

// token is the OAuth token endpoint of a confidential client. It is not in the
// OpenAPI document (only its URL is); a request RFC 6749 calls malformed is reported.
func (s *Server) token(r *http.Request, _ *User) reply {
	malformed := func(desc string) reply {
		s.tb.Errorf("bungietest: POST %s: %s", r.URL.Path, desc)
		return oauthError(http.StatusBadRequest, "invalid_request", desc)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return malformed(fmt.Sprintf("Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return malformed("unreadable body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return malformed("body is not a form: " + err.Error())
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		status := http.StatusBadRequest
		if basic {
			status = http.StatusUnauthorized
		}
		return oauthError(status, "invalid_client", "ApplicationTokenKeyIdDoesNotExist")
	}
	now := time.Now()
	var bungieID string
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		code := form.Get("code")
		if code == "" {
			return malformed("grant_type authorization_code without code")
		}
		if ru := form.Get("redirect_uri"); ru != "" && ru != s.redirect {
			return oauthError(http.StatusBadRequest, "invalid_grant", "AuthorizationCodeInvalid")
		}
		s.mu.Lock()
		g, ok := s.codes[code]
		delete(s.codes, code) // single use, even when refused
		s.mu.Unlock()
		if !ok || !now.Before(g.expires) {
			return oauthError(http.StatusBadRequest, "invalid_grant", "AuthorizationCodeInvalid")
		}
		bungieID = g.bungieID
	case "refresh_token":
		tok := form.Get("refresh_token")
		if tok == "" {
			return malformed("grant_type refresh_token without refresh_token")
		}
		s.mu.Lock()
		rt := s.refresh[tok]
		desc := ""
		switch {
		case rt == nil || rt.used:
			desc = "ProvidedTokenNotValidRefreshToken"
		case rt.revoked:
			desc = "TokenPreviouslyRevoked"
		case !now.Before(rt.expires):
			desc = "RefreshTokenExpired"
		default:
			rt.used = true
			bungieID = rt.bungieID
		}
		s.mu.Unlock()
		if desc != "" {
			return oauthError(http.StatusBadRequest, "invalid_grant", desc)
		}
	case "":
		return malformed("no grant_type")
	default:
		return malformed(fmt.Sprintf("grant_type %q: the fake knows authorization_code and refresh_token", gt))
	}
	return s.issue(bungieID, now)
}

// issue answers new tokens for the user bungieID.
func (s *Server) issue(bungieID string, now time.Time) reply {
	access, refresh := strings.ToLower(rand.Text()), strings.ToLower(rand.Text())
	s.mu.Lock()
	ttl := s.accessTTL
	s.access[access] = accessToken{bungieID: bungieID, expires: now.Add(ttl)}
	s.refresh[refresh] = &refreshToken{bungieID: bungieID, expires: now.Add(refreshTTL)}
	s.issuedAccess++
	s.issuedRefr++
	s.mu.Unlock()
	return reply{status: http.StatusOK, header: http.Header{"Cache-Control": {"no-store"}}, body: marshal(map[string]any{
		"access_token":       access,
		"token_type":         "Bearer",
		"expires_in":         max(0, int(math.Ceil(ttl.Seconds()))),
		"refresh_token":      refresh,
		"refresh_expires_in": int(refreshTTL.Seconds()),
		"membership_id":      bungieID,
	})}
}
