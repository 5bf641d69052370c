package reporting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/redistest"
)

func newLimiter(t *testing.T) *Limiter {
	t.Helper()
	return NewLimiter(redistest.New(t).UniversalClient(t))
}

func TestLimiterWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	threePer10m := config.Rate{Count: 3, Per: 10 * time.Minute}
	tests := []struct {
		name      string
		req       LimitRequest
		takes     int
		wantScope LimitScope
		wantRetry time.Duration // the refusal's retry-after is within 2 s below this
	}{
		{"guild limit", LimitRequest{ReporterID: "1", GuildID: "g", Guild: threePer10m}, 3, LimitGuild, 10 * time.Minute},
		{"global limit first", LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 10, Per: time.Hour},
			Global: config.Rate{Count: 2, Per: 24 * time.Hour}}, 2, LimitGlobal, 24 * time.Hour},
		{"duplicate target", LimitRequest{ReporterID: "1", GuildID: "g", Guild: threePer10m,
			Target: "rallyhere:abc", DedupeFor: 24 * time.Hour}, 1, LimitDuplicate, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t)
			for i := range tt.takes {
				d, err := l.Take(ctx, tt.req, fmt.Sprintf("r%d", i))
				if err != nil || !d.Allowed {
					t.Fatalf("take %d: %+v, %v; want allowed", i, d, err)
				}
			}
			for _, op := range []string{"check", "take"} {
				var d Decision
				var err error
				if op == "check" {
					d, err = l.Check(ctx, tt.req)
				} else {
					d, err = l.Take(ctx, tt.req, "one-too-many")
				}
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed || d.Scope != tt.wantScope {
					t.Fatalf("%s after %d takes: %+v; want refused by scope %d", op, tt.takes, d, tt.wantScope)
				}
				if d.RetryAfter > tt.wantRetry || d.RetryAfter < tt.wantRetry-2*time.Second {
					t.Fatalf("%s: retry after %s, want just under %s", op, d.RetryAfter, tt.wantRetry)
				}
			}
		})
	}
}

func TestLimiterCheckSpendsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 1, Per: time.Hour}}
	for range 5 {
		if d, err := l.Check(ctx, req); err != nil || !d.Allowed {
			t.Fatalf("check: %+v, %v", d, err)
		}
	}
	if d, err := l.Take(ctx, req, "r1"); err != nil || !d.Allowed {
		t.Fatalf("take after checks: %+v, %v", d, err)
	}
}

func TestLimiterScopesAreSeparate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	one := config.Rate{Count: 1, Per: time.Hour}
	if d, _ := l.Take(ctx, LimitRequest{ReporterID: "1", GuildID: "a", Guild: one}, "r1"); !d.Allowed {
		t.Fatal("first take refused")
	}
	for _, req := range []LimitRequest{
		{ReporterID: "1", GuildID: "b", Guild: one}, // same reporter, other server
		{ReporterID: "2", GuildID: "a", Guild: one}, // other reporter, same server
	} {
		if d, err := l.Take(ctx, req, "r2"); err != nil || !d.Allowed {
			t.Fatalf("%+v: %+v, %v; want allowed", req, d, err)
		}
	}
}

// TestLimiterConcurrent is SPEC §4's "no over-grant under concurrency": 50 attempts at
// once against a limit of 3 allow exactly 3.
func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 3, Per: 10 * time.Minute},
		Global: config.Rate{Count: 20, Per: 24 * time.Hour}}
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := l.Take(ctx, req, fmt.Sprintf("r%d", i))
			switch {
			case err != nil:
				t.Error(err)
			case d.Allowed:
				allowed.Add(1)
			default:
				refused.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 3 || refused.Load() != 47 {
		t.Fatalf("allowed %d, refused %d; want 3 and 47", allowed.Load(), refused.Load())
	}
}

func TestLimiterRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 2, Per: 1500 * time.Millisecond}}
	for i := range 2 {
		if d, _ := l.Take(ctx, req, fmt.Sprint(i)); !d.Allowed {
			t.Fatal("take refused")
		}
	}
	// The third take is decided between sent and back, so its slot opens between
	// sent+RetryAfter and back+RetryAfter, however slow the machine is.
	sent := time.Now()
	d, err := l.Take(ctx, req, "x")
	back := time.Now()
	if err != nil || d.Allowed {
		t.Fatalf("third take: %+v, %v; want refused", d, err)
	}
	time.Sleep(time.Until(sent.Add(d.RetryAfter - 50*time.Millisecond)))
	c, _ := l.Check(ctx, req)
	if time.Since(sent) < d.RetryAfter && c.Allowed {
		t.Fatalf("allowed before the retry-after")
	}
	time.Sleep(time.Until(back.Add(d.RetryAfter + 10*time.Millisecond)))
	if d, _ := l.Take(ctx, req, "x"); !d.Allowed {
		t.Fatalf("refused 10 ms after the retry-after: %+v", d)
	}
}

func TestLimiterRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 1, Per: time.Hour},
		Global: config.Rate{Count: 1, Per: 24 * time.Hour}, Target: "rallyhere:abc", DedupeFor: 24 * time.Hour}
	if d, _ := l.Take(ctx, req, "r1"); !d.Allowed {
		t.Fatal("take refused")
	}
	if d, _ := l.Check(ctx, req); d.Allowed {
		t.Fatal("allowed before the refund")
	}
	if err := l.Refund(ctx, req, "r1"); err != nil {
		t.Fatal(err)
	}
	if d, err := l.Take(ctx, req, "r2"); err != nil || !d.Allowed {
		t.Fatalf("after the refund: %+v, %v; want allowed", d, err)
	}
	// A refund of another report leaves r2's duplicate marker alone.
	if err := l.Refund(ctx, LimitRequest{ReporterID: "1", GuildID: "g", Target: "rallyhere:abc"}, "r1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Check(ctx, req); d.Allowed || d.Scope != LimitDuplicate {
		t.Fatalf("after a stale refund: %+v; want still a duplicate", d)
	}
}

// TestLimiterRefundIsExact refunds one report among others whose ids end the same way.
func TestLimiterRefundIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t)
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 3, Per: time.Hour}}
	for _, id := range []string{"xR-1", "R-1", "yR-1"} {
		if d, _ := l.Take(ctx, req, id); !d.Allowed {
			t.Fatalf("take %s refused", id)
		}
	}
	if err := l.Refund(ctx, req, "R-1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Take(ctx, req, "R-2"); !d.Allowed {
		t.Fatal("no slot after refunding R-1")
	}
	if d, _ := l.Take(ctx, req, "R-3"); d.Allowed {
		t.Fatal("the refund of R-1 freed more than one slot")
	}
	if _, err := l.Take(ctx, req, "bad;id"); err == nil {
		t.Fatal("an id with the separator was accepted")
	}
}

// TestBar: a moderator bars a reporter from one server and lifts the bar; a member
// who moderates nothing changes nothing. Moderators are so by permission or by the
// server's moderator role, checked in the same round trip as the bar.
func TestBar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t).UniversalClient(t)
	svc := NewService(rdb, Options{DefaultLimit: config.Rate{Count: 3, Per: time.Hour}, MaxLimit: config.Rate{Count: 3, Per: time.Hour}})
	l := svc.Limits
	if err := svc.Settings.SetModRole(ctx, "g", "role-mod"); err != nil {
		t.Fatal(err)
	}
	byRole := Moderator{GuildID: "g", UserID: "9", Roles: []string{"x", "role-mod"}}
	byPermission := Moderator{GuildID: "g", UserID: "8", ByPermission: true}
	player := Moderator{GuildID: "g", UserID: "7", Roles: []string{"x"}}
	req := LimitRequest{ReporterID: "1", GuildID: "g", Guild: config.Rate{Count: 3, Per: time.Hour}}
	if err := svc.Bar(ctx, player, "1", time.Hour); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a player barred someone: %v", err)
	}
	if d, _ := l.Check(ctx, req); !d.Allowed {
		t.Fatalf("a refused bar barred: %+v", d)
	}
	if err := svc.Bar(ctx, byRole, "1", time.Hour); err != nil {
		t.Fatal(err)
	}
	d, err := l.Take(ctx, req, "r1")
	if err != nil || d.Allowed || d.Scope != LimitBarred || d.RetryAfter < 59*time.Minute {
		t.Fatalf("barred take: %+v, %v", d, err)
	}
	if d, _ := l.Take(ctx, LimitRequest{ReporterID: "1", GuildID: "other", Guild: req.Guild}, "r1"); !d.Allowed {
		t.Fatal("a bar in one server applies in another")
	}
	if _, err := svc.Unbar(ctx, player, "1"); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a player lifted a bar: %v", err)
	}
	if was, err := svc.Unbar(ctx, byPermission, "1"); err != nil || !was {
		t.Fatalf("unbar: %v, %v", was, err)
	}
	if d, _ := l.Take(ctx, req, "r2"); !d.Allowed {
		t.Fatalf("after unbar: %+v", d)
	}
	if was, _ := svc.Unbar(ctx, byPermission, "1"); was {
		t.Fatal("second unbar found a bar")
	}
}
