package reporting

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// calls counts the calls (a command, or a pipeline: one round trip each on one
// node) a client makes, leaving out those that set up a new connection.
type calls struct {
	mu sync.Mutex
	n  int
}

func (c *calls) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *calls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ours(cmd) {
			c.add()
		}
		return next(ctx, cmd)
	}
}

func (c *calls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, ours) {
			c.add()
		}
		return next(ctx, cmds)
	}
}

// ours tells the service's commands from those go-redis sends on a new connection.
func ours(cmd redis.Cmder) bool { return cmd.Name() != "hello" && cmd.Name() != "client" }

func (c *calls) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }

func (c *calls) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = 0
	return n
}

// TestSubmitAfterAChangeElsewhere: an instance files a report on the settings it
// last read, without reading them again (on one node, in one round trip); when an
// admin changed them on another instance meanwhile, the form is judged on the new
// ones. A form the new settings refuse stores nothing and spends no limit. On one
// Redis node and on Redis Cluster, where the settings' version is checked in the
// filing's first step.
func TestSubmitAfterAChangeElsewhere(t *testing.T) {
	t.Parallel()
	rh := rallyheretest.New(t)
	tests := []struct {
		name string
		// change is what an admin does on the other instance, after the reporter's
		// instance read the settings to show the form.
		change func(ctx context.Context, admin *SettingsStore, guild string) error
		// submissions is how many forms are sent, each about another player; the
		// last is judged.
		submissions int
		wantErr     func(error) bool
		// wantCalls is the last submission's round trips on one node: 1 on settings
		// still current; on changed ones 2 more (the filing finds them changed, they
		// are read, and the form is filed on them) or 1 more (it is refused on them).
		wantCalls int
	}{
		{"nothing changed", nil, 1, nil, 1},
		{"another setting changed", func(ctx context.Context, a *SettingsStore, guild string) error {
			return a.SetModLog(ctx, guild, "modlog")
		}, 1, nil, 3},
		{"the reason was removed", func(ctx context.Context, a *SettingsStore, guild string) error {
			_, _, err := a.RemoveReason(ctx, guild, "cheating")
			return err
		}, 1, func(err error) bool { return errors.Is(err, ErrForgedReason) }, 2},
		{"the game was turned off", func(ctx context.Context, a *SettingsStore, guild string) error {
			return a.SetGame(ctx, guild, RallyHere, false)
		}, 1, func(err error) bool { return errors.Is(err, ErrGameOffHere) }, 2},
		{"the limit was lowered", func(ctx context.Context, a *SettingsStore, guild string) error {
			return a.SetLimit(ctx, guild, config.Rate{Count: 1, Per: time.Hour})
		}, 2, func(err error) bool {
			var le *LimitError
			return errors.As(err, &le) && le.Decision.Scope == LimitGuild
		}, 1},
	}
	for _, topology := range []string{"single", "cluster"} {
		t.Run(topology, func(t *testing.T) {
			t.Parallel()
			var client func() redis.UniversalClient
			if topology == "cluster" {
				c := redistest.StartCluster(t, redistest.ClusterOptions{})
				client = func() redis.UniversalClient { return c.Client(t) }
			} else {
				srv := redistest.Start(t)
				client = func() redis.UniversalClient { return srv.Client(t) }
			}
			newInstance := func(rdb redis.UniversalClient) *Service {
				svc := NewService(rdb, Options{
					RallyHere:    rallyhere.New(rh.URL, rh.ClientID, rh.ClientSecret, rallyhere.Options{}),
					DefaultLimit: config.Rate{Count: 10, Per: time.Hour}, MaxLimit: config.Rate{Count: 10, Per: time.Hour},
					GlobalLimit: config.Rate{Count: 100, Per: time.Hour}, Retention: time.Hour,
					Logger: zerolog.New(zerolog.NewTestWriter(t)),
				})
				if err := svc.LoadScripts(context.Background()); err != nil {
					t.Fatal(err)
				}
				return svc
			}
			for k, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					guild, reporter := fmt.Sprint("g", k), fmt.Sprint(100000000000000001+k)
					who := Filer{GuildID: guild, ChannelID: "c", ReporterID: reporter, ReporterName: "alice"}
					counted := &calls{}
					rdb := client()
					rdb.AddHook(counted)
					mine, admin := newInstance(rdb), newInstance(client())
					counted.take() // loading the scripts
					// The form is shown: this instance reads the settings.
					if _, _, err := mine.SettingsAndLimit(ctx, guild, reporter); err != nil {
						t.Fatal(err)
					}
					if tt.change != nil {
						if err := tt.change(ctx, admin.Settings, guild); err != nil {
							t.Fatal(err)
						}
					}
					var err error
					var before []string
					for n := range tt.submissions {
						if n == tt.submissions-1 {
							before = keysOf(t, rdb)
						}
						counted.take()
						f := Form{Game: RallyHere, Player: fmt.Sprint("bob", n), Reason: "cheating"}
						_, err = mine.Submit(ctx, f, who, Reply{InteractionID: NewID(time.Now()), Token: "t", Until: time.Now().Add(time.Minute)}, time.Now())
					}
					if n := counted.take(); topology == "single" && n != tt.wantCalls {
						t.Errorf("the submission took %d round trips, want %d", n, tt.wantCalls)
					}
					switch {
					case tt.wantErr == nil && err != nil:
						t.Fatalf("submitted: %v", err)
					case tt.wantErr != nil && !tt.wantErr(err):
						t.Fatalf("submitted: %v; want it refused on the new settings", err)
					case tt.wantErr != nil:
						if after := keysOf(t, rdb); !slices.Equal(after, before) {
							t.Errorf("the refused submission changed Redis: keys %v, then %v", before, after)
						}
					}
				})
			}
		})
	}
}

// keysOf lists the keys of every master of rdb, sorted.
func keysOf(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	add := func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, "*").Result()
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, ks...)
		return err
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, add)
	} else {
		err = add(ctx, rdb.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}
