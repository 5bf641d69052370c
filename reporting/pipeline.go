package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/rallyhere"
)

// Notifier tells people how a report is doing; package commands renders and sends.
// The pipeline calls it whenever what people were last shown is out of date, so it
// must tolerate being called again for the same state.
type Notifier interface {
	// Reporter tells the reporter r's state: an edit of their answer while token (the
	// interaction's) lasts, else a direct message.
	Reporter(ctx context.Context, r *Report, token string) error
	// ModLog posts r to the server's mod-log channel, or edits the post messageID
	// (when it is in that channel), and returns the post's id.
	ModLog(ctx context.Context, r *Report, st Settings, messageID string) (string, error)
}

// PipelineOptions tune a Pipeline; zero values take the defaults.
type PipelineOptions struct {
	// Consumer names this instance in the consumer group; default host-pid-random.
	Consumer string
	// Workers is how many reports are handled at once (default 8: each waits mostly
	// on the network, and more would only compete with the answers to Discord).
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
	svc    *Service
	notify Notifier
	o      PipelineOptions
	log    zerolog.Logger

	begin, promote, renew, unlock *redis.Script

	settingsMu sync.Mutex
	settings   map[string]cachedSettings
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
	return &Pipeline{
		svc: svc, notify: n, o: o,
		log:      o.Logger.With().Str("consumer", o.Consumer).Logger(),
		begin:    redis.NewScript(beginLua),
		promote:  redis.NewScript(promoteLua),
		renew:    redis.NewScript(renewLua),
		unlock:   redis.NewScript(unlockLua),
		settings: map[string]cachedSettings{},
	}
}

// rescheduleLua acknowledges a stream entry and schedules its report for later, in one
// step: a crash between the two would otherwise lose the retry.
// KEYS stream, retry set; ARGV group, entry id, due (ms), report id.
const rescheduleLua = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1`

// promoteLua moves reports whose retry is due back into the stream.
// KEYS retry set, stream; ARGV now (ms), how many at most.
const promoteLua = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #due`

// A report is handled under a lock, so that two workers never deliver it at once. The
// lock is short and renewed while the work goes on: one left by a crashed worker
// lapses quickly.
const (
	lockTTL     = 10 * time.Second
	maxHandling = 2 * time.Minute
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
				if err := p.renew.Run(ctx, p.svc.rdb, []string{lockKey(id)}, owner, lockTTL.Milliseconds()).Err(); err != nil && ctx.Err() == nil {
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

// Enqueue asks the pipeline to bring report id up to date (after a moderator's
// change, say).
func (p *Pipeline) Enqueue(ctx context.Context, id string) error {
	err := p.svc.rdb.XAdd(ctx, &redis.XAddArgs{Stream: queueStream, Values: []string{"id", id}}).Err()
	if err != nil {
		return fmt.Errorf("queueing report %s: %w", id, err)
	}
	return nil
}

// Run works until ctx ends, then finishes the reports in hand and returns.
func (p *Pipeline) Run(ctx context.Context) error {
	rdb := p.svc.rdb
	err := rdb.XGroupCreateMkStream(ctx, queueStream, queueGroup, "0").Err()
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating the delivery group: %w", err)
	}
	p.log.Info().Int("workers", p.o.Workers).Msg("delivery pipeline running")

	jobs := make(chan redis.XMessage, p.o.Workers)
	var workers sync.WaitGroup
	for range p.o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for m := range jobs {
				// A report in hand is finished even while shutting down.
				p.handle(context.WithoutCancel(ctx), m)
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
		p.read(ctx, jobs)
	}()
	loop(p.o.ClaimIdle/3, func(ctx context.Context) { p.reclaim(ctx, jobs) })
	loop(250*time.Millisecond, p.promoteDue)
	loop(30*time.Second, p.trim)

	<-ctx.Done()
	feeders.Wait()
	close(jobs)
	workers.Wait()
	p.log.Info().Msg("delivery pipeline stopped")
	return nil
}

// read feeds new stream entries to the workers.
func (p *Pipeline) read(ctx context.Context, jobs chan<- redis.XMessage) {
	for ctx.Err() == nil {
		res, err := p.svc.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: queueGroup, Consumer: p.o.Consumer, Streams: []string{queueStream, ">"},
			Count: int64(p.o.Workers), Block: 500 * time.Millisecond,
		}).Result()
		if errors.Is(err, redis.Nil) || ctx.Err() != nil {
			continue
		}
		if err != nil {
			p.log.Warn().Err(err).Msg("reading the queue")
			sleep(ctx, time.Second)
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				jobs <- m
			}
		}
	}
}

// reclaim takes over entries another consumer read but never acknowledged (it
// crashed, or hangs), walking the pending list to its end.
func (p *Pipeline) reclaim(ctx context.Context, jobs chan<- redis.XMessage) {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := p.svc.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: queueStream, Group: queueGroup, Consumer: p.o.Consumer,
			MinIdle: p.o.ClaimIdle, Start: start, Count: 100,
		}).Result()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("reclaiming pending reports")
			}
			return
		}
		if len(msgs) > 0 {
			p.log.Info().Int("reports", len(msgs)).Msg("reclaimed reports left pending")
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

func (p *Pipeline) promoteDue(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := p.promote.Run(ctx, p.svc.rdb, []string{queueRetry, queueStream}, time.Now().UnixMilli(), 200).Int()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("promoting due retries")
			}
			return
		}
		if n < 200 {
			return
		}
	}
}

// trim drops the entries every consumer is done with: those older than the oldest
// pending one, or than the last one handed out when nothing is pending.
func (p *Pipeline) trim(ctx context.Context) {
	rdb := p.svc.rdb
	pend, err := rdb.XPending(ctx, queueStream, queueGroup).Result()
	if err != nil {
		return
	}
	minID := pend.Lower
	if pend.Count == 0 {
		groups, err := rdb.XInfoGroups(ctx, queueStream).Result()
		if err != nil {
			return
		}
		for _, g := range groups {
			if g.Name == queueGroup {
				minID = g.LastDeliveredID
			}
		}
	}
	if minID == "" || minID == "0-0" {
		return
	}
	if err := rdb.XTrimMinID(ctx, queueStream, minID).Err(); err != nil {
		p.log.Warn().Err(err).Msg("trimming the queue")
	}
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

// handle brings one report up to date, then in one round trip records what people
// were told, releases the report's lock, and acknowledges or reschedules its entry.
func (p *Pipeline) handle(ctx context.Context, m redis.XMessage) {
	id, _ := m.Values["id"].(string)
	log := p.log.With().Str("report_id", id).Logger()
	rdb := p.svc.rdb
	defer func() {
		if v := recover(); v != nil {
			// A report that crashes its handler is set aside rather than crashing every
			// instance that reclaims it.
			log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("handling a report panicked; it is set aside")
			_ = rdb.XAck(ctx, queueStream, queueGroup, m.ID).Err()
		}
	}()
	owner := p.o.Consumer + "-" + strconv.FormatUint(rand.Uint64(), 36)
	now := time.Now()
	res, err := p.begin.Run(ctx, rdb, []string{lockKey(id), reportKey(id), tokenKey(id)}, owner, lockTTL.Milliseconds(), now.UnixMilli()).Slice()
	if errors.Is(err, redis.Nil) {
		// Another worker has it in hand, or had: a crashed one's lock lapses within
		// lockTTL, so look again then.
		p.finish(ctx, m, id, "", time.Now().Add(lockTTL), nil, log)
		return
	}
	if err != nil {
		log.Error().Err(err).Msg("loading a report; it will be reclaimed")
		return
	}
	token, _ := res[0].(string)
	prior, _ := res[1].(string)
	started, _ := res[2].(string)
	r, err := decodeReport(pairs(res[3]))
	if err != nil {
		p.finish(ctx, m, id, owner, time.Time{}, nil, log) // expired with the retention
		return
	}
	if started != "" {
		r.Attempts++
		r.AttemptStartedAt = unms(started)
	}
	hctx, cancel := context.WithTimeout(ctx, maxHandling)
	renewed := p.holdLock(hctx, id, owner)
	retryAt, told, err := p.bringUpToDate(hctx, r, token, unms(prior), started != "", log)
	cancel()
	<-renewed
	if err != nil {
		// Redis itself failed: leave the entry pending; it is reclaimed later.
		log.Error().Err(err).Msg("handling a report; it will be reclaimed")
		_ = p.unlock.Run(ctx, rdb, []string{lockKey(id)}, owner).Err()
		return
	}
	p.finish(ctx, m, id, owner, retryAt, told, log)
}

// finish records fields, releases the lock (when owner is set), and acknowledges the
// entry or, with retryAt, reschedules the report: one round trip.
func (p *Pipeline) finish(ctx context.Context, m redis.XMessage, id, owner string, retryAt time.Time, fields map[string]any, log zerolog.Logger) {
	_, err := p.svc.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		if len(fields) > 0 {
			pp.HSet(ctx, reportKey(id), fields)
		}
		if owner != "" {
			pp.Eval(ctx, unlockLua, []string{lockKey(id)}, owner)
		}
		if retryAt.IsZero() {
			pp.XAck(ctx, queueStream, queueGroup, m.ID)
		} else {
			pp.Eval(ctx, rescheduleLua, []string{queueStream, queueRetry}, queueGroup, m.ID, retryAt.UnixMilli(), id)
		}
		return nil
	})
	if err != nil {
		log.Error().Err(err).Msg("acknowledging a report; it will be reclaimed")
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
			retryAt = r.NextAttemptAt // an early entry (say, a moderator's change): keep the schedule
		}
	}
	again, told := p.tell(ctx, r, token, log)
	if !again.IsZero() && (retryAt.IsZero() || again.Before(retryAt)) {
		retryAt = again
	}
	return retryAt, told, nil
}

// attempt makes one delivery attempt (begun in beginLua) and records its outcome in r
// and in Redis. prior is when an earlier attempt began whose outcome is unknown. It
// returns when to try again, or zero when delivery is settled.
func (p *Pipeline) attempt(ctx context.Context, r *Report, prior time.Time, log zerolog.Logger) (time.Time, error) {
	actx, cancel := context.WithTimeout(ctx, p.o.AttemptTimeout)
	defer cancel()

	if r.Fault == FaultChoosing {
		// The reporter was asked which player they meant and let the question lapse.
		return time.Time{}, p.failed(ctx, r, Fault{Kind: FaultAmbiguous}, errors.New("no player chosen in time"), log)
	}

	// An earlier attempt may have filed the report and lost the answer: look first.
	if !prior.IsZero() {
		upstreamID, err := p.svc.findUpstream(actx, r)
		switch {
		case err == nil && upstreamID != "":
			log.Info().Str("upstream_id", upstreamID).Msg("found upstream from an earlier attempt; not sent again")
			return time.Time{}, p.settled(ctx, r, sent{upstreamID: upstreamID}, log)
		case err != nil && p.svc.classify(r.Game, err).Temporary():
			return p.retry(ctx, r, p.svc.classify(r.Game, err), err, true, log)
		case err != nil:
			// The credentials may not list reports: deliver at least once rather than never.
			log.Warn().Err(err).Msg("cannot check upstream for an earlier attempt; sending again")
		}
	}

	if r.needsPlayers() {
		if settled, retryAt, err := p.resolve(actx, ctx, r, log); settled || err != nil {
			return retryAt, err
		}
	}
	if r.Target.Kind != TargetUUID {
		// Filing checked the duplicate rule by the name or member given; now that the
		// player is known, check it by player too.
		ok, err := p.svc.Limits.Claim(ctx, r.ReporterID, targetKey(r.Game, r.TargetPlayer, r.ActivityID), r.ID, dedupeFor)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			return time.Time{}, p.failed(ctx, r, Fault{Kind: FaultDuplicate}, errors.New("already reported this player"), log)
		}
	}

	res, err := p.svc.send(actx, r)
	if err == nil {
		return time.Time{}, p.settled(ctx, r, res, log)
	}
	f := p.svc.classify(r.Game, err)
	if f.Temporary() {
		return p.retry(ctx, r, f, err, maybeSent(err), log)
	}
	return time.Time{}, p.failed(ctx, r, f, err, log)
}

// resolve looks up the players a report was filed without (the lookup failed when it
// was filed). It reports whether delivery is settled for now (failed, or to retry).
func (p *Pipeline) resolve(actx, ctx context.Context, r *Report, log zerolog.Logger) (bool, time.Time, error) {
	if r.Game == Destiny2 {
		return p.resolveDestiny(actx, ctx, r, log)
	}
	d := &Draft{ID: r.ID, Game: r.Game, ReporterID: r.ReporterID, Target: r.Target,
		SourcePlayer: r.SourcePlayer, SourceFallback: r.SourceFallback, TargetPlayer: r.TargetPlayer}
	err := p.svc.Resolve(actx, d)
	// Keep what was found, even if the rest failed: the next attempt starts from there,
	// and, having got further, does not wait longer.
	if d.SourcePlayer != r.SourcePlayer || d.TargetPlayer != r.TargetPlayer {
		r.SourcePlayer, r.SourceFallback, r.TargetPlayer, r.Streak = d.SourcePlayer, d.SourceFallback, d.TargetPlayer, 0
		if serr := p.svc.Reports.set(ctx, r.ID, map[string]any{
			fSourcePlayer: r.SourcePlayer, fSourceFallback: flag(r.SourceFallback), fTargetPlayer: r.TargetPlayer, fStreak: 0,
		}); serr != nil {
			return true, time.Time{}, serr
		}
	}
	if err == nil {
		return false, time.Time{}, nil
	}
	var amb *AmbiguousError
	var f Fault
	switch {
	case errors.Is(err, ErrReporterNotLinked):
		f.Kind = FaultReporterNotLinked
	case errors.Is(err, ErrTargetNotLinked):
		f.Kind = FaultTargetNotLinked
	case errors.Is(err, ErrPlayerNotFound):
		f.Kind = FaultPlayerNotFound
	case errors.Is(err, ErrSelfReport):
		f.Kind = FaultSelfReport
	case errors.As(err, &amb):
		var cs []Candidate
		for i, id := range amb.Players {
			cs = append(cs, Candidate{ID: id, Label: fmt.Sprintf("%s (%d)", r.Target.Value, i+1)})
		}
		return true, p.choose(ctx, r, cs, log), nil
	default:
		f = ClassifyRallyHere(err)
	}
	if f.Temporary() {
		at, err2 := p.retry(ctx, r, f, err, false, log)
		return true, at, err2
	}
	return true, time.Time{}, p.failed(ctx, r, f, err, log)
}

// chooseWithin is how long a reporter has to pick among players sharing a name: as
// long as their interaction's token lets the bot edit the question.
const chooseWithin = 14 * time.Minute

// resolveDestiny reads the activity's PGCR and asks the reporter which of its players
// they report. It reports whether delivery is settled for now (always: failed, to
// retry, or waiting for the choice).
func (p *Pipeline) resolveDestiny(actx, ctx context.Context, r *Report, log zerolog.Logger) (bool, time.Time, error) {
	cs, err := p.svc.destinyCandidates(actx, r)
	switch {
	case err != nil && ClassifyBungie(err).Temporary():
		at, err2 := p.retry(ctx, r, ClassifyBungie(err), err, false, log)
		return true, at, err2
	case err != nil:
		return true, time.Time{}, p.failed(ctx, r, ClassifyBungie(err), err, log)
	case len(cs) == 0:
		return true, time.Time{}, p.failed(ctx, r, Fault{Kind: FaultNobodyElse}, errors.New("nobody else in the activity"), log)
	}
	return true, p.choose(ctx, r, cs, log), nil
}

// choose parks r while its reporter picks among candidates (the notice asks them); if
// nobody picks in time, the report fails then.
func (p *Pipeline) choose(ctx context.Context, r *Report, cs []Candidate, log zerolog.Logger) time.Time {
	r.Fault, r.Candidates, r.NextAttemptAt, r.AttemptStartedAt = FaultChoosing, cs, r.CreatedAt.Add(chooseWithin), time.Time{}
	enc, _ := json.Marshal(cs)
	if err := p.svc.Reports.set(ctx, r.ID, map[string]any{fFault: string(FaultChoosing), fCandidates: enc,
		fNextAttempt: ms(r.NextAttemptAt), fInFlight: ""}); err != nil {
		log.Warn().Err(err).Msg("parking a report for a choice")
		return time.Now().Add(sideEffectRetry)
	}
	log.Info().Int("players", len(cs)).Msg("the reporter is asked which player they mean")
	return r.NextAttemptAt
}

// maybeSent reports whether a failed request may have reached the upstream and been
// acted on: anything but an answer that says it was not (429, 4xx).
func maybeSent(err error) bool {
	var e *rallyhere.Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return true
}

// settled records a report's delivery: filed upstream (res.upstreamID), or handed to
// the reporter to file on the upstream's own page (res.link).
func (p *Pipeline) settled(ctx context.Context, r *Report, res sent, log zerolog.Logger) error {
	r.Delivery, r.UpstreamID, r.Link, r.DeliveredAt = StatusDelivered, res.upstreamID, res.link, time.Now().UTC()
	if res.link != "" {
		r.Delivery = StatusHandedOff
	}
	r.AttemptStartedAt, r.Fault, r.FaultDetail, r.LastError = time.Time{}, "", "", ""
	err := p.svc.Reports.set(ctx, r.ID, map[string]any{
		fDelivery: string(r.Delivery), fUpstreamID: r.UpstreamID, fLink: r.Link, fDelivered: ms(r.DeliveredAt),
		fInFlight: "", fFault: "", fFaultDetail: "", fLastError: "", fNextAttempt: "",
	})
	if err != nil {
		return err
	}
	log.Info().Str("status", string(r.Delivery)).Str("upstream_id", r.UpstreamID).Int("attempts", r.Attempts).Msg("report settled")
	p.svc.metrics.reports.WithLabelValues(string(r.Game), string(r.Delivery)).Inc()
	if r.Delivery == StatusDelivered {
		p.svc.metrics.latency.Observe(time.Since(r.CreatedAt).Seconds())
	}
	return nil
}

func (p *Pipeline) failed(ctx context.Context, r *Report, f Fault, cause error, log zerolog.Logger) error {
	r.Delivery, r.Fault, r.FaultDetail, r.LastError, r.AttemptStartedAt = StatusFailed, f.Kind, f.Detail, cause.Error(), time.Time{}
	err := p.svc.Reports.set(ctx, r.ID, map[string]any{
		fDelivery: string(r.Delivery), fFault: string(f.Kind), fFaultDetail: f.Detail, fLastError: r.LastError,
		fInFlight: "", fNextAttempt: "", fDead: flag(r.Dead),
	})
	if err != nil {
		return err
	}
	log.Warn().Err(cause).Str("fault", string(f.Kind)).Bool("dead", r.Dead).Msg("report not delivered")
	p.svc.metrics.reports.WithLabelValues(string(r.Game), "failed").Inc()
	if f.ReporterCaused() {
		// The upstream refused the report itself: it does not count against the reporter.
		if err := p.svc.refundLimit(ctx, r); err != nil {
			log.Error().Err(err).Msg("refunding a refused report")
		}
	}
	return nil
}

// retry schedules another attempt with exponential backoff and jitter, no sooner than
// the upstream asked; after GiveUpAfter of failures the report is dead-lettered.
// maybe says whether the failed attempt may have filed the report anyway.
func (p *Pipeline) retry(ctx context.Context, r *Report, f Fault, cause error, maybe bool, log zerolog.Logger) (time.Time, error) {
	if time.Since(r.CreatedAt) >= p.o.GiveUpAfter {
		r.Dead = true
		if err := p.failed(ctx, r, Fault{Kind: FaultExpired, Detail: string(f.Kind)}, cause, log); err != nil {
			return time.Time{}, err
		}
		err := p.svc.rdb.XAdd(ctx, &redis.XAddArgs{
			Stream: queueDead, Values: []string{"id", r.ID, "guild_id", r.GuildID, "last_error", r.LastError},
			MinID: strconv.FormatInt(time.Now().Add(-p.svc.Reports.retention).UnixMilli(), 10), Approx: true,
		}).Err()
		p.svc.metrics.reports.WithLabelValues(string(r.Game), "dead").Inc()
		return time.Time{}, err
	}
	r.Streak++
	wait := p.backoff(r.Streak)
	if f.RetryAfter > wait {
		wait = f.RetryAfter
	}
	r.NextAttemptAt = time.Now().Add(wait)
	r.Fault, r.FaultDetail, r.LastError = f.Kind, f.Detail, cause.Error()
	inFlight := ""
	if maybe {
		inFlight = ms(r.AttemptStartedAt)
	} else {
		r.AttemptStartedAt = time.Time{}
	}
	err := p.svc.Reports.set(ctx, r.ID, map[string]any{
		fNextAttempt: ms(r.NextAttemptAt), fFault: string(f.Kind), fFaultDetail: f.Detail,
		fLastError: r.LastError, fInFlight: inFlight, fStreak: r.Streak,
	})
	log.Info().Err(cause).Str("fault", string(f.Kind)).Int("attempts", r.Attempts).Dur("wait", wait).Msg("delivery will be retried")
	p.svc.metrics.reports.WithLabelValues(string(r.Game), "retried").Inc()
	return r.NextAttemptAt, err
}

// backoff is the wait after the n-th failed attempt in a row (an attempt that got
// further than the one before, say found the players, starts the count again):
// exponential from BackoffBase, capped at BackoffCap, with the upper half jittered so
// instances do not retry in step.
func (p *Pipeline) backoff(n int) time.Duration {
	d := p.o.BackoffBase
	for i := 1; i < n && d < p.o.BackoffCap; i++ {
		d *= 2
	}
	d = min(d, p.o.BackoffCap)
	return d/2 + rand.N(d/2+1)
}

// sideEffectRetry is how soon a failed mod-log post or reporter notice is tried again.
const sideEffectRetry = 30 * time.Second

// tell updates the mod-log post and the reporter's notice when they show an older
// state than r's. It returns when to try again after a failure (zero: all done), and
// the fields recording what was shown.
func (p *Pipeline) tell(ctx context.Context, r *Report, token string, log zerolog.Logger) (time.Time, map[string]any) {
	if time.Since(r.CreatedAt) > p.o.GiveUpAfter+time.Hour && r.Delivery != StatusQueued {
		// Nobody is waiting on news of a report this old; don't chase Discord for it.
		return time.Time{}, nil
	}
	var again time.Time
	told := map[string]any{}
	st, err := p.settingsOf(ctx, r.GuildID)
	if err != nil {
		log.Warn().Err(err).Msg("reading settings to post the report")
		return time.Now().Add(sideEffectRetry), nil
	}
	// A report that never found its players (a typo, an unlinked account) was no real
	// report: moderators see it only if it was posted before.
	worthy := !r.Fault.Resolution() || r.ModLogMessageID != ""
	if shown := ModLogState(r); worthy && st.ModLogChannel != "" && (r.ModLogShown != shown || r.ModLogChannelID != st.ModLogChannel) {
		msgID := r.ModLogMessageID
		if r.ModLogChannelID != st.ModLogChannel {
			msgID = "" // the channel changed: post anew there
		}
		newID, err := p.notify.ModLog(ctx, r, st, msgID)
		if err != nil {
			log.Warn().Err(err).Msg("posting the report to the mod log")
			again = time.Now().Add(sideEffectRetry)
		} else {
			r.ModLogChannelID, r.ModLogMessageID, r.ModLogShown = st.ModLogChannel, newID, shown
			told[fModLogChannel], told[fModLogMessage], told[fModLogShown] = st.ModLogChannel, newID, shown
		}
	}
	if news := ReporterNews(r); news != "" && r.Notified != news {
		if err := p.notify.Reporter(ctx, r, token); err != nil {
			log.Warn().Err(err).Msg("telling the reporter")
			again = time.Now().Add(sideEffectRetry)
		} else {
			r.Notified = news
			told[fNotified] = news
		}
	}
	return again, told
}

// ModLogState is what a mod-log post of r shows; a post showing another state is
// edited.
func ModLogState(r *Report) string {
	s := string(r.Status())
	if r.Fault != "" {
		s += ":" + string(r.Fault)
	}
	return s
}

// ReporterNews is what the reporter should know of r: a delivery outcome, that it is
// being retried, or a moderator's decision; "" while there is nothing to tell yet.
func ReporterNews(r *Report) string {
	switch {
	case r.Moderation != "":
		return string(r.Moderation)
	case r.Delivery == StatusQueued && r.Fault == FaultChoosing:
		return "choosing"
	case r.Delivery == StatusQueued && r.Fault != "":
		return "retrying"
	case r.Delivery == StatusQueued:
		return ""
	}
	return string(r.Delivery)
}

// settingsOf returns a server's settings, cached for a few seconds: the pipeline
// reads them for every report.
func (p *Pipeline) settingsOf(ctx context.Context, guildID string) (Settings, error) {
	p.settingsMu.Lock()
	c, ok := p.settings[guildID]
	p.settingsMu.Unlock()
	if ok && time.Since(c.at) < 5*time.Second {
		return c.st, nil
	}
	st, err := p.svc.Settings.Get(ctx, guildID)
	if err != nil {
		return Settings{}, err
	}
	p.settingsMu.Lock()
	if len(p.settings) > 10000 {
		clear(p.settings)
	}
	p.settings[guildID] = cachedSettings{st: st, at: time.Now()}
	p.settingsMu.Unlock()
	return st, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
