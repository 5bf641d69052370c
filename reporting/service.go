package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/rallyhere"
)

// RallyHereAPI is what the service needs of a RallyHere environment.
type RallyHereAPI interface {
	PlayerByPlatform(ctx context.Context, platform, platformUserID string) (string, error)
	PlayersByName(ctx context.Context, name string) ([]string, error)
	CreateReport(ctx context.Context, targetUUID string, r rallyhere.ReportRequest) (rallyhere.Report, error)
	ReportsAgainst(ctx context.Context, targetUUID, cursor string, pageSize int) (rallyhere.ReportsPage, error)
}

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

	DefaultLimit, MaxLimit config.Rate
	// GlobalLimit applies to each reporter across every server.
	GlobalLimit config.Rate
	Retention   time.Duration

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
	global     config.Rate
	rallyHere  RallyHereAPI
	rhFallback string
	bungie     BungieAPI
	bungieMode string
	bungieWeb  string
	log        zerolog.Logger
	metrics    metrics
}

// NewService returns a Service storing everything in rdb.
func NewService(rdb redis.UniversalClient, o Options) *Service {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Service{
		Settings:   NewSettingsStore(rdb, o.DefaultLimit, o.MaxLimit),
		Limits:     NewLimiter(rdb),
		Reports:    NewStore(rdb, o.Retention),
		Manifest:   NewManifest(o.Bungie, o.Logger),
		Links:      o.Links,
		rdb:        rdb,
		bungie:     o.Bungie,
		bungieMode: o.BungieMode,
		bungieWeb:  o.BungieWeb,
		global:     o.GlobalLimit,
		rallyHere:  o.RallyHere,
		rhFallback: o.RallyHereFallback,
		log:        o.Logger,
		metrics:    newMetrics(reg),
	}
}

// Enabled reports whether the operator configured game g.
func (s *Service) Enabled(g Game) bool {
	switch g {
	case RallyHere:
		return s.rallyHere != nil
	case Destiny2:
		return s.bungie != nil
	}
	return false
}

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

// Errors of resolving players; each has its own message to the reporter.
var (
	// ErrReporterNotLinked: the reporter's Discord account is linked to no player.
	ErrReporterNotLinked = errors.New("reporter has no linked player")
	// ErrTargetNotLinked: the reported member's Discord account is linked to no player.
	ErrTargetNotLinked = errors.New("reported member has no linked player")
	// ErrPlayerNotFound: no player has the given name or id.
	ErrPlayerNotFound = errors.New("player not found")
	// ErrSelfReport: the reporter named themselves.
	ErrSelfReport = errors.New("reporter reported themselves")
	// ErrGameOff: the game is not configured by the operator.
	ErrGameOff = errors.New("game not configured")
)

// AmbiguousError is returned by Resolve when several players share the name given.
type AmbiguousError struct{ Players []string }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d players have that name", len(e.Players))
}

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
	var st Settings
	var err error
	if _, seeded := h.Val()[fieldReasons]; seeded {
		st, err = s.Settings.decode(guildID, h.Val())
	} else {
		st, err = s.Settings.Get(ctx, guildID) // first use: seeds the defaults
	}
	if err != nil {
		return Settings{}, Decision{}, err
	}
	return st, decide(s.limitRequest(st, reporterID), vals.Val()), nil
}

func (s *Service) limitRequest(st Settings, reporterID string) LimitRequest {
	return LimitRequest{ReporterID: reporterID, GuildID: st.GuildID, Guild: st.Limit, Global: s.global}
}

// Resolve finds the RallyHere players of d: the reporter's, through their linked
// Discord account or the operator's fallback, and the target's. It fills d's
// SourcePlayer and TargetPlayer.
func (s *Service) Resolve(ctx context.Context, d *Draft) error {
	if s.rallyHere == nil {
		return ErrGameOff
	}
	if d.SourcePlayer == "" {
		p, err := s.rallyHere.PlayerByPlatform(ctx, "Discord", d.ReporterID)
		switch {
		case rallyhere.IsCode(err, http.StatusNotFound, "user_not_found") && s.rhFallback != "":
			d.SourcePlayer, d.SourceFallback = s.rhFallback, true
		case rallyhere.IsCode(err, http.StatusNotFound, "user_not_found"):
			return ErrReporterNotLinked
		case err != nil:
			return fmt.Errorf("looking up reporter %s: %w", d.ReporterID, err)
		default:
			d.SourcePlayer = p
		}
	}
	if d.TargetPlayer == "" {
		switch d.Target.Kind {
		case TargetUUID:
			d.TargetPlayer = d.Target.Value
		case TargetMember:
			p, err := s.rallyHere.PlayerByPlatform(ctx, "Discord", d.Target.Value)
			if rallyhere.IsCode(err, http.StatusNotFound, "user_not_found") {
				return ErrTargetNotLinked
			}
			if err != nil {
				return fmt.Errorf("looking up member %s: %w", d.Target.Value, err)
			}
			d.TargetPlayer = p
		case TargetName:
			players, err := s.rallyHere.PlayersByName(ctx, d.Target.Value)
			if err != nil {
				return fmt.Errorf("looking up player %q: %w", d.Target.Value, err)
			}
			switch len(players) {
			case 0:
				return ErrPlayerNotFound
			case 1:
				d.TargetPlayer = players[0]
			default:
				return &AmbiguousError{Players: players}
			}
		}
	}
	if d.TargetPlayer == d.SourcePlayer && !d.SourceFallback {
		return ErrSelfReport
	}
	return nil
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
		Target: d.Target, TargetPlayer: d.TargetPlayer, SourcePlayer: d.SourcePlayer, SourceFallback: d.SourceFallback,
		ActivityID: d.ActivityID, Reason: d.Reason, Description: d.Description, MatchID: d.MatchID, Evidence: d.Evidence,
		CreatedAt: now, UpdatedAt: now,
	}
	if d.Target.Kind == TargetUUID && r.TargetPlayer == "" {
		r.TargetPlayer = d.Target.Value
	}
	if d.Game == Destiny2 {
		lr.Target = "" // the player is chosen later; the pipeline checks the rule then
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.Reports.create(ctx, p, r, reply.Token, time.Until(reply.Until))
		if reply.InteractionID != "" {
			p.Set(ctx, interactionKey(reply.InteractionID), r.ID, max(time.Until(reply.Until), time.Second))
		}
		p.XAdd(ctx, &redis.XAddArgs{Stream: queueStream, Values: []string{"id", r.ID}})
		return nil
	})
	if err != nil {
		// Whatever part was written is undone; the reporter keeps their slot.
		undo := context.WithoutCancel(ctx)
		s.rdb.Del(undo, reportKey(r.ID), tokenKey(r.ID))
		if rerr := s.Limits.Refund(undo, lr, d.ID); rerr != nil {
			s.log.Error().Err(rerr).Str("report_id", d.ID).Msg("refunding a report that could not be stored")
		}
		return nil, fmt.Errorf("storing report %s: %w", r.ID, err)
	}
	s.metrics.reports.WithLabelValues(string(r.Game), "stored").Inc()
	return r, nil
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
	if r.Game == Destiny2 {
		c := r.Candidates[i]
		r.Target = Target{Kind: TargetCharacter, Value: player, Label: c.Label, Class: c.Class, Team: c.Team}
	} else {
		r.Target.Label = r.Target.Value + " (" + player + ")"
	}
	r.TargetPlayer, r.Fault, r.Candidates = player, "", nil
	target, _ := json.Marshal(r.Target)
	if err := s.Reports.set(ctx, r.ID, map[string]any{fTargetPlayer: player, fTarget: target, fFault: "",
		fCandidates: "", fNextAttempt: ""}); err != nil {
		return nil, err
	}
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: queueStream, Values: []string{"id", r.ID}}).Err(); err != nil {
		return nil, fmt.Errorf("queueing report %s: %w", r.ID, err)
	}
	return r, nil
}

// ErrNotReporter is returned when someone other than the reporter acts on a report
// only its reporter may.
var ErrNotReporter = errors.New("not the reporter")

// dedupeFor is how long a reporter cannot report the same player (and activity) again.
const dedupeFor = 24 * time.Hour

// fileLimit is the limit request of filing: every rule of SPEC §4, the duplicate one
// keyed by what the reporter named (a player id as itself; the pipeline checks again
// by player once a name or member is looked up).
func (s *Service) fileLimit(st Settings, reporterID string, g Game, t Target, activity string) LimitRequest {
	lr := s.limitRequest(st, reporterID)
	who := string(t.Kind) + "=" + strings.ToLower(t.Value)
	if t.Kind == TargetUUID {
		who = strings.ToLower(t.Value)
	}
	lr.Target, lr.DedupeFor = targetKey(g, who, activity), dedupeFor
	return lr
}

func targetKey(g Game, who, activity string) string {
	k := string(g) + ":" + who
	if activity != "" {
		k += ":" + activity
	}
	return k
}

// refundLimit gives back what filing r spent: its place in the windows, and its
// duplicate markers (by what was typed, and by player).
func (s *Service) refundLimit(ctx context.Context, r *Report) error {
	lr := s.fileLimit(Settings{GuildID: r.GuildID}, r.ReporterID, r.Game, r.Target, r.ActivityID)
	if err := s.Limits.Refund(ctx, lr, r.ID); err != nil {
		return err
	}
	if r.TargetPlayer != "" {
		lr.Target = targetKey(r.Game, r.TargetPlayer, r.ActivityID)
		return s.Limits.Refund(ctx, lr, r.ID)
	}
	return nil
}

// sent is what filing a report upstream gave: the upstream's report id, or the page
// where the reporter files it themselves (Destiny in link mode).
type sent struct {
	upstreamID string
	link       string
}

// send files r with its game's API.
func (s *Service) send(ctx context.Context, r *Report) (sent, error) {
	switch r.Game {
	case RallyHere:
		if s.rallyHere == nil {
			return sent{}, ErrGameOff
		}
		res, err := s.rallyHere.CreateReport(ctx, r.TargetPlayer, RallyHereRequest(r))
		if err != nil {
			return sent{}, err
		}
		return sent{upstreamID: res.ReportID}, nil
	case Destiny2:
		return s.sendDestiny(ctx, r)
	}
	return sent{}, fmt.Errorf("%w: %s", ErrGameOff, r.Game)
}

// findUpstream looks for r among the reports filed upstream against its target, by
// the report_id the bot puts in custom_data: an earlier attempt whose answer was lost
// may have filed it. It returns the upstream id, or "" when it is not there.
func (s *Service) findUpstream(ctx context.Context, r *Report) (string, error) {
	if r.Game != RallyHere || s.rallyHere == nil || r.TargetPlayer == "" {
		return "", nil
	}
	cursor := ""
	for range 4 { // the newest 200 reports: a lost answer is recent
		page, err := s.rallyHere.ReportsAgainst(ctx, r.TargetPlayer, cursor, 50)
		if err != nil {
			return "", err
		}
		for _, u := range page.Reports {
			if u.CustomData["report_id"] == r.ID {
				return u.ReportID, nil
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return "", nil
}

// RallyHereRequest is the sanctions-API body of r. custom_data carries where the report
// came from; RallyHere requires each value to be 1 to 4096 characters.
func RallyHereRequest(r *Report) rallyhere.ReportRequest {
	custom := map[string]string{
		"report_id":           r.ID,
		"discord_guild_id":    r.GuildID,
		"discord_channel_id":  r.ChannelID,
		"discord_reporter_id": r.ReporterID,
	}
	if r.SourceFallback {
		custom["source_player_fallback"] = "true"
	}
	if r.Target.Kind == TargetMember {
		custom["discord_target_id"] = r.Target.Value
	}
	for i, e := range r.Evidence {
		custom["evidence_"+strconv.Itoa(i+1)] = e.URL
	}
	for k, v := range custom {
		if v == "" {
			delete(custom, k)
		}
	}
	return rallyhere.ReportRequest{
		SourcePlayerUUID: r.SourcePlayer,
		Reason:           r.Reason.RallyHere,
		Description:      r.Description,
		MatchID:          r.MatchID,
		CustomData:       custom,
	}
}
