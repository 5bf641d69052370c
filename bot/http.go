package bot

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// maxClockSkew is how old (or early) a signed timestamp may be.
	maxClockSkew = 5 * time.Minute
	// seenFor is how long an interaction id is remembered to refuse replays: longer
	// than any timestamp that still passes the skew check.
	seenFor = 2*maxClockSkew + time.Minute
	// maxInteractionBody bounds what /interactions reads.
	maxInteractionBody = 4 << 20
)

// routes is the bot's HTTP surface on HTTP_ADDR; /metrics is there unless METRICS_ADDR
// gives it a listener of its own.
func (b *Bot) routes() http.Handler {
	mux := http.NewServeMux()
	if b.publicKey != nil {
		mux.HandleFunc("POST /interactions", b.serveInteraction)
	}
	if b.linker != nil {
		mux.HandleFunc("GET /oauth/bungie/start", b.serveLinkStart)
		mux.HandleFunc("GET /oauth/bungie/callback", b.serveLinkCallback)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", b.serveReady)
	if b.metricsAddr == "" {
		mux.Handle("GET /metrics", b.metricsHandler())
	}
	return mux
}

// metricsRoutes is the HTTP surface on METRICS_ADDR: /metrics only.
func (b *Bot) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", b.metricsHandler())
	return mux
}

func (b *Bot) metricsHandler() http.Handler {
	return promhttp.HandlerFor(b.registry, promhttp.HandlerOpts{})
}

func (b *Bot) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := b.store.Ping(ctx).Err(); err != nil {
		b.log.Warn().Err(err).Msg("not ready: redis unreachable")
		http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
		return
	}
	if !b.registered.Load() {
		http.Error(w, "commands not registered yet", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// serveInteraction is Discord's outgoing webhook: verify, refuse replays, answer
// within the deadline, then do the deferred work.
func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteractionBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !b.verify(r.Header.Get("X-Signature-Ed25519"), r.Header.Get("X-Signature-Timestamp"), body, received) {
		b.metrics.refused.WithLabelValues("signature").Inc()
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil || i.ID == "" {
		b.log.Warn().Err(err).Msg("undecodable interaction")
		http.Error(w, "bad interaction", http.StatusBadRequest)
		return
	}
	if i.Type == discordgo.InteractionPing {
		writeJSON(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), received.Add(answerWithin))
	defer cancel()
	fresh, err := b.store.SetNX(ctx, seenKey(i.ID), 1, seenFor).Result()
	if err != nil {
		b.log.Error().Err(err).Str("interaction_id", i.ID).Msg("checking for a replay")
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		b.metrics.refused.WithLabelValues("replay").Inc()
		b.log.Warn().Str("interaction_id", i.ID).Msg("replayed interaction refused")
		http.Error(w, "interaction already received", http.StatusUnauthorized)
		return
	}
	resp := b.router.Handle(ctx, &i)
	writeJSON(w, callbackBody(withNoMentions(resp.Reply)))
	b.metrics.observe("http", received)
	if resp.Then != nil {
		// The answer must reach Discord before the deferred work edits it.
		_ = http.NewResponseController(w).Flush()
		b.later(resp.Then)
	}
}

// verify checks Discord's Ed25519 signature over timestamp+body and the timestamp's age.
func (b *Bot) verify(sigHex, ts string, body []byte, now time.Time) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize || ts == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxClockSkew || age < -maxClockSkew {
		return false
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	return ed25519.Verify(b.publicKey, msg, sig)
}

func seenKey(id string) string { return "rb:{seen:" + id + "}" }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// withNoMentions makes sure a message reply can ping nobody.
func withNoMentions(resp *discordgo.InteractionResponse) *discordgo.InteractionResponse {
	if resp.Data != nil && resp.Type != discordgo.InteractionResponseModal && resp.Type != discordgo.InteractionApplicationCommandAutocompleteResult {
		resp.Data.AllowedMentions = noMentions()
	}
	return resp
}
