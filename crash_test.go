package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

// These tests run the built binary as a separate process, so it can be killed for
// real, against the fakes and a real redis-server.

// build is one way of building reportbot, done once per test run.
type build struct {
	once sync.Once
	path string
	err  error
}

var devBuild, shippedBuild build

// TestMain removes the binaries the tests built once they have run: each is 25 MB
// in a directory of its own under the system's temporary directory, one per
// `go test` of this package.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, bd := range []*build{&devBuild, &shippedBuild} {
		if bd.path != "" {
			_ = os.RemoveAll(filepath.Dir(bd.path))
		}
	}
	os.Exit(code)
}

// binary is reportbot built as `make run` builds it, once per test run: the crash
// tests and the end-to-end tests run it. It shares the build cache with the tests'
// own packages, which keeps a cold `make test` shorter than a build of its own would.
func binary(t testing.TB) string {
	t.Helper()
	return devBuild.get(t, nil, "-buildvcs=auto")
}

// shippedBinary is reportbot built as the Dockerfile builds what ships (static,
// without symbol tables): the benchmarks measure it, its memory above all.
func shippedBinary(t testing.TB) string {
	t.Helper()
	return shippedBuild.get(t, []string{"CGO_ENABLED=0"}, "-trimpath", "-buildvcs=auto", "-ldflags=-s -w")
}

func (bd *build) get(t testing.TB, env []string, flags ...string) string {
	t.Helper()
	bd.once.Do(func() {
		dir, err := os.MkdirTemp("", "reportbot-bin")
		if err != nil {
			bd.err = err
			return
		}
		bd.path = filepath.Join(dir, "reportbot")
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bd.path, ".")...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			bd.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if bd.err != nil {
		t.Fatal(bd.err)
	}
	return bd.path
}

// process is one run of the binary.
type process struct {
	cmd  *exec.Cmd
	base string
	logs *logBuffer
	done chan struct{}
}

// spawn starts the binary with e's variables and waits until it serves.
func (e *env) spawn(t *testing.T) *process {
	t.Helper()
	p := &process{logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(t))
	for k, v := range e.vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l := p.logs.lines("serving HTTP"); len(l) > 0 && len(p.logs.lines("commands registered")) > 0 {
			p.base = "http://" + l[0]["addr"].(string)
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("the bot exited:\n%s", p.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the bot did not start:\n%s", p.logs)
	return nil
}

// loadEnv is a deployment for many reporters: anyone may report (the operator's
// fallback player stands in for unlinked reporters), and the limits are out of the way.
func loadEnv(t *testing.T) *env {
	e := newEnv(t)
	e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
	e.rh.AddPlayer("bob")
	for _, k := range []string{"REPORT_LIMIT", "REPORT_LIMIT_MAX", "REPORT_LIMIT_GLOBAL"} {
		e.vars[k] = "10000/1m"
	}
	e.vars["LOG_LEVEL"] = "info"
	return e
}

// submit files n reports about bob, from n different members, through the HTTP
// endpoint, 16 at a time; it returns each report's interaction.
func (e *env) submit(t *testing.T, p *process, from, n int) []*discordgo.Interaction {
	t.Helper()
	out := make([]*discordgo.Interaction, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u := &discordgo.User{ID: fmt.Sprintf("3%017d", from+k), Username: fmt.Sprintf("reporter%d", from+k)}
			i := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, u, 0, modalData("report:rallyhere", "bob", "cheating", nil))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, status, err := e.discord.Post(ctx, p.base+"/interactions", e.signer, i)
			if err != nil || status != 200 || resp.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource {
				t.Errorf("report %d: %d %+v %v", from+k, status, resp, err)
			}
			out[k] = i
		}()
	}
	wg.Wait()
	return out
}

// ourIDs are the report ids the bot put in custom_data of what reached RallyHere,
// with how often each arrived.
func ourIDs(rh *rallyheretest.Server) map[string]int {
	seen := map[string]int{}
	for _, r := range rh.Reports() {
		custom, _ := r.Body["custom_data"].(map[string]any)
		id, _ := custom["report_id"].(string)
		seen[id]++
	}
	return seen
}

// waitArrived waits until n distinct reports reached RallyHere; if they don't, it
// shows every report not yet delivered, so a slow one is told from a lost one.
func (e *env) waitArrived(t *testing.T, n int, within time.Duration, logs ...*logBuffer) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(ourIDs(e.rh)) < n {
		if time.Now().After(deadline) {
			tail := ""
			for _, l := range logs {
				s := l.String()
				tail += s[max(0, len(s)-4000):]
			}
			t.Fatalf("%d of %d reports arrived after %s; not delivered:\n%s\n%s", len(ourIDs(e.rh)), n, within, e.undelivered(t), tail)
		}
		// Each look decodes every report RallyHere holds (a thousand in the load test).
		time.Sleep(200 * time.Millisecond)
	}
}

// undelivered lists the records in Redis that are not delivered.
func (e *env) undelivered(t *testing.T) string {
	ctx := context.Background()
	rdb := e.redis.UniversalClient(t)
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, "rb:{R-*}:report").Result()
		keys = append(keys, ks...)
		return err
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { mu.Lock(); defer mu.Unlock(); return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb.(*redis.Client))
	}
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, k := range keys {
		h, _ := rdb.HGetAll(ctx, k).Result()
		if h["delivery"] != "delivered" {
			fmt.Fprintf(&b, "%s delivery=%s attempts=%s next=%s fault=%s error=%q\n", h["id"], h["delivery"], h["attempts"],
				h["next_attempt_at"], h["fault"], h["last_error"])
		}
	}
	pend, _ := rdb.XPending(ctx, "rb:{queue:rallyhere}:stream", "delivery").Result()
	retries, _ := rdb.ZRangeWithScores(ctx, "rb:{queue:rallyhere}:retry", 0, -1).Result()
	fmt.Fprintf(&b, "pending entries: %+v; scheduled retries: %v", pend, retries)
	return b.String()
}

func exactlyOnce(t *testing.T, rh *rallyheretest.Server, n int) {
	t.Helper()
	seen := ourIDs(rh)
	if len(seen) != n {
		t.Fatalf("%d distinct reports arrived, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("report %s arrived %d times", id, k)
		}
	}
}

// TestKilledMidDelivery is the fault test of issue #3: the bot is killed (SIGKILL)
// while RallyHere is failing and while deliveries are in flight, some of them
// already accepted upstream with the answer lost; restarted, with the upstream
// recovered, every accepted report arrives exactly once and every reporter is told.
func TestKilledMidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary for about a minute")
	}
	t.Parallel() // the bot is a process of its own, with its own fakes and Redis
	// Its Redis calls are those of every end-to-end test, and package reporting's
	// TestPipelineReclaimsCrashedWork reclaims on the Cluster too; its minute is
	// spent once.
	onlySinglePass(t, "runs the binary for about a minute")
	e := loadEnv(t)
	const n = 40
	// RallyHere is down while the reports come in: all are accepted and queued.
	e.rh.SetFailureRate(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503})
	first := e.spawn(t)
	reports := e.submit(t, first, 0, n)
	for _, i := range reports {
		e.discord.WaitOriginal(t, i.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "⏳") })
	}
	// It comes back slow, and the first answers get lost after filing; the bot is
	// killed while those deliveries are in flight.
	e.rh.SetFailureRate(rallyheretest.OpCreateReport, 0, rallyheretest.Failure{})
	e.rh.FailNext(rallyheretest.OpCreateReport, 5, rallyheretest.Failure{Drop: true})
	e.rh.SetDelay(rallyheretest.OpCreateReport, 300*time.Millisecond)
	for deadline := time.Now().Add(30 * time.Second); len(ourIDs(e.rh)) < 8; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not resume:\n%s", first.logs)
		}
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	arrivedBefore := len(ourIDs(e.rh))
	e.rh.SetDelay(rallyheretest.OpCreateReport, 0)

	second := e.spawn(t)
	e.waitArrived(t, n, 90*time.Second, first.logs, second.logs)
	exactlyOnce(t, e.rh, n)
	// A delivery the killed instance recorded but had not announced yet is announced
	// once its entry is reclaimed (ClaimIdle, 30 s).
	deadline := time.Now().Add(90 * time.Second)
	for _, i := range reports {
		e.discord.WaitOriginal(t, i.Token, time.Until(deadline), func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
	}
	t.Logf("%d reports arrived before the kill, %d after; reclaimed: %d log lines", arrivedBefore, n-arrivedBefore,
		len(second.logs.lines("reclaimed reports left pending")))
	if len(second.logs.lines("found upstream from an earlier attempt; not sent again")) == 0 {
		t.Errorf("no delivery was recognised as already filed; the lost answers were not exercised")
	}
}

// TestLoadWithFailuresAndRestart is the load test of issue #3: 1,000 reports while
// RallyHere fails 30% of its calls at random (lookups and reports), and the bot is
// restarted in the middle: all 1,000 arrive, none twice.
func TestLoadWithFailuresAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("files 1,000 reports through the binary")
	}
	t.Parallel() // the bot is a process of its own, with its own fakes and Redis
	// Its Redis calls are those of every end-to-end test; its minute is spent once.
	onlySinglePass(t, "files 1,000 reports through the binary")
	e := loadEnv(t)
	for _, op := range []rallyheretest.Op{rallyheretest.OpCreateReport, rallyheretest.OpLookupPlayer, rallyheretest.OpPlatformUser} {
		e.rh.SetFailureRate(op, 0.3, rallyheretest.Failure{Status: 503})
	}
	// Uncapped, one of the 2,000 lookups and reports fails seven times in a row in
	// about a third of runs (0.3^7 × 2,000), and the bot's backoff (2 s, doubling,
	// jittered) holds that report back 2 to 4 minutes, or 4 to 8 after eight: the
	// test's length would be luck: two of three runs here outlasted a 5-minute wait.
	e.rh.CapFailureRun(3)
	const n = 1000
	start := time.Now()
	first := e.spawn(t)
	e.submit(t, first, 0, n/2)
	// Restart while the first half is still being delivered and retried.
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if len(first.logs.lines("stopped")) != 1 {
		t.Fatalf("the first instance did not stop cleanly:\n%s", first.logs)
	}
	midway := len(ourIDs(e.rh))
	second := e.spawn(t)
	e.submit(t, second, n/2, n/2)
	e.waitArrived(t, n, 5*time.Minute, second.logs)
	exactlyOnce(t, e.rh, n)
	calls := e.rh.Calls(rallyheretest.OpCreateReport)
	t.Logf("1,000 reports arrived once each in %s; %d had arrived at the restart; %d report calls (%.0f%% failed and were retried)",
		time.Since(start).Round(time.Millisecond), midway, calls, 100*float64(calls-n)/float64(calls))
	attempts := map[int]int{}
	for _, l := range append(first.logs.lines("report settled"), second.logs.lines("report settled")...) {
		a, _ := l["attempts"].(float64)
		attempts[int(a)]++
	}
	t.Logf("reports by delivery attempts: %v", attempts)
}
