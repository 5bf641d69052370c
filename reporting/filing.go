package reporting

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/redishealth"
	"github.com/reportbot/reportbot/reporting/replay"
)

// Reply is how the bot can still reach a reporter's answer: the interaction's token
// (valid until Until) and id (on which a choice the reporter makes arrives).
type Reply struct {
	InteractionID string
	Token         string
	Until         time.Time
}

// ErrGameOffHere: an admin turned the game off in the server.
var ErrGameOffHere = errors.New("game turned off in this server")

// errStaleSettings: the settings a report was validated on changed before it was
// filed; it is validated again on the new ones.
var errStaleSettings = errors.New("the server's settings changed")

// Submit validates a report form on the server's settings and files it (File), in
// one round trip to Redis when this instance knows the server's settings: they are
// not read again, the filing checks that they are still the server's. When they are
// not (an admin changed them, maybe on another instance), the form is validated
// again on the new ones. Bad input is an *InputError, ErrSelfReport or
// ErrForgedReason, and changes nothing.
func (s *Service) Submit(ctx context.Context, f Form, who Filer, reply Reply, now time.Time) (*Report, error) {
	st, known := s.Settings.cached(who.GuildID)
	for range 5 {
		if !known {
			var err error
			if st, err = s.Settings.Get(ctx, who.GuildID); err != nil {
				return nil, err
			}
		}
		if !st.GameOn(f.Game) {
			return nil, ErrGameOffHere
		}
		d, err := s.Draft(st, f, who, now)
		if err != nil {
			return nil, err
		}
		r, err := s.File(ctx, st, d, reply)
		if !errors.Is(err, errStaleSettings) {
			return r, err
		}
		known = false
	}
	return nil, fmt.Errorf("filing a report in %s: its settings keep changing", who.GuildID)
}

// File spends the reporter's limit (the server's, the global one, and the one per
// target) and stores the report and queues it, in the server whose settings are st.
// It runs before the reporter is answered at all, so an answered report is never
// lost: players are looked up by the pipeline. A *LimitError means nothing was stored.
//
// On one Redis node that is one script (fileLua): the settings' version, the limit,
// the record, the reporter's token, the indexes and the queue entry, with the
// interaction's replay mark. On Redis Cluster those live in several slots: the limit
// (with the mark) and the settings' version are read in one round trip, then the
// rest is written in another, each slot once.
func (s *Service) File(ctx context.Context, st Settings, d *Draft, reply Reply) (*Report, error) {
	q := s.queues[d.Game]
	if q == nil {
		return nil, fmt.Errorf("%w: %s", ErrGameOff, d.Game)
	}
	lr := s.fileLimit(st, d.ReporterID, d.Game, d.Target, d.ActivityID)
	r := newReport(d)
	var dec Decision
	var err error
	_, cluster := s.rdb.(*redis.ClusterClient)
	if cluster {
		dec, err = s.fileInSteps(ctx, st, lr, q, r, reply)
	} else {
		dec, err = s.fileAtOnce(ctx, st, lr, q, r, reply)
	}
	if errors.Is(err, errStaleSettings) {
		return nil, err
	}
	if err == nil || errors.Is(err, ErrNotReplicated) {
		s.metrics.limitDecision(dec)
	}
	switch {
	case err == nil && !dec.Allowed:
		return nil, &LimitError{Decision: dec}
	case errors.Is(err, ErrNotReplicated):
		s.metrics.reports.WithLabelValues(string(r.Game), "unconfirmed").Inc()
		return r, fmt.Errorf("storing report %s: %w", r.ID, err)
	case err != nil && !cluster && redishealth.Unavailable(err):
		// The one script ran whole or not at all, and Redis cannot be reached to ask
		// which: there is nothing to undo that could be undone (the outage is logged
		// once, by the monitor).
		return nil, fmt.Errorf("storing report %s: %w", r.ID, err)
	case err != nil:
		// Whatever part was written is undone; the reporter keeps their slot.
		undo := context.WithoutCancel(ctx)
		_ = s.Reports.discard(undo, r)
		if rerr := s.Limits.Refund(undo, lr, d.ID); rerr != nil {
			ev := s.log.Error()
			if redishealth.Unavailable(rerr) {
				ev = s.log.Debug()
			}
			ev.Err(rerr).Str("report_id", d.ID).Msg("refunding a report that could not be stored")
		}
		return nil, fmt.Errorf("storing report %s: %w", r.ID, err)
	}
	s.metrics.reports.WithLabelValues(string(r.Game), "stored").Inc()
	return r, nil
}

// newReport is the record of a draft about to be filed.
func newReport(d *Draft) *Report {
	now := time.Now().UTC()
	r := &Report{
		ID: d.ID, Game: d.Game, Delivery: StatusQueued,
		GuildID: d.GuildID, ChannelID: d.ChannelID, ReporterID: d.ReporterID, ReporterName: d.ReporterName,
		ReporterLocale: d.ReporterLocale, GuildLocale: d.GuildLocale,
		Target: d.Target, TargetPlayer: d.TargetPlayer, SourcePlayer: d.SourcePlayer, SourceFallback: Flag(d.SourceFallback),
		ActivityID: d.ActivityID, Reason: d.Reason, Description: d.Description, MatchID: d.MatchID, Evidence: d.Evidence,
		CreatedAt: At(now), UpdatedAt: At(now),
	}
	if d.Target.Kind == TargetUUID && r.TargetPlayer == "" {
		r.TargetPlayer = d.Target.Value
	}
	return r
}

// fileLua files a report on one Redis node (a marked script: markPrelude). KEYS[1]
// the server's settings, KEYS[2..] the limit's keys (take's); ARGV[1] the version of
// the settings the report was validated on, ARGV[2] how many of the arguments that
// follow are take's, then take's arguments, then the writes that store the report:
// each a count n and a command of n words. Nothing is written unless the settings
// are still those and the limit allows the report. Returns take's answer, or
// {-1, 0} for settings that changed.
//
//go:embed file.lua
var fileLua string

// fileAtOnce is File on one Redis node: one round trip (and WAIT in the same one,
// with REDIS_WAIT_REPLICAS).
func (s *Service) fileAtOnce(ctx context.Context, st Settings, lr LimitRequest, q *queue, r *Report, reply Reply) (Decision, error) {
	largs, err := s.Limits.args(lr, r.ID)
	if err != nil {
		return Decision{}, err
	}
	keys := append([]string{settingsKey(st.GuildID)}, s.Limits.keys(lr)...)
	args := append([]any{st.version, len(largs)}, largs...)
	// The writes are made by the same code as on Redis Cluster, into a pipeline that
	// is never sent: its commands become the script's arguments.
	p := s.rdb.Pipeline()
	s.writeReport(ctx, p, q, r, reply)
	args = append(args, commandWords(p)...)
	keys, args, err = markedArgs(ctx, s.rdb, keys, args)
	if err != nil {
		return Decision{}, err
	}
	var res []int64
	run := func(eval func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd) error {
		return s.replicas.write(ctx, "", func(p redis.Pipeliner) func() error {
			cmd := eval(ctx, p, keys, args...)
			return func() error {
				var err error
				res, err = cmd.Int64Slice()
				return err
			}
		})
	}
	err = run(s.file.EvalSha)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its scripts (a restart, a failover): once more, with the source.
		err = run(s.file.Eval)
	}
	switch {
	case redis.HasErrorPrefix(err, "REPLAY"):
		return Decision{}, replay.Refused(ctx)
	case err != nil && !errors.Is(err, ErrNotReplicated):
		return Decision{}, err
	case len(res) == 2 && res[0] == -1:
		return Decision{}, errStaleSettings
	}
	dec, derr := takeDecision(lr, res, nil)
	if derr != nil {
		return Decision{}, derr
	}
	return dec, err
}

// fileInSteps is File on Redis Cluster: the limit, with the replay mark, beside the
// settings' version; then the report's writes, each slot once.
func (s *Service) fileInSteps(ctx context.Context, st Settings, lr LimitRequest, q *queue, r *Report, reply Reply) (Decision, error) {
	largs, err := s.Limits.args(lr, r.ID)
	if err != nil {
		return Decision{}, err
	}
	keys, args, err := markedArgs(ctx, s.rdb, s.Limits.keys(lr), largs)
	if err != nil {
		return Decision{}, err
	}
	var take *redis.Cmd
	var version *redis.StringCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		take = s.Limits.decide.EvalSha(ctx, p, keys, args...)
		version = p.HGet(ctx, settingsKey(st.GuildID), fieldVersion)
		return nil
	})
	if redis.HasErrorPrefix(take.Err(), "NOSCRIPT") {
		take = s.Limits.decide.Run(ctx, s.rdb, keys, args...)
	}
	switch {
	case redis.HasErrorPrefix(take.Err(), "REPLAY"):
		return Decision{}, replay.Refused(ctx)
	case version.Err() != nil && !errors.Is(version.Err(), redis.Nil):
		return Decision{}, fmt.Errorf("reading the settings' version: %w", version.Err())
	}
	res, err := take.Int64Slice()
	dec, err := takeDecision(lr, res, err)
	if err != nil {
		return Decision{}, err
	}
	if version.Val() != st.version {
		if dec.Allowed {
			if err := s.Limits.Refund(ctx, lr, r.ID); err != nil {
				return Decision{}, err
			}
		}
		return Decision{}, errStaleSettings
	}
	if !dec.Allowed {
		return dec, nil
	}
	return dec, s.store(ctx, q, r, reply)
}

// writeReport queues on p every write that stores a new report: its record and its
// reporter's token, the interaction that filed it, the indexes, and its queue entry.
func (s *Service) writeReport(ctx context.Context, p redis.Pipeliner, q *queue, r *Report, reply Reply) {
	s.writeRecord(ctx, p, r, reply)
	s.writeIndexes(ctx, p, r, reply)
	_ = q.add(ctx, p, r.ID)
}

func (s *Service) writeRecord(ctx context.Context, p redis.Pipeliner, r *Report, reply Reply) {
	s.Reports.create(ctx, p, r, reply.Token, time.Until(reply.Until))
}

// writeIndexes are the writes that only serve lists and choices: a failover that
// loses one loses no report.
func (s *Service) writeIndexes(ctx context.Context, p redis.Pipeliner, r *Report, reply Reply) {
	if reply.InteractionID != "" {
		p.Set(ctx, interactionKey(reply.InteractionID), r.ID, max(time.Until(reply.Until), time.Second))
	}
	s.Reports.index(ctx, p, r)
}

// store writes a new report on Redis Cluster, where the record and the queue entry
// are in different slots, so on different nodes: the pipeline writes them at once,
// and a worker that reads the entry before the record lands looks again a moment
// later (lookAgainIn, for up to recordGrace).
//
// With WaitReplicas, the record and the queue entry are each written on their
// master's connection and followed by WAIT, at once; ErrNotReplicated says the
// replicas did not confirm in time (the report is stored on the primaries all the
// same).
func (s *Service) store(ctx context.Context, q *queue, r *Report, reply Reply) error {
	if s.replicas.n == 0 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			s.writeReport(ctx, p, q, r, reply)
			return nil
		})
		return err
	}
	steps := []struct {
		key   string
		write func(p redis.Pipeliner)
	}{
		{reportKey(r.ID), func(p redis.Pipeliner) { s.writeRecord(ctx, p, r, reply) }},
		{q.stream, func(p redis.Pipeliner) { _ = q.add(ctx, p, r.ID) }},
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for k, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = s.replicas.write(ctx, step.key, func(p redis.Pipeliner) func() error { step.write(p); return nil })
		}()
	}
	var indexErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, indexErr = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { s.writeIndexes(ctx, p, r, reply); return nil })
	}()
	wg.Wait()
	if indexErr != nil {
		s.log.Warn().Err(indexErr).Str("report_id", r.ID).Msg("indexing a stored report")
	}
	var unconfirmed error
	for _, err := range errs {
		if errors.Is(err, ErrNotReplicated) {
			unconfirmed = err
		} else if err != nil {
			return err
		}
	}
	return unconfirmed
}

// ErrNotReplicated is returned when a write was made on the primary but fewer replicas
// than REDIS_WAIT_REPLICAS confirmed it within the wait.
var ErrNotReplicated = errors.New("not confirmed by enough replicas")

// replicas makes writes that must survive the loss of a primary: with n > 0, they are
// sent on the connection of the master that owns their key and followed by WAIT n.
type replicas struct {
	rdb     redis.UniversalClient
	n       int
	timeout time.Duration
	log     zerolog.Logger
	// warned is when an unconfirmed write was last logged (unix ns): while replicas
	// are missing, every write is unconfirmed, and once a minute says so.
	warned *atomic.Int64
}

// write queues fn's commands in one pipeline on the master of key's slot (any node
// for ""), followed, with n > 0, by WAIT n: WAIT counts a connection's own writes,
// so it must go on the same connection. fn returns the check of its commands'
// results, run once they are in.
func (rp replicas) write(ctx context.Context, key string, fn func(p redis.Pipeliner) func() error) error {
	var conn redis.Cmdable = rp.rdb
	if cc, ok := rp.rdb.(*redis.ClusterClient); ok && key != "" {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return fmt.Errorf("finding the master of %s: %w", key, err)
		}
		conn = node
	}
	var wait *redis.Cmd
	var check func() error
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		check = fn(p)
		if rp.n > 0 {
			wait = p.Do(ctx, "WAIT", rp.n, rp.timeout.Milliseconds())
		}
		return nil
	})
	if check != nil {
		if cerr := check(); cerr != nil {
			return cerr
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if wait == nil {
		return nil
	}
	got, err := wait.Int()
	if err != nil {
		return fmt.Errorf("waiting for replicas: %w", err)
	}
	if got < rp.n {
		if last := rp.warned.Load(); time.Since(time.Unix(0, last)) > time.Minute && rp.warned.CompareAndSwap(last, time.Now().UnixNano()) {
			rp.log.Warn().Int("replicas", got).Int("wanted", rp.n).Msg("writes are not confirmed by enough replicas in time (REDIS_WAIT_REPLICAS); logged once a minute while it lasts")
		}
		return fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, got, rp.n, rp.timeout)
	}
	return nil
}
