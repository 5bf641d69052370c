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
)

// Client talks to one RallyHere environment with a server token. It is safe for
// concurrent use.
type Client struct {
	base    string
	hc      *http.Client
	tokens  *tokens
	observe func(op string, status int, d time.Duration)
}

// Options tune a Client; the zero value is usable.
type Options struct {
	// HTTPClient defaults to a client with a 15-second timeout.
	HTTPClient *http.Client
	// Observe, when set, is told the outcome of every request (status 0 for a
	// transport error), for metrics.
	Observe func(op string, status int, d time.Duration)
}

// New returns a client of the environment at baseURL (without the /users or
// /sanctions prefix) authenticating as clientID.
func New(baseURL, clientID, clientSecret string, o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		// Go's default transport keeps two idle connections per host; the bot makes
		// many concurrent calls to one host.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
		hc = &http.Client{Timeout: 15 * time.Second, Transport: t}
	}
	observe := o.Observe
	if observe == nil {
		observe = func(string, int, time.Duration) {}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, observe: observe}
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
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errBadAnswer)
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
	refreshed, retried := false, 0
	for {
		tok, err := c.tokens.get(ctx)
		if err != nil {
			return err
		}
		err = c.send(ctx, op, method, path, "Bearer "+tok, payload, out)
		if !refreshed && IsCode(err, http.StatusForbidden, "auth_token_expired") {
			refreshed = true
			c.tokens.expire(tok)
			continue
		}
		wait := time.Duration(100<<retried) * time.Millisecond
		if method != http.MethodGet || retried == readRetries || !passing(ctx, err, wait) || !sleep(ctx, wait) {
			return err
		}
		retried++
	}
}

// passing reports whether err is a fault that trying again after wait may well
// clear: a 5xx that asks for no longer wait, or a connection dropped or refused. A
// 429, a timeout and the end of ctx are left to the caller.
func passing(ctx context.Context, err error, wait time.Duration) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*wait {
		return false
	}
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

// sleep waits d unless ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) send(ctx context.Context, op, method, path, auth string, payload []byte, out any) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("rallyhere %s: %w", op, err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observe(op, 0, time.Since(start))
		return fmt.Errorf("rallyhere %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	c.observe(op, resp.StatusCode, time.Since(start))
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
	e := &Error{Op: op, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
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

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
