package redishealth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/redistest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), `"message":"`+msg)
}

func waitUntil(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// TestMonitorOutage: an outage is noticed, logged once when it starts and once when
// it ends, and shown by Check and the gauge.
func TestMonitorOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	var logs syncBuffer
	m := New(rdb, zerolog.New(&logs), Options{Every: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go m.Run(ctx)
	if err := m.Check(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	srv.Kill()
	waitUntil(t, "the outage noticed", 3*time.Second, m.Down)
	if err := m.Check(ctx); err == nil || !strings.Contains(err.Error(), "unreachable since") {
		t.Fatalf("Check during the outage: %v", err)
	}
	ref1, down := m.Failed(fmt.Errorf("reading: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}))
	ref2, _ := m.Failed(io.EOF)
	if !down || ref1 == "" || ref1 != ref2 {
		t.Fatalf("refs during one outage: %q %q (down %v)", ref1, ref2, down)
	}
	time.Sleep(300 * time.Millisecond) // several failed pings
	srv.Revive(t)
	waitUntil(t, "the outage's end noticed", 5*time.Second, func() bool { return !m.Down() })
	if n := logs.count("redis unreachable"); n != 1 {
		t.Errorf("%d lines at the start of the outage, want 1:\n%s", n, logs.b.String())
	}
	if n := logs.count("redis reachable again"); n != 1 {
		t.Errorf("%d lines at its end, want 1:\n%s", n, logs.b.String())
	}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{errors.New("ERR wrong number of arguments"), false},
		{fmt.Errorf("x: %w", io.EOF), true},
		{context.DeadlineExceeded, true},
		{redis.ErrPoolTimeout, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true},
	}
	for _, tt := range tests {
		if got := Unavailable(tt.err); got != tt.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
