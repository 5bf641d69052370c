package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoReport is returned for a report id that is not stored (never, or expired).
var ErrNoReport = errors.New("no such report")

// Store keeps report records in Redis: one hash per report, and per reporter and per
// server an index by time. Everything expires after the retention. Fields are
// written one by one (HSET), so the delivery worker and the moderators never
// overwrite each other's changes.
type Store struct {
	rdb       redis.UniversalClient
	retention time.Duration
	setScript *redis.Script
	moderate  *redis.Script
}

// NewStore returns a store keeping records for retention.
func NewStore(rdb redis.UniversalClient, retention time.Duration) *Store {
	return &Store{rdb: rdb, retention: retention, setScript: redis.NewScript(setLua), moderate: redis.NewScript(moderateLua)}
}

// setLua writes fields of a record that still exists: a late write to an expired
// record must not leave a fragment without expiry behind.
const setLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`

// Hash fields of a report record.
const (
	fID             = "id"
	fGame           = "game"
	fGuild          = "guild_id"
	fChannel        = "channel_id"
	fReporter       = "reporter_id"
	fReporterName   = "reporter_name"
	fReporterLocale = "reporter_locale"
	fGuildLocale    = "guild_locale"
	fTarget         = "target"
	fTargetPlayer   = "target_player"
	fSourcePlayer   = "source_player"
	fSourceFallback = "source_fallback"
	fActivity       = "activity_id"
	fReason         = "reason"
	fDescription    = "description"
	fMatch          = "match_id"
	fEvidence       = "evidence"
	fDelivery       = "delivery"
	fModeration     = "moderation"
	fModerator      = "moderator_id"
	fAttempts       = "attempts"
	fLastError      = "last_error"
	fFault          = "fault"
	fFaultDetail    = "fault_detail"
	fDead           = "dead"
	fUpstreamID     = "upstream_id"
	fLink           = "link"
	fCreated        = "created_at"
	fUpdated        = "updated_at"
	fDelivered      = "delivered_at"
	fNextAttempt    = "next_attempt_at"
	fInFlight       = "attempt_started_at"
	fModLogChannel  = "modlog_channel_id"
	fModLogMessage  = "modlog_message_id"
	fModLogShown    = "modlog_shown"
	fNotified       = "notified"
	fCandidates     = "candidates"
	fStreak         = "streak"
)

func ms(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func unms(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// fields is r as hash fields.
func (r *Report) fields() map[string]any {
	target, _ := json.Marshal(r.Target)
	reason, _ := json.Marshal(r.Reason)
	evidence, _ := json.Marshal(r.Evidence)
	candidates := ""
	if len(r.Candidates) > 0 {
		b, _ := json.Marshal(r.Candidates)
		candidates = string(b)
	}
	return map[string]any{
		fCandidates: candidates, fStreak: r.Streak,
		fID: r.ID, fGame: string(r.Game), fGuild: r.GuildID, fChannel: r.ChannelID,
		fReporter: r.ReporterID, fReporterName: r.ReporterName,
		fReporterLocale: r.ReporterLocale, fGuildLocale: r.GuildLocale,
		fTarget: target, fTargetPlayer: r.TargetPlayer, fSourcePlayer: r.SourcePlayer,
		fSourceFallback: flag(r.SourceFallback), fActivity: r.ActivityID,
		fReason: reason, fDescription: r.Description, fMatch: r.MatchID, fEvidence: evidence,
		fDelivery: string(r.Delivery), fModeration: string(r.Moderation), fModerator: r.ModeratorID,
		fAttempts: r.Attempts, fLastError: r.LastError, fFault: string(r.Fault), fFaultDetail: r.FaultDetail,
		fDead: flag(r.Dead), fUpstreamID: r.UpstreamID, fLink: r.Link,
		fCreated: ms(r.CreatedAt), fUpdated: ms(r.UpdatedAt), fDelivered: ms(r.DeliveredAt),
		fNextAttempt: ms(r.NextAttemptAt), fInFlight: ms(r.AttemptStartedAt),
		fModLogChannel: r.ModLogChannelID, fModLogMessage: r.ModLogMessageID, fModLogShown: r.ModLogShown,
		fNotified: r.Notified,
	}
}

// decodeReport reads a record's hash fields.
func decodeReport(h map[string]string) (*Report, error) {
	if h[fID] == "" {
		return nil, ErrNoReport
	}
	attempts, _ := strconv.Atoi(h[fAttempts])
	streak, _ := strconv.Atoi(h[fStreak])
	r := &Report{
		ID: h[fID], Game: Game(h[fGame]), GuildID: h[fGuild], ChannelID: h[fChannel],
		ReporterID: h[fReporter], ReporterName: h[fReporterName],
		ReporterLocale: h[fReporterLocale], GuildLocale: h[fGuildLocale],
		TargetPlayer: h[fTargetPlayer], SourcePlayer: h[fSourcePlayer], SourceFallback: h[fSourceFallback] == "1",
		ActivityID: h[fActivity], Description: h[fDescription], MatchID: h[fMatch],
		Delivery: Status(h[fDelivery]), Moderation: Status(h[fModeration]), ModeratorID: h[fModerator],
		Attempts: attempts, LastError: h[fLastError], Fault: FaultKind(h[fFault]), FaultDetail: h[fFaultDetail],
		Dead: h[fDead] == "1", UpstreamID: h[fUpstreamID], Link: h[fLink],
		CreatedAt: unms(h[fCreated]), UpdatedAt: unms(h[fUpdated]), DeliveredAt: unms(h[fDelivered]),
		NextAttemptAt: unms(h[fNextAttempt]), AttemptStartedAt: unms(h[fInFlight]),
		ModLogChannelID: h[fModLogChannel], ModLogMessageID: h[fModLogMessage], ModLogShown: h[fModLogShown],
		Notified: h[fNotified], Streak: streak,
	}
	for field, into := range map[string]any{fTarget: &r.Target, fReason: &r.Reason, fEvidence: &r.Evidence, fCandidates: &r.Candidates} {
		if v := h[field]; v != "" && v != "null" {
			if err := json.Unmarshal([]byte(v), into); err != nil {
				return nil, fmt.Errorf("decoding %s of report %s: %w", field, r.ID, err)
			}
		}
	}
	return r, nil
}

// create queues the writes of a new record (and of the reporter's interaction token,
// kept while it can still edit their answer) on p.
func (s *Store) create(ctx context.Context, p redis.Pipeliner, r *Report, token string, tokenTTL time.Duration) {
	key := reportKey(r.ID)
	p.HSet(ctx, key, r.fields())
	p.Expire(ctx, key, s.retention)
	if token != "" && tokenTTL > 0 {
		p.Set(ctx, tokenKey(r.ID), token, tokenTTL)
	}
	// The indexes live in the reporter's and the server's slots; a record missing from
	// an index is only missing from lists, and is trimmed with the retention.
	score := float64(r.CreatedAt.UnixMilli())
	oldest := strconv.FormatInt(r.CreatedAt.Add(-s.retention).UnixMilli(), 10)
	for _, idx := range []string{userKey(r.ReporterID, "reports"), guildKey(r.GuildID, "reports")} {
		p.ZAdd(ctx, idx, redis.Z{Score: score, Member: r.ID})
		p.ZRemRangeByScore(ctx, idx, "-inf", "("+oldest)
		p.Expire(ctx, idx, s.retention)
	}
}

// Get returns the report with id.
func (s *Store) Get(ctx context.Context, id string) (*Report, error) {
	h, err := s.rdb.HGetAll(ctx, reportKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading report %s: %w", id, err)
	}
	return decodeReport(h)
}

// set writes some fields of a stored report (and updated_at). It does nothing to a
// record that expired.
func (s *Store) set(ctx context.Context, id string, fields map[string]any) error {
	fields[fUpdated] = ms(time.Now())
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	if err := s.setScript.Run(ctx, s.rdb, []string{reportKey(id)}, args...).Err(); err != nil {
		return fmt.Errorf("updating report %s: %w", id, err)
	}
	return nil
}

// ByReporter returns up to n of a reporter's reports, newest first, after skipping skip.
func (s *Store) ByReporter(ctx context.Context, reporterID string, skip, n int) ([]*Report, error) {
	return s.recent(ctx, userKey(reporterID, "reports"), skip, n)
}

// ByGuild returns up to n of a server's reports, newest first, after skipping skip.
func (s *Store) ByGuild(ctx context.Context, guildID string, skip, n int) ([]*Report, error) {
	return s.recent(ctx, guildKey(guildID, "reports"), skip, n)
}

// MarkModLogShown records that r's mod-log post shows its current state (a moderator's
// button updated it in place).
func (s *Store) MarkModLogShown(ctx context.Context, r *Report) error {
	return s.set(ctx, r.ID, map[string]any{fModLogShown: ModLogState(r)})
}

func (s *Store) recent(ctx context.Context, index string, skip, n int) ([]*Report, error) {
	ids, err := s.rdb.ZRevRange(ctx, index, int64(skip), int64(skip+n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", index, err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, reportKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %d reports of %s: %w", len(ids), index, err)
	}
	out := make([]*Report, 0, len(ids))
	for _, c := range cmds {
		if r, err := decodeReport(c.Val()); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrFinal is returned when a moderator acts on a report already resolved or dismissed.
var ErrFinal = errors.New("the report is already closed")

// moderateLua sets the moderation status unless the report is closed (resolved or
// dismissed), and returns the status before. KEYS[1] the record; ARGV status,
// moderator, now.
const moderateLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local cur = redis.call('HGET', KEYS[1], 'moderation') or ''
if cur == 'resolved' or cur == 'dismissed' then return {'final', cur} end
redis.call('HSET', KEYS[1], 'moderation', ARGV[1], 'moderator_id', ARGV[2], 'updated_at', ARGV[3])
return {'ok', cur}`

// Moderate sets a report's moderation status (claimed, resolved, dismissed) on behalf
// of moderatorID, atomically refusing to reopen a closed report.
func (s *Store) Moderate(ctx context.Context, id string, to Status, moderatorID string) error {
	res, err := s.moderate.Run(ctx, s.rdb, []string{reportKey(id)}, string(to), moderatorID, ms(time.Now())).StringSlice()
	if err != nil {
		return fmt.Errorf("moderating report %s: %w", id, err)
	}
	switch res[0] {
	case "missing":
		return ErrNoReport
	case "final":
		return ErrFinal
	}
	return nil
}
