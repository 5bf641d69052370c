package config

import (
	"strings"
	"testing"
	"time"
)

const (
	testKey = "b7a3c12dc0c8c748ab07525b701122b88bd78f600c76342d27f25e5f92444cde"
	testApp = "1234567890123456789"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func base(extra map[string]string) map[string]string {
	m := map[string]string{"DISCORD_TOKEN": "tok", "DISCORD_APPLICATION_ID": testApp}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(getenv(base(nil)))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"gateway", c.Discord.Gateway, true},
		{"api url", c.Discord.APIURL, "https://discord.com/api/v10"},
		{"shards", [2]int{c.Discord.ShardID, c.Discord.ShardCount}, [2]int{0, 1}},
		{"http addr", c.HTTPAddr, ":8080"},
		{"redis", c.RedisURL, ""},
		{"rallyhere off", c.RallyHere == nil, true},
		{"limit", c.ReportLimit, Rate{3, 10 * time.Minute}},
		{"limit max", c.ReportLimitMax, Rate{10, 10 * time.Minute}},
		{"limit global", c.ReportLimitGlobal, Rate{20, 24 * time.Hour}},
		{"retention", c.Retention, 90 * 24 * time.Hour},
		{"log level", c.LogLevel.String(), "info"},
		{"log format", c.LogFormat, "json"},
		{"public key", c.Discord.PublicKey == nil, true},
		{"bungie off", c.Bungie == nil, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(getenv(base(map[string]string{
		"DISCORD_PUBLIC_KEY":               testKey,
		"DISCORD_GATEWAY":                  "false",
		"DISCORD_API_URL":                  "http://127.0.0.1:9999/api/v10/",
		"DISCORD_GUILD_ID":                 "98765432109876543",
		"DISCORD_SHARD_ID":                 "1",
		"DISCORD_SHARD_COUNT":              "2",
		"REDIS_URL":                        "redis://localhost:6379/0",
		"RALLYHERE_API_URL":                "https://demo.rally-here.io/",
		"RALLYHERE_CLIENT_ID":              "id",
		"RALLYHERE_CLIENT_SECRET":          "secret",
		"RALLYHERE_FALLBACK_SOURCE_PLAYER": "5F1B1E4E-0000-4000-8000-000000000001",
		"REPORT_LIMIT":                     "5/1h",
		"REPORT_LIMIT_MAX":                 "10/1h",
		"REPORT_RETENTION":                 "30d",
		"LOG_LEVEL":                        "DEBUG",
		"LOG_FORMAT":                       "console",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Discord.APIURL != "http://127.0.0.1:9999/api/v10" {
		t.Errorf("api url %q: the trailing slash should be gone", c.Discord.APIURL)
	}
	if c.Discord.Gateway || len(c.Discord.PublicKey) != 32 || c.Discord.ShardID != 1 || c.Discord.ShardCount != 2 {
		t.Errorf("discord: %+v", c.Discord)
	}
	want := RallyHere{APIURL: "https://demo.rally-here.io", ClientID: "id", ClientSecret: "secret", FallbackSourcePlayer: "5f1b1e4e-0000-4000-8000-000000000001"}
	if c.RallyHere == nil || *c.RallyHere != want {
		t.Errorf("rallyhere: got %+v, want %+v", c.RallyHere, want)
	}
	if c.ReportLimit != (Rate{5, time.Hour}) || c.Retention != 30*24*time.Hour || c.LogLevel.String() != "debug" || c.LogFormat != "console" {
		t.Errorf("limits/logging: %+v", c)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no token", map[string]string{"DISCORD_TOKEN": ""}, "DISCORD_TOKEN: required"},
		{"no app id", map[string]string{"DISCORD_APPLICATION_ID": ""}, "DISCORD_APPLICATION_ID: required"},
		{"bad app id", map[string]string{"DISCORD_APPLICATION_ID": "abc"}, "DISCORD_APPLICATION_ID:"},
		{"bad key", map[string]string{"DISCORD_PUBLIC_KEY": "zz"}, "DISCORD_PUBLIC_KEY:"},
		{"short key", map[string]string{"DISCORD_PUBLIC_KEY": testKey[:62]}, "DISCORD_PUBLIC_KEY:"},
		{"bad gateway", map[string]string{"DISCORD_GATEWAY": "maybe"}, "DISCORD_GATEWAY:"},
		{"no way in", map[string]string{"DISCORD_GATEWAY": "false"}, "DISCORD_PUBLIC_KEY: required when DISCORD_GATEWAY=false"},
		{"bad api url", map[string]string{"DISCORD_API_URL": "discord.com"}, "DISCORD_API_URL:"},
		{"bad guild", map[string]string{"DISCORD_GUILD_ID": "12"}, "DISCORD_GUILD_ID:"},
		{"negative shard", map[string]string{"DISCORD_SHARD_ID": "-1"}, "DISCORD_SHARD_ID:"},
		{"zero shards", map[string]string{"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT:"},
		{"shard out of range", map[string]string{"DISCORD_SHARD_ID": "2", "DISCORD_SHARD_COUNT": "2"}, "DISCORD_SHARD_ID:"},
		{"bad public url", map[string]string{"PUBLIC_URL": "ftp://x"}, "PUBLIC_URL:"},
		{"bad redis", map[string]string{"REDIS_URL": "localhost:6379"}, "REDIS_URL:"},
		{"partial rallyhere", map[string]string{"RALLYHERE_API_URL": "https://x"}, "RALLYHERE_CLIENT_ID: required"},
		{"bad rallyhere url", map[string]string{"RALLYHERE_API_URL": "x", "RALLYHERE_CLIENT_ID": "a", "RALLYHERE_CLIENT_SECRET": "b"}, "RALLYHERE_API_URL:"},
		{"bad fallback", map[string]string{"RALLYHERE_FALLBACK_SOURCE_PLAYER": "bob"}, "RALLYHERE_FALLBACK_SOURCE_PLAYER:"},
		{"bad limit", map[string]string{"REPORT_LIMIT": "3 per 10m"}, "REPORT_LIMIT:"},
		{"zero limit", map[string]string{"REPORT_LIMIT": "0/10m"}, "REPORT_LIMIT:"},
		{"limit above max", map[string]string{"REPORT_LIMIT": "11/10m"}, "REPORT_LIMIT: 11/10m is looser than REPORT_LIMIT_MAX 10/10m"},
		{"limit faster than max", map[string]string{"REPORT_LIMIT": "3/1m"}, "REPORT_LIMIT: 3/1m is looser"},
		{"bad max", map[string]string{"REPORT_LIMIT_MAX": "10/0m"}, "REPORT_LIMIT_MAX:"},
		{"bad global", map[string]string{"REPORT_LIMIT_GLOBAL": "x"}, "REPORT_LIMIT_GLOBAL:"},
		{"bad retention", map[string]string{"REPORT_RETENTION": "forever"}, "REPORT_RETENTION:"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL:"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT:"},
		{"bad bungie mode", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "carrier-pigeon"}, "BUNGIE_REPORT_MODE:"},
		{"api mode without key", map[string]string{"BUNGIE_REPORT_MODE": "api"}, "BUNGIE_API_KEY: required"},
		{"api mode without client", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "api", "PUBLIC_URL": "https://bot.example"}, "BUNGIE_CLIENT_ID: required"},
		{"api mode without token key", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "api", "PUBLIC_URL": "https://bot.example",
			"BUNGIE_CLIENT_ID": "1", "BUNGIE_CLIENT_SECRET": "s"}, "TOKEN_KEY: required"},
		{"short token key", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "api", "PUBLIC_URL": "https://bot.example",
			"BUNGIE_CLIENT_ID": "1", "BUNGIE_CLIENT_SECRET": "s", "TOKEN_KEY": "c2hvcnQ="}, "TOKEN_KEY: not 32 bytes"},
		{"api mode without public url", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "api",
			"BUNGIE_CLIENT_ID": "1", "BUNGIE_CLIENT_SECRET": "s", "TOKEN_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, "PUBLIC_URL: required"},
		{"bad bungie url", map[string]string{"BUNGIE_API_KEY": "k", "BUNGIE_STATS_URL": "stats"}, "BUNGIE_STATS_URL:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenv(base(tt.env)))
			if err == nil {
				t.Fatalf("want an error starting %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %q, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q spans lines; the operator gets one line", err)
			}
		})
	}
}

func TestLoadBungie(t *testing.T) {
	c, err := Load(getenv(base(map[string]string{
		"BUNGIE_API_KEY": "key", "BUNGIE_REPORT_MODE": "api", "PUBLIC_URL": "https://bot.example/",
		"BUNGIE_CLIENT_ID": "123", "BUNGIE_CLIENT_SECRET": "secret",
		"TOKEN_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "BUNGIE_WEB_URL": "http://127.0.0.1:1/",
	})))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bungie
	if b == nil || b.Mode != ModeAPI || b.APIURL != "https://www.bungie.net/Platform" || b.StatsURL != "https://stats.bungie.net/Platform" ||
		b.WebURL != "http://127.0.0.1:1" || b.AuthorizeURL != "https://www.bungie.net/en/OAuth/Authorize" ||
		string(b.TokenKey) != "0123456789abcdef0123456789abcdef" || c.PublicURL.String() != "https://bot.example" {
		t.Fatalf("bungie %+v, public url %v", b, c.PublicURL)
	}
	link, err := Load(getenv(base(map[string]string{"BUNGIE_API_KEY": "key"})))
	if err != nil || link.Bungie.Mode != ModeLink || link.Bungie.TokenKey != nil {
		t.Fatalf("link mode: %+v, %v", link.Bungie, err)
	}
}

func TestLoadNeverEchoesSecrets(t *testing.T) {
	_, err := Load(getenv(base(map[string]string{
		"DISCORD_TOKEN":           "super-secret-token",
		"RALLYHERE_API_URL":       "not a url",
		"RALLYHERE_CLIENT_ID":     "id",
		"RALLYHERE_CLIENT_SECRET": "super-secret-client",
	})))
	if err == nil || strings.Contains(err.Error(), "super-secret") {
		t.Fatalf("got %v: want an error that names the variable without the secrets", err)
	}
}

func TestRateWithin(t *testing.T) {
	max := Rate{10, 10 * time.Minute}
	tests := []struct {
		r    Rate
		want bool
	}{
		{Rate{3, 10 * time.Minute}, true},
		{Rate{10, 10 * time.Minute}, true},
		{Rate{11, 10 * time.Minute}, false},
		{Rate{1, time.Minute}, true},
		{Rate{2, time.Minute}, false},
		{Rate{10, time.Hour}, true},
		{Rate{100, 100 * time.Minute}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Within(max); got != tt.want {
			t.Errorf("%s within %s: got %v, want %v", tt.r, max, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10m", 10 * time.Minute, true},
		{"24h", 24 * time.Hour, true},
		{"90d", 90 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"1h30m15s", time.Hour + 30*time.Minute + 15*time.Second, true},
		{"0s", 0, false},
		{"", 0, false},
		{"10", 0, false},
		{"-5m", 0, false},
		{"1.5h", 0, false},
		{"5m1h", 0, false},
		{"100000d", 0, false},
		{"99999999999999h", 0, false},
		{"10ms", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseRate checks that any accepted rate is positive, bounded, and survives a
// round trip through its String form.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"3/10m", "20/24h", "10/1d12h", "1/1s", "0/1m", "3/", "/10m", "3/10m/1", "9999999999/1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Count < 1 || r.Per <= 0 || r.Per > maxDuration {
			t.Fatalf("ParseRate(%q) = %+v: out of bounds", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q via %q gave %+v, %v", s, r.String(), back, err)
		}
	})
}
