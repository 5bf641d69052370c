// Package config reads the operator's environment, once, into a typed Config and
// validates it. Every bad value is reported, all at once, as one line naming the
// variable and what is wrong with it, and the bot does not start.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Config is everything the operator can set. Zero values of optional sections mean
// "off".
type Config struct {
	Discord Discord

	// HTTPAddr is where /interactions, /healthz, /readyz and /metrics are served.
	HTTPAddr string
	// MetricsAddr, when set, is where /metrics is served instead of HTTPAddr.
	MetricsAddr string
	// PublicURL is the bot's external base URL, used to build OAuth redirects.
	PublicURL *url.URL
	// Redis is how the bot reaches Redis; its URL is empty when the bot should run
	// on an embedded in-memory store.
	Redis Redis
	// CDNHosts are the only hosts evidence files are downloaded from.
	CDNHosts []string

	// RallyHere is nil unless RALLYHERE_API_URL, _CLIENT_ID and _CLIENT_SECRET are set.
	RallyHere *RallyHere
	// Bungie is nil unless BUNGIE_API_KEY is set.
	Bungie *Bungie
	// Webhook is nil unless WEBHOOK_URL is set.
	Webhook *Webhook

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

// Redis topologies (REDIS_MODE).
const (
	RedisSingle   = "single"
	RedisCluster  = "cluster"
	RedisSentinel = "sentinel"
)

// Redis is the Redis deployment the bot stores everything in. The URL is read by
// go-redis's own parser for the mode, so exactly one of Single, Cluster and Failover
// is set when URL is.
type Redis struct {
	// URL is REDIS_URL as given (it may hold a password: never log it).
	URL  string
	Mode string
	// Single, Cluster and Failover are the parsed URL: ParseURL, ParseClusterURL or
	// ParseFailoverURL.
	Single   *redis.Options
	Cluster  *redis.ClusterOptions
	Failover *redis.FailoverOptions
	// WaitReplicas is how many replicas must confirm a stored report (WAIT) before
	// the reporter is told it is stored.
	WaitReplicas int
}

// Addrs are the addresses in the URL, for log lines (never the URL: it may hold a
// password).
func (r Redis) Addrs() []string {
	switch {
	case r.Single != nil:
		return []string{r.Single.Addr}
	case r.Cluster != nil:
		return r.Cluster.Addrs
	case r.Failover != nil:
		return r.Failover.SentinelAddrs
	}
	return nil
}

// Webhook is a studio's own backend that receives each report as a signed request
// (SPEC §1.3).
type Webhook struct {
	URL    string
	Secret string
	// GameName is how players see the game in messages.
	GameName string
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

// Load reads the configuration through getenv (os.Getenv in production). A bad
// configuration returns Errors, with one line per bad or missing variable.
func Load(getenv func(string) string) (Config, error) {
	e := env{getenv: getenv}
	c := Config{
		Discord: Discord{
			Token:         e.required("DISCORD_TOKEN"),
			ApplicationID: e.snowflake("DISCORD_APPLICATION_ID", true),
			PublicKey:     e.publicKey("DISCORD_PUBLIC_KEY"),
			Gateway:       e.boolean("DISCORD_GATEWAY"),
			APIURL:        e.baseURL("DISCORD_API_URL"),
			GuildID:       e.snowflake("DISCORD_GUILD_ID", false),
			ShardID:       e.integer("DISCORD_SHARD_ID", 0),
			ShardCount:    e.integer("DISCORD_SHARD_COUNT", 1),
		},
		HTTPAddr:          e.addr("HTTP_ADDR"),
		MetricsAddr:       e.addr("METRICS_ADDR"),
		PublicURL:         e.optionalURL("PUBLIC_URL"),
		Redis:             e.redis(),
		CDNHosts:          e.hosts("DISCORD_CDN_HOSTS"),
		RallyHere:         e.rallyHere(),
		Bungie:            e.bungie(),
		Webhook:           e.webhook(),
		ReportLimit:       e.rate("REPORT_LIMIT"),
		ReportLimitMax:    e.rate("REPORT_LIMIT_MAX"),
		ReportLimitGlobal: e.rate("REPORT_LIMIT_GLOBAL"),
		Retention:         e.duration("REPORT_RETENTION"),
		LogLevel:          e.logLevel("LOG_LEVEL"),
		LogFormat:         e.oneOf("LOG_FORMAT", "json", "console"),
	}
	// Rules between variables, checked only when each variable read well.
	if !e.failed("DISCORD_SHARD_ID") && !e.failed("DISCORD_SHARD_COUNT") && c.Discord.ShardID >= c.Discord.ShardCount {
		e.fail("DISCORD_SHARD_ID", "%d is not below DISCORD_SHARD_COUNT %d", c.Discord.ShardID, c.Discord.ShardCount)
	}
	if !e.failed("DISCORD_GATEWAY") && !e.failed("DISCORD_PUBLIC_KEY") && !c.Discord.Gateway && c.Discord.PublicKey == nil {
		e.fail("DISCORD_PUBLIC_KEY", "required when DISCORD_GATEWAY=false, or the bot receives no interactions")
	}
	if !e.failed("REPORT_LIMIT") && !e.failed("REPORT_LIMIT_MAX") && !c.ReportLimit.Within(c.ReportLimitMax) {
		e.fail("REPORT_LIMIT", "%s is looser than REPORT_LIMIT_MAX %s", c.ReportLimit, c.ReportLimitMax)
	}
	if c.Bungie != nil && c.Bungie.Mode == ModeAPI && c.PublicURL == nil && !e.failed("PUBLIC_URL") {
		e.fail("PUBLIC_URL", "required when BUNGIE_REPORT_MODE=api, for the OAuth redirect")
	}
	if c.Webhook != nil && c.RallyHere != nil {
		e.fail("WEBHOOK_URL", "set together with RALLYHERE_API_URL: both take the player-name reports, so set one or the other")
	}
	if c.Redis.WaitReplicas > 0 && c.Redis.URL == "" {
		e.fail("REDIS_WAIT_REPLICAS", "needs REDIS_URL: the embedded store has no replicas")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr {
		e.fail("METRICS_ADDR", "is HTTP_ADDR; give it an address of its own (or leave it empty to serve /metrics on HTTP_ADDR)")
	}
	if len(e.errs) > 0 {
		return Config{}, e.errs
	}
	return c, nil
}

// HTTPAddr reads HTTP_ADDR alone, as Load does, for `reportbot healthcheck`: it finds
// the bot whatever else the environment holds.
func HTTPAddr(getenv func(string) string) (string, error) {
	e := env{getenv: getenv}
	addr := e.addr("HTTP_ADDR")
	if len(e.errs) > 0 {
		return "", e.errs
	}
	return addr, nil
}

// Errors are the problems of a configuration, one per bad or missing variable, in
// the order the variables are read.
type Errors []VarError

// VarError is what is wrong with one variable.
type VarError struct {
	Name    string
	Problem string
}

func (e VarError) Error() string { return e.Name + ": " + e.Problem }

// Error is every problem, one line each.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, v := range e {
		lines[i] = v.Error()
	}
	return strings.Join(lines, "\n")
}

// env collects every error while reading variables, so Load reads like a table and
// an operator sees all that is wrong at once.
type env struct {
	getenv func(string) string
	errs   Errors
}

// fail records what is wrong with variable name; a variable is reported once.
func (e *env) fail(name, format string, args ...any) {
	if !e.failed(name) {
		e.errs = append(e.errs, VarError{Name: name, Problem: fmt.Sprintf(format, args...)})
	}
}

// failed reports whether variable name was found bad.
func (e *env) failed(name string) bool {
	for _, v := range e.errs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// get reads a variable of the list in vars.go as given, trimmed.
func (e *env) get(name string) string { return strings.TrimSpace(e.getenv(lookup(name).Name)) }

// str reads a variable, or its default (vars.go) when it is unset or empty.
func (e *env) str(name string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return lookup(name).Default
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
	if _, err := voied.NewExpandedPublicKey(voied.PublicKey(b)); err != nil {
		e.fail(name, "not an Ed25519 public key (no point of the curve has it): copy the application's Public Key again")
		return nil
	}
	return ed25519.PublicKey(b)
}

func (e *env) boolean(name string) bool {
	v := e.str(name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "%q is not true or false", v)
	}
	return b
}

func (e *env) integer(name string, min int) int {
	v := e.str(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		e.fail(name, "%q is not a whole number of at least %d", v, min)
	}
	return n
}

func (e *env) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(e.str(name))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return lookup(name).Default
}

func (e *env) logLevel(name string) zerolog.Level {
	v := e.oneOf(name, "trace", "debug", "info", "warn", "error")
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

func (e *env) baseURL(name string) string {
	u := e.parseURL(name, e.str(name))
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

// redis reads REDIS_URL with go-redis's parser for REDIS_MODE.
func (e *env) redis() Redis {
	r := Redis{
		URL:          e.get("REDIS_URL"),
		Mode:         e.oneOf("REDIS_MODE", RedisSingle, RedisCluster, RedisSentinel),
		WaitReplicas: e.integer("REDIS_WAIT_REPLICAS", 0),
	}
	if r.URL == "" {
		if e.get("REDIS_MODE") != "" && r.Mode != RedisSingle {
			e.fail("REDIS_URL", "required with REDIS_MODE=%s", r.Mode)
		}
		return r
	}
	var err error
	switch r.Mode {
	case RedisCluster:
		r.Cluster, err = redis.ParseClusterURL(r.URL)
	case RedisSentinel:
		r.Failover, err = redis.ParseFailoverURL(r.URL)
		if err == nil && r.Failover.MasterName == "" {
			err = fmt.Errorf("no master_name (redis://sentinel:26379?master_name=mymaster&addr=other-sentinel:26379)")
		}
	default:
		r.Single, err = redis.ParseURL(r.URL)
	}
	if err != nil {
		// url.Parse's errors quote the whole URL, password and all: keep only what
		// is wrong. go-redis's own messages name the part, never the password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.fail("REDIS_URL", "not a %s URL: %s", r.Mode, strings.TrimPrefix(err.Error(), "redis: "))
	}
	return r
}

// addr reads a listen address, host:port (the host may be empty).
func (e *env) addr(name string) string {
	v := e.str(name)
	if v == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		e.fail(name, "%q is not a listen address like :8080 or 127.0.0.1:9090", v)
	}
	return v
}

// hosts reads a comma-separated list of host names (or host:port).
func (e *env) hosts(name string) []string {
	var out []string
	for _, h := range strings.Split(e.str(name), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/@?# ") {
			e.fail(name, "%q is not a host name", h)
			return nil
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		e.fail(name, "empty: give at least one host, e.g. cdn.discordapp.com")
	}
	return out
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

func (e *env) webhook() *Webhook {
	raw, secret := e.get("WEBHOOK_URL"), e.get("WEBHOOK_SECRET")
	name := e.str("WEBHOOK_GAME_NAME")
	if raw == "" {
		if secret != "" {
			e.fail("WEBHOOK_URL", "required when WEBHOOK_SECRET is set")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
		e.fail("WEBHOOK_URL", "not an absolute https URL without credentials (http only to localhost)")
		return nil
	}
	switch {
	case secret == "":
		e.fail("WEBHOOK_SECRET", "required with WEBHOOK_URL (a long random string: openssl rand -hex 32)")
	case len(secret) < 16:
		e.fail("WEBHOOK_SECRET", "shorter than 16 characters; use a long random string (openssl rand -hex 32)")
	}
	if len([]rune(name)) > 40 {
		e.fail("WEBHOOK_GAME_NAME", "longer than 40 characters")
	}
	return &Webhook{URL: u.String(), Secret: secret, GameName: name}
}

// loopback reports whether host is this machine: plain http is only for tests.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *env) bungie() *Bungie {
	key := e.get("BUNGIE_API_KEY")
	mode := e.oneOf("BUNGIE_REPORT_MODE", ModeLink, ModeAPI)
	b := &Bungie{
		APIKey:       key,
		APIURL:       e.baseURL("BUNGIE_API_URL"),
		StatsURL:     e.baseURL("BUNGIE_STATS_URL"),
		WebURL:       e.baseURL("BUNGIE_WEB_URL"),
		AuthorizeURL: e.baseURL("BUNGIE_AUTHORIZE_URL"),
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

func (e *env) rate(name string) Rate {
	r, err := ParseRate(e.str(name))
	if err != nil {
		e.fail(name, "%v", err)
	}
	return r
}

func (e *env) duration(name string) time.Duration {
	d, err := ParseDuration(e.str(name))
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
