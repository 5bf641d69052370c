package reporting

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// BenchmarkLimitDecision compares, against one real redis-server in the same run, a
// bare PING (the floor: one round trip), go-redis/redis_rate's Allow (one GCRA script)
// and the Limiter's decisions: Take of the per-server window (the decision of issue
// #2), Check, and Take with every rule of SPEC §4 on. Each sub-benchmark starts from an
// empty database and spreads its decisions over 100,000 reporters with a limit of
// 3/10m, so, as in real traffic, most decisions are allowed and write.
//
//   - latency/*: every iteration times a PING and then the decision, back to back, so
//     both see the same machine; p50/p99 are the decision's, ×ping is the ratio of the
//     p50s.
//
//   - latency/interleaved: each iteration runs PING and every decision, in rotating
//     order; ×ping-<name> is the ratio of that decision's p50 to PING's p50.
//
//   - throughput/*: 16 goroutines per core deciding as fast as they can; decisions/s.
//     server-µs/op is Redis's own time per call (INFO commandstats).
//
// Every sub-benchmark runs on one redis-server (single/…) and on a three-master Redis
// Cluster (cluster/…), in the same run.
//
//	go test -run='^$' -bench=LimitDecision -benchtime=20000x -count=5 ./reporting/
func BenchmarkLimitDecision(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
		b.Cleanup(func() { rdb.Close() })
		benchLimitDecision(b, rdb, func(ctx context.Context, fn func(context.Context, *redis.Client) error) error { return fn(ctx, rdb) })
	})
	b.Run("cluster", func(b *testing.B) {
		c := redistest.StartCluster(b, redistest.ClusterOptions{})
		addrs := make([]string, len(c.Nodes))
		for i, n := range c.Nodes {
			addrs[i] = n.Addr
		}
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 64})
		b.Cleanup(func() { rdb.Close() })
		benchLimitDecision(b, rdb, rdb.ForEachMaster)
	})
}

// benchLimitDecision runs the decisions on rdb; eachNode runs a command on every node
// (one for a single server, every master of a cluster).
func benchLimitDecision(b *testing.B, rdb redis.UniversalClient, eachNode func(context.Context, func(context.Context, *redis.Client) error) error) {
	ctx := context.Background()
	limiter := NewLimiter(rdb)
	rr := redis_rate.NewLimiter(rdb)
	perServer := config.Rate{Count: 3, Per: 10 * time.Minute}
	global := config.Rate{Count: 20, Per: 24 * time.Hour}
	const reporters = 100000

	var seq atomic.Int64
	next := func() (string, string) {
		n := seq.Add(1)
		return strconv.FormatInt(n%reporters, 10), "R-" + strconv.FormatInt(n, 10)
	}
	ping := func() error { return rdb.Ping(ctx).Err() }
	decisions := []struct {
		name string
		op   func() error
	}{
		{"ping", ping},
		{"redis_rate", func() error {
			user, _ := next()
			_, err := rr.Allow(ctx, user, redis_rate.Limit{Rate: 3, Burst: 3, Period: 10 * time.Minute})
			return err
		}},
		{"limiter_take", func() error {
			user, id := next()
			_, err := limiter.Take(ctx, LimitRequest{ReporterID: user, GuildID: "g", Guild: perServer}, id)
			return err
		}},
		{"limiter_check", func() error {
			user, _ := next()
			_, err := limiter.Check(ctx, LimitRequest{ReporterID: user, GuildID: "g", Guild: perServer})
			return err
		}},
		{"limiter_take_all_rules", func() error {
			user, id := next()
			_, err := limiter.Take(ctx, LimitRequest{ReporterID: user, GuildID: "g", Guild: perServer, Global: global,
				Target: "rallyhere:" + id, DedupeFor: 24 * time.Hour}, id)
			return err
		}},
	}

	// fresh empties the database and the counters and loads the scripts, so that every
	// sub-benchmark starts alike.
	fresh := func(b *testing.B, op func() error) {
		b.Helper()
		if err := eachNode(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushDB(ctx).Err() }); err != nil {
			b.Fatal(err)
		}
		seq.Store(0)
		if err := op(); err != nil {
			b.Fatal(err)
		}
		if err := eachNode(ctx, func(ctx context.Context, c *redis.Client) error { return c.ConfigResetStat(ctx).Err() }); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
	}
	// serverTime reports Redis's own time per call of cmd, over every node.
	serverTime := func(b *testing.B, cmd string) {
		b.Helper()
		var mu sync.Mutex
		var usec, calls float64
		err := eachNode(ctx, func(ctx context.Context, c *redis.Client) error {
			stats, err := c.Info(ctx, "commandstats").Result()
			if err != nil {
				return err
			}
			for _, line := range strings.Split(stats, "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":"); ok {
					for _, f := range strings.Split(rest, ",") {
						k, v, _ := strings.Cut(f, "=")
						n, _ := strconv.ParseFloat(v, 64)
						mu.Lock()
						switch k {
						case "calls":
							calls += n
						case "usec":
							usec += n
						}
						mu.Unlock()
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if calls > 0 {
			b.ReportMetric(usec/calls, "server-µs/op")
		}
	}
	p := func(lat []time.Duration, q float64) time.Duration { return lat[int(float64(len(lat)-1)*q)] }

	for _, d := range decisions[1:] {
		b.Run("latency/"+d.name, func(b *testing.B) {
			fresh(b, d.op)
			pings := make([]time.Duration, 0, b.N)
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				if err := ping(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := d.op(); err != nil {
					b.Fatal(err)
				}
				pings = append(pings, t1.Sub(t0))
				lat = append(lat, time.Since(t1))
			}
			b.StopTimer()
			slices.Sort(pings)
			slices.Sort(lat)
			b.ReportMetric(float64(p(pings, .5).Microseconds()), "ping-p50-µs")
			b.ReportMetric(float64(p(lat, .5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(p(lat, .99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(p(lat, .5))/float64(p(pings, .5)), "×ping")
		})
	}
	// latency/interleaved: every iteration runs a PING and each decision, in an order
	// that rotates, so that all of them meet the machine in the same state; the
	// fairest same-run comparison on a shared machine.
	b.Run("latency/interleaved", func(b *testing.B) {
		fresh(b, ping)
		lat := make([][]time.Duration, len(decisions))
		for i := range lat {
			lat[i] = make([]time.Duration, 0, b.N)
		}
		n := 0
		for b.Loop() {
			for k := range decisions {
				i := (n + k) % len(decisions)
				t0 := time.Now()
				if err := decisions[i].op(); err != nil {
					b.Fatal(err)
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
			n++
		}
		b.StopTimer()
		for i := range lat {
			slices.Sort(lat[i])
		}
		for i, d := range decisions[1:] {
			b.ReportMetric(float64(p(lat[i+1], .5))/float64(p(lat[0], .5)), "×ping-"+d.name)
		}
	})
	for _, d := range decisions {
		b.Run("throughput/"+d.name, func(b *testing.B) {
			fresh(b, d.op)
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := d.op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			cmd := "evalsha"
			if d.name == "ping" {
				cmd = "ping"
			}
			serverTime(b, cmd)
		})
	}
}
