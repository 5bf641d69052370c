package reporting

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Delivery: one attempt at filing a report with its publisher, and what becomes of
// the report after it: settled (delivered, or handed to the reporter), retried
// later, failed for good, or, after a day of failures, dead-lettered.

// attempt makes one delivery attempt (begun in beginLua) and records its outcome in r
// and in Redis. prior is when an earlier attempt began whose outcome is unknown. It
// returns when to try again, or zero when delivery is settled.
func (p *Pipeline) attempt(ctx context.Context, r *Report, prior time.Time, log zerolog.Logger) (time.Time, error) {
	pub, err := p.publisher(r.Game)
	if err != nil {
		return time.Time{}, p.failed(ctx, r, faultUnknown, err, log)
	}
	actx, cancel := context.WithTimeout(ctx, p.o.AttemptTimeout)
	defer cancel()

	if r.Fault == FaultChoosing {
		// The reporter was asked which player they meant and let the question lapse.
		lapsed := Fault{Kind: FaultAmbiguous, Reporter: true, Unfiled: true}
		return time.Time{}, p.failed(ctx, r, lapsed, errors.New("no player chosen in time"), log)
	}

	// An earlier attempt may have filed the report and lost the answer: look first.
	if !prior.IsZero() {
		upstreamID, err := pub.Lookup(actx, r)
		switch {
		case err == nil && upstreamID != "":
			log.Info().Str("upstream_id", upstreamID).Msg("found upstream from an earlier attempt; not sent again")
			return time.Time{}, p.settled(ctx, r, Sent{UpstreamID: upstreamID}, log)
		case err != nil && pub.Classify(err).Temporary():
			return p.retry(ctx, r, pub.Classify(err), err, true, log)
		case err != nil:
			// The credentials may not list reports: deliver at least once rather than never.
			log.Warn().Err(err).Msg("cannot check upstream for an earlier attempt; sending again")
		}
	}

	if settled, retryAt, err := p.resolve(actx, ctx, pub, r, log); settled || err != nil {
		return retryAt, err
	}
	if r.Target.Kind != TargetUUID {
		// Filing checked the duplicate rule by the name or member given; now that the
		// player is known, check it by player too.
		ok, err := p.limits.Claim(ctx, r.ReporterID, targetKey(r.Game, r.TargetPlayer, r.ActivityID), r.ID, dedupeFor)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			return time.Time{}, p.failed(ctx, r, faultDuplicate, errors.New("already reported this player"), log)
		}
	}

	res, err := pub.Send(actx, r)
	if err == nil {
		return time.Time{}, p.settled(ctx, r, res, log)
	}
	f := pub.Classify(err)
	if f.Temporary() {
		return p.retry(ctx, r, f, err, f.MaybeSent, log)
	}
	return time.Time{}, p.failed(ctx, r, f, err, log)
}

// resolve has the publisher find what r still needs (its players). It reports whether
// delivery is settled for now: failed, to retry, or waiting for the reporter's choice.
func (p *Pipeline) resolve(actx, ctx context.Context, pub Publisher, r *Report, log zerolog.Logger) (bool, time.Time, error) {
	source, fallback, target := r.SourcePlayer, r.SourceFallback, r.TargetPlayer
	err := pub.Resolve(actx, r)
	// Keep what was found, even if the rest failed: the next attempt starts from there,
	// and, having got further, does not wait longer.
	if r.SourcePlayer != source || r.SourceFallback != fallback || r.TargetPlayer != target {
		r.Streak = 0
		if serr := p.store.set(ctx, r.ID, map[string]any{
			fSourcePlayer: r.SourcePlayer, fSourceFallback: r.SourceFallback, fTargetPlayer: r.TargetPlayer, fStreak: 0,
		}); serr != nil {
			return true, time.Time{}, serr
		}
	}
	var choice *ChoiceError
	switch {
	case err == nil:
		return false, time.Time{}, nil
	case errors.As(err, &choice):
		return true, p.choose(ctx, r, choice.Candidates, log), nil
	}
	f := pub.Classify(err)
	if f.Temporary() {
		// A lookup is not a report: it cannot have filed anything.
		at, err := p.retry(ctx, r, f, err, false, log)
		return true, at, err
	}
	return true, time.Time{}, p.failed(ctx, r, f, err, log)
}

// chooseWithin is how long a reporter has to choose the player: as long as their
// interaction's token lets the bot edit the question.
const chooseWithin = 14 * time.Minute

// choose parks r while its reporter picks among candidates (the notice asks them); if
// nobody picks in time, the report fails then.
func (p *Pipeline) choose(ctx context.Context, r *Report, cs []Candidate, log zerolog.Logger) time.Time {
	r.Fault, r.FaultUnfiled, r.Candidates = FaultChoosing, true, cs
	r.NextAttemptAt, r.AttemptStartedAt = At(r.CreatedAt.Add(chooseWithin)), Millis{}
	if err := p.store.set(ctx, r.ID, map[string]any{fFault: r.Fault, fFaultUnfiled: r.FaultUnfiled, fCandidates: r.Candidates,
		fNextAttempt: r.NextAttemptAt, fInFlight: ""}); err != nil {
		log.Warn().Err(err).Msg("parking a report for a choice")
		return time.Now().Add(sideEffectRetry)
	}
	log.Info().Int("players", len(cs)).Msg("the reporter is asked which player they mean")
	return r.NextAttemptAt.Time
}

// settled records a report's delivery: filed upstream (res.UpstreamID), or handed to
// the reporter to file on the upstream's own page (res.Link).
func (p *Pipeline) settled(ctx context.Context, r *Report, res Sent, log zerolog.Logger) error {
	r.Delivery, r.UpstreamID, r.Link, r.DeliveredAt = StatusDelivered, res.UpstreamID, res.Link, At(time.Now().UTC())
	if res.Link != "" {
		r.Delivery = StatusHandedOff
	}
	r.AttemptStartedAt, r.Fault, r.FaultDetail, r.FaultUnfiled, r.LastError = Millis{}, "", "", false, ""
	err := p.store.set(ctx, r.ID, map[string]any{
		fDelivery: r.Delivery, fUpstreamID: r.UpstreamID, fLink: r.Link, fDelivered: r.DeliveredAt,
		fInFlight: "", fFault: "", fFaultDetail: "", fFaultUnfiled: "", fLastError: "", fNextAttempt: "",
	})
	if err != nil {
		return err
	}
	log.Info().Str("status", string(r.Delivery)).Str("upstream_id", r.UpstreamID).Int("attempts", r.Attempts).Msg("report settled")
	p.metrics.reports.WithLabelValues(string(r.Game), string(r.Delivery)).Inc()
	if r.Delivery == StatusDelivered {
		p.metrics.latency.Observe(time.Since(r.CreatedAt.Time).Seconds())
	}
	return nil
}

// failed records that r will not be delivered, for f. A report refused for itself
// (f.Reporter) gives the reporter's limit back.
func (p *Pipeline) failed(ctx context.Context, r *Report, f Fault, cause error, log zerolog.Logger) error {
	r.Delivery, r.Fault, r.FaultDetail, r.FaultUnfiled, r.LastError = StatusFailed, f.Kind, f.Detail, Flag(f.Unfiled), cause.Error()
	r.AttemptStartedAt = Millis{}
	err := p.store.set(ctx, r.ID, map[string]any{
		fDelivery: r.Delivery, fFault: r.Fault, fFaultDetail: f.Detail, fFaultUnfiled: r.FaultUnfiled, fLastError: r.LastError,
		fInFlight: "", fNextAttempt: "", fDead: r.Dead,
	})
	if err != nil {
		return err
	}
	log.Warn().Err(cause).Str("fault", string(f.Kind)).Bool("dead", bool(r.Dead)).Msg("report not delivered")
	p.metrics.reports.WithLabelValues(string(r.Game), "failed").Inc()
	if f.Reporter {
		// The upstream refused the report itself: it does not count against the reporter.
		if err := p.limits.RefundReport(ctx, r); err != nil {
			log.Error().Err(err).Msg("refunding a refused report")
		}
	}
	return nil
}

// retry schedules another attempt with exponential backoff and jitter, no sooner than
// the upstream asked; after GiveUpAfter of failures the report is dead-lettered.
// maybe says whether the failed attempt may have filed the report anyway.
func (p *Pipeline) retry(ctx context.Context, r *Report, f Fault, cause error, maybe bool, log zerolog.Logger) (time.Time, error) {
	giveUp := r.CreatedAt.Add(p.o.GiveUpAfter)
	if !time.Now().Before(giveUp) {
		r.Dead = true
		if err := p.failed(ctx, r, Fault{Kind: FaultExpired, Detail: string(f.Kind)}, cause, log); err != nil {
			return time.Time{}, err
		}
		err := p.rdb.XAdd(ctx, &redis.XAddArgs{
			Stream: queueDead, Values: []string{"id", r.ID, "guild_id", r.GuildID, "last_error", r.LastError},
			MinID: strconv.FormatInt(time.Now().Add(-p.store.retention).UnixMilli(), 10), Approx: true,
		}).Err()
		p.metrics.reports.WithLabelValues(string(r.Game), "dead").Inc()
		return time.Time{}, err
	}
	r.Streak++
	wait := max(p.backoff(r.Streak), f.RetryAfter)
	// A wait the upstream asks for is honoured, but never past the give-up time: the
	// report is tried once more then, and dead-lettered if that fails too, within
	// its day.
	next := time.Now().Add(wait)
	if next.After(giveUp) {
		next = giveUp
	}
	r.NextAttemptAt = At(next)
	r.Fault, r.FaultDetail, r.FaultUnfiled, r.LastError = f.Kind, f.Detail, false, cause.Error()
	inFlight := ""
	if maybe {
		inFlight = ms(r.AttemptStartedAt.Time)
	} else {
		r.AttemptStartedAt = Millis{}
	}
	err := p.store.set(ctx, r.ID, map[string]any{
		fNextAttempt: r.NextAttemptAt, fFault: r.Fault, fFaultDetail: f.Detail, fFaultUnfiled: "",
		fLastError: r.LastError, fInFlight: inFlight, fStreak: r.Streak,
	})
	log.Info().Err(cause).Str("fault", string(f.Kind)).Int("attempts", r.Attempts).Dur("wait", time.Until(r.NextAttemptAt.Time)).Msg("delivery will be retried")
	p.metrics.reports.WithLabelValues(string(r.Game), "retried").Inc()
	return r.NextAttemptAt.Time, err
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
