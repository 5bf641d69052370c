package bot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reportbot/reportbot/reporting/replay"
)

const (
	// maxClockSkew is how old (or early) a signed timestamp may be.
	maxClockSkew = 5 * time.Minute
	// maxInteractionBody bounds what /interactions reads (SPEC §2). Discord's
	// interactions are a few KiB; the largest (a modal with five files) well under this.
	maxInteractionBody = 256 << 10
	// bodyBudget bounds the bytes of request bodies being read at once, before their
	// signature is checked: a body costs its Content-Length, or maxInteractionBody
	// when it has none. Half of it is kept for bodies of Discord's usual size (up to
	// smallBody, with a Content-Length), so that large or unsized bodies, which only
	// an attacker sends, cannot crowd out real interactions. 4 MiB is sixteen bodies
	// of the largest size, or hundreds of Discord's, so an unauthenticated flood
	// holds at most that much.
	bodyBudget = 4 << 20
	smallBody  = 64 << 10
	// budgetWait is how long a request waits for its share of bodyBudget. Waiting
	// eats into Discord's 3 seconds, so past it the request is refused (503), leaving
	// the ones that got in the time to be answered.
	budgetWait = time.Second
	// bodyWithin bounds reading one body, so that a slow sender gives its share back:
	// Discord sends a whole body at once.
	bodyWithin = 2 * time.Second
)

// routes is the bot's HTTP surface on HTTP_ADDR; /metrics is there unless METRICS_ADDR
// gives it a listener of its own.
func (b *Bot) routes() http.Handler {
	mux := http.NewServeMux()
	if b.publicKey != nil {
		mux.HandleFunc("POST /interactions", b.serveInteraction)
	}
	if b.signIn != nil {
		mux.Handle("GET /oauth/bungie/", b.signIn)
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

// serveInteraction is Discord's outgoing webhook: verify, refuse replays, answer
// within the deadline, then do the deferred work. Until the signature is checked the
// request is anyone's, so it costs little: its headers are checked before its body is
// read, a body over maxInteractionBody is refused, and the bodies read at once share
// bodyBudget.
func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	sigHex, ts := r.Header.Get("X-Signature-Ed25519"), r.Header.Get("X-Signature-Timestamp")
	if _, ok := signatureForm(sigHex, ts, received); !ok {
		b.metrics.refused.WithLabelValues("signature").Inc()
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	body, status := b.readBody(w, r, received)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if !b.verify(sigHex, ts, body, received) {
		b.metrics.refused.WithLabelValues("signature").Inc()
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	i, err := decodeInteraction(body)
	if err != nil || i.ID == "" {
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
	// Replays are refused by the interaction's mark, set by the first Redis call made
	// for it, in that call's own round trip; an interaction answered without Redis
	// sets it here.
	var userID string
	if u := invoker(i); u != nil {
		userID = u.ID
	}
	mark := replay.New(i.ID, userID)
	ctx = replay.With(ctx, mark)
	resp := b.router.Handle(ctx, i)
	if !mark.Taken() {
		if _, err := b.setMark(ctx, mark); err != nil {
			// Never a 5xx (Discord would show "This interaction failed"): the person is
			// told reports are paused, and nothing is done.
			writeJSON(w, callbackBody(withNoMentions(b.router.Unavailable(i, err).Reply)))
			b.metrics.observe("http", received)
			return
		}
	}
	if mark.Replayed() {
		b.metrics.refused.WithLabelValues("replay").Inc()
		b.log.Warn().Str("interaction_id", i.ID).Msg("replayed interaction refused")
		http.Error(w, "interaction already received", http.StatusUnauthorized)
		return
	}
	writeJSON(w, callbackBody(withNoMentions(resp.Reply)))
	b.metrics.observe("http", received)
	if resp.Then != nil {
		// The answer must reach Discord before the deferred work edits it.
		_ = http.NewResponseController(w).Flush()
		b.later(resp.Then)
	}
}

// signatureForm checks the form of Discord's signature headers, which needs no body:
// X-Signature-Ed25519 the hex of an Ed25519 signature, X-Signature-Timestamp unix
// seconds within maxClockSkew of now. It returns the signature.
func signatureForm(sigHex, ts string, now time.Time) ([]byte, bool) {
	if len(sigHex) != 2*ed25519.SignatureSize || len(ts) == 0 || len(ts) > 12 {
		return nil, false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return nil, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return nil, false
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxClockSkew || age < -maxClockSkew {
		return nil, false
	}
	return sig, true
}

// verify checks Discord's Ed25519 signature over timestamp+body and the timestamp's age.
func (b *Bot) verify(sigHex, ts string, body []byte, now time.Time) bool {
	sig, ok := signatureForm(sigHex, ts, now)
	if !ok || b.verifyKey == nil {
		return false
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	return verifySignature(b.verifyKey, msg, sig)
}

// verifyKeyOf unpacks Discord's public key for verifySignature; nil for no key, or
// for a key that is no point of the curve, under which nothing verifies.
func verifyKeyOf(key ed25519.PublicKey) *voied.ExpandedPublicKey {
	if key == nil {
		return nil
	}
	xk, err := voied.NewExpandedPublicKey(voied.PublicKey(key))
	if err != nil {
		return nil
	}
	return xk
}

// verifySignature is crypto/ed25519.Verify on a public key unpacked once, with
// curve25519-voi: the standard library unpacks the key again and builds its
// table on every call, and its scalar multiplication is slower; 26 µs against 36
// µs here (BenchmarkVerify), on every interaction. The options are the standard
// library's rules (FuzzVerify compares the two).
func verifySignature(key *voied.ExpandedPublicKey, msg, sig []byte) bool {
	return voied.VerifyExpandedWithOptions(key, msg, sig, standardRules)
}

// standardRules are the standard library's rules for verifying; never changed.
var standardRules = &voied.Options{Verify: voied.VerifyOptionsStdLib}

// readBody reads an interaction's body within its share of bodyBudget; the share is
// given back once read, as the signature check that follows needs no more. It returns
// the status to refuse the request with, if any: 413 for a body over
// maxInteractionBody, 503 when no share was free within budgetWait, 408 for a body
// that did not arrive within bodyWithin.
func (b *Bot) readBody(w http.ResponseWriter, r *http.Request, received time.Time) ([]byte, int) {
	if r.ContentLength > maxInteractionBody {
		b.metrics.refused.WithLabelValues("too_large").Inc()
		return nil, http.StatusRequestEntityTooLarge
	}
	size := int64(maxInteractionBody)
	if r.ContentLength >= 0 {
		size = r.ContentLength
	}
	pool, share := b.largeBodies, max(size, 1)
	if r.ContentLength >= 0 && r.ContentLength <= smallBody {
		pool = b.smallBodies
	}
	wait, cancel := context.WithDeadline(r.Context(), received.Add(budgetWait))
	defer cancel()
	if err := pool.Acquire(wait, share); err != nil {
		b.metrics.refused.WithLabelValues("busy").Inc()
		b.busyLog.Warn().Msg("interaction bodies are arriving faster than they can be read; refusing the excess (503)")
		return nil, http.StatusServiceUnavailable
	}
	defer pool.Release(share)
	_ = http.NewResponseController(w).SetReadDeadline(received.Add(bodyWithin))
	// ReadFrom wants MinRead bytes free before each read, the one that meets the
	// end included: with less, it would copy the whole body into a buffer twice
	// as large.
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxInteractionBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		b.metrics.refused.WithLabelValues("too_large").Inc()
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		b.metrics.refused.WithLabelValues("slow").Inc()
		return nil, http.StatusRequestTimeout
	}
	return buf.Bytes(), 0
}

// setMark sets an interaction's replay mark that no call carried.
func (b *Bot) setMark(ctx context.Context, m *replay.Mark) (bool, error) {
	fresh, err := b.store.SetNX(ctx, m.Key(), 1, replay.For).Result()
	if err == nil && !fresh {
		_ = replay.Refused(replay.With(ctx, m))
	}
	return fresh, err
}

// invoker is the user an interaction is from.
func invoker(i *discordgo.Interaction) *discordgo.User {
	if i.Member != nil && i.Member.User != nil {
		return i.Member.User
	}
	return i.User
}

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
