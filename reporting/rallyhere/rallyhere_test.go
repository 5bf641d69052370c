package rallyhere_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

func newClient(t *testing.T, fake *rallyheretest.Server, timeout time.Duration) *rallyhere.Client {
	t.Helper()
	return rallyhere.New(fake.URL, fake.ClientID, fake.ClientSecret, rallyhere.Options{HTTPClient: &http.Client{Timeout: timeout}})
}

func TestTokenIsCachedAndRefreshedOnExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := rallyheretest.New(t)
	c := newClient(t, fake, 5*time.Second)
	p := fake.AddPlayer("alice")
	fake.LinkDiscord("111111111111111111", p)
	for range 3 {
		if _, err := c.PlayerByPlatform(ctx, "Discord", "111111111111111111"); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued for 3 calls: %d, want 1 (cached)", n)
	}
	fake.ExpireTokens()
	if _, err := c.PlayerByPlatform(ctx, "Discord", "111111111111111111"); err != nil {
		t.Fatalf("after the server expired the token: %v; want a transparent refresh", err)
	}
	if n := fake.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued: %d, want 2", n)
	}
	// The retry happens once: a server that keeps saying "expired" is an error.
	fake.FailNext(rallyheretest.OpPlatformUser, 2, rallyheretest.Failure{Status: 403, Code: "auth_token_expired"})
	_, err := c.PlayerByPlatform(ctx, "Discord", "111111111111111111")
	if !rallyhere.IsCode(err, 403, "auth_token_expired") {
		t.Fatalf("got %v, want the second auth_token_expired", err)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := rallyheretest.New(t)
	// A token that expires in 61 s is replaced after 1 s: a minute early.
	fake.SetTokenTTL(61 * time.Second)
	c := newClient(t, fake, 5*time.Second)
	if _, err := c.PlayersByName(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.PlayersByName(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued: %d, want 2 (refreshed early)", n)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	fake := rallyheretest.New(t)
	c := rallyhere.New(fake.URL, fake.ClientID, "wrong", rallyhere.Options{})
	_, err := c.PlayersByName(context.Background(), "x")
	var e *rallyhere.Error
	if !errors.As(err, &e) || e.Op != "token" || !e.Auth() || e.Temporary() {
		t.Fatalf("got %v; want a permanent auth error of the token exchange", err)
	}
}

func TestPlayerLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := rallyheretest.New(t)
	c := newClient(t, fake, 5*time.Second)
	alice := fake.AddPlayer("alice")
	bob1, bob2 := fake.AddPlayer("bob"), fake.AddPlayer("bob")
	carol, carolActive := fake.AddPlayer("carol"), fake.AddPlayer("carol-main")
	fake.LinkDiscord("111111111111111111", alice)
	fake.LinkDiscord("333333333333333333", carol)
	fake.SetActivePlayer(carol, carolActive)

	t.Run("platform user", func(t *testing.T) {
		tests := []struct {
			discord, want string
			notFound      bool
		}{
			{"111111111111111111", alice, false},
			{"333333333333333333", carolActive, false},
			{"222222222222222222", "", true},
		}
		for _, tt := range tests {
			got, err := c.PlayerByPlatform(ctx, "Discord", tt.discord)
			if tt.notFound {
				if !rallyhere.IsCode(err, 404, "user_not_found") {
					t.Errorf("%s: got %q, %v; want 404 user_not_found", tt.discord, got, err)
				}
				continue
			}
			if err != nil || got != tt.want {
				t.Errorf("%s: got %q, %v; want %q", tt.discord, got, err, tt.want)
			}
		}
	})
	t.Run("display name", func(t *testing.T) {
		tests := []struct {
			name string
			want []string
		}{
			{"alice", []string{alice}},
			{"bob", []string{bob1, bob2}},
			{"nobody", nil},
			{"Alice", nil}, // names are exact
		}
		for _, tt := range tests {
			got, err := c.PlayersByName(ctx, tt.name)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, want)
			}
		}
	})
}

func TestCreateReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := rallyheretest.New(t)
	c := newClient(t, fake, 5*time.Second)
	src, dst := fake.AddPlayer("alice"), fake.AddPlayer("bob")
	req := rallyhere.ReportRequest{SourcePlayerUUID: src, Reason: "cheating", Description: "aimbot", MatchID: "m-1",
		CustomData: map[string]string{"report_id": "R-1"}}
	got, err := c.CreateReport(ctx, dst, req)
	if err != nil || got.ReportID == "" {
		t.Fatalf("got %+v, %v", got, err)
	}
	stored := fake.ReportsWithCustom("report_id", "R-1")
	if len(stored) != 1 || stored[0].TargetUUID != dst || stored[0].ReportID != got.ReportID {
		t.Fatalf("stored %+v", stored)
	}
	page, err := c.ReportsAgainst(ctx, dst, "", 10)
	if err != nil || len(page.Reports) != 1 || page.Reports[0].CustomData["report_id"] != "R-1" {
		t.Fatalf("listing: %+v, %v", page, err)
	}
}

func TestCreateReportErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name      string
		failure   rallyheretest.Failure
		status    int
		code      string
		temporary bool
		auth      bool
		retry     time.Duration
	}{
		{"source required", rallyheretest.Failure{Status: 400, Code: "source_player_required"}, 400, "source_player_required", false, false, 0},
		{"insufficient permissions", rallyheretest.Failure{Status: 403, Code: "insufficient_permissions"}, 403, "insufficient_permissions", false, true, 0},
		{"bad signature", rallyheretest.Failure{Status: 403, Code: "auth_token_sig_invalid"}, 403, "auth_token_sig_invalid", false, true, 0},
		{"player not found", rallyheretest.Failure{Status: 404, Code: "player_not_found"}, 404, "player_not_found", false, false, 0},
		{"validation", rallyheretest.Failure{Status: 422}, 422, "", false, false, 0},
		{"server error", rallyheretest.Failure{Status: 500}, 500, "internal_error", true, false, 0},
		{"unavailable", rallyheretest.Failure{Status: 503, RetryAfter: 7 * time.Second}, 503, "internal_error", true, false, 7 * time.Second},
		{"throttled", rallyheretest.Failure{Status: 429, RetryAfter: 30 * time.Second}, 429, "rate_limited", true, false, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := rallyheretest.New(t)
			c := newClient(t, fake, 5*time.Second)
			src, dst := fake.AddPlayer("alice"), fake.AddPlayer("bob")
			fake.FailNext(rallyheretest.OpCreateReport, 1, tt.failure)
			_, err := c.CreateReport(ctx, dst, rallyhere.ReportRequest{SourcePlayerUUID: src, Reason: "afk"})
			var e *rallyhere.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *rallyhere.Error", err)
			}
			if e.Status != tt.status || e.Code != tt.code || e.Temporary() != tt.temporary || e.Auth() != tt.auth || e.RetryAfter != tt.retry {
				t.Fatalf("got %+v (temporary %v, auth %v)", e, e.Temporary(), e.Auth())
			}
			if rallyhere.IsTemporary(err) != tt.temporary {
				t.Fatalf("IsTemporary = %v", !tt.temporary)
			}
			if tt.status == 422 && len(e.Detail) == 0 {
				t.Fatalf("422 without detail: %+v", e)
			}
			if len(fake.Reports()) != 0 {
				t.Fatalf("a failed request stored a report")
			}
		})
	}
}

func TestTransportFailuresAreTemporary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		failure rallyheretest.Failure
		stored  int
	}{
		{"timeout", rallyheretest.Failure{Delay: 2 * time.Second}, 0},
		{"answer lost", rallyheretest.Failure{Drop: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := rallyheretest.New(t)
			c := newClient(t, fake, 500*time.Millisecond)
			src, dst := fake.AddPlayer("alice"), fake.AddPlayer("bob")
			if _, err := c.PlayersByName(ctx, "alice"); err != nil { // fetch the token first
				t.Fatal(err)
			}
			fake.FailNext(rallyheretest.OpCreateReport, 1, tt.failure)
			_, err := c.CreateReport(ctx, dst, rallyhere.ReportRequest{SourcePlayerUUID: src, Reason: "afk"})
			if err == nil || !rallyhere.IsTemporary(err) {
				t.Fatalf("got %v; want a temporary error", err)
			}
			if n := len(fake.Reports()); n != tt.stored {
				t.Fatalf("stored %d reports, want %d", n, tt.stored)
			}
		})
	}
}

// TestReadsRetryPassingFaults: a read that meets a 5xx or a dropped connection is
// tried again at once, twice at most; anything else, and every write, is left to the
// caller.
func TestReadsRetryPassingFaults(t *testing.T) {
	t.Parallel()
	const sure = 10 * time.Second
	tests := []struct {
		name    string
		op      rallyheretest.Op
		n       int
		failure rallyheretest.Failure
		within  time.Duration // the context's deadline
		wantErr bool
		calls   int
	}{
		{"two 503s", rallyheretest.OpLookupPlayer, 2, rallyheretest.Failure{Status: 503}, sure, false, 3},
		{"three 502s", rallyheretest.OpLookupPlayer, 3, rallyheretest.Failure{Status: 502}, sure, true, 3},
		{"a dropped connection", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Drop: true}, sure, false, 2},
		{"a platform lookup's 500", rallyheretest.OpPlatformUser, 1, rallyheretest.Failure{Status: 500}, sure, false, 2},
		{"a 503 asking for longer", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Status: 503, RetryAfter: 5 * time.Second}, sure, true, 1},
		{"a 429", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Status: 429}, sure, true, 1},
		{"a 400", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Status: 400}, sure, true, 1},
		{"a timeout", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Delay: 2 * time.Second}, sure, true, 1},
		{"no room before the deadline", rallyheretest.OpLookupPlayer, 1, rallyheretest.Failure{Status: 503}, 150 * time.Millisecond, true, 1},
		{"a write's 503", rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503}, sure, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := rallyheretest.New(t)
			c := newClient(t, fake, 500*time.Millisecond)
			src, dst := fake.AddPlayer("alice"), fake.AddPlayer("bob")
			fake.LinkDiscord("111111111111111111", src)
			if _, err := c.PlayersByName(context.Background(), "alice"); err != nil { // fetch the token first
				t.Fatal(err)
			}
			before := fake.Calls(tt.op)
			fake.FailNext(tt.op, tt.n, tt.failure)
			ctx, cancel := context.WithTimeout(context.Background(), tt.within)
			defer cancel()
			var err error
			switch tt.op {
			case rallyheretest.OpLookupPlayer:
				_, err = c.PlayersByName(ctx, "bob")
			case rallyheretest.OpPlatformUser:
				_, err = c.PlayerByPlatform(ctx, "Discord", "111111111111111111")
			case rallyheretest.OpCreateReport:
				_, err = c.CreateReport(ctx, dst, rallyhere.ReportRequest{SourcePlayerUUID: src, Reason: "afk"})
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v; want an error: %v", err, tt.wantErr)
			}
			if n := fake.Calls(tt.op) - before; n != tt.calls {
				t.Fatalf("%d calls, want %d", n, tt.calls)
			}
		})
	}
}

func TestContextEndsTokenWait(t *testing.T) {
	t.Parallel()
	fake := rallyheretest.New(t)
	fake.SetDelay(rallyheretest.OpToken, 2*time.Second)
	c := newClient(t, fake, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.PlayersByName(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %s; want the context's deadline, promptly", err, time.Since(start))
	}
}
