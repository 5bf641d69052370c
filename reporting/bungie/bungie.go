// Package bungie is a client of the parts of Bungie.net's API the bot uses for
// Destiny 2: post-game carnage reports (PGCRs), reports of a player met in one, the
// reporter's memberships, the manifest's report reasons, and the OAuth endpoints of a
// confidential client.
package bungie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/reportbot/reportbot/reporting/upstream"
)

// Client talks to Bungie.net with an application's API key. It is safe for
// concurrent use.
type Client struct {
	apiURL, statsURL, webURL string
	apiKey                   string
	hc                       *http.Client
}

// Options are a Client's endpoints and tuning.
type Options struct {
	// APIURL is the platform base (https://www.bungie.net/Platform), StatsURL the one
	// PGCRs are read from (https://stats.bungie.net/Platform), WebURL the site
	// (https://www.bungie.net). No trailing slashes.
	APIURL, StatsURL, WebURL string
	// HTTPClient defaults to a pooled one with a 15-second timeout; main passes an
	// instrumented one (upstream.Metrics).
	HTTPClient *http.Client
}

// New returns a client using apiKey.
func New(apiKey string, o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second, Transport: upstream.Transport()}
	}
	return &Client{apiURL: o.APIURL, statsURL: o.StatsURL, webURL: o.WebURL, apiKey: apiKey, hc: hc}
}

// Error codes of Bungie's envelope the bot acts on (Exceptions.PlatformErrorCodes).
const (
	CodeSuccess               = 1
	CodeSystemDisabled        = 5
	CodeWebAuthRequired       = 99
	CodeReportAlreadyReported = 1403
	CodePGCRNotFound          = 1653
	CodePrivacyRestriction    = 1665
	CodeAccessTokenExpired    = 2111
	CodeOAuthTokenExpired     = 2115
	CodeRefreshTokenInvalid   = 2117
	CodeRefreshTokenExpired   = 2118
	CodeTokenRevoked          = 2120
	CodeOffenderNotInPGCR     = 2700
	CodeRequestorNotInPGCR    = 2701
	CodeSubmissionFailed      = 2702
	CodeCannotReportSelf      = 2703
)

// throttleCodes are the throttles, after which ThrottleSeconds must pass.
var throttleCodes = map[int]bool{31: true, 35: true, 36: true, 37: true, 51: true, 54: true, 55: true, 56: true, 57: true}

// Error is an error answer of Bungie: an envelope with an ErrorCode other than 1, or
// an HTTP failure without one.
type Error struct {
	Op         string
	HTTPStatus int
	Code       int
	Status     string
	Message    string
	// Throttle is how long Bungie asked to wait (ThrottleSeconds).
	Throttle time.Duration
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("bungie %s: HTTP %d: %s", e.Op, e.HTTPStatus, e.Message)
	}
	return fmt.Sprintf("bungie %s: %d %s: %s", e.Op, e.Code, e.Status, e.Message)
}

// Temporary reports whether trying again later may succeed: throttles, maintenance,
// failures of Bungie's side.
func (e *Error) Temporary() bool {
	return throttleCodes[e.Code] || e.Code == CodeSystemDisabled || e.Code == CodeSubmissionFailed ||
		e.Code == 0 && (e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests)
}

// ErrOutage marks an answer that was not Bungie's JSON: an HTML maintenance page, or
// JSON cut short. Bungie sends those while it is down; trying later may succeed.
var ErrOutage = errors.New("bungie answered something other than its JSON")

// IsCode reports whether err is an envelope with code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsTemporary reports whether err is worth retrying: a temporary Bungie error, an
// outage page, a timeout or a connection failure.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return errors.Is(err, ErrOutage) || upstream.Temporary(err)
}

// Int64 is an int64 as Bungie sends it: a JSON string, or (rarely) a number.
type Int64 int64

// UnmarshalJSON reads either form.
func (n *Int64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bungie int64 %s: %w", b, err)
	}
	*n = Int64(v)
	return nil
}

func (n Int64) String() string { return strconv.FormatInt(int64(n), 10) }

// call sends one request to Bungie and decodes the envelope's Response into out.
func (c *Client) call(ctx context.Context, op, method, url, bearer string, body, out any) error {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("bungie %s: encoding: %w", op, err)
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(upstream.WithOp(ctx, op), method, url, payload)
	if err != nil {
		return fmt.Errorf("bungie %s: %w", op, err)
	}
	req.Header.Set("X-API-Key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("bungie %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("bungie %s: reading the answer: %w", op, err)
	}
	var env struct {
		Response        json.RawMessage `json:"Response"`
		ErrorCode       int             `json:"ErrorCode"`
		ThrottleSeconds int             `json:"ThrottleSeconds"`
		ErrorStatus     string          `json:"ErrorStatus"`
		Message         string          `json:"Message"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.ErrorCode == 0 {
		if resp.StatusCode >= 500 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || err != nil {
			return fmt.Errorf("bungie %s: HTTP %d: %w", op, resp.StatusCode, ErrOutage)
		}
		return &Error{Op: op, HTTPStatus: resp.StatusCode, Message: "an answer without ErrorCode"}
	}
	if env.ErrorCode != CodeSuccess {
		return &Error{Op: op, HTTPStatus: resp.StatusCode, Code: env.ErrorCode, Status: env.ErrorStatus,
			Message: env.Message, Throttle: time.Duration(env.ThrottleSeconds) * time.Second}
	}
	if out != nil {
		if err := json.Unmarshal(env.Response, out); err != nil {
			return fmt.Errorf("bungie %s: decoding the response: %w: %v", op, ErrOutage, err)
		}
	}
	return nil
}

// PGCR is what the bot needs of a post-game carnage report.
type PGCR struct {
	ActivityID string
	Mode       int
	Players    []Player
}

// Player is one character in a PGCR.
type Player struct {
	CharacterID    string
	MembershipID   string
	MembershipType int
	// Name is the Bungie name (Name#1234) when the player has one, else their
	// platform's display name.
	Name  string
	Class string
	// Team is the team's name ("Alpha"), "" outside team activities.
	Team string
}

// PGCR reads the post-game carnage report of activityID from the stats host.
func (c *Client) PGCR(ctx context.Context, activityID string) (*PGCR, error) {
	var out struct {
		ActivityDetails struct {
			InstanceID Int64 `json:"instanceId"`
			Mode       int   `json:"mode"`
		} `json:"activityDetails"`
		Entries []struct {
			CharacterID Int64 `json:"characterId"`
			Player      struct {
				DestinyUserInfo struct {
					MembershipID   Int64  `json:"membershipId"`
					MembershipType int    `json:"membershipType"`
					DisplayName    string `json:"displayName"`
					GlobalName     string `json:"bungieGlobalDisplayName"`
					GlobalCode     int    `json:"bungieGlobalDisplayNameCode"`
				} `json:"destinyUserInfo"`
				CharacterClass string `json:"characterClass"`
			} `json:"player"`
			Values map[string]struct {
				Basic struct {
					Value        float64 `json:"value"`
					DisplayValue string  `json:"displayValue"`
				} `json:"basic"`
			} `json:"values"`
		} `json:"entries"`
		Teams []struct {
			TeamID   int    `json:"teamId"`
			TeamName string `json:"teamName"`
		} `json:"teams"`
	}
	url := c.statsURL + "/Destiny2/Stats/PostGameCarnageReport/" + activityID + "/"
	if err := c.call(ctx, "pgcr", http.MethodGet, url, "", nil, &out); err != nil {
		return nil, err
	}
	teams := map[int]string{}
	for _, t := range out.Teams {
		teams[t.TeamID] = t.TeamName
	}
	p := &PGCR{ActivityID: activityID, Mode: out.ActivityDetails.Mode}
	seen := map[Int64]bool{}
	for _, e := range out.Entries {
		if e.CharacterID == 0 || seen[e.CharacterID] {
			continue
		}
		seen[e.CharacterID] = true
		info := e.Player.DestinyUserInfo
		name := info.DisplayName
		if info.GlobalName != "" {
			name = fmt.Sprintf("%s#%04d", info.GlobalName, info.GlobalCode)
		}
		team := ""
		if v, ok := e.Values["team"]; ok && len(teams) > 0 {
			team = teams[int(v.Basic.Value)]
			if team == "" {
				team = v.Basic.DisplayValue
			}
		}
		p.Players = append(p.Players, Player{
			CharacterID: e.CharacterID.String(), MembershipID: info.MembershipID.String(), MembershipType: info.MembershipType,
			Name: name, Class: e.Player.CharacterClass, Team: team,
		})
	}
	return p, nil
}

// ReportRequest is Bungie's DestinyReportOffensePgcrRequest.
type ReportRequest struct {
	ReasonCategoryHashes []uint32 `json:"reasonCategoryHashes"`
	ReasonHashes         []uint32 `json:"reasonHashes"`
	OffendingCharacterID int64    `json:"offendingCharacterId"`
}

// Report files a report of a player met in activityID, as the user whose access token
// is given. Bungie answers 1403 (ReportAlreadyReported) for a report it already has.
func (c *Client) Report(ctx context.Context, accessToken, activityID string, r ReportRequest) error {
	url := c.apiURL + "/Destiny2/Stats/PostGameCarnageReport/" + activityID + "/Report/"
	return c.call(ctx, "report", http.MethodPost, url, accessToken, r, nil)
}

// Memberships are a Bungie.net account's Destiny memberships.
type Memberships struct {
	BungieID string
	Destiny  []Membership
}

// Membership is one Destiny membership (a platform account).
type Membership struct {
	Type int    `json:"type"`
	ID   string `json:"id"`
}

// Memberships returns the memberships of the user whose access token is given.
func (c *Client) Memberships(ctx context.Context, accessToken string) (Memberships, error) {
	var out struct {
		DestinyMemberships []struct {
			MembershipType int   `json:"membershipType"`
			MembershipID   Int64 `json:"membershipId"`
		} `json:"destinyMemberships"`
		BungieNetUser struct {
			MembershipID Int64 `json:"membershipId"`
		} `json:"bungieNetUser"`
	}
	if err := c.call(ctx, "memberships", http.MethodGet, c.apiURL+"/User/GetMembershipsForCurrentUser/", accessToken, nil, &out); err != nil {
		return Memberships{}, err
	}
	m := Memberships{BungieID: out.BungieNetUser.MembershipID.String()}
	for _, d := range out.DestinyMemberships {
		m.Destiny = append(m.Destiny, Membership{Type: d.MembershipType, ID: d.MembershipID.String()})
	}
	return m, nil
}

// OAuth returns the OAuth configuration of the bot's Bungie application: a
// confidential client authenticating with HTTP Basic at
// {APIURL}/App/OAuth/token/.
func OAuth(clientID, clientSecret, authorizeURL, apiURL, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: authorizeURL, TokenURL: apiURL + "/App/OAuth/token/", AuthStyle: oauth2.AuthStyleInHeader},
	}
}
