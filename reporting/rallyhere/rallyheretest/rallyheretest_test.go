package rallyheretest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
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

type result struct {
	status int
	header http.Header
	body   map[string]any
}

// exchange is one request of a table and what the fake must answer.
type exchange struct {
	name                     string
	method, path, auth, body string
	status                   int
	code                     string // error_code of the answer, if any
	violation                bool   // the fake must report the request
}

func send(method, url, auth, body string, timeout time.Duration) (*http.Response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return (&http.Client{Timeout: timeout}).Do(req)
}

func do(t *testing.T, s *Server, method, path, auth, body string) result {
	t.Helper()
	resp, err := send(method, s.URL+path, auth, body, 10*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: decoding answer: %v", method, path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: m}
}

// run sends each exchange as a subtest and checks the answer and whether the fake
// reported the request.
func run(t *testing.T, s *Server, rec *openapitest.Recorder, tests []exchange) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.Count()
			got := do(t, s, tt.method, tt.path, tt.auth, tt.body)
			if got.status != tt.status {
				t.Errorf("status %d, want %d (body %v)", got.status, tt.status, got.body)
			}
			if code, _ := got.body["error_code"].(string); code != tt.code {
				t.Errorf("error_code %q, want %q", code, tt.code)
			}
			if strings.HasPrefix(tt.code, "auth_") && got.body["auth_success"] != false {
				t.Errorf("auth_success %v, want false", got.body["auth_success"])
			}
			if tt.status == http.StatusUnprocessableEntity {
				checkDetail(t, got.body)
			}
			rec.Expect(t, before, tt.violation)
		})
	}
}

func checkDetail(t *testing.T, body map[string]any) {
	t.Helper()
	d, _ := body["detail"].([]any)
	if len(d) == 0 {
		t.Fatalf("422 body %v has no detail", body)
	}
	for _, e := range d {
		e, _ := e.(map[string]any)
		if _, ok := e["loc"].([]any); !ok || e["msg"] == nil || e["type"] == nil {
			t.Errorf("detail entry %v lacks loc, msg or type", e)
		}
	}
}

func basic(s *Server) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s.ClientID+":"+s.ClientSecret))
}

const grant = `{"grant_type":"client_credentials"}`

func bearer(t *testing.T, s *Server) string {
	t.Helper()
	got := do(t, s, "POST", "/users/v2/oauth/token", basic(s), grant)
	if got.status != http.StatusOK {
		t.Fatalf("token: status %d, body %v", got.status, got.body)
	}
	return "Bearer " + got.body["access_token"].(string)
}

func reportPath(target string) string { return "/sanctions/v2/player/" + target + "/reports" }

func reportBody(source string, custom map[string]string) string {
	body := map[string]any{"source_player_uuid": source, "reason": "cheating", "description": "aimbot"}
	if custom != nil {
		body["custom_data"] = custom
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func TestToken(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.ClientID+":nope"))
	run(t, s, rec, []exchange{
		{name: "ok", method: "POST", path: "/users/v2/oauth/token", auth: basic(s), body: grant, status: 200},
		{name: "wrong secret", method: "POST", path: "/users/v2/oauth/token", auth: wrong, body: grant, status: 403, code: "auth_invalid_credentials"},
		{name: "no credentials", method: "POST", path: "/users/v2/oauth/token", body: grant, status: 403, code: "auth_invalid_credentials"},
		{name: "wrong grant type", method: "POST", path: "/users/v2/oauth/token", auth: basic(s), body: `{"grant_type":"password"}`, status: 422, violation: true},
		{name: "no body", method: "POST", path: "/users/v2/oauth/token", auth: basic(s), status: 422, violation: true},
	})

	got := do(t, s, "POST", "/users/v2/oauth/token", basic(s), grant)
	tok, _ := got.body["access_token"].(string)
	if tok == "" || got.body["token_type"] != "bearer" || got.body["expires_in"] != 3600.0 {
		t.Errorf("token answer %v, want a bearer token for 3600s", got.body)
	}
	if tok == strings.TrimPrefix(bearer(t, s), "Bearer ") {
		t.Error("two exchanges gave the same token")
	}
	if n := s.TokensIssued(); n != 3 {
		t.Errorf("TokensIssued() = %d, want 3", n)
	}
	if n := s.Calls(OpToken); n != 7 {
		t.Errorf("Calls(OpToken) = %d, want 7", n)
	}
}

func TestPlatformUser(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	alice, bob, bobMain := s.AddPlayer("alice"), s.AddPlayer("bob"), s.AddPlayer("bob-main")
	s.LinkDiscord("111", alice)
	s.LinkDiscord("222", bob)
	s.SetActivePlayer(bob, bobMain)
	auth := bearer(t, s)
	path := func(platform, id string) string {
		return "/users/v1/platform-user?" + url.Values{"platform": {platform}, "platform_user_id": {id}}.Encode()
	}
	run(t, s, rec, []exchange{
		{name: "linked", method: "GET", path: path("Discord", "111"), auth: auth, status: 200},
		{name: "unlinked", method: "GET", path: path("Discord", "999"), auth: auth, status: 404, code: "user_not_found"},
		{name: "other platform", method: "GET", path: path("Steam", "111"), auth: auth, status: 404, code: "user_not_found"},
		{name: "platform outside the enum", method: "GET", path: path("discord", "111"), auth: auth, status: 422, violation: true},
		{name: "no platform user id", method: "GET", path: "/users/v1/platform-user?platform=Discord", auth: auth, status: 422, violation: true},
		{name: "no token", method: "GET", path: path("Discord", "111"), status: 403, code: "auth_token_unknown"},
		{name: "unknown token", method: "GET", path: path("Discord", "111"), auth: "Bearer forged", status: 403, code: "auth_token_unknown"},
		{name: "basic instead of bearer", method: "GET", path: path("Discord", "111"), auth: basic(s), status: 403, code: "auth_token_unknown"},
	})

	got := do(t, s, "GET", path("Discord", "111"), auth, "")
	for k, want := range map[string]any{"platform": "Discord", "platform_user_id": "111", "player_uuid": alice, "display_name": "alice"} {
		if got.body[k] != want {
			t.Errorf("%s = %v, want %v", k, got.body[k], want)
		}
	}
	if _, ok := got.body["active_player_uuid"]; ok {
		t.Errorf("active_player_uuid set without an active player: %v", got.body)
	}
	if _, ok := got.body["player_id"].(float64); !ok || got.body["person_id"] == nil {
		t.Errorf("player_id or person_id missing: %v", got.body)
	}
	got = do(t, s, "GET", path("Discord", "222"), auth, "")
	if got.body["player_uuid"] != bob || got.body["active_player_uuid"] != bobMain {
		t.Errorf("answer %v, want player %s with active player %s", got.body, bob, bobMain)
	}
}

func TestLookupPlayer(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	ann1, ann2 := s.AddPlayer("Ann"), s.AddPlayer("Ann")
	bob, bobMain := s.AddPlayer("Bob"), s.AddPlayer("BobMain")
	s.SetActivePlayer(bob, bobMain)
	auth := bearer(t, s)
	tests := []struct {
		name  string
		query string
		want  []map[string][]string // per requested name, the UUIDs answered
	}{
		{"shared name", "display_name=Ann", []map[string][]string{{"Ann": {ann1, ann2}}}},
		{"case sensitive", "display_name=ann", []map[string][]string{{"ann": {}}}},
		{"active player answered", "display_name=Bob", []map[string][]string{{"Bob": {bobMain}}}},
		{"several names", "display_name=Bob&display_name=Nobody&display_name=Ann",
			[]map[string][]string{{"Bob": {bobMain}}, {"Nobody": {}}, {"Ann": {ann1, ann2}}}},
		{"no name", "", []map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, s, "GET", "/users/v1/player?"+tt.query, auth, "")
			if got.status != http.StatusOK {
				t.Fatalf("status %d, body %v", got.status, got.body)
			}
			if uuids := displayNames(t, got.body); fmt.Sprint(uuids) != fmt.Sprint(tt.want) {
				t.Errorf("display_names %v, want %v", uuids, tt.want)
			}
		})
	}
	run(t, s, rec, []exchange{
		{name: "platform outside the enum", method: "GET", path: "/users/v1/player?display_name=Ann&platform=Nope", auth: auth, status: 422, violation: true},
		{name: "no token", method: "GET", path: "/users/v1/player?display_name=Ann", status: 403, code: "auth_token_unknown"},
	})
}

func displayNames(t *testing.T, body map[string]any) []map[string][]string {
	t.Helper()
	out := []map[string][]string{}
	list, ok := body["display_names"].([]any)
	if !ok {
		t.Fatalf("no display_names in %v", body)
	}
	for _, entry := range list {
		m := map[string][]string{}
		for name, players := range entry.(map[string]any) {
			m[name] = []string{}
			for _, p := range players.([]any) {
				m[name] = append(m[name], p.(map[string]any)["player_uuid"].(string))
			}
		}
		out = append(out, m)
	}
	return out
}

func TestCreateReport(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	source, target, stranger := s.AddPlayer("src"), s.AddPlayer("dst"), "00000000-0000-4000-8000-000000000001"
	auth := bearer(t, s)
	run(t, s, rec, []exchange{
		{name: "ok", method: "POST", path: reportPath(target), auth: auth, body: reportBody(source, map[string]string{"report_id": "R1"}), status: 200},
		{name: "unknown target", method: "POST", path: reportPath(stranger), auth: auth, body: reportBody(source, nil), status: 404, code: "player_not_found"},
		{name: "no source", method: "POST", path: reportPath(target), auth: auth, body: `{"reason":"afk"}`, status: 400, code: "source_player_required"},
		{name: "null source", method: "POST", path: reportPath(target), auth: auth, body: `{"reason":"afk","source_player_uuid":null}`, status: 400, code: "source_player_required"},
		{name: "unknown source", method: "POST", path: reportPath(target), auth: auth, body: reportBody(stranger, nil), status: 404, code: "player_not_found"},
		{name: "reason outside the enum", method: "POST", path: reportPath(target), auth: auth, body: `{"reason":"nope","source_player_uuid":"` + source + `"}`, status: 422, violation: true},
		{name: "empty description", method: "POST", path: reportPath(target), auth: auth, body: `{"reason":"afk","description":"","source_player_uuid":"` + source + `"}`, status: 422, violation: true},
		{name: "path not a uuid", method: "POST", path: reportPath("not-a-uuid"), auth: auth, body: reportBody(source, nil), status: 422, violation: true},
		{name: "no token", method: "POST", path: reportPath(target), body: reportBody(source, nil), status: 403, code: "auth_token_unknown"},
	})

	got := do(t, s, "POST", reportPath(target), auth, reportBody(source, map[string]string{"report_id": "R2", "discord_guild_id": "9"}))
	id, _ := got.body["report_id"].(string)
	if len(id) != 36 || got.body["source_player_uuid"] != source || got.body["target_player_uuid"] != target ||
		got.body["reason"] != "cheating" || got.body["description"] != "aimbot" {
		t.Errorf("report answer %v", got.body)
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(got.body["created"])); err != nil {
		t.Errorf("created: %v", err)
	}
	if desc := do(t, s, "POST", reportPath(stranger), auth, reportBody(source, nil)).body["desc"]; desc != "Player "+stranger+" not found" {
		t.Errorf("desc %q, want the target in it", desc)
	}

	reports := s.Reports()
	if len(reports) != 2 || reports[1].ReportID != id || reports[1].TargetUUID != target || reports[1].Body["reason"] != "cheating" {
		t.Fatalf("Reports() = %+v, want the two accepted reports", reports)
	}
	if r := s.ReportsWithCustom("report_id", "R2"); len(r) != 1 || r[0].ReportID != id {
		t.Errorf("ReportsWithCustom(report_id, R2) = %+v", r)
	}
	if r := s.ReportsWithCustom("report_id", "R3"); len(r) != 0 {
		t.Errorf("ReportsWithCustom(report_id, R3) = %+v, want none", r)
	}
}

func TestListReports(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	source, target, other := s.AddPlayer("src"), s.AddPlayer("dst"), s.AddPlayer("other")
	auth := bearer(t, s)
	var ids []string
	for i := range 25 {
		got := do(t, s, "POST", reportPath(target), auth, reportBody(source, map[string]string{"n": strconv.Itoa(i)}))
		ids = append(ids, got.body["report_id"].(string))
		do(t, s, "POST", reportPath(other), auth, reportBody(source, nil))
	}
	slices.Reverse(ids) // newest first

	page := func(query string) ([]string, string) {
		t.Helper()
		got := do(t, s, "GET", reportPath(target)+"?"+query, auth, "")
		if got.status != http.StatusOK {
			t.Fatalf("status %d, body %v", got.status, got.body)
		}
		var out []string
		for _, r := range got.body["reports"].([]any) {
			out = append(out, r.(map[string]any)["report_id"].(string))
		}
		next, _ := got.body["next_cursor"].(string)
		return out, next
	}
	var seen []string
	cursor := ""
	for n := 0; ; n++ {
		q := url.Values{"page_size": {"10"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		got, next := page(q.Encode())
		seen = append(seen, got...)
		if n == 0 {
			// A report created between two pages must not shift the next one.
			do(t, s, "POST", reportPath(target), auth, reportBody(source, nil))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("paged through %d reports, want the %d of the target newest first", len(seen), len(ids))
	}
	if got, _ := page(""); len(got) != 10 {
		t.Errorf("default page has %d reports, want 10", len(got))
	}
	run(t, s, rec, []exchange{
		{name: "unknown target", method: "GET", path: reportPath("00000000-0000-4000-8000-000000000001"), auth: auth, status: 404, code: "player_not_found"},
		{name: "page size not an integer", method: "GET", path: reportPath(target) + "?page_size=ten", auth: auth, status: 422, violation: true},
		{name: "no token", method: "GET", path: reportPath(target), status: 403, code: "auth_token_unknown"},
	})
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	s := New(t)
	source, target := s.AddPlayer("src"), s.AddPlayer("dst")
	s.LinkDiscord("1", source)
	auth := bearer(t, s)
	s.FailNext(OpCreateReport, 2, Failure{Status: 500})
	s.FailNext(OpCreateReport, 1, Failure{Status: 429, RetryAfter: 1500 * time.Millisecond})
	s.FailNext(OpCreateReport, 1, Failure{Status: 403})
	s.FailNext(OpCreateReport, 1, Failure{Status: 404})
	s.FailNext(OpCreateReport, 1, Failure{Status: 400})
	s.FailNext(OpCreateReport, 1, Failure{Status: 422, Detail: []map[string]any{{"loc": []string{"body", "reason"}, "msg": "bad", "type": "value_error"}}})
	s.FailNext(OpCreateReport, 1, Failure{Status: 503, Code: "maintenance", Desc: "down for maintenance"})
	s.FailNext(OpPlatformUser, 1, Failure{Status: 404})
	s.FailNext(OpToken, 1, Failure{Status: 500})

	tests := []struct {
		name, method, path, auth, body string
		status                         int
		code, desc, retryAfter         string
	}{
		// A request refused for its token does not consume the queued failure.
		{"refused before failures", "POST", reportPath(target), "Bearer forged", reportBody(source, nil), 403, "auth_token_unknown", "", ""},
		{"first 500", "POST", reportPath(target), auth, reportBody(source, nil), 500, "internal_error", "Internal server error", ""},
		{"second 500", "POST", reportPath(target), auth, reportBody(source, nil), 500, "internal_error", "", ""},
		{"429", "POST", reportPath(target), auth, reportBody(source, nil), 429, "rate_limited", "", "2"},
		{"403", "POST", reportPath(target), auth, reportBody(source, nil), 403, "insufficient_permissions", "Insufficient Permissions", ""},
		{"404", "POST", reportPath(target), auth, reportBody(source, nil), 404, "player_not_found", "Player " + target + " not found", ""},
		{"400", "POST", reportPath(target), auth, reportBody(source, nil), 400, "source_player_required", "", ""},
		{"422", "POST", reportPath(target), auth, reportBody(source, nil), 422, "", "", ""},
		{"custom code", "POST", reportPath(target), auth, reportBody(source, nil), 503, "maintenance", "down for maintenance", ""},
		{"queue drained", "POST", reportPath(target), auth, reportBody(source, nil), 200, "", "", ""},
		{"platform user 404", "GET", "/users/v1/platform-user?platform=Discord&platform_user_id=1", auth, "", 404, "user_not_found", "User not found", ""},
		{"platform user ok", "GET", "/users/v1/platform-user?platform=Discord&platform_user_id=1", auth, "", 200, "", "", ""},
		{"token 500", "POST", "/users/v2/oauth/token", basic(s), grant, 500, "internal_error", "", ""},
		{"token ok", "POST", "/users/v2/oauth/token", basic(s), grant, 200, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, s, tt.method, tt.path, tt.auth, tt.body)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d (body %v)", got.status, tt.status, got.body)
			}
			if code, _ := got.body["error_code"].(string); code != tt.code {
				t.Errorf("error_code %q, want %q", code, tt.code)
			}
			if desc, _ := got.body["desc"].(string); tt.desc != "" && desc != tt.desc {
				t.Errorf("desc %q, want %q", desc, tt.desc)
			}
			if got.status >= 400 && got.status != 422 && got.body["desc"] == nil {
				t.Errorf("no desc in %v", got.body)
			}
			if ra := got.header.Get("Retry-After"); ra != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, tt.retryAfter)
			}
			if got.status == 422 {
				checkDetail(t, got.body)
			}
		})
	}
	if n := s.Calls(OpCreateReport); n != 10 {
		t.Errorf("Calls(OpCreateReport) = %d, want 10", n)
	}
	if n := len(s.Reports()); n != 1 {
		t.Errorf("%d reports stored, want 1", n)
	}
}

func TestDrop(t *testing.T) {
	t.Parallel()
	s := New(t)
	source, target := s.AddPlayer("src"), s.AddPlayer("dst")
	auth := bearer(t, s)
	s.FailNext(OpCreateReport, 1, Failure{Drop: true, Status: 500})

	resp, err := send("POST", s.URL+reportPath(target), auth, reportBody(source, map[string]string{"report_id": "R1"}), 10*time.Second)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d, want a transport error", resp.StatusCode)
	}
	if r := s.ReportsWithCustom("report_id", "R1"); len(r) != 1 {
		t.Fatalf("dropped report stored %d times, want once", len(r))
	}
	if got := do(t, s, "POST", reportPath(target), auth, reportBody(source, nil)); got.status != http.StatusOK {
		t.Errorf("after the drop: status %d, want 200", got.status)
	}
	if n := s.Calls(OpCreateReport); n != 2 {
		t.Errorf("Calls(OpCreateReport) = %d, want 2", n)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	s := New(t)
	p := s.AddPlayer("p")
	s.LinkDiscord("1", p)
	path := "/users/v1/platform-user?platform=Discord&platform_user_id=1"
	status := func(auth string) (int, string) {
		got := do(t, s, "GET", path, auth, "")
		code, _ := got.body["error_code"].(string)
		return got.status, code
	}

	t.Run("ExpireTokens", func(t *testing.T) {
		old := bearer(t, s)
		if st, _ := status(old); st != http.StatusOK {
			t.Fatalf("fresh token: status %d", st)
		}
		s.ExpireTokens()
		if st, code := status(old); st != http.StatusForbidden || code != "auth_token_expired" {
			t.Errorf("expired token: %d %q, want 403 auth_token_expired", st, code)
		}
		if st, _ := status(bearer(t, s)); st != http.StatusOK {
			t.Errorf("token issued after ExpireTokens: status %d, want 200", st)
		}
	})
	t.Run("SetTokenTTL", func(t *testing.T) {
		s.SetTokenTTL(20 * time.Millisecond)
		got := do(t, s, "POST", "/users/v2/oauth/token", basic(s), grant)
		if got.body["expires_in"] != 1.0 {
			t.Errorf("expires_in %v, want 1 (rounded up)", got.body["expires_in"])
		}
		time.Sleep(30 * time.Millisecond)
		if st, code := status("Bearer " + got.body["access_token"].(string)); st != http.StatusForbidden || code != "auth_token_expired" {
			t.Errorf("token past its TTL: %d %q, want 403 auth_token_expired", st, code)
		}
	})
}

func TestFailureRate(t *testing.T) {
	t.Parallel()
	s := New(t)
	auth := bearer(t, s)
	tests := []struct {
		name string
		p    float64
		want int
	}{
		{"always", 1, http.StatusServiceUnavailable},
		{"off", 0, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFailureRate(OpLookupPlayer, tt.p, Failure{Status: http.StatusServiceUnavailable})
			for range 5 {
				if got := do(t, s, "GET", "/users/v1/player?display_name=x", auth, ""); got.status != tt.want {
					t.Fatalf("status %d, want %d", got.status, tt.want)
				}
			}
		})
	}
}

func TestCapFailureRun(t *testing.T) {
	t.Parallel()
	s := New(t)
	source, target := s.AddPlayer("src"), s.AddPlayer("dst")
	auth := bearer(t, s)
	s.SetFailureRate(OpCreateReport, 1, Failure{Status: http.StatusServiceUnavailable})
	s.CapFailureRun(3)
	statuses := func(body string, n int) []int {
		var out []int
		for range n {
			out = append(out, do(t, s, "POST", reportPath(target), auth, body).status)
		}
		return out
	}
	const no, ok = http.StatusServiceUnavailable, http.StatusOK
	one, other := reportBody(source, map[string]string{"n": "1"}), reportBody(source, map[string]string{"n": "2"})
	tests := []struct {
		name string
		body string
		n    int
		want []int
	}{
		{"a request fails three times, then is spared", one, 4, []int{no, no, no, ok}},
		{"another request has a run of its own", other, 2, []int{no, no}},
		{"once spared, a request starts a new run", one, 4, []int{no, no, no, ok}},
		{"the other request's run goes on", other, 2, []int{no, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statuses(tt.body, tt.n); !slices.Equal(got, tt.want) {
				t.Fatalf("statuses %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("uncapped, failures go on", func(t *testing.T) {
		s.CapFailureRun(0)
		if got := statuses(one, 5); !slices.Equal(got, []int{no, no, no, no, no}) {
			t.Fatalf("statuses %v, want five failures", got)
		}
	})
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := New(t)
	source, target := s.AddPlayer("src"), s.AddPlayer("dst")
	auth := bearer(t, s)

	s.SetDelay(OpLookupPlayer, time.Minute) // the end of the test must not wait for it
	if resp, err := send("GET", s.URL+"/users/v1/player?display_name=x", auth, "", 50*time.Millisecond); err == nil {
		resp.Body.Close()
		t.Fatal("delayed lookup answered before the client timeout")
	}
	s.SetDelay(OpLookupPlayer, 0)
	if got := do(t, s, "GET", "/users/v1/player?display_name=x", auth, ""); got.status != http.StatusOK {
		t.Errorf("after SetDelay 0: status %d", got.status)
	}

	s.FailNext(OpCreateReport, 1, Failure{Delay: 300 * time.Millisecond})
	if resp, err := send("POST", s.URL+reportPath(target), auth, reportBody(source, nil), 50*time.Millisecond); err == nil {
		resp.Body.Close()
		t.Fatal("delayed report answered before the client timeout")
	}
	time.Sleep(400 * time.Millisecond)
	if n := len(s.Reports()); n != 0 {
		t.Errorf("%d reports stored after the client gave up, want 0", n)
	}

	s.FailNext(OpCreateReport, 1, Failure{Delay: 20 * time.Millisecond})
	if got := do(t, s, "POST", reportPath(target), auth, reportBody(source, nil)); got.status != http.StatusOK {
		t.Errorf("delay-only failure: status %d, want 200", got.status)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := New(t)
	source, target := s.AddPlayer("src"), s.AddPlayer("dst")
	auth := bearer(t, s)
	s.SetFailureRate(OpCreateReport, 0.3, Failure{Status: 500})
	const n = 300
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			path, body := reportPath(target), reportBody(source, map[string]string{"n": strconv.Itoa(i)})
			method := "POST"
			if i%3 == 0 {
				method, body = "GET", ""
			}
			resp, err := send(method, s.URL+path, auth, body, 30*time.Second)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			if method == "POST" {
				statuses[i] = resp.StatusCode
			}
		})
	}
	wg.Wait()
	accepted := 0
	for _, st := range statuses {
		if st == http.StatusOK {
			accepted++
		}
	}
	if got := len(s.Reports()); got != accepted {
		t.Errorf("%d reports stored, %d accepted", got, accepted)
	}
	if got := s.Calls(OpCreateReport) + s.Calls(OpListReports); got != n {
		t.Errorf("%d calls counted, want %d", got, n)
	}
}

func TestNotServed(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec)
	run(t, s, rec, []exchange{
		{name: "operation the fake lacks", method: "GET", path: "/users/v1/player/00000000-0000-4000-8000-000000000001", auth: bearer(t, s), status: 404, violation: true},
		{name: "no service prefix", method: "POST", path: "/v2/oauth/token", auth: basic(s), body: grant, status: 404, violation: true},
	})
}

// TestTablesMatchDocuments guards the copies of the documents the fake keeps: the
// statuses it validates and the Platform enum.
func TestTablesMatchDocuments(t *testing.T) {
	t.Parallel()
	type document struct {
		Paths      map[string]map[string]struct{ Responses map[string]any }
		Components struct {
			Schemas map[string]struct{ Enum []any }
		}
	}
	load := func(name string) document {
		raw, err := os.ReadFile("../../openapitest/specs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var d document
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("decoding %s: %v", name, err)
		}
		return d
	}
	users, sanctions := load("rallyhere-users.json"), load("rallyhere-sanctions.json")
	ops := []struct {
		op           Op
		doc          document
		path, method string
	}{
		{OpToken, users, "/v2/oauth/token", "post"},
		{OpPlatformUser, users, "/v1/platform-user", "get"},
		{OpLookupPlayer, users, "/v1/player", "get"},
		{OpCreateReport, sanctions, "/v2/player/{player_uuid}/reports", "post"},
		{OpListReports, sanctions, "/v2/player/{player_uuid}/reports", "get"},
	}
	for _, o := range ops {
		var want []int
		for code := range o.doc.Paths[o.path][o.method].Responses {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Fatalf("%s: response %q", o.op, code)
			}
			want = append(want, n)
		}
		slices.Sort(want)
		if !slices.Equal(documented[o.op], want) {
			t.Errorf("documented[%s] = %v, the document lists %v", o.op, documented[o.op], want)
		}
	}
	var enum []string
	for _, v := range users.Components.Schemas["Platform"].Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	if got := enum; !slices.Equal(platforms, got) {
		t.Errorf("platforms = %v, the document has %v", platforms, got)
	}
}
