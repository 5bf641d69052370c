package reporting

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	health     *redishealth.Monitor
	global     config.Rate
	bungieMode string
	log        zerolog.Logger
	metrics    metrics
}

// NewService returns a Service storing everything in rdb.
func NewService(rdb redis.UniversalClient, o Options) *Service {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Service{
		Settings:   NewSettingsStore(rdb, o.DefaultLimit, o.MaxLimit),
		Limits:     NewLimiter(rdb),
		Reports:    NewStore(rdb, o.Retention),
		Manifest:   NewManifest(o.Bungie, o.Logger),
		Links:      o.Links,
		rdb:        rdb,
		bungieMode: o.BungieMode,
		global:     o.GlobalLimit,
		log:        o.Logger,
		metrics:    newMetrics(reg),
		health:     o.Health,
		publishers: map[Game]Publisher{},
		cdn:        NewCDN(o.CDNHosts),
		queues:     map[Game]*queue{},
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
// answer to a report.
func (s *Service) SettingsAndLimit(ctx context.Context, guildID, reporterID string) (Settings, Decision, error) {
	keys := s.Limits.keys(s.limitRequest(Settings{GuildID: guildID}, reporterID))
	var h *redis.MapStringStringCmd
	var vals *redis.SliceCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, guildKey(guildID, "settings"))
		vals = p.MGet(ctx, keys...)
		return nil
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

// Reply is how the bot can still reach a reporter's answer: the interaction's token
// (valid until Until) and id (on which a choice the reporter makes arrives).
type Reply struct {
	InteractionID string
	Token         string
	Until         time.Time
}

// File spends the reporter's limit (the server's, the global one, and the one per
// target) and stores the report and queues it, in the server whose settings are st.
// It runs before the reporter is answered at all, so an answered report is never
// lost: players are looked up by the pipeline. A *LimitError means nothing was stored.
func (s *Service) File(ctx context.Context, st Settings, d *Draft, reply Reply) (*Report, error) {
	lr := s.fileLimit(st, d.ReporterID, d.Game, d.Target, d.ActivityID)
	dec, err := s.Limits.Take(ctx, lr, d.ID)
	if err != nil {
		return nil, err
	}
	s.metrics.limitDecision(dec)
	if !dec.Allowed {
		return nil, &LimitError{Decision: dec}
	}
	now := time.Now().UTC()
	r := &Report{
		ID: d.ID, Game: d.Game, Delivery: StatusQueued,
		GuildID: d.GuildID, ChannelID: d.ChannelID, ReporterID: d.ReporterID, ReporterName: d.ReporterName,
		ReporterLocale: d.ReporterLocale, GuildLocale: d.GuildLocale,
		Target: d.Target, TargetPlayer: d.TargetPlayer, SourcePlayer: d.SourcePlayer, SourceFallback: Flag(d.SourceFallback),
		ActivityID: d.ActivityID, Reason: d.Reason, Description: d.Description, MatchID: d.MatchID, Evidence: d.Evidence,
		CreatedAt: At(now), UpdatedAt: At(now),
	}
	if d.Target.Kind == TargetUUID && r.TargetPlayer == "" {
		r.TargetPlayer = d.Target.Value
	}
	if err = s.store(ctx, r, reply); err != nil && !errors.Is(err, ErrNotReplicated) {
		// Whatever part was written is undone; the reporter keeps their slot.
		undo := context.WithoutCancel(ctx)
		s.rdb.Del(undo, reportKey(r.ID), tokenKey(r.ID))
		if rerr := s.Limits.Refund(undo, lr, d.ID); rerr != nil {
			s.log.Error().Err(rerr).Str("report_id", d.ID).Msg("refunding a report that could not be stored")
		}
		return nil, fmt.Errorf("storing report %s: %w", r.ID, err)
	}
	if err != nil {
		s.metrics.reports.WithLabelValues(string(r.Game), "unconfirmed").Inc()
		return r, fmt.Errorf("storing report %s: %w", r.ID, err)
	}
	s.metrics.reports.WithLabelValues(string(r.Game), "stored").Inc()
	return r, nil
}

// store writes a new report: its record, its reporter's token, the interaction that
// filed it, the indexes, and its queue entry. On one Redis node that is one
// pipeline. On Redis Cluster the record and the queue entry are in different slots,
// so on different nodes: the pipeline writes them at once, and a worker that reads
// the entry before the record lands looks again a moment later (recordGrace).
//
// With WaitReplicas, the record and then the queue entry are each written on their
// master's connection and followed by WAIT; ErrNotReplicated says the replicas did
// not confirm in time (the report is stored on the primary all the same).
func (s *Service) store(ctx context.Context, r *Report, reply Reply) error {
	q := s.queues[r.Game]
	if q == nil {
		return fmt.Errorf("%w: %s", ErrGameOff, r.Game)
	}
	tokenTTL := time.Until(reply.Until)
	indexes := func(p redis.Pipeliner) {
		if reply.InteractionID != "" {
			p.Set(ctx, interactionKey(reply.InteractionID), r.ID, max(tokenTTL, time.Second))
		}
		s.Reports.index(ctx, p, r)
	}
	if s.replicas.n == 0 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			s.Reports.create(ctx, p, r, reply.Token, tokenTTL)
			indexes(p)
			return q.add(ctx, p, r.ID)
		})
		return err
	}
	var unconfirmed error
	for _, step := range []struct {
		key   string
		write func(p redis.Pipeliner)
	}{
		{reportKey(r.ID), func(p redis.Pipeliner) { s.Reports.create(ctx, p, r, reply.Token, tokenTTL) }},
		{q.stream, func(p redis.Pipeliner) { _ = q.add(ctx, p, r.ID) }},
	} {
		err := s.replicas.write(ctx, step.key, step.write)
		if errors.Is(err, ErrNotReplicated) {
			unconfirmed = err
		} else if err != nil {
			return err
		}
	}
	// The indexes only serve lists: a failover that loses one loses no report.
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { indexes(p); return nil }); err != nil {
		s.log.Warn().Err(err).Str("report_id", r.ID).Msg("indexing a stored report")
	}
	return unconfirmed
}

// ReportOf returns the id of the report filed from the interaction with id, while its
// token lasts.
func (s *Service) ReportOf(ctx context.Context, interactionID string) (string, error) {
	id, err := s.rdb.Get(ctx, interactionKey(interactionID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNoReport
	}
	if err != nil {
		return "", fmt.Errorf("finding the report of interaction %s: %w", interactionID, err)
	}
	return id, nil
}

// ErrNotChoosing is returned for a choice about a report that is not waiting for one
// (already chosen, or given up).
var ErrNotChoosing = errors.New("the report is not waiting for a choice")

// Choose records which of the players sharing a name the reporter meant, and sends
// the report on its way. The choice must be one of those offered.
func (s *Service) Choose(ctx context.Context, reportID, reporterID, player string) (*Report, error) {
	r, err := s.Reports.Get(ctx, reportID)
	if err != nil {
		return nil, err
	}
	switch {
	case r.ReporterID != reporterID:
		return nil, ErrNotReporter
	case r.Delivery != StatusQueued || r.Fault != FaultChoosing:
		return nil, ErrNotChoosing
	}
	i := slices.IndexFunc(r.Candidates, func(c Candidate) bool { return c.ID == player })
	if i < 0 {
		return nil, &InputError{Field: "player", Problem: "not_offered"}
	}
	if t := r.Candidates[i].Target; t.Kind != "" {
		r.Target = t
	}
	r.TargetPlayer, r.Fault, r.FaultUnfiled, r.Candidates = player, "", false, nil
	if err := s.Reports.set(ctx, r.ID, map[string]any{fTargetPlayer: player, fTarget: r.Target, fFault: "",
		fFaultUnfiled: "", fCandidates: "", fNextAttempt: ""}); err != nil {
		return nil, err
	}
	q, ok := s.queues[r.Game]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrGameOff, r.Game)
	}
	if err := q.add(ctx, nil, r.ID); err != nil {
		return nil, err
	}
	return r, nil
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

// ErrNotReplicated is returned when a write was made on the primary but fewer replicas
// than REDIS_WAIT_REPLICAS confirmed it within the wait.
var ErrNotReplicated = errors.New("not confirmed by enough replicas")

// replicas makes writes that must survive the loss of a primary: with n > 0, they are
// sent on the connection of the master that owns their key and followed by WAIT n.
type replicas struct {
	rdb     redis.UniversalClient
	n       int
	timeout time.Duration
	log     zerolog.Logger
	// warned is when an unconfirmed write was last logged (unix ns): while replicas
	// are missing, every write is unconfirmed, and once a minute says so.
	warned *atomic.Int64
}

// write runs fn's commands in one pipeline on the master of key's slot, then waits
// until n replicas have them (WAIT counts a connection's own writes, so it must go
// on the same connection).
func (rp replicas) write(ctx context.Context, key string, fn func(p redis.Pipeliner)) error {
	var conn redis.Cmdable = rp.rdb
	if cc, ok := rp.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return fmt.Errorf("finding the master of %s: %w", key, err)
		}
		conn = node
	}
	var wait *redis.Cmd
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		fn(p)
		if rp.n > 0 {
			wait = p.Do(ctx, "WAIT", rp.n, rp.timeout.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if wait == nil {
		return nil
	}
	got, err := wait.Int()
	if err != nil {
		return fmt.Errorf("waiting for replicas: %w", err)
	}
	if got < rp.n {
		if last := rp.warned.Load(); time.Since(time.Unix(0, last)) > time.Minute && rp.warned.CompareAndSwap(last, time.Now().UnixNano()) {
			rp.log.Warn().Int("replicas", got).Int("wanted", rp.n).Msg("writes are not confirmed by enough replicas in time (REDIS_WAIT_REPLICAS); logged once a minute while it lasts")
		}
		return fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, got, rp.n, rp.timeout)
	}
	return nil
}
