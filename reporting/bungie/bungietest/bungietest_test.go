package bungietest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/openapitest"
)

const redirectURL = "https://bot.example/oauth/bungie?from=test"

func newServer(t *testing.T) (*Server, *openapitest.Recorder) {
	rec := openapitest.NewRecorder(t)
	return New(rec, Options{RedirectURL: redirectURL}), rec
}

// client does not follow redirects: the authorize page's Location is what tests check.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type request struct {
	method, url string
	header      http.Header
	body        string
	timeout     time.Duration // the client's; 10 s when zero
}

type answer struct {
	status int
	header http.Header
	raw    []byte
}

// env is Bungie's response envelope, as a client decodes it.
type env struct {
	Response        json.RawMessage
	ErrorCode       int
	ThrottleSeconds int
	ErrorStatus     string
	Message         string
	MessageData     map[string]string
}

func send(r request) (*http.Response, error) {
	req, err := http.NewRequest(r.method, r.url, strings.NewReader(r.body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	maps.Copy(req.Header, r.header)
	c := client
	if r.timeout != 0 {
		c = &http.Client{Timeout: r.timeout, CheckRedirect: client.CheckRedirect}
	}
	return c.Do(req)
}

func do(t *testing.T, r request) answer {
	t.Helper()
	resp, err := send(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading answer: %v", r.method, r.url, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func (a answer) envelope(t *testing.T) env {
	t.Helper()
	var e env
	if err := json.Unmarshal(a.raw, &e); err != nil {
		t.Fatalf("answer %d %q is not an envelope: %v", a.status, a.raw, err)
	}
	return e
}

// response decodes the Response of a successful envelope.
func (a answer) response(t *testing.T, v any) {
	t.Helper()
	e := a.envelope(t)
	if a.status != http.StatusOK || e.ErrorCode != 1 || e.ErrorStatus != "Success" {
		t.Fatalf("answer %d %s, want success", a.status, a.raw)
	}
	if err := json.Unmarshal(e.Response, v); err != nil {
		t.Fatalf("decoding Response %s: %v", e.Response, err)
	}
}

// checkError checks an enveloped error answer.
func checkError(t *testing.T, a answer, status, code int) {
	t.Helper()
	if a.status != status {
		t.Errorf("status %d, want %d (body %s)", a.status, status, a.raw)
	}
	e := a.envelope(t)
	if e.ErrorCode != code || e.ErrorStatus != ErrorName(code) || e.Message == "" || e.MessageData == nil {
		t.Errorf("envelope %+v, want ErrorCode %d %s with a Message and MessageData", e, code, ErrorName(code))
	}
}

func withKey(s *Server) http.Header { return http.Header{"X-Api-Key": {s.APIKey}} }

func withToken(s *Server, access string) http.Header {
	h := withKey(s)
	h.Set("Authorization", "Bearer "+access)
	return h
}

func pgcrRequest(s *Server, id string) request {
	return request{method: "GET", url: s.StatsURL + "/Destiny2/Stats/PostGameCarnageReport/" + id + "/", header: withKey(s)}
}

func reportRequest(s *Server, access, activityID, body string) request {
	h := withToken(s, access)
	h.Set("Content-Type", "application/json")
	return request{method: "POST", url: s.URL + "/Platform/Destiny2/Stats/PostGameCarnageReport/" + activityID + "/Report/", header: h, body: body}
}

func reportBody(offender string) string {
	return `{"reasonCategoryHashes":[1851805954],"reasonHashes":[2352608786],"offendingCharacterId":` + offender + `}`
}

func membershipsRequest(s *Server, access string) request {
	return request{method: "GET", url: s.URL + "/Platform/User/GetMembershipsForCurrentUser/", header: withToken(s, access)}
}

func manifestRequest(s *Server) request {
	return request{method: "GET", url: s.URL + "/Platform/Destiny2/Manifest/", header: withKey(s)}
}

func authorizeRequest(s *Server, query url.Values) request {
	return request{method: "GET", url: s.URL + "/en/OAuth/Authorize?" + query.Encode()}
}

func authorizeQuery(s *Server, state string) url.Values {
	return url.Values{"client_id": {s.ClientID}, "response_type": {"code"}, "state": {state}}
}

// tokenRequest posts form to the token endpoint, with the client's credentials in
// HTTP Basic.
func tokenRequest(s *Server, form url.Values) request {
	return request{method: "POST", url: s.URL + "/Platform/App/OAuth/token/", body: form.Encode(), header: http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(s.ClientID+":"+s.ClientSecret))},
	}}
}

type tokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	MembershipID     string `json:"membership_id"`
}

func (a answer) tokens(t *testing.T) tokens {
	t.Helper()
	var tk tokens
	if a.status != http.StatusOK {
		t.Fatalf("token answer %d %s, want 200", a.status, a.raw)
	}
	if err := json.Unmarshal(a.raw, &tk); err != nil || tk.AccessToken == "" || tk.RefreshToken == "" {
		t.Fatalf("token answer %s: %v", a.raw, err)
	}
	return tk
}

// oauthError decodes an error of the token endpoint.
func (a answer) oauthError(t *testing.T) (code, desc string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(a.raw, &e); err != nil {
		t.Fatalf("token error %d %s: %v", a.status, a.raw, err)
	}
	return e.Error, e.Description
}

// code runs the authorize page and returns the code of its redirect.
func code(t *testing.T, s *Server) string {
	t.Helper()
	a := do(t, authorizeRequest(s, authorizeQuery(s, "st")))
	loc, err := url.Parse(a.header.Get("Location"))
	if a.status != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d, Location %q, want a code", a.status, a.header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// login runs the whole OAuth flow for the authorizing user.
func login(t *testing.T, s *Server) tokens {
	t.Helper()
	return do(t, tokenRequest(s, url.Values{"grant_type": {"authorization_code"}, "code": {code(t, s)}})).tokens(t)
}

func player(u *User, character int) Player {
	m := &u.Memberships[0]
	return Player{Membership: m, Character: m.Characters[character]}
}

func TestErrorNamesMatchDocument(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../openapitest/specs/bungie-openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Values []struct {
					Numeric    string `json:"numericValue"`
					Identifier string `json:"identifier"`
				} `json:"x-enum-values"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{}
	for _, v := range doc.Components.Schemas["Exceptions.PlatformErrorCodes"].Values {
		n, err := strconv.Atoi(v.Numeric)
		if err != nil {
			t.Fatal(err)
		}
		want[n] = v.Identifier
	}
	if len(want) == 0 || !maps.Equal(errorNames, want) {
		t.Errorf("errorNames has %d codes, the document %d, or they differ: regenerate errorcodes.go", len(errorNames), len(want))
	}
	for code, name := range map[int]string{
		CodeSuccess: "Success", CodeUnhandledException: "UnhandledException", CodeSystemDisabled: "SystemDisabled",
		CodeInvalidParameters: "InvalidParameters", CodeNotFound: "NotFound", CodeWebAuthRequired: "WebAuthRequired",
		CodeReportAlreadyReported: "ReportAlreadyReported", CodeDestinyPGCRNotFound: "DestinyPGCRNotFound",
		CodeApiInvalidOrExpiredKey: "ApiInvalidOrExpiredKey", CodeAccessTokenHasExpired: "AccessTokenHasExpired",
		CodeReportOffenderNotInPgcr: "ReportOffenderNotInPgcr", CodeReportRequestorNotInPgcr: "ReportRequestorNotInPgcr",
		CodeReportCannotReportSelf: "ReportCannotReportSelf",
		36:                         "ThrottleLimitExceededMomentarily", 1665: "DestinyPrivacyRestriction", 2120: "TokenPreviouslyRevoked",
	} {
		if got := ErrorName(code); got != name {
			t.Errorf("ErrorName(%d) = %q, want %q", code, got, name)
		}
	}
}

// pgcrData is the part of DestinyPostGameCarnageReportData the tests look at, with
// every value left as decoded so that JSON types can be checked.
type pgcrData struct {
	Period          string
	ActivityDetails map[string]any
	Entries         []struct {
		Standing    float64
		CharacterID any `json:"characterId"`
		Player      struct {
			DestinyUserInfo map[string]any
			CharacterClass  string
			ClassHash       float64
		}
		Values map[string]struct {
			Basic struct {
				Value        float64
				DisplayValue string
			}
		}
	}
	Teams []struct {
		TeamID   float64
		TeamName string
	}
}

func TestPGCR(t *testing.T) {
	t.Parallel()
	s, rec := newServer(t)
	a, b := s.AddUser("Aurora", "Hunter"), s.AddUser("Bastion", "Titan", "Warlock")
	c, d := s.AddUser("Cayde", "Warlock"), s.AddUser("Drifter", "Hunter")
	crucible := s.AddActivity(true, player(a, 0), player(b, 1), player(c, 0), Player{Membership: &d.Memberships[0], Character: d.Memberships[0].Characters[0], Team: "Alpha"})
	raid := s.AddActivity(false, player(a, 0), player(b, 0))
	if len(crucible.ID) != 11 || crucible.Mode != ModeAllPvP || raid.Mode != ModeRaid {
		t.Fatalf("activities %+v %+v: want 11-digit ids, modes 5 and 4", crucible, raid)
	}
	wantTeams := []string{"Alpha", "Bravo", "Alpha", "Alpha"}

	checkPlayers := func(t *testing.T, got pgcrData, act *Activity) {
		t.Helper()
		if got.ActivityDetails["instanceId"] != act.ID {
			t.Errorf("instanceId %#v, want the string %q", got.ActivityDetails["instanceId"], act.ID)
		}
		if got.ActivityDetails["mode"] != float64(act.Mode) {
			t.Errorf("mode %v, want %d", got.ActivityDetails["mode"], act.Mode)
		}
		if _, err := time.Parse(time.RFC3339, got.Period); err != nil {
			t.Errorf("period %q: %v", got.Period, err)
		}
		if len(got.Entries) != len(act.Players) {
			t.Fatalf("%d entries, want %d", len(got.Entries), len(act.Players))
		}
		for i, e := range got.Entries {
			p := act.Players[i]
			info := e.Player.DestinyUserInfo
			if e.CharacterID != p.Character.ID || info["membershipId"] != p.Membership.ID {
				t.Errorf("entry %d: characterId %#v, membershipId %#v, want the strings %q and %q",
					i, e.CharacterID, info["membershipId"], p.Character.ID, p.Membership.ID)
			}
			if info["bungieGlobalDisplayName"] != p.Membership.GlobalName || info["bungieGlobalDisplayNameCode"] != float64(p.Membership.GlobalCode) ||
				info["displayName"] != p.Membership.DisplayName || info["membershipType"] != float64(TypeSteam) {
				t.Errorf("entry %d: destinyUserInfo %v, want %+v", i, info, *p.Membership)
			}
			if e.Player.CharacterClass != p.Character.Class || e.Player.ClassHash != float64(classHashes[p.Character.Class]) {
				t.Errorf("entry %d: class %q (%v), want %s", i, e.Player.CharacterClass, e.Player.ClassHash, p.Character.Class)
			}
			if e.Values["kills"].Basic.DisplayValue == "" {
				t.Errorf("entry %d: no kills in %v", i, e.Values)
			}
		}
	}

	tests := []struct {
		name      string
		req       request
		status    int
		code      int
		violation bool
		check     func(t *testing.T, got pgcrData)
	}{
		{name: "crucible", req: pgcrRequest(s, crucible.ID), status: 200, code: 1, check: func(t *testing.T, got pgcrData) {
			checkPlayers(t, got, crucible)
			for i, e := range got.Entries {
				team := e.Values["team"].Basic
				wantID := map[string]float64{"Alpha": 17, "Bravo": 18}[wantTeams[i]]
				if team.DisplayValue != wantTeams[i] || team.Value != wantID || crucible.Players[i].Team != wantTeams[i] {
					t.Errorf("entry %d: team %+v, want %s (%v)", i, team, wantTeams[i], wantID)
				}
			}
			if len(got.Teams) != 2 || got.Teams[0].TeamName != "Alpha" || got.Teams[0].TeamID != 17 || got.Teams[1].TeamName != "Bravo" || got.Teams[1].TeamID != 18 {
				t.Errorf("teams %+v, want Alpha (17) and Bravo (18)", got.Teams)
			}
		}},
		{name: "raid", req: pgcrRequest(s, raid.ID), status: 200, code: 1, check: func(t *testing.T, got pgcrData) {
			checkPlayers(t, got, raid)
			for i, e := range got.Entries {
				if _, ok := e.Values["team"]; ok {
					t.Errorf("entry %d of a raid has a team", i)
				}
			}
			if got.Teams == nil || len(got.Teams) != 0 {
				t.Errorf("teams %+v, want []", got.Teams)
			}
		}},
		{name: "leading zeros", req: pgcrRequest(s, "0"+raid.ID), status: 200, code: 1},
		{name: "unknown activity", req: pgcrRequest(s, "12345678901"), status: 200, code: CodeDestinyPGCRNotFound},
		{name: "no api key", req: request{method: "GET", url: pgcrRequest(s, raid.ID).url}, status: 401, code: CodeApiInvalidOrExpiredKey},
		{name: "wrong api key", req: request{method: "GET", url: pgcrRequest(s, raid.ID).url, header: http.Header{"X-Api-Key": {"nope"}}}, status: 401, code: CodeApiInvalidOrExpiredKey},
		{name: "non-numeric activity id", req: pgcrRequest(s, "abc"), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "activity id beyond int64", req: pgcrRequest(s, "99999999999999999999"), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "from the api server", req: request{method: "GET", url: s.URL + "/Platform/Destiny2/Stats/PostGameCarnageReport/" + raid.ID + "/", header: withKey(s)}, status: 404, code: CodeNotFound, violation: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.Count()
			got := do(t, tt.req)
			checkError(t, got, tt.status, tt.code)
			if tt.check != nil {
				var data pgcrData
				got.response(t, &data)
				tt.check(t, data)
			}
			rec.Expect(t, before, tt.violation)
		})
	}
	t.Run("without trailing slash", func(t *testing.T) {
		before := rec.Count()
		got := do(t, request{method: "GET", url: strings.TrimSuffix(pgcrRequest(s, raid.ID).url, "/"), header: withKey(s)})
		if got.status != http.StatusMovedPermanently || !strings.HasSuffix(got.header.Get("Location"), raid.ID+"/") {
			t.Errorf("answer %d, Location %q, want a redirect to the path with a slash", got.status, got.header.Get("Location"))
		}
		rec.Expect(t, before, true)
	})
	if n := s.Calls(OpPGCR); n != 8 {
		t.Errorf("Calls(OpPGCR) = %d, want 8", n)
	}
}

func TestManifest(t *testing.T) {
	t.Parallel()
	s, rec := newServer(t)
	want, err := os.ReadFile("testdata/bungie-DestinyReportReasonCategoryDefinition.json")
	if err != nil {
		t.Fatal(err)
	}
	reasonsPath := func(t *testing.T) string {
		t.Helper()
		var m struct {
			Version                        string
			JSONWorldComponentContentPaths map[string]map[string]string `json:"jsonWorldComponentContentPaths"`
		}
		do(t, manifestRequest(s)).response(t, &m)
		p := m.JSONWorldComponentContentPaths["en"]["DestinyReportReasonCategoryDefinition"]
		if m.Version == "" || !strings.HasPrefix(p, "/common/destiny2_content/json/en/DestinyReportReasonCategoryDefinition-") || !strings.Contains(p, m.Version) {
			t.Fatalf("manifest version %q, reasons at %q", m.Version, p)
		}
		return p
	}
	fetch := func(t *testing.T, path string) answer {
		t.Helper()
		return do(t, request{method: "GET", url: s.URL + path})
	}

	first := reasonsPath(t)
	t.Run("component", func(t *testing.T) {
		got := fetch(t, first)
		if got.status != 200 || !bytes.Equal(got.raw, want) || !strings.HasPrefix(got.header.Get("Content-Type"), "application/json") {
			t.Errorf("answer %d %s, want the embedded definitions", got.status, got.header.Get("Content-Type"))
		}
	})
	t.Run("new version", func(t *testing.T) {
		s.SetManifestVersion("999999.26.01.01.0000-1-bnet.60000")
		second := reasonsPath(t)
		if second == first || !strings.Contains(second, "999999.26") {
			t.Fatalf("path %q after a new version, was %q", second, first)
		}
		for _, p := range []string{first, second} {
			if got := fetch(t, p); got.status != 200 {
				t.Errorf("GET %s: %d", p, got.status)
			}
		}
	})
	t.Run("every language", func(t *testing.T) {
		var m struct {
			JSONWorldComponentContentPaths map[string]map[string]string `json:"jsonWorldComponentContentPaths"`
		}
		do(t, manifestRequest(s)).response(t, &m)
		if got := slices.Sorted(maps.Keys(m.JSONWorldComponentContentPaths)); !slices.Equal(got, Languages()) {
			t.Fatalf("languages %v, want %v", got, Languages())
		}
		for _, lang := range []string{"de", "pl"} {
			got := fetch(t, m.JSONWorldComponentContentPaths[lang]["DestinyReportReasonCategoryDefinition"])
			var defs map[string]struct {
				DisplayProperties struct{ Name string } `json:"displayProperties"`
				Reasons           map[string]struct {
					DisplayProperties struct{ Name string } `json:"displayProperties"`
				} `json:"reasons"`
			}
			if err := json.Unmarshal(got.raw, &defs); err != nil || got.status != 200 {
				t.Fatalf("%s: %d %v", lang, got.status, err)
			}
			cheating := defs["1851805954"]
			if want := ReasonName(lang, "Cheating"); cheating.DisplayProperties.Name != want || want == "Cheating" {
				t.Errorf("%s: Cheating is %q, want %q", lang, cheating.DisplayProperties.Name, want)
			}
			if name := cheating.Reasons["2352608786"].DisplayProperties.Name; name != ReasonName(lang, "Hacking") {
				t.Errorf("%s: Hacking is %q", lang, name)
			}
			if len(defs) != 9 {
				t.Errorf("%s: %d categories", lang, len(defs))
			}
		}
		before := rec.Count()
		if got := fetch(t, strings.Replace(m.JSONWorldComponentContentPaths["de"]["DestinyReportReasonCategoryDefinition"], "/de/", "/ja/", 1)); got.status != 404 {
			t.Errorf("a language the manifest does not list: %d", got.status)
		}
		rec.Expect(t, before, true)
	})
	t.Run("no api key", func(t *testing.T) {
		checkError(t, do(t, request{method: "GET", url: manifestRequest(s).url}), 401, CodeApiInvalidOrExpiredKey)
	})
	t.Run("unknown component", func(t *testing.T) {
		before := rec.Count()
		if got := fetch(t, "/common/destiny2_content/json/en/DestinyActivityDefinition-x.json"); got.status != 404 {
			t.Errorf("status %d, want 404", got.status)
		}
		rec.Expect(t, before, true)
	})
	if n := s.Calls(OpManifest); n != 4 {
		t.Errorf("Calls(OpManifest) = %d, want 4", n)
	}
	if n := s.Calls(OpManifestComponent); n != 7 {
		t.Errorf("Calls(OpManifestComponent) = %d, want 7", n)
	}
}

func TestOAuth(t *testing.T) {
	t.Parallel()
	s, rec := newServer(t)
	first, second := s.AddUser("Ana", "Hunter"), s.AddUser("Ikora", "Warlock")
	var issued tokens // the tokens of the first exchange

	location := func(t *testing.T, a answer) url.Values {
		t.Helper()
		loc := a.header.Get("Location")
		u, err := url.Parse(loc)
		if a.status != http.StatusFound || err != nil || !strings.HasPrefix(loc, "https://bot.example/oauth/bungie?") {
			t.Fatalf("answer %d, Location %q, want a redirect to %s", a.status, loc, redirectURL)
		}
		if u.Query().Get("from") != "test" {
			t.Errorf("Location %q lost the redirect URL's query", loc)
		}
		return u.Query()
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"approve", func(t *testing.T) {
			q := authorizeQuery(s, "state with spaces&more")
			q.Set("redirect_uri", redirectURL)
			got := location(t, do(t, authorizeRequest(s, q)))
			if got.Get("code") == "" || got.Get("state") != "state with spaces&more" || got.Has("error") {
				t.Errorf("redirect query %v, want a code and the state", got)
			}
		}},
		{"exchange with basic auth, then the code is used", func(t *testing.T) {
			c := code(t, s)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {c}}
			a := do(t, tokenRequest(s, form))
			issued = a.tokens(t)
			if issued.TokenType != "Bearer" || issued.ExpiresIn != 3600 || issued.RefreshExpiresIn != 7776000 || issued.MembershipID != first.BungieID {
				t.Errorf("tokens %+v, want Bearer, 3600, 7776000, membership %s", issued, first.BungieID)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
			again := do(t, tokenRequest(s, form))
			if e, desc := again.oauthError(t); again.status != 400 || e != "invalid_grant" || desc != "AuthorizationCodeInvalid" {
				t.Errorf("reused code: %d %s %s, want 400 invalid_grant", again.status, e, desc)
			}
		}},
		{"exchange with form credentials", func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, s)}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}}
			r := tokenRequest(s, form)
			r.header.Del("Authorization")
			do(t, r).tokens(t)
		}},
		{"unknown code", func(t *testing.T) {
			a := do(t, tokenRequest(s, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}))
			if e, _ := a.oauthError(t); a.status != 400 || e != "invalid_grant" {
				t.Errorf("%d %s, want 400 invalid_grant", a.status, e)
			}
		}},
		{"wrong client secret", func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, s)}}
			r := tokenRequest(s, form)
			r.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.ClientID+":wrong")))
			a := do(t, r)
			if e, _ := a.oauthError(t); a.status != 401 || e != "invalid_client" {
				t.Errorf("%d %s, want 401 invalid_client", a.status, e)
			}
			r.header.Del("Authorization")
			r.body = url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {s.ClientID}}.Encode()
			a = do(t, r)
			if e, _ := a.oauthError(t); a.status != 400 || e != "invalid_client" {
				t.Errorf("%d %s, want 400 invalid_client", a.status, e)
			}
		}},
		{"deny", func(t *testing.T) {
			s.SetConsent(ConsentDeny)
			defer s.SetConsent(ConsentApprove)
			got := location(t, do(t, authorizeRequest(s, authorizeQuery(s, "xyz"))))
			if got.Get("error") != "access_denied" || got.Get("error_description") == "" || got.Get("state") != "xyz" || got.Has("code") {
				t.Errorf("redirect query %v, want error=access_denied and the state", got)
			}
		}},
		{"wrong redirect_uri or client_id", func(t *testing.T) {
			for _, q := range []url.Values{
				{"client_id": {s.ClientID}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/"}},
				{"client_id": {"someone-else"}, "response_type": {"code"}},
			} {
				a := do(t, authorizeRequest(s, q))
				if a.status != 400 || a.header.Get("Location") != "" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
					t.Errorf("%v: %d, Location %q, want a 400 page", q, a.status, a.header.Get("Location"))
				}
			}
		}},
		{"authorizing user", func(t *testing.T) {
			s.SetAuthorizingUser(second)
			defer s.SetAuthorizingUser(nil)
			if got := login(t, s); got.MembershipID != second.BungieID {
				t.Errorf("membership_id %s, want %s", got.MembershipID, second.BungieID)
			}
		}},
		{"refresh tokens rotate and are single-use", func(t *testing.T) {
			refresh := func(tok string) answer {
				return do(t, tokenRequest(s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}))
			}
			next := refresh(issued.RefreshToken).tokens(t)
			if next.RefreshToken == issued.RefreshToken || next.AccessToken == issued.AccessToken || next.MembershipID != first.BungieID {
				t.Errorf("refreshed tokens %+v, want new ones for %s", next, first.BungieID)
			}
			old := refresh(issued.RefreshToken)
			if e, desc := old.oauthError(t); old.status != 400 || e != "invalid_grant" || desc != "ProvidedTokenNotValidRefreshToken" {
				t.Errorf("reused refresh token: %d %s %s, want 400 invalid_grant", old.status, e, desc)
			}
			issued = refresh(next.RefreshToken).tokens(t)
		}},
		{"access token works, then expires", func(t *testing.T) {
			do(t, membershipsRequest(s, issued.AccessToken)).response(t, &map[string]any{})
			s.ExpireAccessTokens()
			checkError(t, do(t, membershipsRequest(s, issued.AccessToken)), 401, CodeAccessTokenHasExpired)
			fresh := do(t, tokenRequest(s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {issued.RefreshToken}})).tokens(t)
			do(t, membershipsRequest(s, fresh.AccessToken)).response(t, &map[string]any{})
			issued = fresh
		}},
		{"access TTL", func(t *testing.T) {
			s.SetAccessTTL(time.Millisecond)
			defer s.SetAccessTTL(time.Hour)
			short := login(t, s)
			if short.ExpiresIn != 1 {
				t.Errorf("expires_in %d, want 1", short.ExpiresIn)
			}
			time.Sleep(5 * time.Millisecond)
			checkError(t, do(t, membershipsRequest(s, short.AccessToken)), 401, CodeAccessTokenHasExpired)
		}},
		{"revoked refresh tokens", func(t *testing.T) {
			s.RevokeRefreshTokens()
			a := do(t, tokenRequest(s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {issued.RefreshToken}}))
			if e, desc := a.oauthError(t); a.status != 400 || e != "invalid_grant" || desc != "TokenPreviouslyRevoked" {
				t.Errorf("%d %s %s, want 400 invalid_grant TokenPreviouslyRevoked", a.status, e, desc)
			}
			login(t, s) // a new link works
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := rec.Count()
			st.run(t)
			rec.Expect(t, before, false)
		})
	}
	// 5 exchanges and 3 refreshes succeeded.
	if access, refresh := s.TokensIssued(); access != 8 || refresh != 8 {
		t.Errorf("TokensIssued() = %d, %d, want 8, 8", access, refresh)
	}

	malformed := []struct {
		name string
		req  request
	}{
		{"json body", func() request {
			r := tokenRequest(s, nil)
			r.header.Set("Content-Type", "application/json")
			r.body = `{"grant_type":"authorization_code","code":"x"}`
			return r
		}()},
		{"no grant_type", tokenRequest(s, url.Values{"code": {"x"}})},
		{"client_credentials", tokenRequest(s, url.Values{"grant_type": {"client_credentials"}})},
		{"no code", tokenRequest(s, url.Values{"grant_type": {"authorization_code"}})},
		{"no refresh_token", tokenRequest(s, url.Values{"grant_type": {"refresh_token"}})},
	}
	for _, tt := range malformed {
		t.Run("malformed token request/"+tt.name, func(t *testing.T) {
			before := rec.Count()
			a := do(t, tt.req)
			if e, _ := a.oauthError(t); a.status != 400 || e != "invalid_request" {
				t.Errorf("%d %s, want 400 invalid_request", a.status, e)
			}
			rec.Expect(t, before, true)
		})
	}
	t.Run("malformed authorize request", func(t *testing.T) {
		before := rec.Count()
		q := authorizeQuery(s, "st")
		q.Set("response_type", "token")
		if a := do(t, authorizeRequest(s, q)); a.status != 400 {
			t.Errorf("status %d, want 400", a.status)
		}
		rec.Expect(t, before, true)
	})
}

func TestAuthorizeWithoutRedirectURL(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec, Options{APIKey: "key", ClientID: "id", ClientSecret: "secret"})
	s.AddUser("Zavala", "Titan")
	if s.APIKey != "key" || s.ClientID != "id" || s.ClientSecret != "secret" {
		t.Errorf("credentials %q %q %q, want the options'", s.APIKey, s.ClientID, s.ClientSecret)
	}
	before := rec.Count()
	if a := do(t, authorizeRequest(s, authorizeQuery(s, "st"))); a.status != 400 {
		t.Errorf("status %d, want 400", a.status)
	}
	rec.Expect(t, before, true)
}

func TestMemberships(t *testing.T) {
	t.Parallel()
	s, rec := newServer(t)
	u := s.AddUser("Saint", "Titan", "Hunter")
	psn := s.AddMembership(u, TypePSN, "saint_psn", "Warlock")
	single := s.AddUser("Osiris", "Warlock")
	if len(u.Memberships) != 2 || psn.ID == "" || len(psn.Characters) != 1 || psn.ID == u.Memberships[0].ID {
		t.Fatalf("memberships after AddMembership: %+v", u.Memberships)
	}
	s.SetAuthorizingUser(u)
	crossSave := login(t, s).AccessToken
	s.SetAuthorizingUser(single)
	alone := login(t, s).AccessToken

	type card struct {
		MembershipID              any `json:"membershipId"`
		MembershipType            int
		DisplayName               string
		BungieGlobalDisplayName   string
		GlobalCode                int `json:"bungieGlobalDisplayNameCode"`
		CrossSaveOverride         int
		ApplicableMembershipTypes []int
	}
	type data struct {
		DestinyMemberships  []card
		PrimaryMembershipID any `json:"primaryMembershipId"`
		BungieNetUser       map[string]any
	}
	tests := []struct {
		name   string
		req    request
		status int
		code   int
		check  func(t *testing.T, d data)
	}{
		{name: "cross save", req: membershipsRequest(s, crossSave), status: 200, code: 1, check: func(t *testing.T, d data) {
			if len(d.DestinyMemberships) != 2 || d.PrimaryMembershipID != u.Memberships[0].ID {
				t.Fatalf("%+v, want two memberships, the first primary", d)
			}
			for i, c := range d.DestinyMemberships {
				m := u.Memberships[i]
				if c.MembershipID != m.ID || c.MembershipType != m.Type || c.DisplayName != m.DisplayName ||
					c.BungieGlobalDisplayName != m.GlobalName || c.GlobalCode != m.GlobalCode || c.CrossSaveOverride != TypeSteam {
					t.Errorf("card %d %+v, want %+v in cross save", i, c, m)
				}
			}
			if !slices.Equal(d.DestinyMemberships[0].ApplicableMembershipTypes, []int{TypeSteam, TypePSN}) || len(d.DestinyMemberships[1].ApplicableMembershipTypes) != 0 {
				t.Errorf("applicableMembershipTypes %v and %v", d.DestinyMemberships[0].ApplicableMembershipTypes, d.DestinyMemberships[1].ApplicableMembershipTypes)
			}
			wantUnique := fmt.Sprintf("Saint#%04d", u.Memberships[0].GlobalCode)
			if d.BungieNetUser["membershipId"] != u.BungieID || d.BungieNetUser["uniqueName"] != wantUnique {
				t.Errorf("bungieNetUser %v, want membershipId %q and uniqueName %q", d.BungieNetUser, u.BungieID, wantUnique)
			}
		}},
		{name: "single membership", req: membershipsRequest(s, alone), status: 200, code: 1, check: func(t *testing.T, d data) {
			if len(d.DestinyMemberships) != 1 || d.PrimaryMembershipID != nil || d.DestinyMemberships[0].CrossSaveOverride != 0 ||
				!slices.Equal(d.DestinyMemberships[0].ApplicableMembershipTypes, []int{TypeSteam}) {
				t.Errorf("%+v, want one membership and no primary", d)
			}
		}},
		{name: "no token", req: request{method: "GET", url: membershipsRequest(s, "").url, header: withKey(s)}, status: 401, code: CodeWebAuthRequired},
		{name: "unknown token", req: membershipsRequest(s, "forged"), status: 401, code: CodeWebAuthRequired},
		{name: "no api key", req: request{method: "GET", url: membershipsRequest(s, "").url, header: http.Header{"Authorization": {"Bearer " + alone}}}, status: 401, code: CodeApiInvalidOrExpiredKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.Count()
			got := do(t, tt.req)
			checkError(t, got, tt.status, tt.code)
			if tt.check != nil {
				var d data
				got.response(t, &d)
				tt.check(t, d)
			}
			rec.Expect(t, before, false)
		})
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	s, rec := newServer(t)
	reporter := s.AddUser("Eris", "Hunter", "Warlock")
	offender := s.AddUser("Uldren", "Hunter")
	stranger := s.AddUser("Xivu", "Titan")
	match := s.AddActivity(true, player(reporter, 1), player(offender, 0))
	elsewhere := s.AddActivity(false, player(offender, 0), player(stranger, 0))
	access := login(t, s).AccessToken // the first user, the reporter
	offenderChar := offender.Memberships[0].Characters[0].ID
	own := reporter.Memberships[0].Characters[1].ID

	tests := []struct {
		name      string
		req       request
		status    int
		code      int
		violation bool
	}{
		{name: "success", req: reportRequest(s, access, match.ID, reportBody(offenderChar)), status: 200, code: 1},
		{name: "already reported", req: reportRequest(s, access, match.ID, reportBody(offenderChar)), status: 200, code: CodeReportAlreadyReported},
		{name: "already reported, other reason", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[1225860615],"reasonHashes":[50124584],"offendingCharacterId":`+offenderChar+`}`), status: 200, code: CodeReportAlreadyReported},
		{name: "offender not in the activity", req: reportRequest(s, access, match.ID, reportBody(stranger.Memberships[0].Characters[0].ID)), status: 200, code: CodeReportOffenderNotInPgcr},
		{name: "no offender", req: reportRequest(s, access, match.ID, `{"reasonCategoryHashes":[1851805954],"reasonHashes":[2352608786]}`), status: 200, code: CodeReportOffenderNotInPgcr},
		{name: "reporter not in the activity", req: reportRequest(s, access, elsewhere.ID, reportBody(offenderChar)), status: 200, code: CodeReportRequestorNotInPgcr},
		{name: "self", req: reportRequest(s, access, match.ID, reportBody(own)), status: 200, code: CodeReportCannotReportSelf},
		{name: "unknown activity", req: reportRequest(s, access, "12345678901", reportBody(offenderChar)), status: 200, code: CodeDestinyPGCRNotFound},
		{name: "more reasons than categories", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[1851805954],"reasonHashes":[2352608786,2532403339],"offendingCharacterId":`+offenderChar+`}`), status: 200, code: CodeInvalidParameters},
		{name: "no reasons", req: reportRequest(s, access, match.ID, `{"reasonCategoryHashes":[],"reasonHashes":[],"offendingCharacterId":`+offenderChar+`}`), status: 200, code: CodeInvalidParameters},
		{name: "reason of another category", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[1851805954],"reasonHashes":[50124584],"offendingCharacterId":`+offenderChar+`}`), status: 200, code: CodeInvalidParameters},
		{name: "unknown category", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[12345],"reasonHashes":[3087590961],"offendingCharacterId":`+offenderChar+`}`), status: 200, code: CodeInvalidParameters},
		{name: "no token", req: func() request {
			r := reportRequest(s, "", match.ID, reportBody(offenderChar))
			r.header.Del("Authorization")
			return r
		}(), status: 401, code: CodeWebAuthRequired},
		{name: "unknown token", req: reportRequest(s, "forged", match.ID, reportBody(offenderChar)), status: 401, code: CodeWebAuthRequired},
		{name: "no api key", req: func() request {
			r := reportRequest(s, access, match.ID, reportBody(offenderChar))
			r.header.Del("X-Api-Key")
			return r
		}(), status: 401, code: CodeApiInvalidOrExpiredKey},
		{name: "offendingCharacterId as a string", req: reportRequest(s, access, match.ID, reportBody(`"`+offenderChar+`"`)), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "hash beyond uint32", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[4294967296],"reasonHashes":[2352608786],"offendingCharacterId":`+offenderChar+`}`), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "negative hash", req: reportRequest(s, access, match.ID,
			`{"reasonCategoryHashes":[-1],"reasonHashes":[2352608786],"offendingCharacterId":`+offenderChar+`}`), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "offendingCharacterId beyond int64", req: reportRequest(s, access, match.ID, reportBody("9223372036854775808")), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "non-numeric activity id", req: reportRequest(s, access, "abc", reportBody(offenderChar)), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "no body", req: reportRequest(s, access, match.ID, ""), status: 400, code: CodeInvalidParameters, violation: true},
		{name: "sent to the stats server", req: func() request {
			r := reportRequest(s, access, match.ID, reportBody(offenderChar))
			r.url = s.StatsURL + "/Destiny2/Stats/PostGameCarnageReport/" + match.ID + "/Report/"
			return r
		}(), status: 404, code: CodeNotFound, violation: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.Count()
			got := do(t, tt.req)
			checkError(t, got, tt.status, tt.code)
			if tt.code == 1 {
				var resp int
				got.response(t, &resp)
			}
			rec.Expect(t, before, tt.violation)
		})
	}
	reports := s.Reports()
	if len(reports) != 1 {
		t.Fatalf("%d reports recorded, want 1: %+v", len(reports), reports)
	}
	r := reports[0]
	if r.ActivityID != match.ID || r.ReporterBungieID != reporter.BungieID || r.OffendingCharacterID != offenderChar ||
		!slices.Equal(r.CategoryHashes, []uint32{1851805954}) || !slices.Equal(r.ReasonHashes, []uint32{2352608786}) ||
		time.Since(r.At) > time.Minute {
		t.Errorf("report %+v", r)
	}
	if n := s.Calls(OpReport); n != len(tests)-1 { // the last one went to the wrong server
		t.Errorf("Calls(OpReport) = %d, want %d", n, len(tests)-1)
	}
}

func TestConcurrentReports(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	reporter := s.AddUser("Mara", "Warlock")
	players := []Player{player(reporter, 0)}
	for i := range 8 {
		players = append(players, player(s.AddUser(fmt.Sprintf("p%d", i), "Titan"), 0))
	}
	match := s.AddActivity(true, players...)
	access := login(t, s).AccessToken
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() {
			resp, err := send(reportRequest(s, access, match.ID, reportBody(players[1+i%8].Character.ID)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var e env
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Error(err)
			}
			codes[i] = e.ErrorCode
		})
	}
	wg.Wait()
	slices.Sort(codes)
	want := slices.Concat(slices.Repeat([]int{1}, 8), slices.Repeat([]int{CodeReportAlreadyReported}, 8))
	if !slices.Equal(codes, want) || len(s.Reports()) != 8 {
		t.Errorf("codes %v and %d reports, want 8 accepted and 8 already reported", codes, len(s.Reports()))
	}
}

// normalOp sends one request of an operation that succeeds when nothing fails, and
// checks its normal answer.
type normalOp struct {
	op   Op
	send func(t *testing.T, timeout time.Duration) (*http.Response, error)
	ok   func(t *testing.T, a answer)
}

func normalOps(t *testing.T, s *Server) []normalOp {
	reporter, other := s.AddUser("Shaxx", "Titan"), s.AddUser("Saladin", "Titan")
	raid := s.AddActivity(false, player(reporter, 0), player(other, 0))
	access := login(t, s).AccessToken
	var path string
	{
		var m struct {
			JSONWorldComponentContentPaths map[string]map[string]string `json:"jsonWorldComponentContentPaths"`
		}
		do(t, manifestRequest(s)).response(t, &m)
		path = m.JSONWorldComponentContentPaths["en"]["DestinyReportReasonCategoryDefinition"]
	}
	with := func(r request, timeout time.Duration) request { r.timeout = timeout; return r }
	enveloped := func(t *testing.T, a answer) { a.response(t, new(any)) }
	return []normalOp{
		{OpPGCR, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(with(pgcrRequest(s, raid.ID), d))
		}, enveloped},
		{OpReport, func(t *testing.T, d time.Duration) (*http.Response, error) {
			// A new activity each time, so that the report is never a repeat.
			a := s.AddActivity(false, player(reporter, 0), player(other, 0))
			return send(with(reportRequest(s, access, a.ID, reportBody(a.Players[1].Character.ID)), d))
		}, enveloped},
		{OpMemberships, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(with(membershipsRequest(s, access), d))
		}, enveloped},
		{OpManifest, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(with(manifestRequest(s), d))
		}, enveloped},
		{OpManifestComponent, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(request{method: "GET", url: s.URL + path, timeout: d})
		}, func(t *testing.T, a answer) {
			if a.status != 200 || !json.Valid(a.raw) || !bytes.Contains(a.raw, []byte("Quitting")) {
				t.Errorf("component answer %d %.100s", a.status, a.raw)
			}
		}},
		{OpAuthorize, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(with(authorizeRequest(s, authorizeQuery(s, "st")), d))
		}, func(t *testing.T, a answer) {
			if a.status != http.StatusFound || !strings.Contains(a.header.Get("Location"), "code=") {
				t.Errorf("authorize answer %d, Location %q", a.status, a.header.Get("Location"))
			}
		}},
		{OpToken, func(t *testing.T, d time.Duration) (*http.Response, error) {
			return send(with(tokenRequest(s, url.Values{"grant_type": {"authorization_code"}, "code": {code(t, s)}}), d))
		}, func(t *testing.T, a answer) { a.tokens(t) }},
	}
}

func (n normalOp) do(t *testing.T) answer {
	t.Helper()
	resp, err := n.send(t, 0)
	if err != nil {
		t.Fatalf("%s: %v", n.op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", n.op, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	ops := normalOps(t, s)

	type kind struct {
		name  string
		f     Failure
		check func(t *testing.T, a answer)
	}
	kinds := []kind{
		{"throttled", Failure{ErrorCode: 36, ThrottleSeconds: 7}, func(t *testing.T, a answer) {
			checkError(t, a, 200, 36)
			if e := a.envelope(t); e.ThrottleSeconds != 7 || e.ErrorStatus != "ThrottleLimitExceededMomentarily" {
				t.Errorf("envelope %+v, want ThrottleLimitExceededMomentarily and 7 s", e)
			}
		}},
		{"per-user throttle", Failure{ErrorCode: 57, ThrottleSeconds: 2}, func(t *testing.T, a answer) {
			checkError(t, a, 200, 57)
			if e := a.envelope(t); e.ErrorStatus != "PerUserThrottleExceeded" || e.ThrottleSeconds != 2 {
				t.Errorf("envelope %+v", e)
			}
		}},
		{"system disabled with 503", Failure{ErrorCode: CodeSystemDisabled, HTTPStatus: 503}, func(t *testing.T, a answer) {
			checkError(t, a, 503, CodeSystemDisabled)
		}},
		{"privacy", Failure{ErrorCode: 1665}, func(t *testing.T, a answer) { checkError(t, a, 200, 1665) }},
		{"bare 500", Failure{HTTPStatus: 500}, func(t *testing.T, a answer) { checkError(t, a, 500, CodeUnhandledException) }},
		{"maintenance page", Failure{HTML: true}, func(t *testing.T, a answer) {
			if a.status != 503 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !bytes.Contains(a.raw, []byte("<html")) {
				t.Errorf("answer %d %s %.60s, want a 503 HTML page", a.status, a.header.Get("Content-Type"), a.raw)
			}
		}},
		{"broken json", Failure{Broken: true}, func(t *testing.T, a answer) {
			if a.status != 200 || json.Valid(a.raw) || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
				t.Errorf("answer %d %s %s, want broken JSON", a.status, a.header.Get("Content-Type"), a.raw)
			}
		}},
	}
	for _, n := range ops {
		t.Run(string(n.op), func(t *testing.T) {
			for _, k := range kinds {
				t.Run(k.name, func(t *testing.T) {
					calls := s.Calls(n.op)
					s.FailNext(n.op, 1, k.f)
					k.check(t, n.do(t))
					n.ok(t, n.do(t)) // one failure only
					if got := s.Calls(n.op); got != calls+2 {
						t.Errorf("Calls(%s) went from %d to %d, want +2", n.op, calls, got)
					}
				})
			}
			t.Run("queued then persistent", func(t *testing.T) {
				s.FailNext(n.op, 2, Failure{ErrorCode: 35, ThrottleSeconds: 60})
				s.SetFailure(n.op, Failure{ErrorCode: CodeSystemDisabled})
				checkError(t, n.do(t), 200, 35)
				checkError(t, n.do(t), 200, 35)
				for range 3 {
					checkError(t, n.do(t), 200, CodeSystemDisabled)
				}
				s.SetFailure(n.op, Failure{})
				n.ok(t, n.do(t))
			})
			t.Run("delay", func(t *testing.T) {
				s.FailNext(n.op, 1, Failure{Delay: 150 * time.Millisecond})
				start := time.Now()
				n.ok(t, n.do(t))
				if d := time.Since(start); d < 150*time.Millisecond {
					t.Errorf("answered after %v, want at least 150ms", d)
				}
			})
			t.Run("delay beyond the client's timeout", func(t *testing.T) {
				reports := len(s.Reports())
				s.FailNext(n.op, 1, Failure{Delay: 300 * time.Millisecond})
				resp, err := n.send(t, 50*time.Millisecond)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %d, want a timeout", resp.StatusCode)
				}
				var ne interface{ Timeout() bool }
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("error %v, want a timeout", err)
				}
				time.Sleep(400 * time.Millisecond) // the abandoned request is over
				if got := len(s.Reports()); got != reports {
					t.Errorf("%d reports after an abandoned request, want %d", got, reports)
				}
				n.ok(t, n.do(t))
			})
		})
	}
}

// TestRefusalsComeFirst checks that a request refused for its API key or token does not
// consume an injected failure.
func TestRefusalsComeFirst(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	u := s.AddUser("Crow", "Hunter")
	raid := s.AddActivity(false, player(u, 0))
	s.FailNext(OpPGCR, 1, Failure{ErrorCode: 36, ThrottleSeconds: 1})
	s.FailNext(OpMemberships, 1, Failure{ErrorCode: 36, ThrottleSeconds: 1})
	checkError(t, do(t, request{method: "GET", url: pgcrRequest(s, raid.ID).url}), 401, CodeApiInvalidOrExpiredKey)
	checkError(t, do(t, membershipsRequest(s, "forged")), 401, CodeWebAuthRequired)
	checkError(t, do(t, pgcrRequest(s, raid.ID)), 200, 36)
	checkError(t, do(t, membershipsRequest(s, login(t, s).AccessToken)), 200, 36)
}
