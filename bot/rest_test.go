package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/bot/discordtest"
)

// acknowledged returns an interaction the fake has seen answered, so its original
// response can be edited.
func acknowledged(t *testing.T, d *discordtest.Server) *discordgo.Interaction {
	t.Helper()
	i := d.NewInteraction(discordgo.InteractionApplicationCommand, "910000000000000001", "910000000000000002",
		&discordgo.User{ID: "110000000000000001", Username: "alice"}, 0, map[string]any{"id": "1", "name": "report", "type": 1})
	// A bare endpoint that defers, as the bot does, so the fake records the answer.
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":5,"data":{"flags":64}}`)
	}))
	defer endpoint.Close()
	if _, status, err := d.Post(context.Background(), endpoint.URL, discordtest.NewSigner(), i); err != nil || status != 200 {
		t.Fatalf("acknowledging: %d, %v", status, err)
	}
	return i
}

func TestRESTRateLimitsRespectTheDeadline(t *testing.T) {
	t.Parallel()
	d := discordtest.New(t, discordtest.Options{})
	rest := NewREST(d.URL, d.BotToken, d.AppID, nil)
	i := acknowledged(t, d)
	text := "hello"
	edit := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		err := rest.EditResponse(ctx, i.Token, &discordgo.WebhookEdit{Content: &text})
		return time.Since(start), err
	}

	t.Run("a wait past the deadline is not slept", func(t *testing.T) {
		d.RateLimitNext(http.MethodPatch, "/webhooks/", 1, 5*time.Second, false)
		took, err := edit(answerWithin)
		var api *APIError
		if !errors.As(err, &api) || api.Status != http.StatusTooManyRequests || api.RetryAfter < 4*time.Second {
			t.Fatalf("got %v; want the 429 with its retry-after", err)
		}
		if took > 500*time.Millisecond {
			t.Fatalf("took %s: it waited on a limit it could not outlast", took)
		}
	})
	t.Run("a short wait within the deadline is retried", func(t *testing.T) {
		d.RateLimitNext(http.MethodPatch, "/webhooks/", 1, 200*time.Millisecond, false)
		took, err := edit(answerWithin)
		if err != nil || took < 200*time.Millisecond {
			t.Fatalf("got %v after %s; want success after waiting the 200 ms", err, took)
		}
	})
	t.Run("server errors are retried within the deadline", func(t *testing.T) {
		d.FailNext(http.MethodPatch, "/webhooks/", 2, http.StatusBadGateway)
		if _, err := edit(answerWithin); err != nil {
			t.Fatalf("got %v; want success on the third try", err)
		}
	})
	t.Run("client errors are not retried", func(t *testing.T) {
		d.FailNext(http.MethodPatch, "/webhooks/", 1, http.StatusForbidden)
		before := len(d.Calls())
		if _, err := edit(answerWithin); err == nil {
			t.Fatal("want the 403")
		}
		if n := len(d.Calls()) - before; n != 1 {
			t.Fatalf("%d requests for a 403, want 1", n)
		}
	})
}

// TestRESTEditOvertakingTheAnswer is the HTTP transport's race: the bot writes its
// answer and edits it at once, and the edit reaches Discord before Discord has taken
// the answer, so the token is still unknown. The edit must wait for it.
func TestRESTEditOvertakingTheAnswer(t *testing.T) {
	t.Parallel()
	d := discordtest.New(t, discordtest.Options{AnswerLag: 300 * time.Millisecond})
	rest := NewREST(d.URL, d.BotToken, d.AppID, nil)
	patches := func() (all, unknown int) {
		for _, c := range d.Calls() {
			if c.Method == http.MethodPatch && strings.HasPrefix(c.Path, "/webhooks/") {
				all++
				if c.Status == http.StatusNotFound {
					unknown++
				}
			}
		}
		return all, unknown
	}

	t.Run("an edit sent right after the answer lands", func(t *testing.T) {
		i := d.NewInteraction(discordgo.InteractionApplicationCommand, "910000000000000001", "910000000000000002",
			&discordgo.User{ID: "110000000000000001", Username: "alice"}, 0, map[string]any{"id": "1", "name": "report", "type": 1})
		edited := make(chan error, 1)
		endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"type":5,"data":{"flags":64}}`)
			_ = http.NewResponseController(w).Flush()
			go func() {
				text := "done"
				ctx, cancel := context.WithTimeout(context.Background(), laterWithin)
				defer cancel()
				edited <- rest.EditResponse(ctx, i.Token, &discordgo.WebhookEdit{Content: &text})
			}()
		}))
		defer endpoint.Close()
		if _, status, err := d.Post(context.Background(), endpoint.URL, discordtest.NewSigner(), i); err != nil || status != 200 {
			t.Fatalf("posting: %d, %v", status, err)
		}
		if err := <-edited; err != nil {
			t.Fatalf("the edit failed: %v", err)
		}
		if orig, _ := d.Original(i.Token); !strings.Contains(string(orig), `"content":"done"`) {
			t.Fatalf("original response %s; want the edit", orig)
		}
		if all, unknown := patches(); unknown == 0 || all != unknown+1 {
			t.Fatalf("%d edits, %d of them refused; want the early ones refused and the last one taken", all, unknown)
		}
	})
	t.Run("an unknown token is given up after about 3 s", func(t *testing.T) {
		before, _ := patches()
		text := "lost"
		start := time.Now()
		err := rest.EditResponse(context.Background(), "never-answered", &discordgo.WebhookEdit{Content: &text})
		took := time.Since(start)
		if !IsCode(err, codeUnknownWebhook) {
			t.Fatalf("got %v; want Unknown Webhook", err)
		}
		if all, _ := patches(); all-before != 6 || took < 3*time.Second || took > 10*time.Second {
			t.Fatalf("%d tries in %s; want 6 within 3.1 s of waits", all-before, took)
		}
	})
	t.Run("the waits stay within the deadline", func(t *testing.T) {
		text := "lost"
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := rest.EditResponse(ctx, "never-answered", &discordgo.WebhookEdit{Content: &text})
		if !IsCode(err, codeUnknownWebhook) || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("got %v after %s; want Unknown Webhook before the deadline", err, time.Since(start))
		}
	})
}

func TestRESTErrorsHideTokens(t *testing.T) {
	t.Parallel()
	rest := NewREST("http://127.0.0.1:1/api/v10", "bot-secret", "1", nil)
	err := rest.EditResponse(context.Background(), "interaction-secret", &discordgo.WebhookEdit{})
	if err == nil || strings.Contains(err.Error(), "interaction-secret") || strings.Contains(err.Error(), "bot-secret") {
		t.Fatalf("got %v; want an error without the tokens", err)
	}
	if !strings.Contains(err.Error(), "/webhooks/1/…/messages/@original") {
		t.Fatalf("got %v; want the route with the token elided", err)
	}
}

// TestRouteIsAClosedSet: a request's metric label (route) never holds an id or a
// token, whatever the token's length: a label per interaction would grow the metrics
// with every report.
func TestRouteIsAClosedSet(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("aW50ZXJhY3Rpb246", 12)
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/interactions/1300000000000000001/" + long + "/callback", "POST /interactions/callback"},
		{"POST", "/interactions/1300000000000000001/tok-7/callback", "POST /interactions/callback"},
		{"PATCH", "/webhooks/1200000000000000001/tok-7/messages/@original", "PATCH /webhooks/messages/@original"},
		{"PATCH", "/webhooks/1200000000000000001/" + long + "/messages/@original", "PATCH /webhooks/messages/@original"},
		{"POST", "/webhooks/app/short", "POST /webhooks"},
		{"POST", "/channels/910000000000000002/messages", "POST /channels/messages"},
		{"PATCH", "/channels/910000000000000002/messages/910000000000000003", "PATCH /channels/messages"},
		{"POST", "/users/@me/channels", "POST /users/@me/channels"},
		{"PUT", "/applications/1/guilds/910000000000000001/commands", "PUT /applications/guilds/commands"},
		{"GET", "/gateway/bot?v=10", "GET /gateway/bot"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := route(tc.method, tc.path); got != tc.want {
				t.Fatalf("route(%s, %s) = %q; want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s := discordtest.NewSigner()
	b := &Bot{publicKey: s.PublicKey(), verifyKey: verifyKeyOf(s.PublicKey())}
	body := []byte(`{"type":1}`)
	now := time.Now()
	sign := func(ts time.Time, body []byte) (string, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		s.Sign(req, body, ts)
		return req.Header.Get("X-Signature-Ed25519"), req.Header.Get("X-Signature-Timestamp")
	}
	good, ts := sign(now, body)
	old, oldTS := sign(now.Add(-maxClockSkew-time.Second), body)
	tests := []struct {
		name    string
		sig, ts string
		body    []byte
		want    bool
	}{
		{"valid", good, ts, body, true},
		{"other body", good, ts, []byte(`{"type":2}`), false},
		{"other timestamp", good, oldTS, body, false},
		{"too old", old, oldTS, body, false},
		{"not hex", "zz" + good[2:], ts, body, false},
		{"short", good[:10], ts, body, false},
		{"no timestamp", good, "", body, false},
		{"garbage timestamp", good, "soon", body, false},
	}
	for _, tt := range tests {
		if got := b.verify(tt.sig, tt.ts, tt.body, now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
