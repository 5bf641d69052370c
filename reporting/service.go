package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
}

// Options configure a Service.
type Options struct {
	// RallyHere is nil when the operator did not configure RallyHere.
	RallyHere RallyHereAPI
	// RallyHereFallback is the player UUID reported as the source when a reporter has
	// no linked account; empty refuses such reporters.
	RallyHereFallback string

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

	rdb        redis.UniversalClient
	global     config.Rate
	rallyHere  RallyHereAPI
	rhFallback string
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
		rdb:        rdb,
		global:     o.GlobalLimit,
		rallyHere:  o.RallyHere,
		rhFallback: o.RallyHereFallback,
		log:        o.Logger,
		metrics:    newMetrics(reg),
	}
}

// Enabled reports whether the operator configured game g.
func (s *Service) Enabled(g Game) bool {
	return g == RallyHere && s.rallyHere != nil
}

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

// CheckLimit tells, without spending anything, whether reporterID may report now in
// the server whose settings are st.
func (s *Service) CheckLimit(ctx context.Context, st Settings, reporterID string) (Decision, error) {
	return s.Limits.Check(ctx, s.limitRequest(st, reporterID))
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

// SaveDraft keeps d under key for ttl, while the reporter makes a choice.
func (s *Service) SaveDraft(ctx context.Context, key string, d *Draft, ttl time.Duration) error {
	enc, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding draft %s: %w", d.ID, err)
	}
	if err := s.rdb.Set(ctx, draftKey(key), enc, ttl).Err(); err != nil {
		return fmt.Errorf("saving draft %s: %w", d.ID, err)
	}
	return nil
}

// ErrNoDraft is returned for a draft that expired or was already filed.
var ErrNoDraft = errors.New("no such draft")

// TakeDraft returns the draft under key and forgets it, so it is filed at most once.
func (s *Service) TakeDraft(ctx context.Context, key string) (*Draft, error) {
	return readDraft(key, s.rdb.GetDel(ctx, draftKey(key)))
}

// PeekDraft returns the draft under key without taking it.
func (s *Service) PeekDraft(ctx context.Context, key string) (*Draft, error) {
	return readDraft(key, s.rdb.Get(ctx, draftKey(key)))
}

func readDraft(key string, cmd *redis.StringCmd) (*Draft, error) {
	raw, err := cmd.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoDraft
	}
	if err != nil {
		return nil, fmt.Errorf("reading draft %s: %w", key, err)
	}
	var d Draft
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decoding draft %s: %w", key, err)
	}
	return &d, nil
}

// File spends the reporter's limit, stores the report and delivers it. The report is
// returned whenever it was stored, with the delivery's error if any (a *DeliveryError);
// a *LimitError means nothing was stored.
func (s *Service) File(ctx context.Context, d *Draft) (*Report, error) {
	st, err := s.Settings.Get(ctx, d.GuildID)
	if err != nil {
		return nil, err
	}
	lr := s.limitRequest(st, d.ReporterID)
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
		ID: d.ID, Game: d.Game, Status: StatusQueued,
		GuildID: d.GuildID, ChannelID: d.ChannelID, ReporterID: d.ReporterID, ReporterName: d.ReporterName,
		Target: d.Target, TargetPlayer: d.TargetPlayer, SourcePlayer: d.SourcePlayer, SourceFallback: d.SourceFallback,
		Reason: d.Reason, Description: d.Description, MatchID: d.MatchID, Evidence: d.Evidence,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Reports.Create(ctx, r); err != nil {
		// Nothing was stored: the reporter keeps their slot.
		if rerr := s.Limits.Refund(context.WithoutCancel(ctx), lr, d.ID); rerr != nil {
			s.log.Error().Err(rerr).Str("report_id", d.ID).Msg("refunding a report that could not be stored")
		}
		return nil, err
	}
	s.metrics.reports.WithLabelValues(string(r.Game), "stored").Inc()
	out, err := s.deliver(ctx, r.ID)
	if err != nil {
		var de *DeliveryError
		if errors.As(err, &de) {
			// Synchronous delivery: a report that did not get through does not count
			// against the reporter, who is told to try again.
			if rerr := s.Limits.Refund(context.WithoutCancel(ctx), lr, d.ID); rerr != nil {
				s.log.Error().Err(rerr).Str("report_id", d.ID).Msg("refunding an undelivered report")
			}
		}
		if out == nil {
			out = r
		}
		return out, err
	}
	return out, nil
}

// DeliveryError is a report the upstream did not accept. Temporary says whether
// trying again later may succeed.
type DeliveryError struct {
	ReportID  string
	Temporary bool
	Err       error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("delivering report %s: %v", e.ReportID, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// deliver sends the stored report id upstream and records the outcome.
func (s *Service) deliver(ctx context.Context, id string) (*Report, error) {
	r, err := s.Reports.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusQueued {
		return r, nil // already delivered or given up: never twice
	}
	log := s.log.With().Str("report_id", r.ID).Str("guild_id", r.GuildID).Logger()
	upstreamID, derr := s.send(ctx, r)
	out, err := s.Reports.Update(context.WithoutCancel(ctx), id, func(r *Report) error {
		r.Attempts++
		if derr == nil {
			r.Status, r.UpstreamID, r.LastError, r.DeliveredAt = StatusDelivered, upstreamID, "", time.Now().UTC()
			return nil
		}
		r.Status, r.LastError = StatusFailed, derr.Error()
		return nil
	})
	if err != nil {
		log.Error().Err(err).Msg("recording the delivery outcome")
		return nil, err
	}
	if derr != nil {
		de := &DeliveryError{ReportID: id, Temporary: rallyhere.IsTemporary(derr), Err: derr}
		log.Warn().Err(derr).Bool("temporary", de.Temporary).Msg("report not delivered")
		s.metrics.reports.WithLabelValues(string(r.Game), "failed").Inc()
		return out, de
	}
	log.Info().Str("upstream_id", upstreamID).Msg("report delivered")
	s.metrics.reports.WithLabelValues(string(r.Game), "delivered").Inc()
	return out, nil
}

// send files r with the game's API and returns the upstream's report id.
func (s *Service) send(ctx context.Context, r *Report) (string, error) {
	switch r.Game {
	case RallyHere:
		if s.rallyHere == nil {
			return "", ErrGameOff
		}
		res, err := s.rallyHere.CreateReport(ctx, r.TargetPlayer, RallyHereRequest(r))
		if err != nil {
			return "", err
		}
		return res.ReportID, nil
	}
	return "", fmt.Errorf("%w: %s", ErrGameOff, r.Game)
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
