package upstream

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStatusLabels: an upstream's HTTP status is the upstream's to choose (a proxy, an
// outage page, a misbehaving fake), so it is a label only when the bot knows it; the
// rest count by class. 2,000 random statuses stay within that set.
func TestStatusLabels(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	hc := NewMetrics(reg).Client("rallyhere", 5*time.Second)
	rng := rand.New(rand.NewPCG(9, 5))
	for range 2000 {
		code := 100 + rng.IntN(500)
		if code < 200 {
			code = 200 // 1xx are not final answers
		}
		req, _ := http.NewRequestWithContext(WithOp(context.Background(), "create-report"), http.MethodGet, srv.URL+"?code="+strconv.Itoa(code), nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := testutil.CollectAndCount(reg, "reportbot_upstream_requests_total"); n > len(knownStatuses)+5 {
		t.Fatalf("%d series after 2,000 random statuses", n)
	}
	for status, want := range map[int]string{200: "200", 429: "429", 503: "503", 299: "2xx", 418: "4xx", 599: "5xx", 1000: "other", -1: "other", 100: "1xx"} {
		if got := StatusLabel(status); got != want {
			t.Errorf("StatusLabel(%d) = %q, want %q", status, got, want)
		}
	}
}

// TestRetryLeavesRoomBeforeTheDeadline: a retry never sleeps past its context's
// deadline; the last error is returned.
func TestRetryLeavesRoomBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	tries := 0
	err := Retry(ctx, func(int) (time.Duration, error) {
		tries++
		return 250 * time.Millisecond, context.Canceled
	})
	if err != context.Canceled || tries != 1 || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("%d tries in %s, %v: a 250 ms wait does not fit before a 300 ms deadline", tries, time.Since(start), err)
	}
	tries = 0
	err = Retry(context.Background(), func(n int) (time.Duration, error) {
		tries++
		if n < 2 {
			return time.Millisecond, context.Canceled
		}
		return 0, nil
	})
	if err != nil || tries != 3 {
		t.Fatalf("%d tries, %v", tries, err)
	}
}
