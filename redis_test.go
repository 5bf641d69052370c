package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// These tests are about Redis having a bad day: an outage, coming back empty, a
// primary lost. Each builds the topology it needs, so they run in the single-node
// pass only.

// useRedis points e at r instead of the Redis newEnv started.
func (e *env) useRedis(r redistest.Redis) {
	e.redis = r
	e.vars["REDIS_URL"], e.vars["REDIS_MODE"] = r.URL(), r.Mode()
}

// readyz returns /readyz's status and body; status 0 and the error when nothing
// answers (yet).
func readyz(t testing.TB, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until /readyz answers want, and returns its body.
func waitReady(t testing.TB, base string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, body := readyz(t, base)
		if status == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d %q for %s; want %d", status, body, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func onlySinglePass(t *testing.T, why string) {
	t.Helper()
	if redistest.OnCluster() {
		t.Skip(why + "; runs in the single-node pass")
	}
}

var pausedRE = regexp.MustCompile("Reports are paused .*\\(ref `([0-9A-Z]{8})`\\)")

// TestRedisOutage: Redis stops answering for a few seconds. Every interaction still
// gets the bot's own ephemeral answer, a pause notice with the outage's ref (never an
// HTTP 5xx, which Discord shows as "This interaction failed"); nothing is stored or
// spent; /readyz is 503 and says why; the outage is logged once when it starts and
// once when it ends, and every line the process writes is JSON. When Redis is back
// (with its data, as with AOF) the bot works as before and no limit was used.
func TestRedisOutage(t *testing.T) {
	onlySinglePass(t, "builds its own Redis topology")
	t.Parallel() // the bot is a process of its own, with its own fakes and Redis
	e := newEnv(t)
	e.useRedis(redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always"))
	e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
	for _, name := range []string{"bob", "carol", "dave", "erin"} {
		e.rh.AddPlayer(name)
	}
	p := e.spawn(t)
	srv := e.redis.(*redistest.Server)

	first := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "cheating", nil))
	e.postTo(t, p.base, first)
	e.discord.WaitOriginal(t, first.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })

	srv.Kill()
	killed := time.Now()
	body := waitReady(t, p.base, http.StatusServiceUnavailable, 5*time.Second)
	if !strings.Contains(body, "redis") {
		t.Errorf("/readyz while Redis is down says %q; want it to name redis", body)
	}

	// 20 reporters open the form and submit it while Redis is down.
	refs := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &discordgo.User{ID: fmt.Sprintf("31%016d", k), Username: "r"}
			for _, i := range []*discordgo.Interaction{
				e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, u, 0, slashData("report", "player")),
				e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, u, 0, modalData("report:rallyhere", "bob", "cheating", nil)),
			} {
				resp, status := e.postTo(t, p.base, i)
				if status != http.StatusOK || resp.Type != discordgo.InteractionResponseChannelMessageWithSource ||
					resp.Data == nil || resp.Data.Flags != discordgo.MessageFlagsEphemeral {
					t.Errorf("while Redis is down: HTTP %d, %+v; want the bot's ephemeral answer", status, resp)
					continue
				}
				m := pausedRE.FindStringSubmatch(resp.Data.Content)
				if m == nil {
					t.Errorf("while Redis is down the reporter read %q", resp.Data.Content)
					continue
				}
				mu.Lock()
				refs[m[1]]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(refs) != 1 {
		t.Errorf("refs shown during one outage: %v; want the outage's one ref", refs)
	}
	time.Sleep(time.Until(killed.Add(5 * time.Second)))
	srv.Revive(t)
	revived := time.Now()
	waitReady(t, p.base, http.StatusOK, 5*time.Second)
	t.Logf("ready again %s after Redis came back", time.Since(revived).Round(time.Millisecond))

	// Nothing of the outage was stored or spent: one report on record, and a reporter
	// who was refused during it still has the whole limit (3).
	rdb := srv.Client(t)
	if keys, err := rdb.Keys(context.Background(), "rb:{R-*}:report").Result(); err != nil || len(keys) != 1 {
		t.Fatalf("records after the outage: %v, %v; want only the one filed before", keys, err)
	}
	u := &discordgo.User{ID: fmt.Sprintf("31%016d", 7), Username: "r"}
	for n := range 4 {
		resp, _ := e.postTo(t, p.base, e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, u, 0,
			modalData("report:rallyhere", []string{"bob", "carol", "dave", "erin"}[n], "cheating", nil)))
		deferred := resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource
		if deferred != (n < 3) {
			t.Fatalf("report %d after the outage: %+v; want 3 accepted, then the limit", n+1, resp)
		}
	}

	// The outage in the log: once when it started, once when it ended, nothing but
	// JSON, and no stream of warnings while it lasted.
	for deadline := time.Now().Add(5 * time.Second); len(p.logs.lines("redis reachable again")) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(p.logs.linesPrefix("redis unreachable")); n != 1 {
		t.Errorf("%d 'redis unreachable' lines, want 1", n)
	}
	if n := len(p.logs.lines("redis reachable again")); n != 1 {
		t.Errorf("%d 'redis reachable again' lines, want 1", n)
	}
	warnings := 0
	for _, line := range strings.Split(strings.TrimSpace(p.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a line of the log is not JSON: %q", line)
			continue
		}
		at, _ := time.Parse(time.RFC3339, m["time"].(string))
		if (m["level"] == "warn" || m["level"] == "error") && !at.Before(killed.Truncate(time.Second)) && at.Before(revived) &&
			!strings.HasPrefix(m["message"].(string), "redis unreachable") {
			warnings++
			t.Logf("warning during the outage: %s", line)
		}
	}
	if warnings > 2 {
		t.Errorf("%d warnings while Redis was down; the outage should be logged once", warnings)
	}
}

// linesPrefix returns the JSON log lines whose message starts with prefix.
func (l *logBuffer) linesPrefix(prefix string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if msg, _ := m["message"].(string); strings.HasPrefix(msg, prefix) {
				out = append(out, m)
			}
		}
	}
	return out
}

// postTo posts a signed interaction to the bot at base.
func (e *env) postTo(t *testing.T, base string, i *discordgo.Interaction) (*discordgo.InteractionResponse, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, status, err := e.discord.Post(ctx, base+"/interactions", e.signer, i)
	if err != nil {
		t.Fatalf("posting interaction: %v", err)
	}
	return resp, status
}

// emptyRedis makes e's Redis lose everything: a restart without persistence for a
// single node, FLUSHALL on every master of a cluster.
func (e *env) emptyRedis(t *testing.T) {
	t.Helper()
	switch r := e.redis.(type) {
	case *redistest.Server:
		r.Restart(t)
	case *redistest.Cluster:
		cl := r.Client(t)
		if err := cl.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
			return c.FlushAll(ctx).Err()
		}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot empty a %T", r)
	}
}

// TestRedisComesBackEmpty: Redis loses everything (a restart without persistence, a
// flush); the bot recreates the delivery group and the server's settings, and a new
// report is delivered within 5 s, without a restart of the bot.
func TestRedisComesBackEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
	e.rh.AddPlayer("bob")
	r := e.start(t)
	before := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "cheating", nil))
	e.post(t, r, before)
	e.discord.WaitOriginal(t, before.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })

	e.emptyRedis(t)
	emptied := time.Now()
	after := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reported, 0, modalData("report:rallyhere", "bob", "afk", nil))
	for {
		// The first answer may come while the connections reconnect: a pause notice.
		resp, _ := e.post(t, r, after)
		if resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource {
			break
		}
		if time.Since(emptied) > 5*time.Second {
			t.Fatalf("5 s after Redis came back empty the bot answers %+v", resp.Data)
		}
		time.Sleep(100 * time.Millisecond)
		after = e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reported, 0, modalData("report:rallyhere", "bob", "afk", nil))
	}
	e.discord.WaitOriginal(t, after.Token, 5*time.Second, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	t.Logf("delivered %s after Redis came back empty", time.Since(emptied).Round(time.Millisecond))
	waitReady(t, r.base, http.StatusOK, 5*time.Second)
}

// TestFailoverLosesNoReport: with REDIS_WAIT_REPLICAS=1, reports are queued while
// RallyHere is down, then the Redis primary that holds the queue is killed (-9). After
// the failover (a Redis Cluster replica, or Sentinel promoting the replica), every
// report the reporters were told about is delivered exactly once, and a new report
// works too.
func TestFailoverLosesNoReport(t *testing.T) {
	t.Parallel()
	onlySinglePass(t, "builds its own Redis topology")
	for _, topology := range []string{"cluster", "sentinel"} {
		t.Run(topology, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var kill func() time.Time
			switch topology {
			case "cluster":
				c := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3, Replicas: 1})
				e.useRedis(c)
				kill = func() time.Time {
					m := c.MasterOf(t, "rb:{queue:rallyhere}:stream")
					m.Kill()
					at := time.Now()
					c.WaitFailover(t, "rb:{queue:rallyhere}:stream", 30*time.Second)
					t.Logf("cluster failover took %s", time.Since(at).Round(time.Millisecond))
					return at
				}
			case "sentinel":
				s := redistest.StartSentinel(t)
				e.useRedis(s)
				kill = func() time.Time {
					s.Primary.Kill()
					at := time.Now()
					s.WaitFailover(t, s.Primary.Addr, 30*time.Second)
					t.Logf("sentinel failover took %s", time.Since(at).Round(time.Millisecond))
					return at
				}
			}
			e.vars["REDIS_WAIT_REPLICAS"] = "1"
			e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
			e.rh.AddPlayer("bob")
			for _, k := range []string{"REPORT_LIMIT", "REPORT_LIMIT_MAX", "REPORT_LIMIT_GLOBAL"} {
				e.vars[k] = "10000/1m"
			}
			e.rh.SetFailureRate(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503})
			r := e.start(t)
			const n = 12
			var told []*discordgo.Interaction
			for k := range n {
				u := &discordgo.User{ID: fmt.Sprintf("32%016d", k), Username: "r"}
				i := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, u, 0, modalData("report:rallyhere", "bob", "cheating", nil))
				if resp, _ := e.post(t, r, i); resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource {
					t.Fatalf("report %d: %+v", k, resp)
				}
				told = append(told, i)
			}
			for _, i := range told {
				e.discord.WaitOriginal(t, i.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "⏳") })
			}
			at := kill()
			e.rh.SetFailureRate(rallyheretest.OpCreateReport, 0, rallyheretest.Failure{})
			e.waitArrived(t, 1, 60*time.Second, r.logs)
			t.Logf("first delivery %s after the primary was killed", time.Since(at).Round(time.Millisecond))
			e.waitArrived(t, n, 90*time.Second, r.logs)
			exactlyOnce(t, e.rh, n)
			late := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "afk", nil))
			deadline := time.Now().Add(30 * time.Second)
			for {
				// With no replica left after the failover, the reporter is told the
				// report is saved but its copy unconfirmed; it is delivered all the same.
				resp, _ := e.post(t, r, late)
				if resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource ||
					resp.Data != nil && strings.Contains(resp.Data.Content, "backup copy couldn't be confirmed") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a new report after the failover: %+v", resp.Data)
				}
				t.Logf("a new report after the failover, answered: %+v", resp.Data)
				time.Sleep(200 * time.Millisecond)
				late = e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", "bob", "afk", nil))
			}
			e.discord.WaitOriginal(t, late.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
			exactlyOnce(t, e.rh, n+1)
		})
	}
}
