package reporting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/redistest"
)

func newSettings(t *testing.T) *SettingsStore {
	t.Helper()
	return NewSettingsStore(redistest.New(t).UniversalClient(t), config.Rate{Count: 3, Per: 10 * time.Minute}, config.Rate{Count: 10, Per: 10 * time.Minute})
}

func TestSettingsSeedDefaultsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	st, err := s.Get(ctx, "g1")
	if err != nil || len(st.Reasons) != len(DefaultReasons()) || st.Limit.Count != 3 || st.LimitSet {
		t.Fatalf("first use: %+v, %v", st, err)
	}
	if removed, _, err := s.RemoveReason(ctx, "g1", "teaming"); err != nil || removed.Label != "Teaming" {
		t.Fatalf("removed %+v, %v", removed, err)
	}
	st, _ = s.Get(ctx, "g1")
	if len(st.Reasons) != len(DefaultReasons())-1 {
		t.Fatalf("defaults seeded again over an admin's change: %d reasons", len(st.Reasons))
	}
	if other, _ := s.Get(ctx, "g2"); len(other.Reasons) != len(DefaultReasons()) {
		t.Fatal("servers share a list")
	}
}

func TestSettingsReasonEdits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	r, err := NewReason("Toxic voice chat", "harassment", nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.AddReason(ctx, "g", r)
	if err != nil || len(list) != 11 || list[10].Key != "toxic_voice_chat" {
		t.Fatalf("add: %v, %v", list, err)
	}
	if _, err := s.AddReason(ctx, "g", r); !errors.Is(err, ErrReasonExists) {
		t.Fatalf("second add: %v", err)
	}
	if _, _, err := s.RemoveReason(ctx, "g", "nope"); !errors.Is(err, ErrNoSuchReason) {
		t.Fatalf("remove unknown: %v", err)
	}
	for i := 11; i < MaxReasons; i++ {
		r, _ := NewReason(fmt.Sprintf("Reason %d", i), "other", nil)
		if _, err := s.AddReason(ctx, "g", r); err != nil {
			t.Fatal(err)
		}
	}
	extra, _ := NewReason("One too many", "other", nil)
	if _, err := s.AddReason(ctx, "g", extra); !errors.Is(err, ErrTooManyReasons) {
		t.Fatalf("26th reason: %v", err)
	}
	list, err = s.ResetReasons(ctx, "g")
	if err != nil || len(list) != len(DefaultReasons()) {
		t.Fatalf("reset: %d, %v", len(list), err)
	}
}

// TestSettingsConcurrentAdds checks that admins editing at once lose nothing.
func TestSettingsConcurrentAdds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := NewReason(fmt.Sprintf("Concurrent %d", i), "other", nil)
			if _, err := s.AddReason(ctx, "g", r); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st, _ := s.Get(ctx, "g")
	if len(st.Reasons) != 20 {
		t.Fatalf("%d reasons after 10 concurrent adds to 10, want 20", len(st.Reasons))
	}
}

func TestSettingsLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	if err := s.SetLimit(ctx, "g", config.Rate{Count: 11, Per: 10 * time.Minute}); !IsInputError(err) {
		t.Fatalf("limit above the max: %v", err)
	}
	if err := s.SetLimit(ctx, "g", config.Rate{Count: 5, Per: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Get(ctx, "g")
	if st.Limit != (config.Rate{Count: 5, Per: time.Hour}) || !st.LimitSet {
		t.Fatalf("limit %+v", st)
	}
	// An operator who lowers REPORT_LIMIT_MAX later caps what admins set before.
	lower := NewSettingsStore(s.rdb, s.defaultLimit, config.Rate{Count: 2, Per: time.Hour})
	if st, _ := lower.Get(ctx, "g"); st.Limit != (config.Rate{Count: 2, Per: time.Hour}) {
		t.Fatalf("capped limit %+v", st.Limit)
	}
}

func TestNewReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		label, rh string
		destiny   bool
		wantKey   string
		wantErr   string
	}{
		{"Real-life threat", "real_life_threat", false, "real_life_threat", ""},
		{"  Toxic   voice chat ", "harassment", false, "toxic_voice_chat", ""},
		{"Destiny only", "", true, "destiny_only", ""},
		{"", "other", false, "", "label"},
		{"!!!", "other", false, "", "label"},
		{"Nothing mapped", "", false, "", "reason"},
		{"Bad mapping", "cheat", false, "", "rallyhere-reason"},
		{"This label is far too long to be shown in a select", "other", false, "", "label"},
		{"zero\u200bwidth", "other", false, "", "label"},
	}
	for _, tt := range tests {
		var d *DestinyReason
		if tt.destiny {
			d = &DestinyReason{CategoryHash: 1, ReasonHash: 2, Label: "A › B"}
		}
		r, err := NewReason(tt.label, tt.rh, d)
		if tt.wantErr != "" {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tt.wantErr {
				t.Errorf("NewReason(%q): %v, want an input error on %s", tt.label, err, tt.wantErr)
			}
			continue
		}
		if err != nil || r.Key != tt.wantKey {
			t.Errorf("NewReason(%q) = %+v, %v; want key %q", tt.label, r, err, tt.wantKey)
		}
	}
}

// TestSettingsReadsWriteNothing: a server nobody configured reads as the defaults
// without anything being stored: reading is on the path of every answer, including
// those to bad input, which must change nothing (found by FuzzFrontDoor).
func TestSettingsReadsWriteNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	s := NewSettingsStore(rdb, config.Rate{Count: 3, Per: 10 * time.Minute}, config.Rate{Count: 10, Per: 10 * time.Minute})
	svc := NewService(rdb, Options{DefaultLimit: config.Rate{Count: 3, Per: 10 * time.Minute}, MaxLimit: config.Rate{Count: 10, Per: 10 * time.Minute},
		GlobalLimit: config.Rate{Count: 20, Per: 24 * time.Hour}})
	if st, err := s.Get(ctx, "g1"); err != nil || len(st.Reasons) != len(DefaultReasons()) {
		t.Fatalf("%+v, %v", st, err)
	}
	if st, _, err := svc.SettingsAndLimit(ctx, "g2", "u1"); err != nil || len(st.Reasons) != len(DefaultReasons()) {
		t.Fatalf("%+v, %v", st, err)
	}
	if keys, _ := rdb.Keys(ctx, "*").Result(); len(keys) != 0 {
		t.Fatalf("reading settings stored %v", keys)
	}
}

// TestSettingsGames: every game can be turned off in a server and on again, the
// studio's webhook as much as the two publishers.
func TestSettingsGames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettings(t)
	for _, g := range Games() {
		t.Run(string(g), func(t *testing.T) {
			guild := "g-" + string(g)
			if err := s.SetGame(ctx, guild, g, false); err != nil {
				t.Fatal(err)
			}
			st, err := s.Get(ctx, guild)
			if err != nil || st.GameOn(g) {
				t.Fatalf("after turning %s off: on=%v, %v", g, st.GameOn(g), err)
			}
			for _, other := range Games() {
				if other != g && !st.GameOn(other) {
					t.Errorf("turning %s off turned %s off", g, other)
				}
			}
			if err := s.SetGame(ctx, guild, g, true); err != nil {
				t.Fatal(err)
			}
			if st, _ := s.Get(ctx, guild); !st.GameOn(g) {
				t.Fatalf("%s still off after turning it on", g)
			}
		})
	}
}
