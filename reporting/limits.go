package reporting

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/config"
)

// takeLua defines the Lua function take(KEYS, ARGV) of limits.lua.
//
//go:embed limits.lua
var takeLua string

// Limiter decides, in Redis, whether a reporter may file a report: one script, one
// round trip, atomic across concurrent submissions and bot instances. Windows are
// sliding logs of report ids, so the limit is exact (never more than Count reports in
// any Per) and so is the retry-after; a refund removes exactly the refunded report.
// Report ids may not contain ';', which the logs use as a separator.
type Limiter struct {
	rdb    redis.UniversalClient
	decide *redis.Script
	refund *redis.Script
	claim  *redis.Script
}

// NewLimiter returns a Limiter on rdb.
func NewLimiter(rdb redis.UniversalClient) *Limiter {
	return &Limiter{rdb: rdb, decide: markedScript(takeLua + "\nreturn take(KEYS, ARGV)"), refund: redis.NewScript(refundLua),
		claim: redis.NewScript(claimLua)}
}

// LimitScope says which rule a decision hit.
type LimitScope int

// The rules of SPEC §4, in the order they are checked.
const (
	LimitNone LimitScope = iota
	// LimitBarred: a moderator barred the reporter from reporting in this server.
	LimitBarred
	// LimitDuplicate: the reporter already reported this target in the last 24 h.
	LimitDuplicate
	// LimitGuild: the reporter's limit in this server.
	LimitGuild
	// LimitGlobal: the reporter's limit across every server.
	LimitGlobal
)

// LimitRequest is one reporter's attempt in one server.
type LimitRequest struct {
	ReporterID string
	GuildID    string
	// Guild is the server's limit.
	Guild config.Rate
	// Global, when Count > 0, also applies across every server.
	Global config.Rate
	// Target, when set, makes a second report of the same target within DedupeFor a
	// duplicate. It names the game, the target and, for Destiny, the activity.
	Target    string
	DedupeFor time.Duration
}

// Decision is the Limiter's answer.
type Decision struct {
	Allowed bool
	// Scope is the rule that refused, when not Allowed.
	Scope LimitScope
	// RetryAfter is exact: at that point the rule that refused lets one report through
	// (zero for a bar without end).
	RetryAfter time.Duration
	// Limit is the rate that refused (LimitGuild, LimitGlobal).
	Limit config.Rate
}

// LimitError is returned when a report is refused by a limit.
type LimitError struct{ Decision Decision }

func (e *LimitError) Error() string {
	return fmt.Sprintf("reporter limited (scope %d), retry after %s", e.Decision.Scope, e.Decision.RetryAfter)
}

// Check answers whether req would be allowed now, without spending anything. It is a
// plain MGET read against the bot's clock, as cheap as a round trip can be; Take, which
// alone spends, decides atomically on Redis's clock, so a check can at worst be wrong
// by the clocks' skew, never grant a report.
func (l *Limiter) Check(ctx context.Context, req LimitRequest) (Decision, error) {
	vals, err := l.rdb.MGet(ctx, l.keys(req)...).Result()
	if err != nil {
		return Decision{}, fmt.Errorf("checking the limit of %s: %w", req.ReporterID, err)
	}
	return decide(req, vals), nil
}

// decide is Check's decision on the values of the limit's keys (l.keys order).
func decide(req LimitRequest, vals []any) Decision {
	str := func(v any) string { s, _ := v.(string); return s }
	now := time.Now().UnixMilli()
	if until, _ := strconv.ParseInt(str(vals[0]), 10, 64); until > now {
		return Decision{Scope: LimitBarred, RetryAfter: time.Duration(until-now) * time.Millisecond}
	}
	windows := []config.Rate{req.Guild}
	if req.Global.Count > 0 {
		windows = append(windows, req.Global)
	}
	if req.Target != "" && req.DedupeFor > 0 {
		if seen := str(vals[len(vals)-1]); len(seen) >= 13 {
			if until, _ := strconv.ParseInt(seen[:13], 10, 64); until > now {
				return Decision{Scope: LimitDuplicate, RetryAfter: time.Duration(until-now) * time.Millisecond}
			}
		}
	}
	for i, w := range windows {
		if retry, full := windowFull(str(vals[i+1]), w, now); full {
			d := Decision{Scope: LimitGuild, RetryAfter: retry, Limit: w}
			if i == 1 {
				d.Scope = LimitGlobal
			}
			return d
		}
	}
	return Decision{Allowed: true}
}

// windowFull reads a window as limits.lua writes it ("<13-digit ms><id>;", oldest
// first) and says whether it holds r.Count reports newer than now-r.Per, and if so
// when the next one fits.
func windowFull(s string, r config.Rate, now int64) (time.Duration, bool) {
	from := now - r.Per.Milliseconds()
	var in []int64
	for len(s) > 13 {
		end := strings.IndexByte(s[13:], ';')
		if end < 0 {
			break
		}
		if at, err := strconv.ParseInt(s[:13], 10, 64); err == nil && at > from {
			in = append(in, at)
		}
		s = s[13+end+1:]
	}
	if n := len(in); n >= r.Count {
		return time.Duration(in[n-r.Count]-from) * time.Millisecond, true
	}
	return 0, false
}

// Take spends one report of every window for reportID, if all allow it: one script,
// atomic, on Redis's clock. It carries ctx's replay mark (the reporter's slot is
// the mark's).
func (l *Limiter) Take(ctx context.Context, req LimitRequest, reportID string) (Decision, error) {
	args, err := l.args(req, reportID)
	if err != nil {
		return Decision{}, err
	}
	res, err := runMarked(ctx, l.rdb, l.decide, l.keys(req), args...).Int64Slice()
	return takeDecision(req, res, err)
}

// args are take's arguments for req and reportID.
func (l *Limiter) args(req LimitRequest, reportID string) ([]any, error) {
	if reportID == "" || strings.Contains(reportID, ";") {
		return nil, fmt.Errorf("spending the limit: %q is not a report id", reportID)
	}
	var dedupe int64
	if req.Target != "" {
		dedupe = req.DedupeFor.Milliseconds()
	}
	args := []any{reportID, dedupe, req.Guild.Count, req.Guild.Per.Milliseconds()}
	if req.Global.Count > 0 {
		args = append(args, req.Global.Count, req.Global.Per.Milliseconds())
	}
	return args, nil
}

// takeDecision reads take's answer {code, retry after ms}.
func takeDecision(req LimitRequest, res []int64, err error) (Decision, error) {
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("deciding the limit of %s: %w", req.ReporterID, err)
	}
	d := Decision{Allowed: res[0] == 0, RetryAfter: max(time.Duration(res[1])*time.Millisecond, 0)}
	switch res[0] {
	case 1:
		d.Scope = LimitBarred
	case 2:
		d.Scope = LimitDuplicate
	case 3:
		d.Scope, d.Limit = LimitGuild, req.Guild
	case 4:
		d.Scope, d.Limit = LimitGlobal, req.Global
	}
	return d, nil
}

// keys are the bar, the windows and, with a target, the duplicate marker.
func (l *Limiter) keys(req LimitRequest) []string {
	keys := []string{barKey(req.GuildID, req.ReporterID), userKey(req.ReporterID, "limit:"+req.GuildID)}
	if req.Global.Count > 0 {
		keys = append(keys, userKey(req.ReporterID, "limit"))
	}
	if req.Target != "" {
		keys = append(keys, userKey(req.ReporterID, "seen:"+req.Target))
	}
	return keys
}

// Refund gives back what Take spent for reportID: its place in every window and its
// duplicate marker.
func (l *Limiter) Refund(ctx context.Context, req LimitRequest, reportID string) error {
	keys := l.keys(req)[1:] // the windows, then the marker if any
	if err := l.refund.Run(ctx, l.rdb, keys, reportID).Err(); err != nil {
		return fmt.Errorf("refunding %s: %w", reportID, err)
	}
	return nil
}

// refundLua removes a report from every window and duplicate marker among KEYS,
// keeping each key's expiry. A window entry is "<13-digit ms><id>;", a marker
// "<13-digit ms><id>".
const refundLua = `
local member = ARGV[1]
local needle = member .. ';'
for i = 1, #KEYS do
  local s = redis.call('GET', KEYS[i])
  if s and string.sub(s, 14) == member then
    redis.call('DEL', KEYS[i])
    s = nil
  end
  local from = 1
  while s do
    local at = string.find(s, needle, from, true)
    if not at then break end
    local start = at - 13
    if start == 1 or (start > 1 and string.sub(s, start - 1, start - 1) == ';') then
      local rest = string.sub(s, 1, start - 1) .. string.sub(s, at + #needle)
      if rest == '' then
        redis.call('DEL', KEYS[i])
      else
        redis.call('SET', KEYS[i], rest, 'PX', math.max(redis.call('PTTL', KEYS[i]), 1))
      end
      break
    end
    from = at + 1
  end
end
return 0`

// claimLua takes the duplicate marker of a target for a report, unless another report
// holds it. KEYS marker; ARGV report id, ms to keep it. Markers are
// "<13-digit until ms><report id>", as limits.lua writes them.
const claimLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 14) ~= ARGV[1] and tonumber(string.sub(v, 1, 13)) > now then return 0 end
redis.call('SET', KEYS[1], (now + tonumber(ARGV[2])) .. ARGV[1], 'PX', ARGV[2])
return 1`

// Claim marks target (a game:player[:activity] key) as reported by reporterID's report
// reportID for d, unless another of their reports already holds it; it reports
// whether the report holds it now.
func (l *Limiter) Claim(ctx context.Context, reporterID, target, reportID string, d time.Duration) (bool, error) {
	n, err := l.claim.Run(ctx, l.rdb, []string{userKey(reporterID, "seen:"+target)}, reportID, d.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("marking %s as reported: %w", target, err)
	}
	return n == 1, nil
}

// dedupeFor is how long a reporter cannot report the same player (and activity) again.
const dedupeFor = 24 * time.Hour

// filingTarget is the duplicate marker's target of a report as filed: the game, what
// the reporter named (a player id as itself), and the activity.
func filingTarget(g Game, t Target, activity string) string {
	who := string(t.Kind) + "=" + strings.ToLower(t.Value)
	if t.Kind == TargetUUID {
		who = strings.ToLower(t.Value)
	}
	return targetKey(g, who, activity)
}

func targetKey(g Game, who, activity string) string {
	k := string(g) + ":" + who
	if activity != "" {
		k += ":" + activity
	}
	return k
}

// RefundReport gives back what filing r spent: its place in the windows, and its
// duplicate markers (by what was typed, and by player).
func (l *Limiter) RefundReport(ctx context.Context, r *Report) error {
	lr := LimitRequest{ReporterID: r.ReporterID, GuildID: r.GuildID, Global: config.Rate{Count: 1},
		Target: filingTarget(r.Game, r.Target, r.ActivityID), DedupeFor: dedupeFor}
	if err := l.Refund(ctx, lr, r.ID); err != nil {
		return err
	}
	if r.TargetPlayer != "" {
		lr.Target = targetKey(r.Game, r.TargetPlayer, r.ActivityID)
		return l.Refund(ctx, lr, r.ID)
	}
	return nil
}
