// Package rallyhere is a client of the parts of a RallyHere environment the bot uses:
// the users service (server token, platform-user and display-name lookups) and the
// sanctions service (player reports).
package rallyhere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reportbot/reportbot/reporting/upstream"
)

// Client talks to one RallyHere environment with a server token. It is safe for
// concurrent use.
type Client struct {
	base   string
	hc     *http.Client
	tokens *tokens
}

// Options tune a Client; the zero value is usable.
type Options struct {
	// HTTPClient defaults to a pooled client with a 15-second timeout; main passes
	// an instrumented one (upstream.Metrics).
	HTTPClient *http.Client
}

// New returns a client of the environment at baseURL (without the /users or
// /sanctions prefix) authenticating as clientID.
func New(baseURL, clientID, clientSecret string, o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second, Transport: upstream.Transport()}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
	c.tokens = newTokens(c, clientID, clientSecret)
	return c
}

// Error is an error answer of RallyHere.
type Error struct {
	Op     string
	Status int
	// Code is the error_code of the answer (e.g. player_not_found), if it had one.
	Code string
	Desc string
	// Detail lists the problems of a 422 answer.
	Detail []ValidationDetail
	// RetryAfter is the wait a 429 or 503 asked for.
	RetryAfter time.Duration
}

// ValidationDetail is one entry of a 422 answer.
type ValidationDetail struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rallyhere %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Desc != "" {
		fmt.Fprintf(&b, ": %s", e.Desc)
	}
	for _, d := range e.Detail {
		fmt.Fprintf(&b, "; %v: %s", d.Loc, d.Msg)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == http.StatusRequestTimeout
}

// Auth reports whether the answer refused the bot's credentials or their
// permissions.
func (e *Error) Auth() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// IsTemporary reports whether err is worth retrying: a temporary answer, a timeout or
// a connection failure. Answers that say the request itself is wrong are not.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return upstream.Temporary(err) || errors.Is(err, errBadAnswer)
}

// errBadAnswer marks a 2xx answer that could not be read: the service is misbehaving,
// which is worth retrying.
var errBadAnswer = errors.New("unreadable answer")

// IsCode reports whether err is an answer with status and error_code code.
func IsCode(err error, status int, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status && e.Code == code
}

// PlayerByPlatform returns the player UUID linked to a platform account (the active
// player when the account has one). It returns an *Error with status 404 and code
// user_not_found when nobody linked that account.
func (c *Client) PlayerByPlatform(ctx context.Context, platform, platformUserID string) (string, error) {
	q := url.Values{"platform": {platform}, "platform_user_id": {platformUserID}}
	var out struct {
		PlayerUUID       string `json:"player_uuid"`
		ActivePlayerUUID string `json:"active_player_uuid"`
	}
	if err := c.do(ctx, "platform-user", http.MethodGet, "/users/v1/platform-user?"+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	if out.ActivePlayerUUID != "" {
		return out.ActivePlayerUUID, nil
	}
	if out.PlayerUUID == "" {
		return "", fmt.Errorf("rallyhere platform-user: %w: no player_uuid", errBadAnswer)
	}
	return out.PlayerUUID, nil
}

// PlayersByName returns the UUIDs of the players whose display name is name; several
// players may share one, and none is not an error.
func (c *Client) PlayersByName(ctx context.Context, name string) ([]string, error) {
	q := url.Values{"display_name": {name}}
	var out struct {
		DisplayNames []map[string][]struct {
			PlayerUUID string `json:"player_uuid"`
		} `json:"display_names"`
	}
	if err := c.do(ctx, "lookup-player", http.MethodGet, "/users/v1/player?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	var uuids []string
	for _, m := range out.DisplayNames {
		for _, p := range m[name] {
			if p.PlayerUUID != "" {
				uuids = append(uuids, p.PlayerUUID)
			}
		}
	}
	return uuids, nil
}

// ReportRequest is the body of a new report.
type ReportRequest struct {
	SourcePlayerUUID string            `json:"source_player_uuid"`
	Reason           string            `json:"reason"`
	Description      string            `json:"description,omitempty"`
	MatchID          string            `json:"match_id,omitempty"`
	CustomData       map[string]string `json:"custom_data,omitempty"`
}

// Report is a report as RallyHere stores it.
type Report struct {
	ReportID         string            `json:"report_id"`
	SourcePlayerUUID string            `json:"source_player_uuid"`
	TargetPlayerUUID string            `json:"target_player_uuid"`
	Reason           string            `json:"reason"`
	CustomData       map[string]string `json:"custom_data"`
}

// CreateReport files a report against the player targetUUID.
func (c *Client) CreateReport(ctx context.Context, targetUUID string, r ReportRequest) (Report, error) {
	var out Report
	err := c.do(ctx, "create-report", http.MethodPost, "/sanctions/v2/player/"+url.PathEscape(targetUUID)+"/reports", r, &out)
	if err == nil && out.ReportID == "" {
		err = fmt.Errorf("rallyhere create-report: %w: no report_id", errBadAnswer)
	}
	return out, err
}

// ReportsPage is one page of a target's reports, newest first.
type ReportsPage struct {
	Reports    []Report `json:"reports"`
	NextCursor string   `json:"next_cursor"`
}

// ReportsAgainst lists the reports filed against targetUUID; cursor is "" for the
// first page.
func (c *Client) ReportsAgainst(ctx context.Context, targetUUID, cursor string, pageSize int) (ReportsPage, error) {
	q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out ReportsPage
	err := c.do(ctx, "list-reports", http.MethodGet, "/sanctions/v2/player/"+url.PathEscape(targetUUID)+"/reports?"+q.Encode(), nil, &out)
	return out, err
}

// readRetries is how many times a read that met a passing fault is tried again at
// once. Reads are safe to repeat, and a report's delivery makes up to three calls:
// were each passing 5xx to cost a whole attempt and the pipeline's backoff (2 s,
// doubling), a service failing one call in three would hold some reports back for
// minutes. Writes are never repeated here: the pipeline checks first whether an
// earlier try went through.
const readRetries = 2

// do sends one authenticated request, retrying once with a fresh token when the
// server says the token expired, and a read up to readRetries times (0.1 s, then
// 0.2 s later) after a 5xx without a longer Retry-After or a dropped connection,
// while ctx leaves room.
func (c *Client) do(ctx context.Context, op, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("rallyhere %s: encoding the request: %w", op, err)
		}
	}
	refreshed := false
	return upstream.Retry(ctx, func(retried int) (time.Duration, error) {
		tok, err := c.tokens.get(ctx)
		if err != nil {
			return -1, err
		}
		err = c.send(ctx, op, method, path, "Bearer "+tok, payload, out)
		if !refreshed && IsCode(err, http.StatusForbidden, "auth_token_expired") {
			refreshed = true
			c.tokens.expire(tok)
			return 0, err
		}
		wait := time.Duration(100<<retried) * time.Millisecond
		if err == nil || method != http.MethodGet || retried >= readRetries || !passing(err, wait) {
			return -1, err
		}
		return wait, err
	})
}

// passing reports whether err is a fault that trying again after wait may well
// clear: a 5xx that asks for no longer wait, or a connection dropped or refused. A
// 429 and a timeout are left to the caller.
func passing(err error, wait time.Duration) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 && e.RetryAfter <= wait
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return IsTemporary(err)
}

func (c *Client) send(ctx context.Context, op, method, path, auth string, payload []byte, out any) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(upstream.WithOp(ctx, op), method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("rallyhere %s: %w", op, err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("rallyhere %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("rallyhere %s: reading the answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(op, resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("rallyhere %s: %w: %v", op, errBadAnswer, err)
		}
	}
	return nil
}

func decodeError(op string, resp *http.Response, raw []byte) error {
	e := &Error{Op: op, Status: resp.StatusCode, RetryAfter: upstream.RetryAfter(resp.Header)}
	var body struct {
		ErrorCode string          `json:"error_code"`
		Desc      string          `json:"desc"`
		Detail    json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Code, e.Desc = body.ErrorCode, body.Desc
		// FastAPI's detail is a list for validation errors and a string otherwise.
		if json.Unmarshal(body.Detail, &e.Detail) != nil {
			var s string
			if json.Unmarshal(body.Detail, &s) == nil && e.Desc == "" {
				e.Desc = s
			}
		}
	}
	if e.Desc == "" && e.Code == "" && len(e.Detail) == 0 {
		e.Desc = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	return e
}
