package reporting

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/redishealth"
)

// Options configure a Service.
type Options struct {
	// RallyHere is nil when the operator did not configure RallyHere.
	RallyHere RallyHereAPI
	// RallyHereFallback is the player UUID reported as the source when a reporter has
	// no linked account; empty refuses such reporters.
	RallyHereFallback string

	// Bungie is nil when the operator did not configure Destiny 2.
	Bungie BungieAPI
	// BungieMode is BungieLink or BungieAPIMode; BungieWeb the site the report links
	// point to.
	BungieMode, BungieWeb string
	// Links keeps reporters' Bungie.net accounts (api mode; nil otherwise).
	Links *Links

	// CDNHosts are the only hosts evidence is taken from (DISCORD_CDN_HOSTS; nil:
	// Discord's).
	CDNHosts []string

	// Webhook is nil unless the operator set WEBHOOK_URL; WebhookTitle is how players
	// see the game (WEBHOOK_GAME_NAME).
	Webhook      WebhookAPI
	WebhookTitle string

	DefaultLimit, MaxLimit config.Rate
	// GlobalLimit applies to each reporter across every server.
	GlobalLimit config.Rate
	Retention   time.Duration

	// WaitReplicas is how many replicas must confirm a stored report (Redis WAIT)
	// before it counts as stored; WaitTimeout bounds that wait (default 1 s).
	WaitReplicas int
	WaitTimeout  time.Duration
	// Health is the monitor of Redis's availability (nil: none; failures are then
	// logged one by one).
	Health *redishealth.Monitor

	Logger     zerolog.Logger
	Registerer prometheus.Registerer
}

// Service files reports: it applies the limits, resolves players upstream, stores
// each report and delivers it.
type Service struct {
	Settings *SettingsStore
	Limits   *Limiter
	Reports  *Store
	// Manifest has the Destiny report reasons; Links the reporters' Bungie.net
	// accounts (api mode only, else nil).
	Manifest *Manifest
	Links    *Links

	rdb        redis.UniversalClient
	publishers map[Game]Publisher
	cdn        CDN
	queues     map[Game]*queue
	replicas   replicas
	// file is fileLua, with take and the replay mark; moderate and bar are
	// moderators' scripts (moderatorScript).
	file, moderate, bar *redis.Script
	// choose, chooseRecord and recordOf are a reporter's choices' (choice.go).
	choose, chooseRecord, recordOf *redis.Script
	health                         *redishealth.Monitor
	global                         config.Rate
	bungieMode                     string
	log                            zerolog.Logger
	metrics                        metrics
}

// NewService returns a Service storing everything in rdb.
func NewService(rdb redis.UniversalClient, o Options) *Service {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Service{
		Settings:     NewSettingsStore(rdb, o.DefaultLimit, o.MaxLimit),
		Limits:       NewLimiter(rdb),
		Reports:      NewStore(rdb, o.Retention),
		Manifest:     NewManifest(o.Bungie, o.Logger),
		Links:        o.Links,
		rdb:          rdb,
		bungieMode:   o.BungieMode,
		global:       o.GlobalLimit,
		log:          o.Logger,
		metrics:      newMetrics(reg),
		health:       o.Health,
		publishers:   map[Game]Publisher{},
		cdn:          NewCDN(o.CDNHosts),
		queues:       map[Game]*queue{},
		file:         markedScript(takeLua + runFn + fileLua),
		moderate:     moderatorScript(moderateBody),
		bar:          moderatorScript(barBody),
		choose:       markedScript(chooseLua),
		chooseRecord: redis.NewScript(chooseRecordLua),
		recordOf:     markedScript(recordOfLua),
	}
	if o.RallyHere != nil {
		s.publishers[RallyHere] = &rallyHere{api: o.RallyHere, fallback: o.RallyHereFallback}
	}
	if o.Bungie != nil {
		s.publishers[Destiny2] = &destiny{api: o.Bungie, mode: o.BungieMode, web: o.BungieWeb, links: o.Links}
	}
	if o.Webhook != nil {
		s.publishers[Webhook] = &studio{api: o.Webhook, title: o.WebhookTitle}
	}
	s.replicas = replicas{rdb: rdb, n: o.WaitReplicas, timeout: o.WaitTimeout, log: o.Logger, warned: new(atomic.Int64)}
	if s.replicas.timeout <= 0 {
		s.replicas.timeout = time.Second
	}
	for g := range s.publishers {
		s.queues[g] = newQueue(rdb, g)
	}
	return s
}

// Games are the games the bot knows, in the order they are shown.
func Games() []Game { return []Game{RallyHere, Webhook, Destiny2} }

// BungieMode is how Destiny reports reach Bungie: BungieLink or BungieAPIMode.
func (s *Service) BungieMode() string { return s.bungieMode }

// Draft is a report a reporter submitted and the bot validated, not filed yet.
type Draft struct {
	// ID becomes the report's id; it is chosen when the reporter submits, so a draft
	// kept for a choice (several players with one name) files under the same id.
	ID           string     `json:"id"`
	Game         Game       `json:"game"`
	GuildID      string     `json:"guild_id"`
	ChannelID    string     `json:"channel_id"`
	ReporterID   string     `json:"reporter_id"`
	ReporterName string     `json:"reporter_name"`
	Target       Target     `json:"target"`
	Reason       Reason     `json:"reason"`
	Description  string     `json:"description,omitempty"`
	MatchID      string     `json:"match_id,omitempty"`
	Evidence     []Evidence `json:"evidence,omitempty"`
	// ActivityID is the Destiny activity the report is about.
	ActivityID string `json:"activity_id,omitempty"`
	// ReporterLocale and GuildLocale are the interaction's Discord locales (Report).
	ReporterLocale string `json:"reporter_locale,omitempty"`
	GuildLocale    string `json:"guild_locale,omitempty"`

	// Filled by Resolve.
	SourcePlayer   string `json:"source_player,omitempty"`
	SourceFallback bool   `json:"source_fallback,omitempty"`
	TargetPlayer   string `json:"target_player,omitempty"`
}

// ErrGameOff: the game is not configured by the operator.
var ErrGameOff = errors.New("game not configured")

// SettingsAndLimit reads a server's settings and tells, without spending anything,
// whether reporterID may report there now: one round trip, on the path of every
// answer to a report, which carries ctx's replay mark if no call did yet.
func (s *Service) SettingsAndLimit(ctx context.Context, guildID, reporterID string) (Settings, Decision, error) {
	keys := s.Limits.keys(s.limitRequest(Settings{GuildID: guildID}, reporterID))
	var h *redis.MapStringStringCmd
	var vals *redis.SliceCmd
	if err := readMarked(ctx, s.rdb, func(p redis.Pipeliner) {
		h = p.HGetAll(ctx, settingsKey(guildID))
		vals = p.MGet(ctx, keys...)
	}); err != nil {
		return Settings{}, Decision{}, fmt.Errorf("reading the settings and limit of %s in %s: %w", reporterID, guildID, err)
	}
	st, err := s.Settings.decode(guildID, h.Val())
	if err != nil {
		return Settings{}, Decision{}, err
	}
	return st, decide(s.limitRequest(st, reporterID), vals.Val()), nil
}

func (s *Service) limitRequest(st Settings, reporterID string) LimitRequest {
	return LimitRequest{ReporterID: reporterID, GuildID: st.GuildID, Guild: st.Limit, Global: s.global}
}

// ErrNotReporter is returned when someone other than the reporter acts on a report
// only its reporter may.
var ErrNotReporter = errors.New("not the reporter")

// fileLimit is the limit request of filing: every rule of SPEC §4, the duplicate one
// keyed by what the reporter named (a player id as itself; the pipeline checks again
// by player once a name or member is looked up).
func (s *Service) fileLimit(st Settings, reporterID string, g Game, t Target, activity string) LimitRequest {
	lr := s.limitRequest(st, reporterID)
	lr.Target, lr.DedupeFor = filingTarget(g, t, activity), dedupeFor
	return lr
}
