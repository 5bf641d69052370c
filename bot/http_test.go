package bot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
)

// freshStore takes every interaction id as new.
type freshStore struct{}

func (freshStore) Ping(ctx context.Context) *redis.StatusCmd {
	return redis.NewStatusResult("PONG", nil)
}
func (freshStore) SetNX(context.Context, string, any, time.Duration) *redis.BoolCmd {
	return redis.NewBoolResult(true, nil)
}

// pongs answers every interaction with an ephemeral message.
type pongs struct{}

func (pongs) Unavailable(*discordgo.Interaction, error) commands.Response {
	return commands.Response{Reply: &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: "paused", Flags: discordgo.MessageFlagsEphemeral}}}
}

func (pongs) Handle(context.Context, *discordgo.Interaction) commands.Response {
	return commands.Response{Reply: &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: "hi"}}}
}

func endpointBot(t *testing.T, s *discordtest.Signer) *Bot {
	t.Helper()
	return New(Options{Discord: config.Discord{PublicKey: s.PublicKey()}, Router: pongs{}, Store: freshStore{},
		Registry: prometheus.NewRegistry(), Logger: zerolog.New(zerolog.NewTestWriter(t))})
}

// watched is a body that counts what is read of it.
type watched struct {
	r    io.Reader
	read atomic.Int64
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.read.Add(int64(n))
	return n, err
}

// TestInteractionBodyLimits: a request is judged by its headers before its body is
// read, a body over 256 KiB is refused with 413, and no more than the budget of
// bodies is read at once (503 past a second's wait), while Discord's small bodies
// have a share the large ones cannot take.
func TestInteractionBodyLimits(t *testing.T) {
	t.Parallel()
	s := discordtest.NewSigner()
	interaction := []byte(`{"id":"1","type":2,"token":"t","application_id":"1","version":1,"data":{"id":"1","name":"report","type":1}}`)
	padded := func(n int) []byte { // a signed interaction of n bytes
		return append(bytes.Clone(interaction[:len(interaction)-1]), append(append([]byte(`,"pad":"`), bytes.Repeat([]byte("x"), n-len(interaction)-9)...), '"', '}')...)
	}
	type request struct {
		body    []byte
		sign    bool
		headers map[string]string
		chunked bool
	}
	tests := []struct {
		name string
		req  request
		want int
		// maxRead is the most of the body the bot may read.
		maxRead int64
	}{
		{"valid", request{body: interaction, sign: true}, 200, int64(len(interaction))},
		{"no signature: body unread", request{body: padded(200 << 10)}, 401, 0},
		{"signature not hex: body unread", request{body: padded(200 << 10), headers: map[string]string{"X-Signature-Ed25519": strings.Repeat("zz", 64), "X-Signature-Timestamp": fmt.Sprint(time.Now().Unix())}}, 401, 0},
		{"short signature: body unread", request{body: padded(200 << 10), headers: map[string]string{"X-Signature-Ed25519": "abcd", "X-Signature-Timestamp": fmt.Sprint(time.Now().Unix())}}, 401, 0},
		{"old timestamp: body unread", request{body: padded(200 << 10), headers: map[string]string{"X-Signature-Ed25519": strings.Repeat("ab", 64), "X-Signature-Timestamp": fmt.Sprint(time.Now().Add(-6 * time.Minute).Unix())}}, 401, 0},
		{"too large by its length: body unread", request{body: padded(256<<10 + 1), sign: true}, 413, 0},
		{"too large, chunked: read up to the cap", request{body: padded(300 << 10), sign: true, chunked: true}, 413, 256<<10 + 4096},
		{"256 KiB exactly", request{body: padded(256 << 10), sign: true}, 200, 256 << 10},
		{"well-formed, bad signature", request{body: interaction, headers: map[string]string{"X-Signature-Ed25519": strings.Repeat("ab", 64), "X-Signature-Timestamp": fmt.Sprint(time.Now().Unix())}}, 401, int64(len(interaction))},
	}
	b := endpointBot(t, s)
	h := b.routes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &watched{r: bytes.NewReader(tt.req.body)}
			req := httptest.NewRequest(http.MethodPost, "/interactions", body)
			req.ContentLength = int64(len(tt.req.body))
			if tt.req.chunked {
				req.ContentLength = -1
			}
			if tt.req.sign {
				s.Sign(req, tt.req.body, time.Now())
			}
			for k, v := range tt.req.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want || body.read.Load() > tt.maxRead {
				t.Fatalf("status %d after reading %d bytes; want %d after at most %d", rec.Code, body.read.Load(), tt.want, tt.maxRead)
			}
		})
	}

	t.Run("budget spent: 503 after a second, then served again", func(t *testing.T) {
		b := endpointBot(t, s)
		h := b.routes()
		post := func() (int, time.Duration) {
			req := httptest.NewRequest(http.MethodPost, "/interactions", bytes.NewReader(interaction))
			s.Sign(req, interaction, time.Now())
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			return rec.Code, time.Since(start)
		}
		// Large bodies hold their whole share: Discord's small ones still get in.
		if err := b.largeBodies.Acquire(context.Background(), bodyBudget/2); err != nil {
			t.Fatal(err)
		}
		if status, took := post(); status != 200 || took > budgetWait/2 {
			t.Fatalf("with the large share spent: %d after %s; want 200 at once", status, took)
		}
		if err := b.smallBodies.Acquire(context.Background(), bodyBudget/2); err != nil {
			t.Fatal(err)
		}
		if status, took := post(); status != http.StatusServiceUnavailable || took < budgetWait {
			t.Fatalf("with the budget spent: %d after %s; want 503 after %s", status, took, budgetWait)
		}
		go func() { time.Sleep(300 * time.Millisecond); b.smallBodies.Release(bodyBudget / 2) }()
		if status, took := post(); status != 200 {
			t.Fatalf("once a share is free: %d after %s", status, took)
		}
	})

	t.Run("a slow body gives its share back", func(t *testing.T) {
		b := endpointBot(t, s)
		srv := httptest.NewServer(b.routes())
		defer srv.Close()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/interactions", nil)
		s.Sign(req, interaction, time.Now())
		fmt.Fprintf(conn, "POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Signature-Ed25519: %s\r\nX-Signature-Timestamp: %s\r\n\r\n%s",
			smallBody, req.Header.Get("X-Signature-Ed25519"), req.Header.Get("X-Signature-Timestamp"), interaction[:10])
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || time.Since(start) > bodyWithin+time.Second {
			t.Fatalf("status %d after %s; want 408 after %s", resp.StatusCode, time.Since(start), bodyWithin)
		}
		if !b.smallBodies.TryAcquire(bodyBudget / 2) {
			t.Fatal("the slow body's share was not given back")
		}
	})
}
