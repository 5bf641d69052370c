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
}

// GameOn reports whether reports for g are taken in this server (the operator must
// also have configured it).
func (st Settings) GameOn(g Game) bool { return !st.Off[g] }

// SettingsStore keeps each server's settings in one Redis hash.
type SettingsStore struct {
	rdb          redis.UniversalClient
	defaultLimit config.Rate
	maxLimit     config.Rate

	// decoded keeps the last decoded reason list of each server with the JSON it came
	// from: settings are read on every report, and change rarely.
	mu      sync.Mutex
	decoded map[string]decodedReasons
}

type decodedReasons struct {
	raw     string
	reasons []Reason
}

// NewSettingsStore returns a store whose servers start with the operator's limit.
func NewSettingsStore(rdb redis.UniversalClient, defaultLimit, maxLimit config.Rate) *SettingsStore {
	return &SettingsStore{rdb: rdb, defaultLimit: defaultLimit, maxLimit: maxLimit, decoded: map[string]decodedReasons{}}
}

const (
	fieldReasons   = "reasons"
	fieldLimit     = "limit"
	fieldChannel   = "modlog_channel"
	fieldModRole   = "mod_role"
	fieldAnonymous = "anonymous"
	fieldOff       = "off:" // + game
	fieldLanguage  = "language"
)

// Get returns the settings of guildID; a server whose reasons no admin changed has
// the default ones. Reading stores nothing: it is on the path of every answer,
// including those to bad input, which must change nothing.
func (s *SettingsStore) Get(ctx context.Context, guildID string) (Settings, error) {
	return s.get(ctx, s.rdb, guildID)
}

// get is Get on the connection c (a transaction's, inside WATCH: on Redis Cluster
// the watched connection is held, and another from the node's pool may not come).
func (s *SettingsStore) get(ctx context.Context, c redis.Cmdable, guildID string) (Settings, error) {
	h, err := c.HGetAll(ctx, guildKey(guildID, "settings")).Result()
	if err != nil {
		return Settings{}, fmt.Errorf("reading the settings of %s: %w", guildID, err)
	}
	return s.decode(guildID, h)
}

// defaultReasonsJSON is the stored form of the default reasons.
var defaultReasonsJSON = func() string {
	b, _ := json.Marshal(DefaultReasons())
	return string(b)
}()

func (s *SettingsStore) decode(guildID string, h map[string]string) (Settings, error) {
	st := Settings{GuildID: guildID, Limit: s.defaultLimit,
		ModLogChannel: h[fieldChannel], ModRole: h[fieldModRole], Anonymous: h[fieldAnonymous] == "1",
		Language: h[fieldLanguage]}
	for _, g := range []Game{RallyHere, Destiny2} {
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
	d, ok := s.decoded[guildID]
	s.mu.Unlock()
	if ok && d.raw == raw {
		st.Reasons = slices.Clone(d.reasons)
	} else {
		if err := json.Unmarshal([]byte(raw), &st.Reasons); err != nil {
			return Settings{}, fmt.Errorf("decoding the reasons of %s: %w", guildID, err)
		}
		s.mu.Lock()
		if len(s.decoded) > 10000 {
			clear(s.decoded)
		}
		s.decoded[guildID] = decodedReasons{raw: raw, reasons: slices.Clone(st.Reasons)}
		s.mu.Unlock()
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
	return st, nil
}

// ErrTooManyReasons is returned when a server already has MaxReasons reasons.
var ErrTooManyReasons = fmt.Errorf("a server can have at most %d reasons", MaxReasons)

// ErrReasonExists is returned when a reason with the same key is already listed.
var ErrReasonExists = errors.New("a reason with that name already exists")

// ErrNoSuchReason is returned when removing a reason the server does not have.
var ErrNoSuchReason = errors.New("no such reason")

// AddReason appends r to the server's list.
func (s *SettingsStore) AddReason(ctx context.Context, guildID string, r Reason) ([]Reason, error) {
	return s.updateReasons(ctx, guildID, func(list []Reason) ([]Reason, error) {
		switch {
		case slices.ContainsFunc(list, func(x Reason) bool { return x.Key == r.Key }):
			return nil, ErrReasonExists
		case len(list) >= MaxReasons:
			return nil, ErrTooManyReasons
		}
		return append(list, r), nil
	})
}

// RemoveReason removes the reason with key from the server's list.
func (s *SettingsStore) RemoveReason(ctx context.Context, guildID, key string) ([]Reason, error) {
	return s.updateReasons(ctx, guildID, func(list []Reason) ([]Reason, error) {
		i := slices.IndexFunc(list, func(x Reason) bool { return x.Key == key })
		if i < 0 {
			return nil, ErrNoSuchReason
		}
		return slices.Delete(list, i, i+1), nil
	})
}

// ResetReasons puts the default list back.
func (s *SettingsStore) ResetReasons(ctx context.Context, guildID string) ([]Reason, error) {
	return s.updateReasons(ctx, guildID, func([]Reason) ([]Reason, error) { return DefaultReasons(), nil })
}

// updateReasons changes the list in an optimistic transaction, so two admins editing
// at once both see their change applied, or retried on the other's result.
func (s *SettingsStore) updateReasons(ctx context.Context, guildID string, change func([]Reason) ([]Reason, error)) ([]Reason, error) {
	key := guildKey(guildID, "settings")
	var out []Reason
	for range 10 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			st, err := s.get(ctx, tx, guildID)
			if err != nil {
				return err
			}
			if out, err = change(slices.Clone(st.Reasons)); err != nil {
				return err
			}
			enc, _ := json.Marshal(out)
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				return p.HSet(ctx, key, fieldReasons, enc).Err()
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return nil, fmt.Errorf("updating the reasons of %s: too much contention", guildID)
}

// SetLimit sets the server's per-reporter limit; it must be within the operator's
// REPORT_LIMIT_MAX.
func (s *SettingsStore) SetLimit(ctx context.Context, guildID string, r config.Rate) error {
	if !r.Within(s.maxLimit) {
		return &InputError{Field: "limit", Problem: "limit_too_loose", Vars: map[string]any{"Rate": r.String(), "Max": s.maxLimit.String()}}
	}
	if err := s.rdb.HSet(ctx, guildKey(guildID, "settings"), fieldLimit, r.String()).Err(); err != nil {
		return fmt.Errorf("setting the limit of %s: %w", guildID, err)
	}
	return nil
}

// SetModLog sets (or, with "", clears) the mod-log channel.
func (s *SettingsStore) SetModLog(ctx context.Context, guildID, channelID string) error {
	return s.setField(ctx, guildID, fieldChannel, channelID)
}

// SetModRole sets (or, with "", clears) the moderators' role.
func (s *SettingsStore) SetModRole(ctx context.Context, guildID, roleID string) error {
	return s.setField(ctx, guildID, fieldModRole, roleID)
}

// SetGame turns reports for g on or off in the server.
func (s *SettingsStore) SetGame(ctx context.Context, guildID string, g Game, on bool) error {
	return s.setField(ctx, guildID, fieldOff+string(g), flag(!on))
}

// SetAnonymous turns anonymous reports on or off.
func (s *SettingsStore) SetAnonymous(ctx context.Context, guildID string, on bool) error {
	return s.setField(ctx, guildID, fieldAnonymous, flag(on))
}

// SetLanguage sets the mod log's language (a Discord locale code), or with "" has it
// follow the server's Discord locale. Which languages exist is package commands'
// business; it checks the code.
func (s *SettingsStore) SetLanguage(ctx context.Context, guildID, code string) error {
	return s.setField(ctx, guildID, fieldLanguage, code)
}

func (s *SettingsStore) setField(ctx context.Context, guildID, field, value string) error {
	if err := s.rdb.HSet(ctx, guildKey(guildID, "settings"), field, value).Err(); err != nil {
		return fmt.Errorf("setting %s of %s: %w", field, guildID, err)
	}
	return nil
}

// MaxLimit is the loosest limit an admin may set.
func (s *SettingsStore) MaxLimit() config.Rate { return s.maxLimit }
