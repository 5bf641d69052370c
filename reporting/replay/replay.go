// Package replay carries an interaction's replay mark from the transport that
// received it to the first Redis call made for it, so that refusing a replayed
// interaction costs no round trip of its own: the mark (SET NX) rides in the same
// script or pipeline as the call's own work.
package replay

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// For is how long a mark is kept: longer than the 5 minutes an interaction's
// signature timestamp is accepted for, either side of now, so a replay is refused
// for as long as its signature would pass.
const For = 11 * time.Minute

// ErrReplayed is returned by a call that carried an interaction's mark and found it
// already set: the interaction was received before.
var ErrReplayed = errors.New("interaction already received")

// Mark is one interaction's replay mark: the Redis key set when the interaction is
// first handled.
type Mark struct {
	key      string
	taken    atomic.Bool
	replayed atomic.Bool
}

// New returns the mark of interaction id from userID. It lives in the user's slot
// (rb:{u:<user id>}:replay:<id>), where the limit of a report form is also spent,
// so on Redis Cluster too the filing script carries it. Whatever path the
// interaction takes, its mark is the same key, and so is found by a replay on
// any instance. Without a user (an interaction the bot refuses anyway) it has a
// slot of its own.
func New(id, userID string) *Mark {
	key := "rb:{seen:" + id + "}"
	if userID != "" {
		key = "rb:{u:" + userID + "}:replay:" + id
	}
	return &Mark{key: key}
}

// Key is the mark's Redis key.
func (m *Mark) Key() string { return m.key }

// Taken reports whether a call carried the mark (whatever it found).
func (m *Mark) Taken() bool { return m.taken.Load() }

// Replayed reports whether the call that carried the mark found it set.
func (m *Mark) Replayed() bool { return m.replayed.Load() }

type ctxKey struct{}

// With returns ctx carrying m.
func With(ctx context.Context, m *Mark) context.Context { return context.WithValue(ctx, ctxKey{}, m) }

// From is the mark ctx carries, or nil.
func From(ctx context.Context) *Mark {
	m, _ := ctx.Value(ctxKey{}).(*Mark)
	return m
}

// Take returns the key of ctx's mark for the call about to be made to carry, once:
// "" when ctx has no mark, or an earlier call carried it.
func Take(ctx context.Context) string {
	m := From(ctx)
	if m == nil || !m.taken.CompareAndSwap(false, true) {
		return ""
	}
	return m.key
}

// Refused records that the call carrying ctx's mark found it set, and returns
// ErrReplayed.
func Refused(ctx context.Context) error {
	if m := From(ctx); m != nil {
		m.replayed.Store(true)
	}
	return ErrReplayed
}
