package config

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Var is one environment variable the bot reads.
type Var struct {
	Name string
	// Default is the value used when the variable is unset or empty, as it is
	// written in the environment; "" means the setting is off or unset.
	Default string
	// Required variables have no default: the bot does not start without them.
	Required bool
	// Meaning says what the variable is for, in a line.
	Meaning string
	// Section groups the variables, as in .env.example.
	Section string
}

// vars is every variable Load reads, with its default and meaning: the one list that
// Load takes its defaults from and --help prints. .env.example and the README's
// table name the same variables (a test keeps them so). Never modified.
var vars = []Var{
	{Section: "Discord", Name: "DISCORD_TOKEN", Required: true, Meaning: "bot token (Developer Portal → Bot → Reset Token)"},
	{Section: "Discord", Name: "DISCORD_APPLICATION_ID", Required: true, Meaning: "application id (Developer Portal → General Information)"},
	{Section: "Discord", Name: "DISCORD_PUBLIC_KEY", Meaning: "hex Ed25519 public key (General Information); enables POST /interactions"},
	{Section: "Discord", Name: "DISCORD_GATEWAY", Default: "true", Meaning: "open the gateway session (with false, DISCORD_PUBLIC_KEY is required)"},
	{Section: "Discord", Name: "DISCORD_API_URL", Default: "https://discord.com/api/v10", Meaning: "REST base URL (a REST proxy such as nirn-proxy goes here)"},
	{Section: "Discord", Name: "DISCORD_GUILD_ID", Meaning: "register the commands in this server only (instant); unset: globally"},
	{Section: "Discord", Name: "DISCORD_SHARD_ID", Default: "0", Meaning: "this process's gateway shard"},
	{Section: "Discord", Name: "DISCORD_SHARD_COUNT", Default: "1", Meaning: "the number of gateway shards"},

	{Section: "HTTP", Name: "HTTP_ADDR", Default: ":8080", Meaning: "listen address of /interactions, /oauth/bungie/…, /healthz, /readyz (and /metrics)"},
	{Section: "HTTP", Name: "METRICS_ADDR", Meaning: "when set, /metrics is served on this (private) address only, not on HTTP_ADDR"},
	{Section: "HTTP", Name: "PUBLIC_URL", Meaning: "the bot's external base URL, e.g. https://reportbot.example.com (required in Bungie api mode)"},

	{Section: "Storage", Name: "REDIS_URL", Meaning: "redis:// or rediss:// URL; unset: an embedded in-memory store that loses everything on exit"},
	{Section: "Storage", Name: "REDIS_MODE", Default: "single", Meaning: "single, cluster or sentinel (how REDIS_URL is read)"},
	{Section: "Storage", Name: "REDIS_WAIT_REPLICAS", Default: "0", Meaning: "replicas that must confirm a stored report (WAIT) before the reporter is told"},

	{Section: "Evidence", Name: "DISCORD_CDN_HOSTS", Default: "cdn.discordapp.com,media.discordapp.net", Meaning: "the only hosts evidence files are downloaded from (comma-separated)"},

	{Section: "RallyHere", Name: "RALLYHERE_API_URL", Meaning: "environment base URL; RallyHere is on when it and both credentials are set"},
	{Section: "RallyHere", Name: "RALLYHERE_CLIENT_ID", Meaning: "client credentials id (user:platform:read, sanction:report:create:any)"},
	{Section: "RallyHere", Name: "RALLYHERE_CLIENT_SECRET", Meaning: "client credentials secret"},
	{Section: "RallyHere", Name: "RALLYHERE_FALLBACK_SOURCE_PLAYER", Meaning: "player UUID to report as for members with no linked account; unset: they are asked to link"},

	{Section: "Webhook", Name: "WEBHOOK_URL", Meaning: "a studio's backend that takes the player-name reports, signed (instead of RallyHere)"},
	{Section: "Webhook", Name: "WEBHOOK_SECRET", Meaning: "HMAC-SHA256 key of X-Reportbot-Signature (openssl rand -hex 32); required with WEBHOOK_URL"},
	{Section: "Webhook", Name: "WEBHOOK_GAME_NAME", Default: "the game", Meaning: "how players see the game in the bot's messages"},

	{Section: "Destiny 2", Name: "BUNGIE_API_KEY", Meaning: "Bungie.net API key; Destiny 2 is on when it is set"},
	{Section: "Destiny 2", Name: "BUNGIE_REPORT_MODE", Default: "link", Meaning: "link (the reporter files on Bungie's page) or api (the bot files, needs BnetWrite)"},
	{Section: "Destiny 2", Name: "BUNGIE_API_URL", Default: "https://www.bungie.net/Platform", Meaning: "Bungie.net platform"},
	{Section: "Destiny 2", Name: "BUNGIE_STATS_URL", Default: "https://stats.bungie.net/Platform", Meaning: "where activity reports (PGCRs) are read"},
	{Section: "Destiny 2", Name: "BUNGIE_WEB_URL", Default: "https://www.bungie.net", Meaning: "base of the report-page links"},
	{Section: "Destiny 2", Name: "BUNGIE_AUTHORIZE_URL", Default: "https://www.bungie.net/en/OAuth/Authorize", Meaning: "Bungie's OAuth sign-in page (api mode)"},
	{Section: "Destiny 2", Name: "BUNGIE_CLIENT_ID", Meaning: "confidential OAuth client id (api mode)"},
	{Section: "Destiny 2", Name: "BUNGIE_CLIENT_SECRET", Meaning: "confidential OAuth client secret (api mode)"},
	{Section: "Destiny 2", Name: "TOKEN_KEY", Meaning: "32 random bytes in base64 that encrypt the reporters' Bungie tokens (api mode)"},

	{Section: "Limits and retention", Name: "REPORT_LIMIT", Default: "3/10m", Meaning: "reports per reporter per server (admins may change it within REPORT_LIMIT_MAX)"},
	{Section: "Limits and retention", Name: "REPORT_LIMIT_MAX", Default: "10/10m", Meaning: "the loosest limit a server admin may set"},
	{Section: "Limits and retention", Name: "REPORT_LIMIT_GLOBAL", Default: "20/24h", Meaning: "reports per reporter across every server"},
	{Section: "Limits and retention", Name: "REPORT_RETENTION", Default: "90d", Meaning: "how long report records are kept (d, h, m, s)"},

	{Section: "Logs", Name: "LOG_LEVEL", Default: "info", Meaning: "trace, debug, info, warn or error"},
	{Section: "Logs", Name: "LOG_FORMAT", Default: "json", Meaning: "json, or console for humans"},
}

// Vars returns every variable the bot reads, in the order of .env.example.
func Vars() []Var { return slices.Clone(vars) }

// lookup returns the variable called name. Load reads no variable that is not in
// vars: a name missing there is a bug, found by any test that calls Load.
func lookup(name string) Var {
	for _, v := range vars {
		if v.Name == name {
			return v
		}
	}
	panic("config: " + name + " is read but not listed in vars (config/vars.go)")
}

// WriteVars writes every variable to w, by section: its name with its default as
// .env takes it (NAME=default), or "(required)" or "(unset)", then its meaning. It
// is the environment part of --help.
func WriteVars(w io.Writer) error {
	var b strings.Builder
	section := ""
	for _, v := range vars {
		if v.Section != section {
			section = v.Section
			fmt.Fprintf(&b, "\n%s:\n", section)
		}
		switch {
		case v.Required:
			fmt.Fprintf(&b, "  %s (required)\n", v.Name)
		case v.Default == "":
			fmt.Fprintf(&b, "  %s (unset)\n", v.Name)
		default:
			fmt.Fprintf(&b, "  %s=%s\n", v.Name, v.Default)
		}
		fmt.Fprintf(&b, "      %s\n", v.Meaning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
