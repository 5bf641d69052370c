package config

import (
	"errors"
	"regexp"
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
	t.Parallel()
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
		{"redis", c.Redis.URL, ""},
		{"redis mode", c.Redis.Mode, "single"},
		{"metrics addr", c.MetricsAddr, ""},
		{"cdn hosts", strings.Join(c.CDNHosts, ","), "cdn.discordapp.com,media.discordapp.net"},
		{"webhook off", c.Webhook == nil, true},
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
	t.Parallel()
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
	t.Parallel()
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
		// y = 2 is no point's: every signature would fail.
		{"key off the curve", map[string]string{"DISCORD_PUBLIC_KEY": "02" + strings.Repeat("00", 31)}, "DISCORD_PUBLIC_KEY: not an Ed25519 public key"},
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
			// One line per variable, each naming it.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !varLineRE.MatchString(line) {
					t.Fatalf("line %q does not start with the variable it is about", line)
				}
			}
		})
	}
}

var varLineRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]+: \S`)

// TestLoadReportsEveryError: an operator fixing a configuration sees everything that
// is wrong at once, one line per variable, in the order of .env.example.
func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := Load(getenv(map[string]string{
		"DISCORD_APPLICATION_ID": "abc",
		"DISCORD_GATEWAY":        "maybe",
		"REDIS_MODE":             "sharded",
		"REPORT_LIMIT":           "lots",
		"LOG_FORMAT":             "xml",
	}))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v (%T), want config.Errors", err, err)
	}
	var names []string
	for _, e := range errs {
		names = append(names, e.Name)
	}
	want := "DISCORD_TOKEN DISCORD_APPLICATION_ID DISCORD_GATEWAY REDIS_MODE REPORT_LIMIT LOG_FORMAT"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("variables reported: %s\nwant: %s\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(errs) {
		t.Fatalf("%d lines for %d problems:\n%v", n, len(errs), err)
	}
}

func TestLoadRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		check func(Redis) bool
	}{
		{"single", map[string]string{"REDIS_URL": "redis://:pw@db:6380/2"},
			func(r Redis) bool {
				return r.Single != nil && r.Single.Addr == "db:6380" && r.Single.DB == 2 && r.Single.Password == "pw"
			}},
		{"cluster", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://h1:7000?addr=h2:7001&addr=h3:7002"},
			func(r Redis) bool {
				return r.Cluster != nil && strings.Join(r.Cluster.Addrs, ",") == "h1:7000,h2:7001,h3:7002"
			}},
		{"sentinel", map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379?master_name=m&addr=s2:26379", "REDIS_WAIT_REPLICAS": "1"},
			func(r Redis) bool {
				return r.Failover != nil && r.Failover.MasterName == "m" && strings.Join(r.Addrs(), ",") == "s1:26379,s2:26379" && r.WaitReplicas == 1
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(getenv(base(tt.env)))
			if err != nil || !tt.check(c.Redis) {
				t.Fatalf("%+v, %v", c.Redis, err)
			}
		})
	}
	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"not a url", map[string]string{"REDIS_URL": "localhost:6379"}, "REDIS_URL: not a single URL"},
		{"unknown mode", map[string]string{"REDIS_MODE": "sharded", "REDIS_URL": "redis://h:1"}, "REDIS_MODE:"},
		{"sentinel without master", map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379"}, "REDIS_URL: not a sentinel URL: no master_name"},
		{"cluster option unknown", map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://h1:7000?shards=3"}, "REDIS_URL: not a cluster URL"},
		{"mode without url", map[string]string{"REDIS_MODE": "cluster"}, "REDIS_URL: required with REDIS_MODE=cluster"},
		{"wait without url", map[string]string{"REDIS_WAIT_REPLICAS": "1"}, "REDIS_WAIT_REPLICAS: needs REDIS_URL"},
		{"negative wait", map[string]string{"REDIS_URL": "redis://h:1", "REDIS_WAIT_REPLICAS": "-1"}, "REDIS_WAIT_REPLICAS:"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenv(base(tt.env)))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("a bad URL's password is not echoed", func(t *testing.T) {
		_, err := Load(getenv(base(map[string]string{"REDIS_URL": "redis://user:hunter2-secret@h:port/0"})))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLoadWebhookMetricsAndCDN(t *testing.T) {
	t.Parallel()
	c, err := Load(getenv(base(map[string]string{
		"WEBHOOK_URL": "https://reports.studio.example/reportbot", "WEBHOOK_SECRET": "0123456789abcdef0123",
		"METRICS_ADDR": "127.0.0.1:9090", "DISCORD_CDN_HOSTS": " CDN.discordapp.com , 127.0.0.1:4000 ",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook == nil || c.Webhook.GameName != "the game" || c.Webhook.URL != "https://reports.studio.example/reportbot" ||
		c.MetricsAddr != "127.0.0.1:9090" || strings.Join(c.CDNHosts, ",") != "cdn.discordapp.com,127.0.0.1:4000" {
		t.Fatalf("%+v %+v", c.Webhook, c)
	}
	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"webhook without secret", map[string]string{"WEBHOOK_URL": "https://x.example/hook"}, "WEBHOOK_SECRET: required"},
		{"short secret", map[string]string{"WEBHOOK_URL": "https://x.example/hook", "WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET: shorter"},
		{"secret without webhook", map[string]string{"WEBHOOK_SECRET": "0123456789abcdef0123"}, "WEBHOOK_URL: required"},
		{"plain http elsewhere", map[string]string{"WEBHOOK_URL": "http://x.example/hook", "WEBHOOK_SECRET": "0123456789abcdef0123"}, "WEBHOOK_URL:"},
		{"webhook and rallyhere", map[string]string{"WEBHOOK_URL": "https://x.example/hook", "WEBHOOK_SECRET": "0123456789abcdef0123",
			"RALLYHERE_API_URL": "https://rh.example", "RALLYHERE_CLIENT_ID": "a", "RALLYHERE_CLIENT_SECRET": "b"}, "WEBHOOK_URL: set together with RALLYHERE_API_URL"},
		{"bad metrics addr", map[string]string{"METRICS_ADDR": "9090"}, "METRICS_ADDR:"},
		{"metrics on http addr", map[string]string{"METRICS_ADDR": ":8080"}, "METRICS_ADDR: is HTTP_ADDR"},
		{"empty cdn hosts", map[string]string{"DISCORD_CDN_HOSTS": " , "}, "DISCORD_CDN_HOSTS: empty"},
		{"cdn url not host", map[string]string{"DISCORD_CDN_HOSTS": "https://cdn.discordapp.com/"}, "DISCORD_CDN_HOSTS:"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenv(base(tt.env)))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	local, err := Load(getenv(base(map[string]string{"WEBHOOK_URL": "http://127.0.0.1:4000/hook", "WEBHOOK_SECRET": "0123456789abcdef0123"})))
	if err != nil || local.Webhook == nil {
		t.Fatalf("plain http to loopback (tests): %v", err)
	}
}

func TestLoadBungie(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
