package reporting

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// notices records what the pipeline told people.
type notices struct {
	mu       sync.Mutex
	reporter map[string][]string // report id → ReporterNews told
	modlog   map[string][]string // report id → ModLogState posted
	fail     bool
}

func (n *notices) Reporter(_ context.Context, r *Report, _ string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return fmt.Errorf("discord is down")
	}
	n.reporter[r.ID] = append(n.reporter[r.ID], string(ReporterNews(r)))
	return nil
}

func (n *notices) ModLog(_ context.Context, r *Report, st Settings, messageID string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return "", fmt.Errorf("discord is down")
	}
	n.modlog[r.ID] = append(n.modlog[r.ID], ModLogState(r))
	if messageID == "" {
		messageID = "m-" + r.ID
	}
	return messageID, nil
}

func (n *notices) told(id string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.reporter[id]...)
}

// bench is a Service on real Redis and the RallyHere fake, with players to report.
type world struct {
	t        *testing.T
	rdb      redis.UniversalClient
	rh       *rallyheretest.Server
	svc      *Service
	notes    *notices
	reporter string // a linked Discord user
	target   string // a player UUID
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, rdb: redistest.New(t).UniversalClient(t), rh: rallyheretest.New(t),
		notes: &notices{reporter: map[string][]string{}, modlog: map[string][]string{}}}
	w.svc = NewService(w.rdb, Options{
		RallyHere:    rallyhere.New(w.rh.URL, w.rh.ClientID, w.rh.ClientSecret, rallyhere.Options{}),
		DefaultLimit: config.Rate{Count: 10000, Per: time.Minute}, MaxLimit: config.Rate{Count: 10000, Per: time.Minute},
		Retention: 90 * 24 * time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	w.reporter = "100000000000000001"
	w.rh.LinkDiscord(w.reporter, w.rh.AddPlayer("alice"))
	w.target = w.rh.AddPlayer("bob")
	if err := w.svc.Settings.SetModLog(context.Background(), "g", "modlog"); err != nil {
		t.Fatal(err)
	}
	return w
}

// run starts a pipeline until the returned stop is called (or the test ends).
func (w *world) run(o PipelineOptions) (stop func()) {
	o.Logger = zerolog.New(zerolog.NewTestWriter(w.t))
	if o.BackoffBase == 0 {
		o.BackoffBase, o.BackoffCap = 20*time.Millisecond, 100*time.Millisecond
	}
	p := NewPipeline(w.svc, w.notes, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			w.t.Error(err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	w.t.Cleanup(stop)
	return stop
}

// file files a report of the world's reporter against its target, as reporter n so
// the duplicate rule does not refuse it.
func (w *world) file(n int) *Report {
	w.t.Helper()
	reporter := w.reporter
	if n > 0 {
		reporter = fmt.Sprintf("2%017d", n)
		w.rh.LinkDiscord(reporter, w.rh.AddPlayer(fmt.Sprintf("reporter-%d", n)))
	}
	d := &Draft{ID: NewID(time.Now()), Game: RallyHere, GuildID: "g", ChannelID: "c", ReporterID: reporter,
		Target: Target{Kind: TargetUUID, Value: w.target}, Reason: DefaultReasons()[0]}
	w.resolve(d)
	st, err := w.svc.Settings.Get(context.Background(), "g")
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := w.svc.File(context.Background(), st, d, Reply{})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// resolve finds d's players upstream before it is filed, as the pipeline would.
func (w *world) resolve(d *Draft) {
	w.t.Helper()
	pub, ok := w.svc.Publisher(d.Game)
	if !ok {
		w.t.Fatalf("no publisher of %s", d.Game)
	}
	r := &Report{ID: d.ID, Game: d.Game, ReporterID: d.ReporterID, Target: d.Target}
	if err := pub.Resolve(context.Background(), r); err != nil {
		w.t.Fatal(err)
	}
	d.SourcePlayer, d.SourceFallback, d.TargetPlayer = r.SourcePlayer, bool(r.SourceFallback), r.TargetPlayer
}

func (w *world) waitDelivered(ids ...string) {
	w.t.Helper()
	// Generous: CI runs every package at once, under -race, on two cores; the wait
	// ends as soon as the reports are settled.
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			r, err := w.svc.Reports.Get(context.Background(), id)
			if err == nil && r.Delivery != StatusQueued {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("report %s not settled: %+v, %v", id, r, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// upstreamCount is how many times report id arrived upstream.
func (w *world) upstreamCount(id string) int { return len(w.rh.ReportsWithCustom("report_id", id)) }

func TestPipelineDeliversAndTells(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.run(PipelineOptions{})
	r := w.file(0)
	w.waitDelivered(r.ID)
	got, _ := w.svc.Reports.Get(context.Background(), r.ID)
	if got.Delivery != StatusDelivered || w.upstreamCount(r.ID) != 1 || got.Attempts != 1 {
		t.Fatalf("record %+v; upstream %d", got, w.upstreamCount(r.ID))
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Notified != "delivered" || got.ModLogMessageID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("not told: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
		got, _ = w.svc.Reports.Get(context.Background(), r.ID)
	}
	if told := w.notes.told(r.ID); len(told) != 1 || told[0] != "delivered" {
		t.Fatalf("reporter told %v", told)
	}
}

// TestPipelineReclaimsCrashedWork: a consumer read a report and died without
// acknowledging it; another instance takes it over and delivers it.
func TestPipelineReclaimsCrashedWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	stream := newQueue(w.rdb, RallyHere).stream
	if err := w.rdb.XGroupCreateMkStream(ctx, stream, queueGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for n := range 120 { // more than one XAUTOCLAIM page, so the cursor is followed
		ids = append(ids, w.file(n+1).ID)
	}
	res, err := w.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: queueGroup, Consumer: "crashed", Streams: []string{stream, ">"}, Count: 1000}).Result()
	if err != nil || len(res[0].Messages) != 120 {
		t.Fatalf("the crashed consumer read %v, %v", res, err)
	}
	w.run(PipelineOptions{ClaimIdle: 300 * time.Millisecond})
	w.waitDelivered(ids...)
	for _, id := range ids {
		if n := w.upstreamCount(id); n != 1 {
			t.Fatalf("%s arrived %d times", id, n)
		}
	}
	if pend, _ := w.rdb.XPending(ctx, stream, queueGroup).Result(); pend.Count != 0 {
		t.Fatalf("%d entries still pending", pend.Count)
	}
}

// TestPipelineSuppressesDuplicates: the same report queued many times, and picked by
// two instances at once, arrives once.
func TestPipelineSuppressesDuplicates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rh.SetDelay(rallyheretest.OpCreateReport, 100*time.Millisecond)
	r := w.file(0)
	p := NewPipeline(w.svc, w.notes, PipelineOptions{})
	for range 5 {
		if err := p.Enqueue(context.Background(), RallyHere, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	w.run(PipelineOptions{Consumer: "a"})
	w.run(PipelineOptions{Consumer: "b"})
	w.waitDelivered(r.ID)
	time.Sleep(300 * time.Millisecond) // let every duplicate entry be handled
	if n := w.upstreamCount(r.ID); n != 1 {
		t.Fatalf("arrived %d times", n)
	}
}

// TestPipelineDeadLetters: an upstream down for longer than GiveUpAfter; the report is
// given up, kept in the dead-letter stream, and shown as such.
func TestPipelineDeadLetters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rh.SetFailureRate(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503})
	// The window is wide and the backoff short, so the report is tried more than
	// once however slow one attempt is on a loaded machine (on a Cluster in CI, one
	// attempt took 1.25 s against a 500 ms window).
	w.run(PipelineOptions{GiveUpAfter: 3 * time.Second, BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond})
	r := w.file(0)
	w.waitDelivered(r.ID)
	got, err := w.svc.Reports.Get(context.Background(), r.ID)
	if got.Delivery != StatusFailed || !got.Dead || got.Fault != FaultExpired || got.Attempts < 2 {
		t.Fatalf("record %+v", got)
	}
	// The dead letter is written just after the record says so.
	var dead []redis.XMessage
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		dead, err = w.rdb.XRange(context.Background(), queueDead, "-", "+").Result()
		if err != nil || len(dead) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(dead) != 1 || dead[0].Values["id"] != r.ID {
		t.Fatalf("dead letters %v, %v", dead, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(w.notes.told(r.ID)) == 0 || w.notes.told(r.ID)[len(w.notes.told(r.ID))-1] != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("reporter told %v", w.notes.told(r.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if told := w.notes.told(r.ID); told[0] != "retrying" {
		t.Fatalf("reporter told %v; first that it is retried", told)
	}
}

// TestPipelineRetriesNotices: Discord is down when the report is delivered; the
// notices follow when it is back, and delivery is not repeated.
func TestPipelineRetriesNotices(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.notes.fail = true
	w.run(PipelineOptions{})
	r := w.file(0)
	w.waitDelivered(r.ID)
	time.Sleep(100 * time.Millisecond)
	w.notes.mu.Lock()
	w.notes.fail = false
	w.notes.mu.Unlock()
	// The retry of a notice comes sideEffectRetry later; hurry it.
	if err := w.rdb.ZAdd(context.Background(), newQueue(w.rdb, RallyHere).retry, redis.Z{Score: 0, Member: r.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(w.notes.told(r.ID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reporter was never told")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := w.upstreamCount(r.ID); n != 1 {
		t.Fatalf("arrived %d times", n)
	}
}

// TestPipelineSharesWork: two instances deliver 300 reports between them, each once,
// while the upstream fails a third of the time.
func TestPipelineSharesWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rh.SetFailureRate(rallyheretest.OpCreateReport, 0.3, rallyheretest.Failure{Status: 503})
	w.run(PipelineOptions{Consumer: "a"})
	w.run(PipelineOptions{Consumer: "b"})
	var ids []string
	for n := range 300 {
		ids = append(ids, w.file(n+1).ID)
	}
	w.waitDelivered(ids...)
	for _, id := range ids {
		if n := w.upstreamCount(id); n != 1 {
			t.Fatalf("%s arrived %d times", id, n)
		}
	}
}

// TestPipelineTrimsAndExpires: nothing grows without bound. Delivered entries leave
// the stream, and records and indexes carry the retention as their expiry.
func TestPipelineTrimsAndExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	p := NewPipeline(w.svc, w.notes, PipelineOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	stop := w.run(PipelineOptions{})
	var ids []string
	for n := range 50 {
		ids = append(ids, w.file(n+1).ID)
	}
	w.waitDelivered(ids...)
	time.Sleep(200 * time.Millisecond)
	stop()
	p.trim(ctx)
	if n, _ := w.rdb.XLen(ctx, newQueue(w.rdb, RallyHere).stream).Result(); n > 1 {
		t.Fatalf("%d entries left in the stream after trimming", n)
	}
	first, err := w.svc.Reports.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{reportKey(ids[0]), userKey(first.ReporterID, "reports"), guildKey("g", "reports")} {
		ttl, err := w.rdb.TTL(ctx, key).Result()
		if err != nil || ttl <= 89*24*time.Hour || ttl > 90*24*time.Hour {
			t.Fatalf("%s expires in %s, %v; want the 90-day retention", key, ttl, err)
		}
	}
	if n, _ := w.rdb.Exists(ctx, lockKey(ids[0])).Result(); n != 0 {
		t.Fatal("a lock outlived its work")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := NewPipeline(nil, nil, PipelineOptions{BackoffBase: time.Second, BackoffCap: time.Minute})
	for _, tt := range []struct {
		attempt  int
		min, max time.Duration
	}{{1, 500 * time.Millisecond, time.Second}, {2, time.Second, 2 * time.Second}, {4, 4 * time.Second, 8 * time.Second}, {20, 30 * time.Second, time.Minute}} {
		for range 100 {
			if d := p.backoff(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

// TestPipelineRetryAfterCappedAtGiveUp: an upstream asking for a wait past the
// report's give-up time (RallyHere's Retry-After of 25 h against a 24 h give-up) has it
// honoured only up to the give-up time: the report is tried once more then, and
// dead-lettered within its day.
func TestPipelineRetryAfterCappedAtGiveUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.rh.SetFailureRate(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 429, RetryAfter: 90000 * time.Second})
	giveUp := 1500 * time.Millisecond
	w.run(PipelineOptions{GiveUpAfter: giveUp})
	r := w.file(0)
	var first *Report
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		first, _ = w.svc.Reports.Get(context.Background(), r.ID)
		if first.Fault == FaultBusy || first.Delivery != StatusQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never retried: %+v", first)
		}
	}
	if limit := first.CreatedAt.Add(giveUp); first.NextAttemptAt.After(limit) {
		t.Fatalf("next attempt at %s, past the give-up time %s", first.NextAttemptAt, limit)
	}
	w.waitDelivered(r.ID)
	got, _ := w.svc.Reports.Get(context.Background(), r.ID)
	if !got.Dead || got.Fault != FaultExpired || time.Since(got.CreatedAt.Time) > giveUp+3*time.Second {
		t.Fatalf("record %+v, %s after filing; want dead-lettered at the give-up time", got, time.Since(got.CreatedAt.Time))
	}
	if got.Attempts < 2 {
		t.Fatalf("%d attempts; want the last one at the give-up time", got.Attempts)
	}
}

// emptyRedis makes w's Redis lose everything, as a restart without persistence does.
func (w *world) emptyRedis() {
	w.t.Helper()
	ctx := context.Background()
	var err error
	if cc, ok := w.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() })
	} else {
		err = w.rdb.FlushAll(ctx).Err()
	}
	if err != nil {
		w.t.Fatal(err)
	}
}

// TestPipelineHealsWhenRedisComesBackEmpty: the stream and its consumer group vanish
// (NOGROUP on every read); the pipeline recreates them on the spot and delivers the
// next report, and its readiness check stays (or becomes) healthy.
func TestPipelineHealsWhenRedisComesBackEmpty(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p := NewPipeline(w.svc, w.notes, PipelineOptions{Logger: zerolog.New(zerolog.NewTestWriter(t)), BackoffBase: 20 * time.Millisecond, BackoffCap: 100 * time.Millisecond})
	if err := p.Check(context.Background()); err == nil {
		t.Fatal("healthy before it started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r := w.file(0)
	w.waitDelivered(r.ID)

	w.emptyRedis()
	emptied := time.Now()
	if err := w.svc.Settings.SetModLog(context.Background(), "g", "modlog"); err != nil {
		t.Fatal(err)
	}
	again := w.file(1)
	w.waitDelivered(again.ID)
	if d := time.Since(emptied); d > 5*time.Second {
		t.Fatalf("delivered %s after Redis came back empty; want within 5 s", d)
	}
	for deadline := time.Now().Add(5 * time.Second); p.Check(context.Background()) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not healthy: %v", p.Check(context.Background()))
		}
	}
}

// TestPipelineWaitsForAnEarlyEntry: on Redis Cluster a report's queue entry can land
// before its record (they are on different nodes). The worker that finds no record
// looks again shortly, rather than dropping the entry.
func TestPipelineWaitsForAnEarlyEntry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.run(PipelineOptions{})
	d := &Draft{ID: NewID(time.Now()), Game: RallyHere, GuildID: "g", ChannelID: "c", ReporterID: w.reporter,
		Target: Target{Kind: TargetUUID, Value: w.target}, Reason: DefaultReasons()[0]}
	w.resolve(d)
	ctx := context.Background()
	if err := w.svc.queues[RallyHere].add(ctx, nil, d.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the entry is read and found early, more than once
	now := At(time.Now().UTC())
	r := &Report{ID: d.ID, Game: d.Game, Delivery: StatusQueued, GuildID: d.GuildID, ChannelID: d.ChannelID,
		ReporterID: d.ReporterID, Target: d.Target, TargetPlayer: d.TargetPlayer, SourcePlayer: d.SourcePlayer,
		Reason: d.Reason, CreatedAt: now, UpdatedAt: now}
	if _, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { w.svc.Reports.create(ctx, p, r, "", 0); return nil }); err != nil {
		t.Fatal(err)
	}
	w.waitDelivered(r.ID)
	if n := w.upstreamCount(r.ID); n != 1 {
		t.Fatalf("arrived %d times", n)
	}
}

// earlyEntry adds a queue entry for a report whose record is not there (on Redis
// Cluster, one whose record has not landed yet), and waits until a worker has
// scheduled a look at it again. It returns the report's id, when the entry was
// added, when the look is due, and when it was seen scheduled.
func (w *world) earlyEntry(q *queue) (id string, added, due, seen time.Time) {
	w.t.Helper()
	ctx := context.Background()
	id = NewID(time.Now())
	entry, err := w.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []string{"id", id}}).Result()
	if err != nil {
		w.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		score, err := w.rdb.ZScore(ctx, q.retry, id).Result()
		seen = time.Now()
		if err == nil {
			return id, entryTime(entry), time.UnixMilli(int64(score)), seen
		}
		if !errors.Is(err, redis.Nil) || seen.After(deadline) {
			w.t.Fatalf("the early entry was never scheduled to be looked at again: %v", err)
		}
	}
}

// TestPipelineLooksSoonAtAYoungEntry: an entry found before its record is looked at
// again soon, as the record was written with it; not a second later, which on Redis
// Cluster held about 1% of reports back a second (BenchmarkDelivery, cluster, paced).
// The look is scheduled at most the entry's age (min 50 ms) after it was found, so
// its due time is within twice the entry's age when seen, plus 50 ms.
func TestPipelineLooksSoonAtAYoungEntry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.run(PipelineOptions{})
	_, added, due, seen := w.earlyEntry(w.svc.queues[RallyHere])
	if after, within := due.Sub(added), 2*seen.Sub(added)+50*time.Millisecond; after > within {
		t.Fatalf("looked at again %v after it was added; want within %v", after, within)
	}
}

// TestPipelineTakesUpAnEarlyEntryWhenDue: the look scheduled for an entry found
// before its record is taken when it is due, not at the next regular promotion
// (promoteEvery, 250 ms), which on Redis Cluster held such reports back up to a
// quarter of a second more (BenchmarkDelivery, cluster, paced). Six entries, each
// added just after the one before was taken up: with promotions only every 250 ms,
// each was taken up 197-201 ms after it was due.
func TestPipelineTakesUpAnEarlyEntryWhenDue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.run(PipelineOptions{})
	ctx := context.Background()
	q := w.svc.queues[RallyHere]
	var late []time.Duration
	for range 6 {
		id, _, due, _ := w.earlyEntry(q)
		// Taken up: put back on the stream, by a second entry of the same report.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			entries, err := w.rdb.XRange(ctx, q.stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var again []redis.XMessage
			for _, e := range entries {
				if e.Values["id"] == id {
					again = append(again, e)
				}
			}
			if len(again) > 1 {
				late = append(late, entryTime(again[1].ID).Sub(due))
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the early entry was never taken up again")
			}
		}
	}
	t.Logf("taken up after its due time by %v", late)
	if slices.Max(late) > 120*time.Millisecond {
		t.Fatalf("taken up after its due time by %v; want each within 120ms", late)
	}
}

func TestNextPromotion(t *testing.T) {
	t.Parallel()
	last := time.UnixMilli(1_000_000)
	for _, tc := range []struct {
		name string
		due  time.Time
		want time.Time
	}{
		{"none due", time.Time{}, last.Add(promoteEvery)},
		{"due later than the regular one", last.Add(time.Second), last.Add(promoteEvery)},
		{"due sooner", last.Add(40 * time.Millisecond), last.Add(40 * time.Millisecond)},
		{"due at once", last.Add(time.Millisecond), last.Add(minPromoteGap)},
		{"overdue", last.Add(-time.Second), last.Add(minPromoteGap)},
	} {
		if got := nextPromotion(last, tc.due); !got.Equal(tc.want) {
			t.Errorf("%s: nextPromotion = last+%v; want last+%v", tc.name, got.Sub(last), tc.want.Sub(last))
		}
	}
}

func TestLookAgainIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ age, want time.Duration }{
		{0, 50 * time.Millisecond},
		{20 * time.Millisecond, 50 * time.Millisecond},
		{300 * time.Millisecond, 300 * time.Millisecond},
		{time.Second, time.Second},
		{20 * time.Second, time.Second},
	} {
		if got := lookAgainIn(tc.age); got != tc.want {
			t.Errorf("lookAgainIn(%v) = %v; want %v", tc.age, got, tc.want)
		}
	}
}

// TestPipelineMovesTheOldQueue: reports left in the single queue of earlier versions
// (entries and scheduled retries) are moved into their game's queue and delivered.
func TestPipelineMovesTheOldQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.file(1), w.file(2)
	q := w.svc.queues[RallyHere]
	// Take them off the new queue and put them on the old one, as 0.1.0 left them.
	if err := w.rdb.Del(ctx, q.stream).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.rdb.XAdd(ctx, &redis.XAddArgs{Stream: legacyQueueStream, Values: []string{"id", a.ID}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.rdb.ZAdd(ctx, legacyQueueRetry, redis.Z{Score: 1, Member: b.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	w.run(PipelineOptions{})
	w.waitDelivered(a.ID, b.ID)
	if n, _ := w.rdb.Exists(ctx, legacyQueueStream, legacyQueueRetry).Result(); n != 0 {
		t.Fatalf("%d old queue keys left", n)
	}
}

// TestQueueStats: what the gauges show of a queue.
func TestQueueStats(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	q := w.svc.queues[RallyHere]
	if err := q.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := q.add(ctx, nil, NewID(time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.read(ctx, "c", 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.rdb.ZAdd(ctx, q.retry, redis.Z{Score: 1, Member: "R-X"}).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := q.stats(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 3 || st.Scheduled != 1 || st.OldestPending < time.Minute || st.OldestPending > time.Minute+5*time.Second {
		t.Fatalf("%+v; want 3 pending (1 in hand, 2 unread), 1 scheduled, the oldest a minute old", st)
	}
}

// TestQueueEarliestRescheduleWins: two entries of one report handled at once (the
// worker that asked the reporter to choose a player, and the entry the choice
// queued, refused by that worker's lock and looked at again shortly) reschedule
// it twice; whichever finishes last, the report is looked at again at the earlier
// time. The later one used to win, and a chosen player waited for the 14-minute
// choice deadline (TestDestinyEndToEndLinkMode stalled in CI).
func TestQueueEarliestRescheduleWins(t *testing.T) {
	t.Parallel()
	now := time.Now()
	soon, late := now.Add(lockedLook), now.Add(chooseWithin)
	tests := []struct {
		name        string
		first, last time.Time
	}{
		{"the later one last", soon, late},
		{"the earlier one last", late, soon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			q := w.svc.queues[RallyHere]
			if err := q.ensureGroup(ctx); err != nil {
				t.Fatal(err)
			}
			id := NewID(now)
			for range 2 {
				if err := q.add(ctx, nil, id); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := q.read(ctx, "c", 2, 0)
			if err != nil || len(ms) != 2 {
				t.Fatalf("read %d entries, %v; want 2", len(ms), err)
			}
			for i, at := range []time.Time{tt.first, tt.last} {
				if _, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { q.done(ctx, p, ms[i], id, at); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			score, err := w.rdb.ZScore(ctx, q.retry, id).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := time.UnixMilli(int64(score)); !got.Equal(soon.Truncate(time.Millisecond)) {
				t.Errorf("rescheduled for %s; want the earlier %s", got.Format(time.StampMilli), soon.Format(time.StampMilli))
			}
			st, err := q.stats(ctx, now)
			if err != nil || st.Pending != 0 || st.Scheduled != 1 {
				t.Errorf("%+v, %v: want both entries acknowledged and one retry", st, err)
			}
		})
	}
}

// TestPipelineLooksAgainSoonAfterALock: an entry whose report another worker holds
// is looked at again in a second, not when a crashed holder's lock would lapse: the
// holder is usually finishing, and a reporter who just chose a player waits on it.
func TestPipelineLooksAgainSoonAfterALock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	r := w.file(0)
	if err := w.rdb.Set(ctx, lockKey(r.ID), "another worker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	q := w.svc.queues[RallyHere]
	before := time.Now()
	w.run(PipelineOptions{})
	var score float64
	for {
		var err error
		if score, err = w.rdb.ZScore(ctx, q.retry, r.ID).Result(); err == nil {
			break
		}
		if time.Since(before) > 30*time.Second {
			t.Fatalf("the locked report was never rescheduled: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := time.Now()
	at := time.UnixMilli(int64(score))
	if at.Before(before.Add(lockedLook).Truncate(time.Millisecond)) || at.After(after.Add(lockedLook)) {
		t.Errorf("looked at again at %s; want %s after the refusal, between %s and %s", at.Format(time.StampMilli),
			lockedLook, before.Add(lockedLook).Format(time.StampMilli), after.Add(lockedLook).Format(time.StampMilli))
	}
	if err := w.rdb.Del(ctx, lockKey(r.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	w.waitDelivered(r.ID)
	if n := w.upstreamCount(r.ID); n != 1 {
		t.Fatalf("arrived %d times", n)
	}
}

// TestRecordWithoutEmptyFields: a report's record holds no field it has no value
// for (the upgrade notes of 0.2.0 say so): a new report has no delivery time, next
// attempt or attempt under way.
func TestRecordWithoutEmptyFields(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.file(0)
	h, err := w.rdb.HGetAll(context.Background(), reportKey(r.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if v == "" {
			t.Errorf("field %s stored empty", k)
		}
	}
	for _, k := range []string{"id", "game", "guild_id", "reporter_id", "target", "reason", "delivery", "created_at"} {
		if h[k] == "" {
			t.Errorf("no %s in %v", k, h)
		}
	}
	got, err := w.svc.Reports.Get(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.Target != r.Target || got.Reason.Key != r.Reason.Key || !got.CreatedAt.Equal(r.CreatedAt.Truncate(time.Millisecond)) ||
		!got.DeliveredAt.IsZero() || !got.NextAttemptAt.IsZero() {
		t.Errorf("read back %+v, filed %+v", got, r)
	}
}

// failingFiling makes the call that queues a report fail after Redis has run it: the outcome a
// caller cannot tell from a call that failed half-way.
type failingFiling struct{}

func (failingFiling) DialHook(next redis.DialHook) redis.DialHook { return next }
func (failingFiling) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { return next(ctx, cmd) }
}
func (failingFiling) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			// The queue entry's XADD, alone (Redis Cluster) or in the filing script.
			if slices.ContainsFunc(c.Args(), func(a any) bool { w, _ := a.(string); return strings.EqualFold(w, "xadd") }) && c.Err() == nil {
				c.SetErr(errors.New("ERR injected after the call ran"))
				return c.Err()
			}
		}
		return err
	}
}

// TestFilingUndone: a filing whose call failed leaves no trace: no record, no token,
// no entry in the reporter's or the server's list, and the limit given back.
func TestFilingUndone(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	w.rdb.AddHook(failingFiling{})
	st, err := w.svc.Settings.Get(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	d := &Draft{ID: NewID(time.Now()), Game: RallyHere, GuildID: "g", ChannelID: "c", ReporterID: w.reporter,
		Target: Target{Kind: TargetUUID, Value: w.target}, Reason: DefaultReasons()[0]}
	if _, err := w.svc.File(ctx, st, d, Reply{Token: "t", InteractionID: "1", Until: time.Now().Add(time.Minute)}); err == nil {
		t.Fatal("filed, want the injected failure")
	}
	for _, key := range []string{reportKey(d.ID), tokenKey(d.ID)} {
		if n, _ := w.rdb.Exists(ctx, key).Result(); n != 0 {
			t.Errorf("%s left behind", key)
		}
	}
	for _, idx := range []string{userKey(w.reporter, "reports"), guildKey("g", "reports")} {
		if _, err := w.rdb.ZScore(ctx, idx, d.ID).Result(); !errors.Is(err, redis.Nil) {
			t.Errorf("%s still lists %s (%v)", idx, d.ID, err)
		}
	}
	dec, err := w.svc.Limits.Check(ctx, w.svc.fileLimit(st, d.ReporterID, d.Game, d.Target, ""))
	if err != nil || !dec.Allowed {
		t.Errorf("the limit was not given back: %+v %v", dec, err)
	}
}

// TestListsKeptUp: a new report is in its reporter's and its server's lists as soon
// as it is filed; once the pipeline has taken it up, entries older than the
// retention are gone from both and both last the retention from then.
func TestListsKeptUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	const retention = 90 * 24 * time.Hour // newWorld's
	indexes := []string{userKey(w.reporter, "reports"), guildKey("g", "reports")}
	for _, idx := range indexes {
		w.rdb.ZAdd(ctx, idx, redis.Z{Score: float64(time.Now().Add(-retention - time.Hour).UnixMilli()), Member: "R-OLD"})
	}
	r := w.file(0)
	for _, idx := range indexes {
		if _, err := w.rdb.ZScore(ctx, idx, r.ID).Result(); err != nil {
			t.Fatalf("%s does not list the report just filed: %v", idx, err)
		}
	}
	w.run(PipelineOptions{})
	w.waitDelivered(r.ID)
	deadline := time.Now().Add(5 * time.Second)
	for _, idx := range indexes {
		for {
			_, err := w.rdb.ZScore(ctx, idx, "R-OLD").Result()
			ttl := w.rdb.TTL(ctx, idx).Val()
			if errors.Is(err, redis.Nil) && ttl > retention-time.Minute && ttl <= retention {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: old entry %v, ttl %s; want it gone and %s", idx, err, ttl, retention)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := w.rdb.ZScore(ctx, idx, r.ID).Result(); err != nil {
			t.Errorf("%s no longer lists the report: %v", idx, err)
		}
	}
}

// TestAppendRecordOmitsEmpty: a record's fields leave out what is empty, lists of
// length 0 and zero times among them, and keep what is not.
func TestAppendRecordOmitsEmpty(t *testing.T) {
	t.Parallel()
	s := NewStore(nil, time.Hour)
	r := &Report{ID: "R-1", Candidates: Candidates{}, Evidence: EvidenceList{}, Attempts: 2, Dead: true,
		CreatedAt: At(time.UnixMilli(1700000000000))}
	got := map[string]any{}
	args := s.appendRecord(nil, r)
	for i := 0; i+1 < len(args); i += 2 {
		got[args[i].(string)] = args[i+1]
	}
	want := []string{"id", "attempts", "dead", "created_at"}
	if len(got) != len(want) {
		t.Errorf("fields %v, want only %v", got, want)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s in %v", k, got)
		}
	}
}
