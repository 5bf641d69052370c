package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoReport is returned for a report id that is not stored (never, or expired).
var ErrNoReport = errors.New("no such report")

// Store keeps report records in Redis: one JSON record per report, and per reporter
// and per server an index by time. Everything expires after the retention.
type Store struct {
	rdb       redis.UniversalClient
	retention time.Duration
}

// NewStore returns a store keeping records for retention.
func NewStore(rdb redis.UniversalClient, retention time.Duration) *Store {
	return &Store{rdb: rdb, retention: retention}
}

// Create stores a new report. It fails if the id is taken.
func (s *Store) Create(ctx context.Context, r *Report) error {
	enc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding report %s: %w", r.ID, err)
	}
	ok, err := s.rdb.SetNX(ctx, reportKey(r.ID), enc, s.retention).Result()
	if err != nil {
		return fmt.Errorf("storing report %s: %w", r.ID, err)
	}
	if !ok {
		return fmt.Errorf("storing report %s: the id is taken", r.ID)
	}
	// The indexes live in the reporter's and the server's slots, so they are written
	// apart from the record; a record missing from an index is only missing from lists.
	score := float64(r.CreatedAt.UnixMilli())
	oldest := strconv.FormatInt(r.CreatedAt.Add(-s.retention).UnixMilli(), 10)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, idx := range []string{userKey(r.ReporterID, "reports"), guildKey(r.GuildID, "reports")} {
			p.ZAdd(ctx, idx, redis.Z{Score: score, Member: r.ID})
			p.ZRemRangeByScore(ctx, idx, "-inf", "("+oldest)
			p.Expire(ctx, idx, s.retention)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing report %s: %w", r.ID, err)
	}
	return nil
}

// Get returns the report with id.
func (s *Store) Get(ctx context.Context, id string) (*Report, error) {
	raw, err := s.rdb.Get(ctx, reportKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoReport
	}
	if err != nil {
		return nil, fmt.Errorf("reading report %s: %w", id, err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decoding report %s: %w", id, err)
	}
	return &r, nil
}

// Update applies change to the stored report atomically (retrying if another writer
// got there first) and returns the result. If change returns an error nothing is
// written and that error is returned.
func (s *Store) Update(ctx context.Context, id string, change func(*Report) error) (*Report, error) {
	key := reportKey(id)
	var out *Report
	for range 20 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			r, err := s.Get(ctx, id)
			if err != nil {
				return err
			}
			if err := change(r); err != nil {
				return err
			}
			r.UpdatedAt = time.Now().UTC()
			enc, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encoding report %s: %w", id, err)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				return p.SetArgs(ctx, key, enc, redis.SetArgs{KeepTTL: true}).Err()
			})
			out = r
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return nil, fmt.Errorf("updating report %s: too much contention", id)
}
