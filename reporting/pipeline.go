package reporting

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/redishealth"
)

// PipelineOptions tune a Pipeline; zero values take the defaults.
type PipelineOptions struct {
	// Consumer names this instance in the consumer group; default host-pid-random.
	Consumer string
	// Workers is how many reports of each game are handled at once (default 8: each
	// waits mostly on the network, and more would only compete with the answers to
	// Discord). Each game has workers of its own, so an upstream that hangs holds up
	// only its own reports.
	Workers int
	// ClaimIdle is how long a report may sit unacknowledged with a consumer before
	// another takes it over (default 30 s). A report taken over while its worker is
	// still at it waits for that worker's lock.
	ClaimIdle time.Duration
	// GiveUpAfter is how long delivery is retried before a report is dead-lettered
	// (default 24 h).
	GiveUpAfter time.Duration
	// BackoffBase and BackoffCap bound the wait between failed attempts (defaults 2 s,
	// 10 min).
	BackoffBase, BackoffCap time.Duration
	// AttemptTimeout bounds one upstream attempt (default 20 s).
	AttemptTimeout time.Duration
	Logger         zerolog.Logger
}

// Pipeline delivers stored reports and keeps what people see of them up to date. It is
// a consumer of the queue stream; any number of instances share the work, and work a
// crashed instance held is reclaimed. Handling a report is idempotent: it brings the
// report's delivery, mod-log post and reporter notice up to date with its record.
type Pipeline struct {
	notify Notifier
	o      PipelineOptions
	log    zerolog.Logger

	// What it shares with the Service: Redis and what lives there, each game's
	// publisher and queue, the monitor of Redis and the metrics.
	rdb        redis.UniversalClient
	store      *Store
	limits     *Limiter
	settings   *SettingsStore
	publishers map[Game]Publisher
	queues     map[Game]*queue
	replicas   replicas
	health     *redishealth.Monitor
	metrics    metrics

	begin, renew, unlock *redis.Script

	settingsMu    sync.Mutex
	settingsCache map[string]cachedSettings

	// lanes are the games' queues being worked, once Run has started.
	lanesMu sync.Mutex
	lanes   []*lane
}

// lane is one game's queue: how reading it goes (for readiness), and the looks
// its workers scheduled, for its promotion loop.
type lane struct {
	q *queue
	// soon is the earliest look this instance scheduled (a report due again) that
	// its promotion loop has not yet taken into account; sooner tells the loop.
	soonMu sync.Mutex
	soon   time.Time
	sooner chan struct{}
	// lastRead is when the queue was last read without error (unix ns), lastErr
	// the error of the last failed read.
	lastRead atomic.Int64
	lastErr  atomic.Pointer[error]
}

type cachedSettings struct {
	st Settings
	at time.Time
}

// NewPipeline returns a pipeline delivering svc's reports and telling people through n.
func NewPipeline(svc *Service, n Notifier, o PipelineOptions) *Pipeline {
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	def(&o.ClaimIdle, 30*time.Second)
	def(&o.GiveUpAfter, 24*time.Hour)
	def(&o.BackoffBase, 2*time.Second)
	def(&o.BackoffCap, 10*time.Minute)
	def(&o.AttemptTimeout, 20*time.Second)
	p := &Pipeline{
		notify: n, o: o,
		log:           o.Logger.With().Str("consumer", o.Consumer).Logger(),
		begin:         redis.NewScript(beginLua),
		renew:         redis.NewScript(renewLua),
		unlock:        redis.NewScript(unlockLua),
		settingsCache: map[string]cachedSettings{},
	}
	if svc != nil {
		p.rdb, p.store, p.limits, p.settings = svc.rdb, svc.Reports, svc.Limits, svc.Settings
		p.publishers, p.queues, p.replicas, p.health, p.metrics = svc.publishers, svc.queues, svc.replicas, svc.health, svc.metrics
	}
	return p
}

// publisher is the publisher of game g.
func (p *Pipeline) publisher(g Game) (Publisher, error) {
	pub, ok := p.publishers[g]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrGameOff, g)
	}
	return pub, nil
}

// A report is handled under a lock, so that two workers never deliver it at once. The
// lock is short and renewed while the work goes on: one left by a crashed worker
// lapses quickly.
const (
	lockTTL     = 10 * time.Second
	maxHandling = 2 * time.Minute
	// lockedLook is when an entry whose report another worker holds is looked at
	// again: that worker is usually finishing (a choice's entry arrives while the
	// worker that asked is writing down what it told), and the reporter waits on
	// it. A crashed holder's lock lapses within lockTTL; until then, a look a second.
	lockedLook = time.Second
)

// holdLock renews the lock of report id every third of lockTTL until ctx ends; the
// returned channel closes when it has stopped.
func (p *Pipeline) holdLock(ctx context.Context, id, owner string) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(lockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.renew.Run(ctx, p.rdb, []string{lockKey(id)}, owner, lockTTL.Milliseconds()).Err(); err != nil && ctx.Err() == nil {
					p.log.Warn().Err(err).Str("report_id", id).Msg("renewing a report's lock")
				}
			}
		}
	}()
	return stopped
}

// renewLua extends a report's lock if it is still ours.
const renewLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

// unlockLua releases a report's lock if it is still ours.
const unlockLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// Enqueue asks the pipeline to bring report id of game g up to date (after a
// moderator's change, say).
func (p *Pipeline) Enqueue(ctx context.Context, g Game, id string) error {
	q, ok := p.queues[g]
	if !ok {
		return fmt.Errorf("queueing report %s: %w: %s", id, ErrGameOff, g)
	}
	return q.add(ctx, nil, id)
}

// Run works until ctx ends, then finishes the reports in hand and returns. Each
// configured game's queue is worked on its own: its reader, its reclaimer, its
// retries and its workers.
func (p *Pipeline) Run(ctx context.Context) error {
	var lanes []*lane
	for _, g := range Games() {
		if q, ok := p.queues[g]; ok {
			lanes = append(lanes, &lane{q: q, sooner: make(chan struct{}, 1)})
		}
	}
	for _, l := range lanes {
		err := l.q.ensureGroup(ctx)
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		if err != nil {
			return err
		}
		l.lastRead.Store(time.Now().UnixNano()) // its group is there: it can be read
	}
	if err := p.migrate(ctx); err != nil {
		p.log.Warn().Err(err).Msg("moving reports of the old single queue; trying again at the next start")
	}
	p.lanesMu.Lock()
	p.lanes = lanes
	p.lanesMu.Unlock()
	p.log.Info().Int("workers", p.o.Workers).Int("games", len(lanes)).Msg("delivery pipeline running")

	var all sync.WaitGroup
	all.Add(1)
	go func() {
		defer all.Done()
		t := time.NewTicker(statsEvery)
		defer t.Stop()
		for ctx.Err() == nil {
			if n, err := p.rdb.XLen(ctx, queueDead).Result(); err == nil {
				p.metrics.dead.Set(float64(n))
			}
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}()
	for _, l := range lanes {
		all.Add(1)
		go func() {
			defer all.Done()
			p.work(ctx, l)
		}()
	}
	all.Wait()
	p.log.Info().Msg("delivery pipeline stopped")
	return nil
}

// work runs one game's lane until ctx ends, then finishes its reports in hand.
func (p *Pipeline) work(ctx context.Context, l *lane) {
	jobs := make(chan redis.XMessage, p.o.Workers)
	var workers sync.WaitGroup
	for range p.o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for m := range jobs {
				if ctx.Err() != nil {
					// Shutting down: an entry not yet in hand stays pending, for this
					// instance's next start or another's reclaim.
					continue
				}
				// A report in hand is finished even while shutting down.
				p.handle(context.WithoutCancel(ctx), l, m)
			}
		}()
	}
	var feeders sync.WaitGroup
	loop := func(every time.Duration, f func(context.Context)) {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				f(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	feeders.Add(1)
	go func() {
		defer feeders.Done()
		p.read(ctx, l, jobs)
	}()
	loop(p.o.ClaimIdle/3, func(ctx context.Context) { p.reclaim(ctx, l.q, jobs) })
	feeders.Add(1)
	go func() {
		defer feeders.Done()
		p.promote(ctx, l)
	}()
	loop(30*time.Second, func(ctx context.Context) {
		if err := l.q.trim(ctx); err != nil && ctx.Err() == nil {
			p.quietly(err).Msg("trimming the queue")
		}
	})
	loop(statsEvery, func(ctx context.Context) { p.sample(ctx, l.q) })
	<-ctx.Done()
	feeders.Wait()
	close(jobs)
	workers.Wait()
}

// read feeds new stream entries to the workers.
func (p *Pipeline) read(ctx context.Context, l *lane, jobs chan<- redis.XMessage) {
	for ctx.Err() == nil {
		msgs, err := l.q.read(ctx, p.o.Consumer, p.o.Workers, 500*time.Millisecond)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.lastErr.Store(&err)
			p.quietly(err).Str("game", string(l.q.game)).Msg("reading the queue")
			sleep(ctx, time.Second)
			continue
		}
		l.lastRead.Store(time.Now().UnixNano())
		for _, m := range msgs {
			jobs <- m
		}
	}
}

// statsEvery is how often the queues' gauges are sampled.
const statsEvery = 5 * time.Second

// sample sets q's gauges.
func (p *Pipeline) sample(ctx context.Context, q *queue) {
	st, err := q.stats(ctx, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			p.quietly(err).Msg("sampling the queue")
		}
		return
	}
	g := string(q.game)
	p.metrics.pending.WithLabelValues(g).Set(float64(st.Pending))
	p.metrics.scheduled.WithLabelValues(g).Set(float64(st.Scheduled))
	p.metrics.oldest.WithLabelValues(g).Set(st.OldestPending.Seconds())
}

// readStale is how long a lane may go without reading its queue before the
// pipeline counts as unhealthy: a read returns at least every half second.
const readStale = 5 * time.Second

// Check reports whether every game's queue is being read: nil when it is, else why
// not (for /readyz).
func (p *Pipeline) Check(context.Context) error {
	p.lanesMu.Lock()
	lanes := p.lanes
	p.lanesMu.Unlock()
	if lanes == nil {
		return errors.New("not started yet")
	}
	var bad []string
	for _, l := range lanes {
		last := time.Unix(0, l.lastRead.Load())
		if time.Since(last) <= readStale {
			continue
		}
		why := "not read yet"
		if e := l.lastErr.Load(); e != nil {
			why = (*e).Error()
		}
		if l.lastRead.Load() != 0 {
			why = fmt.Sprintf("not read since %s: %s", last.UTC().Format(time.TimeOnly), why)
		}
		bad = append(bad, string(l.q.game)+" queue "+why)
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// quietly is the log event for a failure of Redis: a warning normally, but only a
// debug line while the store is known to be down (the outage itself is logged once
// by the store's monitor).
func (p *Pipeline) quietly(err error) *zerolog.Event {
	if p.health != nil && p.health.Quiet(err) {
		return p.log.Debug().Err(err)
	}
	return p.log.Warn().Err(err)
}

// reclaim takes over entries another consumer read but never acknowledged (it
// crashed, or hangs), walking the pending list to its end.
func (p *Pipeline) reclaim(ctx context.Context, q *queue, jobs chan<- redis.XMessage) {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := q.reclaim(ctx, p.o.Consumer, p.o.ClaimIdle, start, 100)
		if err != nil {
			if ctx.Err() == nil {
				p.quietly(err).Msg("reclaiming pending reports")
			}
			return
		}
		if len(msgs) > 0 {
			p.log.Info().Str("game", string(q.game)).Int("reports", len(msgs)).Msg("reclaimed reports left pending")
		}
		for _, m := range msgs {
			jobs <- m
		}
		if next == "0-0" {
			return
		}
		start = next
	}
}

// promote puts the lane's reports due again back on its queue: every promoteEvery,
// and sooner when one is due before then (one this instance scheduled, or the
// earliest left in Redis at the last promotion).
func (p *Pipeline) promote(ctx context.Context, l *lane) {
	t := time.NewTimer(0)
	defer t.Stop()
	var last, next time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.sooner:
			if at := nextPromotion(last, l.takeSoon()); at.Before(next) {
				next = at
				t.Reset(time.Until(next))
			}
			continue
		case <-t.C:
		}
		due := p.promoteDue(ctx, l.q)
		last = time.Now()
		next = nextPromotion(last, due)
		t.Reset(time.Until(next))
	}
}

// nextPromotion is when to promote due reports again after a promotion at last,
// given the earliest report known to be due (zero: none): promoteEvery later, or
// when that one is due if sooner, but never within minPromoteGap of the last, so
// that reports due one after another are taken up together.
func nextPromotion(last, due time.Time) time.Time {
	next := last.Add(promoteEvery)
	if !due.IsZero() && due.Before(next) {
		next = due
		if gap := last.Add(minPromoteGap); next.Before(gap) {
			next = gap
		}
	}
	return next
}

// promoteDue promotes q's due reports, and returns when the next one left is due
// (zero: none, or unknown after an error).
func (p *Pipeline) promoteDue(ctx context.Context, q *queue) time.Time {
	for ctx.Err() == nil {
		n, next, err := q.promoteDue(ctx, time.Now(), 200)
		if err != nil {
			if ctx.Err() == nil {
				p.quietly(err).Msg("promoting due retries")
			}
			return time.Time{}
		}
		if n < 200 {
			return next
		}
	}
	return time.Time{}
}

// lookAt tells the lane's promotion loop that a report is due again at t.
func (l *lane) lookAt(t time.Time) {
	l.soonMu.Lock()
	defer l.soonMu.Unlock()
	if l.soon.IsZero() || t.Before(l.soon) {
		l.soon = t
		select {
		case l.sooner <- struct{}{}:
		default:
		}
	}
}

// takeSoon returns the earliest look asked for since the last call, and forgets it.
func (l *lane) takeSoon() time.Time {
	l.soonMu.Lock()
	defer l.soonMu.Unlock()
	t := l.soon
	l.soon = time.Time{}
	return t
}

// trim trims every game's queue (tests call it).
func (p *Pipeline) trim(ctx context.Context) {
	for _, q := range p.queues {
		if err := q.trim(ctx); err != nil {
			p.log.Warn().Err(err).Msg("trimming the queue")
		}
	}
}

// migrate moves the reports of the single queue of versions before 0.2.0 into their
// games' queues: entries of the old stream (handed out or not) and scheduled
// retries. Handling a report is idempotent, so an entry moved twice by two
// instances starting together is harmless.
func (p *Pipeline) migrate(ctx context.Context) error {
	rdb := p.rdb
	n, err := rdb.Exists(ctx, legacyQueueStream, legacyQueueRetry).Result()
	if err != nil || n == 0 {
		return err
	}
	entries, err := rdb.XRange(ctx, legacyQueueStream, "-", "+").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading the old queue: %w", err)
	}
	due, err := rdb.ZRangeWithScores(ctx, legacyQueueRetry, 0, -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading the old retries: %w", err)
	}
	moved := 0
	move := func(id string, at float64, retry bool) error {
		g, err := rdb.HGet(ctx, reportKey(id), fGame).Result()
		if errors.Is(err, redis.Nil) {
			return nil // expired with the retention
		}
		if err != nil {
			return err
		}
		q, ok := p.queues[Game(g)]
		if !ok {
			return nil
		}
		moved++
		if retry {
			return rdb.ZAdd(ctx, q.retry, redis.Z{Score: at, Member: id}).Err()
		}
		return q.add(ctx, nil, id)
	}
	for _, m := range entries {
		if id, _ := m.Values["id"].(string); id != "" {
			if err := move(id, 0, false); err != nil {
				return fmt.Errorf("moving %s: %w", id, err)
			}
		}
	}
	for _, z := range due {
		if id, _ := z.Member.(string); id != "" {
			if err := move(id, z.Score, true); err != nil {
				return fmt.Errorf("moving %s: %w", id, err)
			}
		}
	}
	if err := rdb.Del(ctx, legacyQueueStream, legacyQueueRetry).Err(); err != nil {
		return fmt.Errorf("removing the old queue: %w", err)
	}
	p.log.Info().Int("reports", moved).Msg("moved the reports of the old single queue into the games' queues")
	return nil
}

// beginLua takes a report's lock and loads the report with its reporter's token. If
// the report is queued and due, it also marks an attempt under way (and counts it),
// so that from here on a crash leaves it known as "maybe sent". One round trip, in the
// report's slot. KEYS lock, record, token; ARGV owner, lock ms, now ms. Returns false
// when another worker holds the lock, else {token, earlier attempt_started_at,
// attempt started now or ”, the record's fields}.
const beginLua = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local h = redis.call('HGETALL', KEYS[2])
if #h == 0 then return {'', '', '', h} end
local tok = redis.call('GET', KEYS[3]) or ''
local prior = redis.call('HGET', KEYS[2], 'attempt_started_at') or ''
local due = tonumber(redis.call('HGET', KEYS[2], 'next_attempt_at') or '') or 0
local started = ''
if redis.call('HGET', KEYS[2], 'delivery') == 'queued' and due <= tonumber(ARGV[3]) + 1000 then
  redis.call('HSET', KEYS[2], 'attempt_started_at', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  started = ARGV[3]
end
return {tok, prior, started, h}`

// promoteEvery is how often the reports due again are put back on their queue, at
// the least; minPromoteGap is the least time between two promotions.
const (
	promoteEvery  = 250 * time.Millisecond
	minPromoteGap = 10 * time.Millisecond
)

// recordGrace is how long a queue entry whose record is missing is taken to be
// early rather than stale. On Redis Cluster a report's record and its queue entry
// live on different nodes and are written at once, so the entry can be read before
// the record lands; past this, a record is gone (expired with the retention).
const recordGrace = 30 * time.Second

// lookAgainIn is when a queue entry whose record is missing, and that is age old, is
// looked at again: soon while it is young, as its record was written at the same
// time and lands within milliseconds; then as long as it has waited, a second at
// most, so an entry whose record is gone is not read over and over. (An entry is
// taken up when due: promote.)
func lookAgainIn(age time.Duration) time.Duration {
	return min(max(age, 50*time.Millisecond), time.Second)
}

// handle brings one report up to date, then in one round trip records what people
// were told, releases the report's lock, and acknowledges or reschedules its entry.
func (p *Pipeline) handle(ctx context.Context, l *lane, m redis.XMessage) {
	q := l.q
	id, _ := m.Values["id"].(string)
	log := p.log.With().Str("report_id", id).Logger()
	rdb := p.rdb
	defer func() {
		if v := recover(); v != nil {
			// A report that crashes its handler is set aside rather than crashing every
			// instance that reclaims it.
			log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("handling a report panicked; it is set aside")
			_ = rdb.XAck(ctx, q.stream, queueGroup, m.ID).Err()
		}
	}()
	owner := p.o.Consumer + "-" + strconv.FormatUint(rand.Uint64(), 36)
	now := time.Now()
	res, err := p.beginAttempt(ctx, id, owner, now)
	if errors.Is(err, redis.Nil) {
		// Another worker has it in hand, or had (a crashed one's lock lapses within
		// lockTTL): look again shortly.
		p.finish(ctx, l, m, id, "", time.Now().Add(lockedLook), nil, nil, log)
		return
	}
	if err != nil {
		p.quietly(err).Str("report_id", id).Msg("loading a report; it will be reclaimed")
		return
	}
	token, _ := res[0].(string)
	prior, _ := res[1].(string)
	started, _ := res[2].(string)
	r, err := decodeReport(pairs(res[3]))
	if err != nil {
		retryAt := time.Time{} // expired with the retention: done with it
		if age := now.Sub(entryTime(m.ID)); errors.Is(err, ErrNoReport) && age < recordGrace {
			retryAt = now.Add(lookAgainIn(age)) // not written yet: look again in a moment
		}
		p.finish(ctx, l, m, id, owner, retryAt, nil, nil, log)
		return
	}
	if started != "" {
		r.Attempts++
		r.AttemptStartedAt = At(unms(started))
	}
	hctx, cancel := context.WithTimeout(ctx, maxHandling)
	renewed := p.holdLock(hctx, id, owner)
	retryAt, told, err := p.bringUpToDate(hctx, r, token, unms(prior), started != "", log)
	cancel()
	<-renewed
	if err != nil {
		// Redis itself failed: leave the entry pending; it is reclaimed later.
		p.quietly(err).Str("report_id", id).Msg("handling a report; it will be reclaimed")
		_ = p.unlock.Run(ctx, rdb, []string{lockKey(id)}, owner).Err()
		return
	}
	p.finish(ctx, l, m, id, owner, retryAt, told, r, log)
}

// beginAttempt runs beginLua for report id. With REDIS_WAIT_REPLICAS, it then waits
// until the replicas have the attempt marked as begun, before anything is sent: a
// failover must not forget that a report may already have been sent, or it would be
// sent twice.
func (p *Pipeline) beginAttempt(ctx context.Context, id, owner string, now time.Time) ([]any, error) {
	keys := []string{lockKey(id), reportKey(id), tokenKey(id)}
	args := []any{owner, lockTTL.Milliseconds(), now.UnixMilli()}
	if p.replicas.n == 0 {
		return p.begin.Run(ctx, p.rdb, keys, args...).Slice()
	}
	var cmd *redis.Cmd
	err := p.replicas.write(ctx, reportKey(id), func(pp redis.Pipeliner) func() error {
		// EVAL, not EVALSHA: a pipeline cannot fall back when the script cache is empty.
		cmd = pp.Eval(ctx, beginLua, keys, args...)
		return nil
	})
	if cmd != nil && cmd.Err() != nil {
		return nil, cmd.Err()
	}
	if err != nil && !errors.Is(err, ErrNotReplicated) {
		return nil, err
	}
	// Unconfirmed: the attempt goes ahead (the primary has the mark); the warning is
	// logged by write.
	return cmd.Slice()
}

// finish records fields, keeps up the lists the report tidy is in (when it is set),
// releases the lock (when owner is set), and acknowledges the entry or, with
// retryAt, reschedules the report: one round trip. The lane's promotion then takes
// it up when due.
func (p *Pipeline) finish(ctx context.Context, l *lane, m redis.XMessage, id, owner string, retryAt time.Time, fields map[string]any, tidy *Report, log zerolog.Logger) {
	q := l.q
	_, err := p.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		if len(fields) > 0 {
			pp.HSet(ctx, reportKey(id), fields)
		}
		if tidy != nil {
			p.store.tidyIndexes(ctx, pp, tidy)
		}
		if owner != "" {
			pp.Eval(ctx, unlockLua, []string{lockKey(id)}, owner)
		}
		q.done(ctx, pp, m, id, retryAt)
		return nil
	})
	if err != nil {
		p.quietly(err).Str("report_id", id).Msg("acknowledging a report; it will be reclaimed")
		return
	}
	if !retryAt.IsZero() {
		l.lookAt(retryAt)
	}
}

// pairs turns a flat HGETALL reply into a map.
func pairs(v any) map[string]string {
	flat, _ := v.([]any)
	out := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		out[k], _ = flat[i+1].(string)
	}
	return out
}

// bringUpToDate delivers r if an attempt was begun, then brings its mod-log post and
// what its reporter was told up to date. It returns when to look at it again (zero:
// nothing left to do) and the fields recording what people were shown.
func (p *Pipeline) bringUpToDate(ctx context.Context, r *Report, token string, prior time.Time, attempting bool, log zerolog.Logger) (time.Time, map[string]any, error) {
	var retryAt time.Time
	var err error
	if r.Delivery == StatusQueued {
		if attempting {
			if retryAt, err = p.attempt(ctx, r, prior, log); err != nil {
				return time.Time{}, nil, err
			}
		} else {
			retryAt = r.NextAttemptAt.Time // an early entry (say, a moderator's change): keep the schedule
		}
	}
	again, told := p.tell(ctx, r, token, log)
	if !again.IsZero() && (retryAt.IsZero() || again.Before(retryAt)) {
		retryAt = again
	}
	return retryAt, told, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
