package reporting

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// queue is the delivery queue of one game: a stream with one consumer group that
// every instance reads, and a sorted set of reports scheduled to be tried again
// later. Each game has its own, so that an upstream that hangs holds up only its
// own reports. Both keys share the {queue:<game>} slot, so one script can move work
// between them on Redis Cluster. Everything that adds to a queue goes through add.
type queue struct {
	rdb    redis.UniversalClient
	game   Game
	stream string
	retry  string
}

// The consumer group every instance reads a queue's stream in.
const queueGroup = "delivery"

func newQueue(rdb redis.UniversalClient, g Game) *queue {
	tag := keyPrefix + "{queue:" + string(g) + "}:"
	return &queue{rdb: rdb, game: g, stream: tag + "stream", retry: tag + "retry"}
}

// add puts report id on the queue, on p when given (to go with other writes), else
// at once.
func (q *queue) add(ctx context.Context, p redis.Pipeliner, id string) error {
	args := &redis.XAddArgs{Stream: q.stream, Values: []string{"id", id}}
	if p != nil {
		p.XAdd(ctx, args)
		return nil
	}
	if err := q.rdb.XAdd(ctx, args).Err(); err != nil {
		return fmt.Errorf("queueing report %s: %w", id, err)
	}
	return nil
}

// ensureGroup creates the stream and its consumer group when either is missing: at
// start-up, and whenever Redis comes back without them (a restart without
// persistence, a flush, a failover to a node that lacked the data).
func (q *queue) ensureGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.stream, queueGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating the %s delivery group: %w", q.game, err)
	}
	return nil
}

// isNoGroup reports whether err says the stream or its group is missing.
func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// heal recreates the group after a NOGROUP error; it reports whether it did (and the
// caller should try again at once).
func (q *queue) heal(ctx context.Context, err error) bool {
	if !isNoGroup(err) {
		return false
	}
	return q.ensureGroup(ctx) == nil
}

// read returns up to n new entries for consumer, waiting up to block for some. No
// entry is not an error.
func (q *queue) read(ctx context.Context, consumer string, n int, block time.Duration) ([]redis.XMessage, error) {
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: queueGroup, Consumer: consumer, Streams: []string{q.stream, ">"}, Count: int64(n), Block: block,
	}).Result()
	if q.heal(ctx, err) {
		return nil, nil
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the %s queue: %w", q.game, err)
	}
	var out []redis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	return out, nil
}

// reclaim takes over for consumer up to n entries another consumer read but has not
// acknowledged for minIdle, from start; it returns them and where to go on from
// ("0-0" at the end of the pending list).
func (q *queue) reclaim(ctx context.Context, consumer string, minIdle time.Duration, start string, n int) ([]redis.XMessage, string, error) {
	msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.stream, Group: queueGroup, Consumer: consumer, MinIdle: minIdle, Start: start, Count: int64(n),
	}).Result()
	if q.heal(ctx, err) {
		return nil, "0-0", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reclaiming %s reports: %w", q.game, err)
	}
	return msgs, next, nil
}

// promoteLua moves reports whose retry is due back into the stream, and returns how
// many it moved and when the next one left is due (its score; "" for none).
// KEYS retry set, stream; ARGV now (ms), how many at most.
const promoteLua = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, first[2] or ''}`

var promoteScript = redis.NewScript(promoteLua)

// promoteDue moves up to n reports whose retry is due into the stream; it returns
// how many it moved and when the next report left is due (zero: none is).
func (q *queue) promoteDue(ctx context.Context, now time.Time, n int) (int, time.Time, error) {
	res, err := promoteScript.Run(ctx, q.rdb, []string{q.retry, q.stream}, now.UnixMilli(), n).Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("promoting due %s retries: %w", q.game, err)
	}
	moved, _ := res[0].(int64)
	var next time.Time
	if score, _ := res[1].(string); score != "" {
		if ms, err := strconv.ParseFloat(score, 64); err == nil {
			next = time.UnixMilli(int64(ms))
		}
	}
	return int(moved), next, nil
}

// rescheduleLua acknowledges a stream entry and schedules its report for later, in one
// step: a crash between the two would otherwise lose the retry. A report already
// scheduled earlier keeps the earlier time (LT): two entries of one report can be
// handled at once (a worker asking the reporter to choose a player, and the entry
// their choice queued, refused by that worker's lock), and the one that finishes
// last must not put off the other's look. An early look costs nothing: handling
// takes the schedule from the record.
// KEYS stream, retry set; ARGV group, entry id, due (ms), report id.
const rescheduleLua = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 'LT', ARGV[3], ARGV[4])
return 1`

// done queues on p the end of entry m of report id: acknowledged, or (with a
// non-zero retryAt) rescheduled for then.
func (q *queue) done(ctx context.Context, p redis.Pipeliner, m redis.XMessage, id string, retryAt time.Time) {
	if retryAt.IsZero() {
		p.XAck(ctx, q.stream, queueGroup, m.ID)
		return
	}
	p.Eval(ctx, rescheduleLua, []string{q.stream, q.retry}, queueGroup, m.ID, retryAt.UnixMilli(), id)
}

// trim drops the entries every consumer is done with: those older than the oldest
// pending one, or than the last one handed out when nothing is pending.
func (q *queue) trim(ctx context.Context) error {
	pend, err := q.rdb.XPending(ctx, q.stream, queueGroup).Result()
	if q.heal(ctx, err) || errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trimming the %s queue: %w", q.game, err)
	}
	minID := pend.Lower
	if pend.Count == 0 {
		groups, err := q.rdb.XInfoGroups(ctx, q.stream).Result()
		if err != nil {
			return fmt.Errorf("trimming the %s queue: %w", q.game, err)
		}
		for _, g := range groups {
			if g.Name == queueGroup {
				minID = g.LastDeliveredID
			}
		}
	}
	if minID == "" || minID == "0-0" {
		return nil
	}
	if err := q.rdb.XTrimMinID(ctx, q.stream, minID).Err(); err != nil {
		return fmt.Errorf("trimming the %s queue: %w", q.game, err)
	}
	return nil
}

// QueueStats is what an operator watches of a queue.
type QueueStats struct {
	// Pending are entries not yet acknowledged: read and in hand, or not read yet.
	Pending int64
	// Scheduled are reports waiting for a retry.
	Scheduled int64
	// OldestPending is the age of the oldest pending entry (zero when none).
	OldestPending time.Duration
}

// stats reads q's QueueStats in one round trip (its keys share a slot).
func (q *queue) stats(ctx context.Context, now time.Time) (QueueStats, error) {
	var groups *redis.XInfoGroupsCmd
	var pend *redis.XPendingCmd
	var sched *redis.IntCmd
	var first *redis.XMessageSliceCmd
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		groups = p.XInfoGroups(ctx, q.stream)
		pend = p.XPending(ctx, q.stream, queueGroup)
		sched = p.ZCard(ctx, q.retry)
		first = p.XRangeN(ctx, q.stream, "-", "+", 1)
		return nil
	})
	var st QueueStats
	if err != nil && !isNoGroup(err) && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "no such key") {
		return st, fmt.Errorf("reading the %s queue's stats: %w", q.game, err)
	}
	st.Scheduled = sched.Val()
	var lag int64
	lastDelivered := ""
	for _, g := range groups.Val() {
		if g.Name == queueGroup {
			lag, lastDelivered = g.Lag, g.LastDeliveredID
		}
	}
	st.Pending = pend.Val().Count + lag
	oldest := ""
	switch {
	case pend.Val().Count > 0:
		oldest = pend.Val().Lower
	case lag > 0 && len(first.Val()) > 0:
		// Nothing in hand: the oldest is the first entry after the last handed out;
		// entries up to that one are trimmed, so the stream's first is close enough.
		oldest = first.Val()[0].ID
		if lastDelivered != "" && entryTime(oldest).Before(entryTime(lastDelivered)) {
			oldest = lastDelivered
		}
	}
	if oldest != "" {
		st.OldestPending = max(now.Sub(entryTime(oldest)), 0)
	}
	return st, nil
}

// entryTime is when a stream entry was added: the first part of its id.
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
