// Package config reads the operator's environment, once, into a typed Config and
// validates it. A bad value is reported as one line naming the variable and what is
// wrong with it, and the bot does not start.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Config is everything the operator can set. Zero values of optional sections mean
// "off".
type Config struct {
	Discord Discord

	// HTTPAddr is where /interactions, /healthz, /readyz and /metrics are served.
	HTTPAddr string
	// PublicURL is the bot's external base URL, used to build OAuth redirects.
	PublicURL *url.URL
	// RedisURL is empty when the bot should run on an embedded in-memory store.
	RedisURL string

	// RallyHere is nil unless RALLYHERE_API_URL, _CLIENT_ID and _CLIENT_SECRET are set.
	RallyHere *RallyHere
	// Bungie is nil unless BUNGIE_API_KEY is set.
	Bungie *Bungie

	ReportLimit       Rate
	ReportLimitMax    Rate
	ReportLimitGlobal Rate
	Retention         time.Duration

	LogLevel  zerolog.Level
	LogFormat string
}

// Discord is how the bot reaches Discord and how Discord reaches the bot.
type Discord struct {
	Token         string
	ApplicationID string
	// PublicKey enables POST /interactions when set.
	PublicKey ed25519.PublicKey
	// Gateway opens the websocket session.
	Gateway bool
	// APIURL is the REST base, without a trailing slash.
	APIURL string
	// GuildID, when set, registers the commands in that guild only.
	GuildID    string
	ShardID    int
	ShardCount int
}

// RallyHere is the game backend the bot forwards RallyHere reports to.
type RallyHere struct {
	// APIURL is the environment's base URL, without a trailing slash; services are
	// under /users and /sanctions.
	APIURL       string
	ClientID     string
	ClientSecret string
	// FallbackSourcePlayer is the player UUID used as the reporter when a Discord
	// user has no linked RallyHere player; empty means such reporters are refused.
	FallbackSourcePlayer string
}

// Bungie is Bungie.net, for Destiny 2 reports.
type Bungie struct {
	APIKey string
	// APIURL, StatsURL, WebURL and AuthorizeURL have no trailing slash.
	APIURL       string
	StatsURL     string
	WebURL       string
	AuthorizeURL string
	// Mode is how reports reach Bungie: ModeLink (the reporter files them on
	// Bungie's report page) or ModeAPI (the bot files them with the reporter's token).
	Mode string
	// ClientID, ClientSecret and TokenKey are set in ModeAPI.
	ClientID     string
	ClientSecret string
	// TokenKey encrypts the reporters' OAuth tokens (AES-256-GCM).
	TokenKey []byte
}

// Bungie report modes.
const (
	ModeLink = "link"
	ModeAPI  = "api"
)

// Rate is Count events per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// String formats r as it is written in the environment, e.g. 3/10m.
func (r Rate) String() string { return strconv.Itoa(r.Count) + "/" + FormatDuration(r.Per) }

// Within reports whether r is no looser than max: no bigger burst and no faster
// sustained rate.
func (r Rate) Within(max Rate) bool {
	return r.Count <= max.Count && int64(r.Count)*int64(max.Per) <= int64(max.Count)*int64(r.Per)
}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	e := env{getenv: getenv}
	c := Config{
		Discord: Discord{
			Token:         e.required("DISCORD_TOKEN"),
			ApplicationID: e.snowflake("DISCORD_APPLICATION_ID", true),
			PublicKey:     e.publicKey("DISCORD_PUBLIC_KEY"),
			Gateway:       e.boolean("DISCORD_GATEWAY", true),
			APIURL:        e.baseURL("DISCORD_API_URL", "https://discord.com/api/v10"),
			GuildID:       e.snowflake("DISCORD_GUILD_ID", false),
			ShardID:       e.integer("DISCORD_SHARD_ID", 0, 0),
			ShardCount:    e.integer("DISCORD_SHARD_COUNT", 1, 1),
		},
		HTTPAddr:          e.str("HTTP_ADDR", ":8080"),
		PublicURL:         e.optionalURL("PUBLIC_URL"),
		RedisURL:          e.redisURL("REDIS_URL"),
		RallyHere:         e.rallyHere(),
		Bungie:            e.bungie(),
		ReportLimit:       e.rate("REPORT_LIMIT", "3/10m"),
		ReportLimitMax:    e.rate("REPORT_LIMIT_MAX", "10/10m"),
		ReportLimitGlobal: e.rate("REPORT_LIMIT_GLOBAL", "20/24h"),
		Retention:         e.duration("REPORT_RETENTION", "90d"),
		LogLevel:          e.logLevel("LOG_LEVEL"),
		LogFormat:         e.oneOf("LOG_FORMAT", "json", "json", "console"),
	}
	if e.err != nil {
		return Config{}, e.err
	}
	switch {
	case c.Discord.ShardID >= c.Discord.ShardCount:
		return Config{}, fmt.Errorf("DISCORD_SHARD_ID: %d is not below DISCORD_SHARD_COUNT %d", c.Discord.ShardID, c.Discord.ShardCount)
	case !c.Discord.Gateway && c.Discord.PublicKey == nil:
		return Config{}, errors.New("DISCORD_PUBLIC_KEY: required when DISCORD_GATEWAY=false, or the bot receives no interactions")
	case !c.ReportLimit.Within(c.ReportLimitMax):
		return Config{}, fmt.Errorf("REPORT_LIMIT: %s is looser than REPORT_LIMIT_MAX %s", c.ReportLimit, c.ReportLimitMax)
	case c.Bungie != nil && c.Bungie.Mode == ModeAPI && c.PublicURL == nil:
		return Config{}, errors.New("PUBLIC_URL: required when BUNGIE_REPORT_MODE=api, for the OAuth redirect")
	}
	return c, nil
}

// env collects the first error while reading variables, so Load reads like a table.
type env struct {
	getenv func(string) string
	err    error
}

func (e *env) fail(name, format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (e *env) get(name string) string { return strings.TrimSpace(e.getenv(name)) }

func (e *env) str(name, def string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return def
}

func (e *env) required(name string) string {
	v := e.get(name)
	if v == "" {
		e.fail(name, "required")
	}
	return v
}

var snowflakeRE = regexp.MustCompile(`^[0-9]{17,20}$`)

func (e *env) snowflake(name string, required bool) string {
	v := e.get(name)
	switch {
	case v == "" && required:
		e.fail(name, "required")
	case v != "" && !snowflakeRE.MatchString(v):
		e.fail(name, "%q is not a Discord id (17 to 20 digits)", v)
	}
	return v
}

func (e *env) publicKey(name string) ed25519.PublicKey {
	v := e.get(name)
	if v == "" {
		return nil
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != ed25519.PublicKeySize {
		e.fail(name, "not a hex Ed25519 public key (64 hex digits)")
		return nil
	}
	return ed25519.PublicKey(b)
}

func (e *env) boolean(name string, def bool) bool {
	v := e.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "%q is not true or false", v)
	}
	return b
}

func (e *env) integer(name string, def, min int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		e.fail(name, "%q is not a whole number of at least %d", v, min)
	}
	return n
}

func (e *env) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(e.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (e *env) logLevel(name string) zerolog.Level {
	v := e.oneOf(name, "info", "trace", "debug", "info", "warn", "error")
	l, _ := zerolog.ParseLevel(v)
	return l
}

// parseURL accepts absolute http(s) URLs only and returns them without a trailing
// slash, so paths can be appended with "/".
func (e *env) parseURL(name, v string) *url.URL {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail(name, "%q is not an absolute http(s) URL", v)
		return nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u
}

func (e *env) baseURL(name, def string) string {
	u := e.parseURL(name, e.str(name, def))
	if u == nil {
		return ""
	}
	return u.String()
}

func (e *env) optionalURL(name string) *url.URL {
	v := e.get(name)
	if v == "" {
		return nil
	}
	return e.parseURL(name, v)
}

func (e *env) redisURL(name string) string {
	v := e.get(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		e.fail(name, "not a redis:// or rediss:// URL")
		return ""
	}
	return v
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (e *env) rallyHere() *RallyHere {
	names := []string{"RALLYHERE_API_URL", "RALLYHERE_CLIENT_ID", "RALLYHERE_CLIENT_SECRET"}
	set := 0
	for _, n := range names {
		if e.get(n) != "" {
			set++
		}
	}
	fallback := e.get("RALLYHERE_FALLBACK_SOURCE_PLAYER")
	if fallback != "" && !uuidRE.MatchString(fallback) {
		e.fail("RALLYHERE_FALLBACK_SOURCE_PLAYER", "%q is not a player UUID", fallback)
	}
	if set == 0 {
		return nil
	}
	if set < len(names) {
		for _, n := range names {
			if e.get(n) == "" {
				e.fail(n, "required when any of %s is set", strings.Join(names, ", "))
			}
		}
		return nil
	}
	u := e.parseURL(names[0], e.get(names[0]))
	if u == nil {
		return nil
	}
	return &RallyHere{
		APIURL:               u.String(),
		ClientID:             e.get(names[1]),
		ClientSecret:         e.get(names[2]),
		FallbackSourcePlayer: strings.ToLower(fallback),
	}
}

func (e *env) bungie() *Bungie {
	key := e.get("BUNGIE_API_KEY")
	mode := e.oneOf("BUNGIE_REPORT_MODE", ModeLink, ModeLink, ModeAPI)
	b := &Bungie{
		APIKey:       key,
		APIURL:       e.baseURL("BUNGIE_API_URL", "https://www.bungie.net/Platform"),
		StatsURL:     e.baseURL("BUNGIE_STATS_URL", "https://stats.bungie.net/Platform"),
		WebURL:       e.baseURL("BUNGIE_WEB_URL", "https://www.bungie.net"),
		AuthorizeURL: e.baseURL("BUNGIE_AUTHORIZE_URL", "https://www.bungie.net/en/OAuth/Authorize"),
		Mode:         mode,
	}
	if key == "" {
		if mode == ModeAPI {
			e.fail("BUNGIE_API_KEY", "required when BUNGIE_REPORT_MODE=api")
		}
		return nil
	}
	if mode == ModeAPI {
		b.ClientID = e.required("BUNGIE_CLIENT_ID")
		b.ClientSecret = e.required("BUNGIE_CLIENT_SECRET")
		b.TokenKey = e.tokenKey("TOKEN_KEY")
	}
	return b
}

// tokenKey reads a 32-byte key written in base64.
func (e *env) tokenKey(name string) []byte {
	v := e.get(name)
	if v == "" {
		e.fail(name, "required when BUNGIE_REPORT_MODE=api (32 random bytes in base64: openssl rand -base64 32)")
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	}
	if err != nil || len(b) != 32 {
		e.fail(name, "not 32 bytes in base64 (openssl rand -base64 32 makes one)")
		return nil
	}
	return b
}

func (e *env) rate(name, def string) Rate {
	r, err := ParseRate(e.str(name, def))
	if err != nil {
		e.fail(name, "%v", err)
	}
	return r
}

func (e *env) duration(name, def string) time.Duration {
	d, err := ParseDuration(e.str(name, def))
	if err != nil {
		e.fail(name, "%v", err)
	}
	return d
}

// ParseRate parses "count/duration", e.g. 3/10m or 20/24h.
func ParseRate(s string) (Rate, error) {
	count, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not count/duration, e.g. 3/10m", s)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 10000 {
		return Rate{}, fmt.Errorf("%q: count must be a whole number from 1 to 10000", s)
	}
	d, err := ParseDuration(per)
	if err != nil {
		return Rate{}, fmt.Errorf("%q: %w", s, err)
	}
	return Rate{Count: n, Per: d}, nil
}

const (
	day = 24 * time.Hour
	// maxDuration bounds every duration the operator or an admin can set.
	maxDuration = 3650 * day
)

var durationRE = regexp.MustCompile(`^([0-9]+d)?(([0-9]+h)?([0-9]+m)?([0-9]+s)?)$`)

// ParseDuration parses a positive duration of days, hours, minutes and seconds, in
// that order, e.g. 90d, 24h, 10m, 1d12h, 90s.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := durationRE.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 10m, 24h or 90d", s)
	}
	var d time.Duration
	if m[1] != "" {
		days, err := strconv.ParseInt(strings.TrimSuffix(m[1], "d"), 10, 64)
		if err != nil || days > int64(maxDuration/day) {
			return 0, fmt.Errorf("%q is longer than %d days", s, maxDuration/day)
		}
		d = time.Duration(days) * day
	}
	if m[2] != "" {
		rest, err := time.ParseDuration(m[2])
		if err != nil || rest > maxDuration {
			return 0, fmt.Errorf("%q is longer than %d days", s, maxDuration/day)
		}
		d += rest
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%q must be longer than zero", s)
	case d > maxDuration:
		return 0, fmt.Errorf("%q is longer than %d days", s, maxDuration/day)
	case d%time.Second != 0:
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, with the largest units
// first: 10m, 24h, 1d12h, 90d.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
