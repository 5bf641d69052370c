package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/config"
)

// Settings is one server's configuration, set by its admins (SPEC §3).
type Settings struct {
	GuildID string
	// Reasons is the server's reason list, in the order admins added them.
	Reasons []Reason
	// Limit is the per-reporter limit in this server; the operator's default unless an
	// admin set one.
	Limit config.Rate
	// LimitSet is true when an admin set Limit.
	LimitSet bool
	// ModLogChannel is where reports are posted for moderators ("" = nowhere).
	ModLogChannel string
	// ModRole is a role whose members moderate reports, besides those with Manage
	// Messages.
	ModRole string
	// Anonymous hides reporters from moderators (they are still stored).
	Anonymous bool
	// Off are the games an admin turned off in this server.
	Off map[Game]bool
	// Language is the language of the mod log an admin chose (a Discord locale code of
	// a shipped language); "" follows the server's own Discord locale.
	Language string

	// version is the settings' version when they were read (field v).
	version string
}

// GameOn reports whether reports for g are taken in this server (the operator must
// also have configured it).
func (st Settings) GameOn(g Game) bool { return !st.Off[g] }

// SettingsStore keeps each server's settings in one Redis hash. Every change bumps
// the hash's version (field v), so that a call made on settings read earlier can
// check, in its own round trip, that they are still the server's (File).
type SettingsStore struct {
	rdb          redis.UniversalClient
	defaultLimit config.Rate
	maxLimit     config.Rate
	write        *redis.Script

	// known keeps the settings of each server last read or written here, with the
	// reason list's JSON they were decoded from: a report form is validated on them
	// without reading them again, and a list that did not change is not decoded again.
	mu    sync.Mutex
	known map[string]knownSettings
}

type knownSettings struct {
	reasonsJSON string
	st          Settings
}

// NewSettingsStore returns a store whose servers start with the operator's limit.
func NewSettingsStore(rdb redis.UniversalClient, defaultLimit, maxLimit config.Rate) *SettingsStore {
	return &SettingsStore{rdb: rdb, defaultLimit: defaultLimit, maxLimit: maxLimit, write: markedScript(settingsLua),
		known: map[string]knownSettings{}}
}

const (
	fieldReasons   = "reasons"
	fieldLimit     = "limit"
	fieldChannel   = "modlog_channel"
	fieldModRole   = "mod_role"
	fieldAnonymous = "anonymous"
	fieldOff       = "off:" // + game
	fieldLanguage  = "language"
	// fieldVersion counts the changes to a server's settings.
	fieldVersion = "v"
)

func settingsKey(guildID string) string { return guildKey(guildID, "settings") }

// Get returns the settings of guildID; a server whose reasons no admin changed has
// the default ones. Reading stores nothing: it is on the path of every answer,
// including those to bad input, which must change nothing. It carries ctx's replay
// mark if no call did yet.
func (s *SettingsStore) Get(ctx context.Context, guildID string) (Settings, error) {
	var h *redis.MapStringStringCmd
	if err := readMarked(ctx, s.rdb, func(p redis.Pipeliner) { h = p.HGetAll(ctx, settingsKey(guildID)) }); err != nil {
		return Settings{}, fmt.Errorf("reading the settings of %s: %w", guildID, err)
	}
	return s.decode(guildID, h.Val())
}

// cached returns the settings of guildID last read or written by this instance, if
// any. They may be stale: a call made on them checks their version.
func (s *SettingsStore) cached(guildID string) (Settings, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.known[guildID]
	if !ok {
		return Settings{}, false
	}
	st := k.st
	st.Reasons = slices.Clone(st.Reasons)
	return st, true
}

// defaultReasonsJSON is the stored form of the default reasons.
var defaultReasonsJSON = func() string {
	b, _ := json.Marshal(DefaultReasons())
	return string(b)
}()

// decode reads a server's settings from their hash (HGETALL), and keeps them as the
// server's known settings.
func (s *SettingsStore) decode(guildID string, h map[string]string) (Settings, error) {
	st := Settings{GuildID: guildID, Limit: s.defaultLimit,
		ModLogChannel: h[fieldChannel], ModRole: h[fieldModRole], Anonymous: h[fieldAnonymous] == "1",
		Language: h[fieldLanguage], version: h[fieldVersion]}
	for _, g := range Games() {
		if h[fieldOff+string(g)] == "1" {
			if st.Off == nil {
				st.Off = map[Game]bool{}
			}
			st.Off[g] = true
		}
	}
	raw, ok := h[fieldReasons]
	if !ok {
		raw = defaultReasonsJSON
	}
	s.mu.Lock()
	k, ok := s.known[guildID]
	s.mu.Unlock()
	if ok && k.reasonsJSON == raw {
		st.Reasons = slices.Clone(k.st.Reasons)
	} else if err := json.Unmarshal([]byte(raw), &st.Reasons); err != nil {
		return Settings{}, fmt.Errorf("decoding the reasons of %s: %w", guildID, err)
	}
	if v := h[fieldLimit]; v != "" {
		r, err := config.ParseRate(v)
		if err != nil {
			return Settings{}, fmt.Errorf("decoding the limit of %s: %w", guildID, err)
		}
		// The operator may have tightened REPORT_LIMIT_MAX since the admin set it.
		if !r.Within(s.maxLimit) {
			r = s.maxLimit
		}
		st.Limit, st.LimitSet = r, true
	}
	s.mu.Lock()
	if len(s.known) > 10000 {
		clear(s.known)
	}
	kept := st
	kept.Reasons = slices.Clone(st.Reasons)
	s.known[guildID] = knownSettings{reasonsJSON: raw, st: kept}
	s.mu.Unlock()
	return st, nil
}

// ErrTooManyReasons is returned when a server already has MaxReasons reasons.
var ErrTooManyReasons = fmt.Errorf("a server can have at most %d reasons", MaxReasons)

// ErrReasonExists is returned when a reason with the same key is already listed.
var ErrReasonExists = errors.New("a reason with that name already exists")

// ErrNoSuchReason is returned when removing a reason the server does not have.
var ErrNoSuchReason = errors.New("no such reason")

// settingsLua changes a server's settings (a marked script: markPrelude) and bumps
// their version. KEYS[1] the settings hash; ARGV[1] the change:
//   - set: ARGV[2..] field, value pairs;
//   - add: ARGV[2] a reason's key, ARGV[3] its JSON, ARGV[4] the most reasons a
//     server may have;
//   - remove: ARGV[2] a reason's key.
//
// add and remove work on the list as stored, or on the default one (ARGV[#ARGV]),
// in the script, so two admins editing at once both see their change applied. It
// returns {'ok', the hash as HGETALL, the removed reason's JSON}, or with nothing
// changed {'exists'}, {'full'} or {'missing'}.
const settingsLua = `
local op = ARGV[1]
local removed = ''
if op == 'set' then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
else
  local list = cjson.decode(redis.call('HGET', KEYS[1], 'reasons') or ARGV[#ARGV])
  local at = nil
  for i, r in ipairs(list) do
    if r.key == ARGV[2] then at = i end
  end
  if op == 'add' then
    if at then return {'exists'} end
    if #list >= tonumber(ARGV[4]) then return {'full'} end
    list[#list + 1] = cjson.decode(ARGV[3])
  else
    if not at then return {'missing'} end
    removed = cjson.encode(table.remove(list, at))
  end
  -- cjson writes an empty table as an object.
  redis.call('HSET', KEYS[1], 'reasons', #list == 0 and '[]' or cjson.encode(list))
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
return {'ok', redis.call('HGETALL', KEYS[1]), removed}`

// change runs settingsLua with ctx's replay mark and returns the settings after it.
func (s *SettingsStore) change(ctx context.Context, guildID string, args ...any) (Settings, string, error) {
	if args[0] != "set" {
		args = append(args, defaultReasonsJSON)
	}
	res, err := runMarked(ctx, s.rdb, s.write, []string{settingsKey(guildID)}, args...).Slice()
	if err != nil {
		return Settings{}, "", fmt.Errorf("changing the settings of %s: %w", guildID, err)
	}
	switch res[0] {
	case "exists":
		return Settings{}, "", ErrReasonExists
	case "full":
		return Settings{}, "", ErrTooManyReasons
	case "missing":
		return Settings{}, "", ErrNoSuchReason
	}
	flat, _ := res[1].([]any)
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		h[k], _ = flat[i+1].(string)
	}
	removed, _ := res[2].(string)
	st, err := s.decode(guildID, h)
	return st, removed, err
}

// AddReason appends r to the server's list.
func (s *SettingsStore) AddReason(ctx context.Context, guildID string, r Reason) ([]Reason, error) {
	enc, _ := json.Marshal(r)
	st, _, err := s.change(ctx, guildID, "add", r.Key, enc, MaxReasons)
	return st.Reasons, err
}

// RemoveReason removes the reason with key from the server's list, and returns it
// with the list left.
func (s *SettingsStore) RemoveReason(ctx context.Context, guildID, key string) (Reason, []Reason, error) {
	st, enc, err := s.change(ctx, guildID, "remove", key)
	if err != nil {
		return Reason{}, nil, err
	}
	var r Reason
	if err := json.Unmarshal([]byte(enc), &r); err != nil {
		return Reason{}, nil, fmt.Errorf("decoding the removed reason of %s: %w", guildID, err)
	}
	return r, st.Reasons, nil
}

// ResetReasons puts the default list back.
func (s *SettingsStore) ResetReasons(ctx context.Context, guildID string) ([]Reason, error) {
	st, _, err := s.change(ctx, guildID, "set", fieldReasons, defaultReasonsJSON)
	return st.Reasons, err
}

// SetLimit sets the server's per-reporter limit; it must be within the operator's
// REPORT_LIMIT_MAX.
func (s *SettingsStore) SetLimit(ctx context.Context, guildID string, r config.Rate) error {
	if !r.Within(s.maxLimit) {
		return &InputError{Field: "limit", Problem: "limit_too_loose", Vars: map[string]any{"Rate": r.String(), "Max": s.maxLimit.String()}}
	}
	_, _, err := s.change(ctx, guildID, "set", fieldLimit, r.String())
	return err
}

// SetModLog sets (or, with "", clears) the mod-log channel.
func (s *SettingsStore) SetModLog(ctx context.Context, guildID, channelID string) error {
	_, _, err := s.change(ctx, guildID, "set", fieldChannel, channelID)
	return err
}

// SetModRole sets (or, with "", clears) the moderators' role.
func (s *SettingsStore) SetModRole(ctx context.Context, guildID, roleID string) error {
	_, _, err := s.change(ctx, guildID, "set", fieldModRole, roleID)
	return err
}

// SetGame turns reports for g on or off in the server.
func (s *SettingsStore) SetGame(ctx context.Context, guildID string, g Game, on bool) error {
	_, err := s.SetGames(ctx, guildID, map[Game]bool{g: on})
	return err
}

// SetGames turns reports for each game of on on or off in the server, at once, and
// returns the settings after.
func (s *SettingsStore) SetGames(ctx context.Context, guildID string, on map[Game]bool) (Settings, error) {
	args := []any{"set"}
	for _, g := range Games() {
		if v, ok := on[g]; ok {
			args = append(args, fieldOff+string(g), flag(!v))
		}
	}
	if len(args) == 1 {
		return s.Get(ctx, guildID)
	}
	st, _, err := s.change(ctx, guildID, args...)
	return st, err
}

// SetAnonymous turns anonymous reports on or off.
func (s *SettingsStore) SetAnonymous(ctx context.Context, guildID string, on bool) error {
	_, _, err := s.change(ctx, guildID, "set", fieldAnonymous, flag(on))
	return err
}

// SetLanguage sets the mod log's language (a Discord locale code), or with "" has it
// follow the server's Discord locale. Which languages exist is package commands'
// business; it checks the code.
func (s *SettingsStore) SetLanguage(ctx context.Context, guildID, code string) error {
	_, _, err := s.change(ctx, guildID, "set", fieldLanguage, code)
	return err
}

// MaxLimit is the loosest limit an admin may set.
func (s *SettingsStore) MaxLimit() config.Rate { return s.maxLimit }
