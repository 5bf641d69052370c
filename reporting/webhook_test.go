package reporting

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting/redistest"
	"github.com/reportbot/reportbot/reporting/webhook"
	"github.com/reportbot/reportbot/reporting/webhook/webhooktest"
)

// studioWorld is a Service with only the webhook publisher, on real Redis, against
// the fake studio endpoint, with a running pipeline.
type studioWorld struct {
	t     *testing.T
	svc   *Service
	hook  *webhooktest.Server
	notes *notices
}

func newStudioWorld(t *testing.T) *studioWorld {
	t.Helper()
	w := &studioWorld{t: t, hook: webhooktest.New(t), notes: &notices{reporter: map[string][]string{}, modlog: map[string][]string{}}}
	rate := config.Rate{Count: 10000, Per: time.Minute}
	w.svc = NewService(redistest.New(t).UniversalClient(t), Options{
		Webhook:      webhook.New(w.hook.URL, w.hook.Secret, webhook.Options{UserAgent: "reportbot/test"}),
		WebhookTitle: "Skyline Arena",
		DefaultLimit: rate, MaxLimit: rate, GlobalLimit: rate, Retention: 24 * time.Hour,
		Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	p := NewPipeline(w.svc, w.notes, PipelineOptions{Logger: zerolog.New(zerolog.NewTestWriter(t)),
		BackoffBase: 20 * time.Millisecond, BackoffCap: 100 * time.Millisecond, ClaimIdle: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *studioWorld) file(reporter string, t Target) *Report {
	w.t.Helper()
	ctx := context.Background()
	st, err := w.svc.Settings.Get(ctx, "910000000000000001")
	if err != nil {
		w.t.Fatal(err)
	}
	d := &Draft{ID: NewID(time.Now()), Game: Webhook, GuildID: "910000000000000001", ChannelID: "910000000000000002",
		ReporterID: reporter, ReporterName: "alice", Target: t, Reason: DefaultReasons()[3], Description: "kept spawn-camping",
		Evidence: []Evidence{{Filename: "clip.mp4", URL: "https://cdn.discordapp.com/attachments/1/2/clip.mp4"}}}
	r, err := w.svc.File(ctx, st, d, Reply{})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *studioWorld) settled(id string) *Report {
	w.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r, err := w.svc.Reports.Get(context.Background(), id)
		if err == nil && r.Delivery != StatusQueued {
			return r
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("report %s not settled: %+v, %v", id, r, err)
		}
	}
}

// TestWebhookDelivers: a report reaches the studio's endpoint signed, with every field
// of SPEC §1.3 (the fake verifies the signature and validates the body against the
// OpenAPI document), and the endpoint's id is kept.
func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	w := newStudioWorld(t)
	tests := []struct {
		name   string
		target Target
		want   webhook.Target
	}{
		{"a name", Target{Kind: TargetName, Value: "xXsniperXx"}, webhook.Target{Kind: "name", Value: "xXsniperXx"}},
		{"a player id", Target{Kind: TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}, webhook.Target{Kind: "id", Value: "5f1b1e4e-0000-4000-8000-000000000001"}},
		{"a member", Target{Kind: TargetMember, Value: "110000000000000002", Label: "Bob"}, webhook.Target{Kind: "discord_member", Value: "Bob", DiscordUserID: "110000000000000002"}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.file("11000000000000000"+string(rune('3'+n)), tt.target)
			got := w.settled(r.ID)
			if got.Delivery != StatusDelivered || got.UpstreamID == "" {
				t.Fatalf("record %+v", got)
			}
			var rec *webhooktest.Received
			for _, x := range w.hook.Reports() {
				if x.Report.ID == r.ID {
					rec = &x
				}
			}
			if rec == nil || rec.ID != got.UpstreamID {
				t.Fatalf("received %+v; the record keeps %q", rec, got.UpstreamID)
			}
			if rec.Report.Target != tt.want || rec.Report.Reason.Key != "harassment" || rec.Report.Reason.Label != "Harassment" ||
				len(rec.Report.Evidence) != 1 || rec.Report.Description != "kept spawn-camping" {
				t.Fatalf("body %+v", rec.Report)
			}
			if rec.Header.Get("Idempotency-Key") != r.ID || !strings.HasPrefix(rec.Header.Get("User-Agent"), "reportbot/") {
				t.Fatalf("headers %v", rec.Header)
			}
		})
	}
}

// TestWebhookOutcomes: how each answer of the endpoint ends the delivery.
func TestWebhookOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures []webhooktest.Failure
		want     Status
		fault    FaultKind
		received int
	}{
		{"5xx, then accepted", []webhooktest.Failure{{Status: 503}, {Status: 500}}, StatusDelivered, "", 1},
		{"408 and 425 are retried", []webhooktest.Failure{{Status: 408}, {Status: 425}}, StatusDelivered, "", 1},
		{"429 waits Retry-After", []webhooktest.Failure{{Status: 429, RetryAfter: time.Second}}, StatusDelivered, "", 1},
		{"an answer lost: sent again, received once", []webhooktest.Failure{{Drop: true}}, StatusDelivered, "", 1},
		{"422 refuses the report", []webhooktest.Failure{{Status: 422}}, StatusFailed, FaultInvalid, 0},
		{"404 is final", []webhooktest.Failure{{Status: 404}}, StatusFailed, FaultRefused, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newStudioWorld(t)
			w.hook.FailNext(tt.failures...)
			start := time.Now()
			r := w.file("110000000000000001", Target{Kind: TargetName, Value: "griefer"})
			got := w.settled(r.ID)
			if got.Delivery != tt.want || got.Fault != tt.fault || len(w.hook.Reports()) != tt.received {
				t.Fatalf("record %+v; %d received", got, len(w.hook.Reports()))
			}
			for _, f := range tt.failures {
				if f.RetryAfter > 0 && time.Since(start) < f.RetryAfter {
					t.Fatalf("delivered %s after filing; the endpoint asked for %s", time.Since(start), f.RetryAfter)
				}
			}
			if tt.fault == FaultRefused && !strings.Contains(got.FaultDetail, "404") {
				t.Fatalf("detail %q: want the status", got.FaultDetail)
			}
		})
	}
}

// TestWebhookOffersEveryReason: the webhook takes every reason of a server's list.
func TestWebhookOffersEveryReason(t *testing.T) {
	t.Parallel()
	w := newStudioWorld(t)
	pub, ok := w.svc.Publisher(Webhook)
	if !ok || pub.Title() != "Skyline Arena" || pub.Flow() != FlowPlayer {
		t.Fatalf("publisher %v %v", pub, ok)
	}
	for _, r := range append(DefaultReasons(), Reason{Key: "toxic", Label: "Toxic"}) {
		if !pub.Offers(r) {
			t.Errorf("%s not offered", r.Key)
		}
	}
}
