package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
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
	recent    *redis.Script
	// fields are Report's fields as its redis tags name them (recordFields).
	fields []recordField
}

// NewStore returns a store keeping records for retention.
func NewStore(rdb redis.UniversalClient, retention time.Duration) *Store {
	return &Store{rdb: rdb, retention: retention, setScript: redis.NewScript(setLua), recent: markedScript(recentLua),
		fields: recordFields()}
}

// recordField is a field of Report and the hash field it is stored in.
type recordField struct {
	index     int
	name      string
	omitEmpty bool
}

// recordFields reads Report's redis tags once, as go-redis reads them (its Scan
// reads the record by the same tags).
//
// go-redis writes a struct (HSet of it) by reading the tags of every field again on
// every call, 9 of the 44 µs the bot spends filing a report (BenchmarkAnswer's
// profile), and its omitempty knows no empty struct but time.Time: it stored a
// new report's three unset Millis as empty fields. appendRecord writes from the
// fields read here, and omits what go-redis omits and every zero struct.
func recordFields() []recordField {
	t := reflect.TypeFor[Report]()
	var out []recordField
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("redis")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, recordField{index: i, name: name, omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

// appendRecord appends r's fields to dst as HSET's field-value pairs.
func (s *Store) appendRecord(dst []any, r *Report) []any {
	v := reflect.ValueOf(r).Elem()
	for _, f := range s.fields {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		dst = append(dst, f.name, fv.Interface())
	}
	return dst
}

// isEmpty is go-redis's omitempty (a string, slice or map of length 0, a zero
// number, false, nil), and also any other zero value: a struct of zero fields.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	}
	return v.IsZero()
}

// setLua writes fields of a record that still exists: a late write to an expired
// record must not leave a fragment without expiry behind.
const setLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`

// Hash fields of a report record that are written on their own (Store.set); the
// whole record is read and written through Report's redis tags.
const (
	fTarget         = "target"
	fTargetPlayer   = "target_player"
	fSourcePlayer   = "source_player"
	fSourceFallback = "source_fallback"
	fDelivery       = "delivery"
	fLastError      = "last_error"
	fFault          = "fault"
	fFaultDetail    = "fault_detail"
	fFaultUnfiled   = "fault_unfiled"
	fDead           = "dead"
	fUpstreamID     = "upstream_id"
	fLink           = "link"
	fGame           = "game"
	fUpdated        = "updated_at"
	fDelivered      = "delivered_at"
	fNextAttempt    = "next_attempt_at"
	fInFlight       = "attempt_started_at"
	fModLogShown    = "modlog_shown"
	fModLogChannel  = "modlog_channel_id"
	fModLogMessage  = "modlog_message_id"
	fNotified       = "notified"
	fCandidates     = "candidates"
	fStreak         = "streak"
)

// Millis is a time stored in a record as Unix milliseconds ("" for none): the form the
// Lua scripts compare.
type Millis struct{ time.Time }

// At is t as a Millis.
func At(t time.Time) Millis { return Millis{t} }

// MarshalBinary writes the milliseconds, or nothing for the zero time.
func (m Millis) MarshalBinary() ([]byte, error) { return []byte(ms(m.Time)), nil }

// ScanRedis reads what MarshalBinary wrote.
func (m *Millis) ScanRedis(s string) error {
	m.Time = unms(s)
	return nil
}

// Flag is a yes-or-no stored as "1" or "".
type Flag bool

// MarshalBinary writes "1" or "".
func (f Flag) MarshalBinary() ([]byte, error) { return []byte(flag(bool(f))), nil }

// ScanRedis reads what MarshalBinary wrote (and "0", "true", "false").
func (f *Flag) ScanRedis(s string) error {
	*f = s == "1" || s == "true"
	return nil
}

// Candidates are the players a reporter chooses from, stored as JSON ("" for none).
type Candidates []Candidate

// MarshalBinary writes the JSON, or nothing when there are none.
func (c Candidates) MarshalBinary() ([]byte, error) {
	if len(c) == 0 {
		return nil, nil
	}
	return json.Marshal([]Candidate(c))
}

// ScanRedis reads what MarshalBinary wrote.
func (c *Candidates) ScanRedis(s string) error { return scanJSON(s, (*[]Candidate)(c)) }

// MarshalBinary writes the evidence as JSON.
func (e EvidenceList) MarshalBinary() ([]byte, error) { return json.Marshal([]Evidence(e)) }

// ScanRedis reads what MarshalBinary wrote.
func (e *EvidenceList) ScanRedis(s string) error { return scanJSON(s, (*[]Evidence)(e)) }

// MarshalBinary writes the target as JSON.
func (t Target) MarshalBinary() ([]byte, error) { return json.Marshal(t) }

// ScanRedis reads what MarshalBinary wrote.
func (t *Target) ScanRedis(s string) error { return scanJSON(s, t) }

// MarshalBinary writes the reason as JSON.
func (r Reason) MarshalBinary() ([]byte, error) { return json.Marshal(r) }

// ScanRedis reads what MarshalBinary wrote.
func (r *Reason) ScanRedis(s string) error { return scanJSON(s, r) }

// The names of things stored as themselves.
func (g Game) MarshalBinary() ([]byte, error)      { return []byte(g), nil }
func (s Status) MarshalBinary() ([]byte, error)    { return []byte(s), nil }
func (f FaultKind) MarshalBinary() ([]byte, error) { return []byte(f), nil }
func (n News) MarshalBinary() ([]byte, error)      { return []byte(n), nil }

func scanJSON(s string, into any) error {
	if s == "" || s == "null" {
		return nil
	}
	return json.Unmarshal([]byte(s), into)
}

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

// decodeReport reads a record from its hash fields (HGETALL), through Report's redis
// tags.
func decodeReport(h map[string]string) (*Report, error) {
	if h["id"] == "" {
		return nil, ErrNoReport
	}
	var r Report
	if err := redis.NewMapStringStringResult(h, nil).Scan(&r); err != nil {
		return nil, fmt.Errorf("decoding report %s: %w", h["id"], err)
	}
	return &r, nil
}

// create queues the writes of a new record (and of the reporter's interaction token,
// kept while it can still edit their answer) on p: all in the record's slot.
func (s *Store) create(ctx context.Context, p redis.Pipeliner, r *Report, token string, tokenTTL time.Duration) {
	key := reportKey(r.ID)
	p.HSet(ctx, key, s.appendRecord(make([]any, 0, 2*len(s.fields)), r)...)
	p.Expire(ctx, key, s.retention)
	if token != "" && tokenTTL > 0 {
		p.Set(ctx, tokenKey(r.ID), token, tokenTTL)
	}
}

// indexesOf are the lists a report is in: its reporter's and its server's, in their
// slots.
func indexesOf(r *Report) [2]string {
	return [2]string{userKey(r.ReporterID, "reports"), guildKey(r.GuildID, "reports")}
}

// index queues on p the writes that list a new record under its reporter and its
// server. Their upkeep (tidyIndexes) is left to the pipeline, which takes every
// report up: it is two thirds of the commands, which the answer to the reporter
// need not wait for. A record missing from an index is only missing from lists; an
// entry whose record is gone is skipped when read, and trimmed with the retention.
func (s *Store) index(ctx context.Context, p redis.Pipeliner, r *Report) {
	score := float64(r.CreatedAt.UnixMilli())
	for _, idx := range indexesOf(r) {
		p.ZAdd(ctx, idx, redis.Z{Score: score, Member: r.ID})
	}
}

// tidyIndexes queues on p the upkeep of the lists r is in: entries older than the
// retention are dropped, and the list lasts the retention from now.
func (s *Store) tidyIndexes(ctx context.Context, p redis.Pipeliner, r *Report) {
	oldest := strconv.FormatInt(time.Now().Add(-s.retention).UnixMilli(), 10)
	for _, idx := range indexesOf(r) {
		p.ZRemRangeByScore(ctx, idx, "-inf", "("+oldest)
		p.Expire(ctx, idx, s.retention)
	}
}

// discard removes what was written of a report that could not be stored: its
// record, its reporter's token and its entries in the lists, in one round trip.
func (s *Store) discard(ctx context.Context, r *Report) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, reportKey(r.ID), tokenKey(r.ID))
		for _, idx := range indexesOf(r) {
			p.ZRem(ctx, idx, r.ID)
		}
		return nil
	})
	return err
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
	return s.readRecent(ctx, userKey(reporterID, "reports"), skip, n)
}

// ByGuild returns up to n of a server's reports, newest first, after skipping skip.
func (s *Store) ByGuild(ctx context.Context, guildID string, skip, n int) ([]*Report, error) {
	return s.readRecent(ctx, guildKey(guildID, "reports"), skip, n)
}

// MarkModLogShown records that r's mod-log post shows its current state (a moderator's
// button updated it in place).
func (s *Store) MarkModLogShown(ctx context.Context, r *Report) error {
	return s.set(ctx, r.ID, map[string]any{fModLogShown: ModLogState(r)})
}

// recentLua reads records of an index, newest first, on one Redis node, where the
// records' keys can be made in the script. KEYS[1] the index (a sorted set of report
// ids); ARGV[1], ARGV[2] the ranks; ARGV[3], ARGV[4] what goes before and after an
// id to make its record's key. Returns each record as HGETALL.
const recentLua = `
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])) do
  out[#out + 1] = redis.call('HGETALL', ARGV[3] .. id .. ARGV[4])
end
return out`

// recent reads up to n records of index after skipping skip, with ctx's replay mark:
// in one round trip on one Redis node; on Redis Cluster, where each record is in a
// slot of its own, the index and then the records.
func (s *Store) readRecent(ctx context.Context, index string, skip, n int) ([]*Report, error) {
	var hashes []map[string]string
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		var ids *redis.StringSliceCmd
		if err := readMarked(ctx, s.rdb, func(p redis.Pipeliner) { ids = p.ZRevRange(ctx, index, int64(skip), int64(skip+n-1)) }); err != nil {
			return nil, fmt.Errorf("listing %s: %w", index, err)
		}
		cmds := make([]*redis.MapStringStringCmd, len(ids.Val()))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids.Val() {
				cmds[i] = p.HGetAll(ctx, reportKey(id))
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("reading %d reports of %s: %w", len(ids.Val()), index, err)
		}
		for _, c := range cmds {
			hashes = append(hashes, c.Val())
		}
	} else {
		prefix, suffix, _ := strings.Cut(reportKey("\x00"), "\x00")
		res, err := runMarked(ctx, s.rdb, s.recent, []string{index}, skip, skip+n-1, prefix, suffix).Slice()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", index, err)
		}
		for _, h := range res {
			flat, _ := h.([]any)
			hashes = append(hashes, flatHash(flat))
		}
	}
	out := make([]*Report, 0, len(hashes))
	for _, h := range hashes {
		if r, err := decodeReport(h); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrFinal is returned when a moderator acts on a report already resolved or dismissed.
var ErrFinal = errors.New("the report is already closed")
