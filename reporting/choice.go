package reporting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReportOf returns the id of the report filed from the interaction with id, while its
// token lasts.
func (s *Service) ReportOf(ctx context.Context, interactionID string) (string, error) {
	var id *redis.StringCmd
	if err := readMarked(ctx, s.rdb, func(p redis.Pipeliner) { id = p.Get(ctx, interactionKey(interactionID)) }); err != nil {
		return "", fmt.Errorf("finding the report of interaction %s: %w", interactionID, err)
	}
	if id.Val() == "" {
		return "", ErrNoReport
	}
	return id.Val(), nil
}

// ErrNotChoosing is returned for a choice about a report that is not waiting for one
// (already chosen, or given up).
var ErrNotChoosing = errors.New("the report is not waiting for a choice")

// chooseFn defines the Lua function choose(record, reporter, player, now): it records
// which of the candidates the reporter chose, if the report is theirs and waits for
// the choice, and returns {outcome, the record after (HGETALL)}.
const chooseFn = `
local function choose(rec, reporter, player, now)
  local f = redis.call('HMGET', rec, 'id', 'reporter_id', 'delivery', 'fault', 'candidates', 'target')
  if not f[1] then return {'none', {}} end
  if f[2] ~= reporter then return {'not_reporter', {}} end
  if f[3] ~= 'queued' or f[4] ~= 'choosing' then return {'not_choosing', {}} end
  local target = nil
  for _, c in ipairs(cjson.decode(f[5] or '[]')) do
    if c.id == player then target = c.target end
  end
  if target == nil then return {'not_offered', {}} end
  local t = f[6]
  if type(target) == 'table' and target.kind and target.kind ~= '' then t = cjson.encode(target) end
  redis.call('HSET', rec, 'target_player', player, 'target', t, 'fault', '', 'fault_unfiled', '',
    'candidates', '', 'next_attempt_at', '', 'updated_at', now)
  return {'ok', redis.call('HGETALL', rec)}
end
`

// chooseLua is a choice on one Redis node, where the record's and the queue's keys
// can be made in the script: KEYS[1] the interaction the report was filed from;
// ARGV[1..3] reporter, player, now; ARGV[4], ARGV[5] what goes before and after a
// report id to make its record's key; then for each game, its name and the command
// that queues the report (run's form, "\0" for the id). Queues the report when the
// choice is recorded.
const chooseLua = chooseFn + `
local id = redis.call('GET', KEYS[1])
if not id then return {'none', {}} end
local res = choose(ARGV[4] .. id .. ARGV[5], ARGV[1], ARGV[2], ARGV[3])
if res[1] ~= 'ok' then return res end
local game = redis.call('HGET', ARGV[4] .. id .. ARGV[5], 'game')
local i = 6
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if ARGV[i] == game then
    local words = {unpack(ARGV, i + 2, i + 1 + n)}
    for k, w in ipairs(words) do
      if w == '\0' then words[k] = id end
    end
    redis.call(unpack(words))
  end
  i = i + 2 + n
end
return res`

// chooseRecordLua is a choice on Redis Cluster: KEYS[1] the record; ARGV reporter,
// player, now. The report is queued after.
const chooseRecordLua = chooseFn + `return choose(KEYS[1], ARGV[1], ARGV[2], ARGV[3])`

// recordOfLua reads the record of the report filed from an interaction, on one Redis
// node: KEYS[1] the interaction; ARGV[1], ARGV[2] as chooseLua's ARGV[4], ARGV[5].
const recordOfLua = `
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id .. ARGV[2])`

// recordKeyParts are what goes before and after a report id to make its record's key.
func recordKeyParts() (string, string) {
	before, after, _ := strings.Cut(reportKey("\x00"), "\x00")
	return before, after
}

// ChooseFor records which of the players offered the reporter chose on the answer to
// interactionID, the interaction that filed the report, and sends the report on its
// way. It carries ctx's replay mark: on one Redis node, all in one round trip; on
// Redis Cluster, the interaction's report, the record, and the queue entry, each in
// its slot. ErrNoReport: the interaction's report is no longer kept.
func (s *Service) ChooseFor(ctx context.Context, interactionID, reporterID, player string) (*Report, error) {
	now := ms(time.Now())
	var res []any
	var err error
	_, cluster := s.rdb.(*redis.ClusterClient)
	if cluster {
		var id string
		if id, err = s.ReportOf(ctx, interactionID); err != nil {
			return nil, err
		}
		res, err = s.chooseRecord.Run(ctx, s.rdb, []string{reportKey(id)}, reporterID, player, now).Slice()
	} else {
		before, after := recordKeyParts()
		args := []any{reporterID, player, now, before, after}
		for g, q := range s.queues {
			p := s.rdb.Pipeline()
			_ = q.add(ctx, p, "\x00")
			words := commandWords(p)
			args = append(append(args, string(g)), words...)
		}
		res, err = runMarked(ctx, s.rdb, s.choose, []string{interactionKey(interactionID)}, args...).Slice()
	}
	if err != nil {
		return nil, fmt.Errorf("recording a choice on report of %s: %w", interactionID, err)
	}
	switch res[0] {
	case "none":
		return nil, ErrNoReport
	case "not_reporter":
		return nil, ErrNotReporter
	case "not_choosing":
		return nil, ErrNotChoosing
	case "not_offered":
		return nil, &InputError{Field: "player", Problem: "not_offered"}
	}
	flat, _ := res[1].([]any)
	r, err := decodeReport(flatHash(flat))
	if err != nil {
		return nil, err
	}
	if cluster {
		q, ok := s.queues[r.Game]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrGameOff, r.Game)
		}
		if err := q.add(ctx, nil, r.ID); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ReportFiledBy returns the report filed from interactionID, with ctx's replay mark:
// one round trip on one Redis node.
func (s *Service) ReportFiledBy(ctx context.Context, interactionID string) (*Report, error) {
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		id, err := s.ReportOf(ctx, interactionID)
		if err != nil {
			return nil, err
		}
		return s.Reports.Get(ctx, id)
	}
	before, after := recordKeyParts()
	flat, err := runMarked(ctx, s.rdb, s.recordOf, []string{interactionKey(interactionID)}, before, after).Slice()
	if err != nil {
		return nil, fmt.Errorf("reading the report of interaction %s: %w", interactionID, err)
	}
	return decodeReport(flatHash(flat))
}
