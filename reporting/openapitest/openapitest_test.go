package openapitest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestValidatorRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   Spec
		method string
		url    string
		body   string
		auth   string
		want   string // substring of the error; empty means valid
	}{
		{"rallyhere report ok", RallyHereSanctions, "POST", "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports",
			`{"reason":"cheating","source_player_uuid":"5f1b1e4e-0000-4000-8000-000000000002","custom_data":{"report_id":"R1"}}`, "Bearer t", ""},
		{"rallyhere report bad reason", RallyHereSanctions, "POST", "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports",
			`{"reason":"cheatin"}`, "Bearer t", "$.reason"},
		{"rallyhere report empty custom value", RallyHereSanctions, "POST", "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports",
			`{"reason":"afk","custom_data":{"a":""}}`, "Bearer t", "$.custom_data.a"},
		{"rallyhere report bad uuid", RallyHereSanctions, "POST", "http://x/sanctions/v2/player/not-a-uuid/reports",
			`{"reason":"afk"}`, "Bearer t", "player_uuid"},
		{"rallyhere platform user ok", RallyHereUsers, "GET", "http://x/users/v1/platform-user?platform=Discord&platform_user_id=1", "", "Bearer t", ""},
		{"rallyhere platform user missing id", RallyHereUsers, "GET", "http://x/users/v1/platform-user?platform=Discord", "", "Bearer t", "platform_user_id"},
		{"rallyhere report without token", RallyHereSanctions, "POST", "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports",
			`{"reason":"afk"}`, "", "uthoriz"},
		{"discord modal ok", Discord, "POST", "http://x/api/v10/interactions/123/tok/callback",
			`{"type":9,"data":{"custom_id":"x","title":"t","components":[{"type":18,"label":"Reason","component":{"type":3,"custom_id":"reason","options":[{"label":"a","value":"a"}]}}]}}`, "", ""},
		{"discord modal title too long", Discord, "POST", "http://x/api/v10/interactions/123/tok/callback",
			`{"type":9,"data":{"custom_id":"x","title":"` + strings.Repeat("t", 46) + `","components":[{"type":18,"label":"Reason","component":{"type":3,"custom_id":"reason","options":[{"label":"a","value":"a"}]}}]}}`, "", "does not match"},
		{"bungie report ok", Bungie, "POST", "http://x/Platform/Destiny2/Stats/PostGameCarnageReport/123/Report/",
			`{"reasonCategoryHashes":[1],"reasonHashes":[2],"offendingCharacterId":123}`, "Bearer t", ""},
		{"bungie report string id", Bungie, "POST", "http://x/Platform/Destiny2/Stats/PostGameCarnageReport/123/Report/",
			`{"reasonCategoryHashes":[1],"reasonHashes":[2],"offendingCharacterId":"123"}`, "Bearer t", "offendingCharacterId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Load(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			} else {
				body = strings.NewReader("")
			}
			r, _ := http.NewRequest(tt.method, tt.url, body)
			if tt.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			err = v.Request(r)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want an error mentioning %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("want an error mentioning %q, got %v", tt.want, err)
			}
		})
	}
}

func TestEnum(t *testing.T) {
	t.Parallel()
	locales, err := Enum(Discord, "AvailableLocalesEnum")
	if err != nil || len(locales) != 34 || !slices.Contains(locales, "pt-BR") || !slices.Contains(locales, "es-419") {
		t.Fatalf("%v, %v", locales, err)
	}
	if _, err := Enum(Discord, "NoSuchSchema"); err == nil {
		t.Fatal("a schema the document lacks")
	}
}

// BenchmarkRequests validates the requests the fakes see most often in a long test:
// RallyHere's list of a player's reports (query parameters checked against their
// schemas) and a report (a JSON body), and what the bot sends Discord for every
// report (the callback, the edit of the reporter's answer, the mod-log post).
func BenchmarkRequests(b *testing.B) {
	reqs := []struct {
		name              string
		spec              Spec
		method, url, body string
		auth              string
	}{
		{"rallyhere list", RallyHereSanctions, http.MethodGet, "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports?page_size=50&cursor=MTI", "", "Bearer t"},
		{"rallyhere report", RallyHereSanctions, http.MethodPost, "http://x/sanctions/v2/player/5f1b1e4e-0000-4000-8000-000000000001/reports",
			`{"reason":"cheating","source_player_uuid":"5f1b1e4e-0000-4000-8000-000000000002","custom_data":{"report_id":"R1"}}`, "Bearer t"},
		{"discord callback", Discord, http.MethodPost, "http://x/api/v10/interactions/123456789012345678/tok/callback", `{"type":5,"data":{"flags":64}}`, ""},
		{"discord edit", Discord, http.MethodPatch, "http://x/api/v10/webhooks/123456789012345678/tok/messages/@original", `{"content":"Report R-1 sent.","components":[]}`, ""},
		{"discord post", Discord, http.MethodPost, "http://x/api/v10/channels/123456789012345678/messages",
			`{"embeds":[{"title":"Report","description":"d","fields":[{"name":"a","value":"b","inline":true}]}],"allowed_mentions":{"parse":[]}}`, "Bot t"},
	}
	for _, rq := range reqs {
		b.Run(rq.name, func(b *testing.B) {
			v := MustLoad(rq.spec)
			for b.Loop() {
				r, _ := http.NewRequest(rq.method, rq.url, strings.NewReader(rq.body))
				if rq.auth != "" {
					r.Header.Set("Authorization", rq.auth)
				}
				if rq.body != "" {
					r.Header.Set("Content-Type", "application/json")
				}
				if err := v.Request(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
