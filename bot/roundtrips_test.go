package bot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/reporting/redistest"
	"github.com/reportbot/reportbot/reporting/replay"
)

// roundTrips counts the Redis round trips made on behalf of an interaction before
// it is answered: every call (a command, or a pipeline) whose context carries the
// interaction's replay mark, which the HTTP transport puts in the context of the
// handler and takes out of the deferred work's. A call is a round trip to each
// slot its keys are in (on Redis Cluster, a pipeline goes to every node at once).
type roundTrips struct {
	mu    sync.Mutex
	calls map[*replay.Mark][]call
}

type call struct {
	slots []uint16
	words []string
}

func (rt *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (rt *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		rt.record(ctx, []redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (rt *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		rt.record(ctx, cmds)
		return next(ctx, cmds)
	}
}

func (rt *roundTrips) record(ctx context.Context, cmds []redis.Cmder) {
	m := replay.From(ctx)
	if m == nil {
		return
	}
	var c call
	for _, cmd := range cmds {
		c.words = append(c.words, strings.ToUpper(cmd.Name()))
		for _, key := range cmdKeys(cmd) {
			if s := redistest.Slot(key); !slices.Contains(c.slots, s) {
				c.slots = append(c.slots, s)
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.calls[m] = append(rt.calls[m], c)
}

// take returns the calls made for the one interaction since the last take.
func (rt *roundTrips) take() []call {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []call
	for _, c := range rt.calls {
		out = append(out, c...)
	}
	clear(rt.calls)
	return out
}

// cmdKeys are the keys a command names (those the bot sends).
func cmdKeys(cmd redis.Cmder) []string {
	args := cmd.Args()
	str := func(i int) string { s, _ := args[i].(string); return s }
	switch strings.ToLower(cmd.Name()) {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		var keys []string
		for i := 3; i < 3+n && i < len(args); i++ {
			keys = append(keys, str(i))
		}
		return keys
	case "mget", "del", "exists":
		var keys []string
		for i := 1; i < len(args); i++ {
			keys = append(keys, str(i))
		}
		return keys
	case "ping", "time", "wait", "cluster", "script", "hello", "client":
		return nil
	}
	if len(args) > 1 {
		return []string{str(1)}
	}
	return nil
}

// TestOneRoundTrip: from a verified interaction to its answer, the bot makes at most
// one round trip to Redis, on one node and on Redis Cluster (there, at most one to
// each slot): for every shape of interaction the front-door fuzzer is seeded with,
// good and bad, each answered as it should be. The replay mark rides in that round
// trip; a replay is still refused.
func TestOneRoundTrip(t *testing.T) {
	t.Parallel()
	for _, topology := range []string{"single", "cluster"} {
		t.Run(topology, func(t *testing.T) {
			rt := &roundTrips{calls: map[*replay.Mark][]call{}}
			var rdb redis.UniversalClient
			if topology == "cluster" {
				rdb = redistest.StartCluster(t, redistest.ClusterOptions{}).UniversalClient(t)
			} else {
				rdb = redistest.Start(t).Client(t)
			}
			fd := newFrontDoorOn(t, rdb, rt)
			// A first pass loads the scripts and this instance's knowledge of the
			// server's settings; the second is measured, on the same fixture.
			for _, body := range fd.seeds() {
				fd.post([]byte(fd.placeholders.Replace(string(body))))
			}
			rt.take()
			for k, body := range fd.seeds() {
				body = []byte(fd.placeholders.Replace(string(body)))
				status, resp := fd.post(body)
				calls := rt.take()
				var words []string
				perSlot := map[uint16]int{}
				for _, c := range calls {
					words = append(words, strings.Join(c.words, "+"))
					for _, s := range c.slots {
						perSlot[s]++
					}
				}
				what := fmt.Sprintf("seed %d (%.90s…): answered %d type %d after %v", k, body, status, resp.Type, words)
				if topology == "single" && len(calls) > 1 {
					t.Errorf("%s: %d round trips", what, len(calls))
				}
				for s, n := range perSlot {
					if n > 1 {
						t.Errorf("%s: %d round trips to slot %d", what, n, s)
					}
				}
				t.Log(what)
				if status == 200 && resp.Type != discordgo.InteractionResponsePong {
					// The same body again is a replay, refused before it does anything.
					if again, _ := fd.post(body); again != 401 {
						t.Errorf("seed %d replayed: %d, want 401", k, again)
					}
					rt.take()
				}
			}
		})
	}
}
