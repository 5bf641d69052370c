package reporting

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestUpstreamStatusLabels: an upstream's HTTP status is the upstream's to choose (a
// proxy, an outage page, a misbehaving fake), so it is a label only when it is one the
// bot knows; the rest count by class. 2,000 random statuses stay within that set.
func TestUpstreamStatusLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	observe := UpstreamObserver(reg, "rallyhere")
	for _, s := range []int{0, 200, 404, 429, 503} {
		observe("create-report", s, time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(9, 5))
	for range 2000 {
		observe("create-report", rng.IntN(1200)-100, time.Millisecond)
	}
	// The statuses the bot knows, five classes, and "other" at most.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() == "reportbot_upstream_requests_total" {
			n += len(mf.GetMetric())
		}
	}
	if n > len(knownStatuses)+6 {
		t.Fatalf("%d series after 2,000 random statuses", n)
	}
	for status, want := range map[int]string{0: "0", 200: "200", 429: "429", 503: "503", 299: "2xx", 418: "4xx", 599: "5xx", 1000: "other", -1: "other", 100: "1xx"} {
		if got := statusLabel(status); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", status, got, want)
		}
	}
}
