// Package webhook is the client of a studio's own report endpoint (SPEC §1.3): each
// report is POSTed as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>" the way
// Stripe and Slack sign theirs, with the report's id as its Idempotency-Key. Verify
// is the receiver's half, for the test kit and for studios' own code.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reportbot/reportbot/reporting/upstream"
)

// The headers of a signed request.
const (
	HeaderTimestamp   = "X-Reportbot-Timestamp"
	HeaderSignature   = "X-Reportbot-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// Report is the body of a request: SPEC §1.3, and the OpenAPI document
// reporting/webhook/openapi.json.
type Report struct {
	ID          string    `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	GuildID     string    `json:"guild_id"`
	ChannelID   string    `json:"channel_id"`
	Reporter    Reporter  `json:"reporter"`
	Target      Target    `json:"target"`
	Reason      Reason    `json:"reason"`
	Description string    `json:"description,omitempty"`
	MatchID     string    `json:"match_id,omitempty"`
	Evidence    []string  `json:"evidence"`
}

// Reporter is who filed the report.
type Reporter struct {
	DiscordUserID   string `json:"discord_user_id"`
	DiscordUsername string `json:"discord_username"`
}

// Target is the reported player as the reporter named them: kind "name", "id" or
// "discord_member" (then with the member's Discord id).
type Target struct {
	Kind          string `json:"kind"`
	Value         string `json:"value"`
	DiscordUserID string `json:"discord_user_id,omitempty"`
}

// The kinds of Target.
const (
	TargetName   = "name"
	TargetID     = "id"
	TargetMember = "discord_member"
)

// Reason is the reason of the server's list the reporter picked.
type Reason struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// Client sends reports to one endpoint. It is safe for concurrent use.
type Client struct {
	url       string
	secret    []byte
	userAgent string
	hc        *http.Client
	now       func() time.Time
}

// Options tune a Client; the zero value is usable.
type Options struct {
	// HTTPClient defaults to a pooled one with a 15-second timeout; main passes an
	// instrumented one (upstream.Metrics).
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent (reportbot/<version>).
	UserAgent string
}

// New returns a client of the endpoint at url signing with secret.
func New(url, secret string, o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second, Transport: upstream.Transport()}
	}
	if o.UserAgent == "" {
		o.UserAgent = "reportbot"
	}
	return &Client{url: url, secret: []byte(secret), userAgent: o.UserAgent, hc: hc, now: time.Now}
}

// Error is an answer other than 2xx.
type Error struct {
	Status int
	// Body is the start of the answer, for people to read.
	Body string
	// RetryAfter is the wait a Retry-After header asked for.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("webhook: HTTP %d", e.Status)
	}
	return fmt.Sprintf("webhook: HTTP %d: %s", e.Status, e.Body)
}

// Temporary reports whether the endpoint may take the report later: 408, 425, 429
// and 5xx.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooEarly ||
		e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsTemporary reports whether err is worth retrying: a temporary answer, a timeout or
// a connection failure.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return upstream.Temporary(err)
}

// Send POSTs r, signed, with r.ID as its Idempotency-Key. It returns the id the
// endpoint gave the report ({"id": "…"} in its answer), "" when it gave none.
func (c *Client) Send(ctx context.Context, r Report) (string, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("webhook: encoding the report: %w", err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	req, err := http.NewRequestWithContext(upstream.WithOp(ctx, "report"), http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(HeaderIdempotency, r.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "v1="+Sign(c.secret, ts, body))
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("webhook: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		text := strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		return "", &Error{Status: resp.StatusCode, Body: text, RetryAfter: upstream.RetryAfter(resp.Header)}
	}
	var out struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &out) // an answer without an id is fine
	return out.ID, nil
}

// Sign is the hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret: the v1
// signature.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no v1 signature")
	ErrBadSignature = errors.New("webhook: the signature does not match")
	ErrStale        = errors.New("webhook: the timestamp is too old or too far ahead")
)

// Verify checks a request's signature the way a receiver should: the timestamp is
// within tolerance of now, and one of the v1 signatures (the header may carry several,
// comma-separated, while a secret is rotated) matches, compared in constant time.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := []byte(Sign(secret, timestamp, body))
	found := false
	for _, part := range strings.Split(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		found = true
		if hmac.Equal([]byte(v), want) {
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrBadSignature
}

// OpenAPI is the contract of the webhook as an OpenAPI 3.1 document: what a request
// carries and what its answers mean.
//
//go:embed openapi.json
var OpenAPI []byte
