package reporting

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Moderator is a member acting as a moderator in a server: ByPermission when their
// Discord permissions make them one (Manage Messages or more, package commands'
// rule), else Roles, which may hold the server's moderator role.
type Moderator struct {
	GuildID, UserID string
	ByPermission    bool
	Roles           []string
}

// Moderates reports whether m moderates reports in the server of st: by their
// permissions, or by having the server's moderator role. (moderatorGuard says the
// same in Lua.)
func (st Settings) Moderates(m Moderator) bool {
	return m.ByPermission || st.ModRole != "" && slices.Contains(m.Roles, st.ModRole)
}

// ErrNotModerator: the member is not a moderator of the server.
var ErrNotModerator = errors.New("not a moderator")

// ErrOtherGuild: a moderator acted, in one server, on a report of another.
var ErrOtherGuild = errors.New("the report is another server's")

// moderatorGuard follows markPrelude in a script a moderator runs: it checks, in the
// script, that they are one, on one Redis node, where the server's settings can be
// read beside the script's own keys. ARGV[1] is "check" or "checked" (on Redis
// Cluster, Moderates was asked before). With check, KEYS[1] is the settings and
// ARGV[2] "1" for a moderator by permission, ARGV[3] a count n and ARGV[4..3+n] the
// member's roles. Like markPrelude it hides what it read, and leaves in settings the
// server's settings (HGETALL; empty without check), for the script to return.
const moderatorGuard = `
local settings = {}
if ARGV[1] == 'check' then
  settings = redis.call('HGETALL', KEYS[1])
  local n = tonumber(ARGV[3])
  if ARGV[2] ~= '1' then
    local role = redis.call('HGET', KEYS[1], 'mod_role') or ''
    local ok = false
    for i = 4, 3 + n do
      if role ~= '' and ARGV[i] == role then ok = true end
    end
    if not ok then return redis.error_reply('NOTMODERATOR') end
  end
  KEYS, ARGV = {unpack(KEYS, 2)}, {unpack(ARGV, 4 + n)}
else
  ARGV = {unpack(ARGV, 2)}
end
`

// moderatorScript is a marked script whose body runs once moderatorGuard passed.
func moderatorScript(body string) *redis.Script { return markedScript(moderatorGuard + body) }

// asModerator runs sc (a moderatorScript) on keys, all in one slot, as m, with ctx's
// replay mark: one round trip on one Redis node. On Redis Cluster the server's
// settings are read first (with the mark), Moderates is asked here, and the script
// follows: a round trip to each slot. It returns the script's answer and the
// server's settings.
func (s *Service) asModerator(ctx context.Context, m Moderator, sc *redis.Script, keys []string, args ...any) ([]any, Settings, error) {
	var st Settings
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		var err error
		if st, err = s.Settings.Get(ctx, m.GuildID); err != nil {
			return nil, Settings{}, err
		}
		if !st.Moderates(m) {
			return nil, st, ErrNotModerator
		}
		args = append([]any{"checked"}, args...)
	} else {
		keys = append([]string{settingsKey(m.GuildID)}, keys...)
		guard := []any{"check", flag(m.ByPermission), len(m.Roles)}
		for _, r := range m.Roles {
			guard = append(guard, r)
		}
		args = append(guard, args...)
	}
	res, err := runMarked(ctx, s.rdb, sc, keys, args...).Slice()
	if redis.HasErrorPrefix(err, "NOTMODERATOR") {
		return nil, st, ErrNotModerator
	}
	if err != nil {
		return nil, st, err
	}
	if h, ok := res[len(res)-1].([]any); ok && len(h) > 0 {
		if st, err = s.Settings.decode(m.GuildID, flatHash(h)); err != nil {
			return nil, st, err
		}
	}
	return res, st, nil
}

// flatHash is a hash as a script returns HGETALL: field, value, field, value….
func flatHash(flat []any) map[string]string {
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		h[k], _ = flat[i+1].(string)
	}
	return h
}

// moderateBody sets a report's moderation status unless it is closed (resolved or
// dismissed) or another server's. KEYS[1] the record; ARGV status, moderator, now,
// the moderator's server. Returns {outcome, the record (HGETALL), settings}.
const moderateBody = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', {}, settings} end
if redis.call('HGET', KEYS[1], 'guild_id') ~= ARGV[4] then return {'elsewhere', {}, settings} end
local cur = redis.call('HGET', KEYS[1], 'moderation') or ''
if cur == 'resolved' or cur == 'dismissed' then return {'final', redis.call('HGETALL', KEYS[1]), settings} end
redis.call('HSET', KEYS[1], 'moderation', ARGV[1], 'moderator_id', ARGV[2], 'updated_at', ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), settings}`

// Moderate sets a report's moderation status (claimed, resolved, dismissed) on behalf
// of m, atomically refusing to reopen a closed report, and returns the report after
// and the server's settings. ErrNotModerator, ErrNoReport and ErrOtherGuild change
// nothing; ErrFinal comes with the report as it is.
func (s *Service) Moderate(ctx context.Context, m Moderator, reportID string, to Status) (*Report, Settings, error) {
	res, st, err := s.asModerator(ctx, m, s.moderate, []string{reportKey(reportID)},
		string(to), m.UserID, ms(time.Now()), m.GuildID)
	if err != nil {
		return nil, st, fmt.Errorf("moderating report %s: %w", reportID, err)
	}
	switch res[0] {
	case "missing":
		return nil, st, ErrNoReport
	case "elsewhere":
		return nil, st, ErrOtherGuild
	}
	flat, _ := res[1].([]any)
	r, err := decodeReport(flatHash(flat))
	if err != nil {
		return nil, st, err
	}
	if res[0] == "final" {
		return r, st, ErrFinal
	}
	return r, st, nil
}

// barBody bars a reporter (ARGV[1] "bar", for ARGV[2] ms, until a time on Redis's
// clock, which the limit reads) or lifts the bar ("unbar"). KEYS[1] the bar.
// Returns {until ms, or whether there was a bar, settings}.
const barBody = `
if ARGV[1] == 'unbar' then return {redis.call('DEL', KEYS[1]), settings} end
local t = redis.call('TIME')
local untilms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', untilms), 'PX', ARGV[2])
return {untilms, settings}`

// Bar stops memberID from reporting in m's server for d, on m's behalf.
func (s *Service) Bar(ctx context.Context, m Moderator, memberID string, d time.Duration) error {
	if _, _, err := s.asModerator(ctx, m, s.bar, []string{barKey(m.GuildID, memberID)}, "bar", d.Milliseconds()); err != nil {
		return fmt.Errorf("barring %s: %w", memberID, err)
	}
	return nil
}

// Unbar lifts memberID's bar in m's server, on m's behalf; it reports whether there
// was one.
func (s *Service) Unbar(ctx context.Context, m Moderator, memberID string) (bool, error) {
	res, _, err := s.asModerator(ctx, m, s.bar, []string{barKey(m.GuildID, memberID)}, "unbar")
	if err != nil {
		return false, fmt.Errorf("lifting the bar of %s: %w", memberID, err)
	}
	n, _ := res[0].(int64)
	return n > 0, nil
}

func barKey(guildID, reporterID string) string { return userKey(reporterID, "bar:"+guildID) }
