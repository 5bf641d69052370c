package reporting

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/bungie"
)

// BungieAPI is what the service needs of Bungie.net.
type BungieAPI interface {
	PGCR(ctx context.Context, activityID string) (*bungie.PGCR, error)
	Report(ctx context.Context, accessToken, activityID string, r bungie.ReportRequest) error
	Memberships(ctx context.Context, accessToken string) (bungie.Memberships, error)
	Reasons(ctx context.Context) ([]bungie.Category, error)
}

// Bungie report modes (BUNGIE_REPORT_MODE).
const (
	// BungieLink: the bot hands the reporter a link to Bungie's own report page.
	BungieLink = "link"
	// BungieAPI: the bot files the report with the reporter's OAuth token.
	BungieAPIMode = "api"
)

// Manifest keeps the Destiny report reasons of Bungie's manifest, fetched on first
// use and then daily; while Bungie cannot be reached, the copy shipped in the binary
// stands in.
type Manifest struct {
	api BungieAPI
	log zerolog.Logger
	now func() time.Time

	mu      sync.Mutex
	cats    []bungie.Category
	fetched time.Time
	tried   time.Time
}

// manifestRefresh is how often the reasons are fetched again; manifestRetry how soon
// after a failed fetch.
const (
	manifestRefresh = 24 * time.Hour
	manifestRetry   = 10 * time.Minute
)

// NewManifest returns a manifest reading from api (nil: only the shipped copy).
func NewManifest(api BungieAPI, log zerolog.Logger) *Manifest {
	return &Manifest{api: api, log: log, now: time.Now, cats: bungie.ShippedReasons()}
}

// Categories returns the report reason categories.
func (m *Manifest) Categories(ctx context.Context) []bungie.Category {
	m.mu.Lock()
	now := m.now()
	stale := m.api != nil && now.Sub(m.fetched) > manifestRefresh && now.Sub(m.tried) > manifestRetry
	if stale {
		m.tried = now
	}
	cats := m.cats
	m.mu.Unlock()
	if !stale {
		return cats
	}
	fresh, err := m.api.Reasons(ctx)
	if err != nil {
		m.log.Warn().Err(err).Msg("fetching Destiny report reasons; using the copy shipped with the bot")
		return cats
	}
	m.mu.Lock()
	m.cats, m.fetched = fresh, now
	m.mu.Unlock()
	return fresh
}

// Find returns the reason with these hashes, if the manifest has it.
func (m *Manifest) Find(ctx context.Context, category, reason uint32) (DestinyReason, bool) {
	for _, c := range m.Categories(ctx) {
		if c.Hash != category {
			continue
		}
		for _, r := range c.Reasons {
			if r.Hash == reason {
				return DestinyReason{CategoryHash: c.Hash, ReasonHash: r.Hash, Label: c.Name + " › " + r.Name}, true
			}
		}
	}
	return DestinyReason{}, false
}

// Search returns the reasons whose "Category › Reason" label contains every word
// of typed, at most n.
func (m *Manifest) Search(ctx context.Context, typed string, n int) []DestinyReason {
	words := strings.Fields(strings.ToLower(typed))
	var out []DestinyReason
	for _, c := range m.Categories(ctx) {
		for _, r := range c.Reasons {
			label := c.Name + " › " + r.Name
			match := true
			for _, w := range words {
				match = match && strings.Contains(strings.ToLower(label), w)
			}
			if match && len(out) < n {
				out = append(out, DestinyReason{CategoryHash: c.Hash, ReasonHash: r.Hash, Label: label})
			}
		}
	}
	return out
}

// Destiny delivery faults.
const (
	// FaultActivityNotFound: Bungie has no PGCR with that id (1653).
	FaultActivityNotFound FaultKind = "activity_not_found"
	// FaultActivityPrivate: the activity's report is private (1665).
	FaultActivityPrivate FaultKind = "activity_private"
	// FaultNobodyElse: nobody but the reporter was in the activity.
	FaultNobodyElse FaultKind = "nobody_else"
	// FaultOffenderNotInActivity: Bungie says the player was not there (2700).
	FaultOffenderNotInActivity FaultKind = "offender_not_in_activity"
	// FaultReporterNotInActivity: Bungie says the reporter was not there (2701).
	FaultReporterNotInActivity FaultKind = "reporter_not_in_activity"
	// FaultBungieNotLinked: the reporter has not linked Bungie.net (api mode).
	FaultBungieNotLinked FaultKind = "bungie_not_linked"
	// FaultRelink: the reporter's Bungie.net link no longer works.
	FaultRelink FaultKind = "relink"
)

// errNobodyElse: the activity had no player but the reporter's characters.
var errNobodyElse = errors.New("nobody else in the activity")

// destiny files Destiny 2 reports of a player met in an activity (SPEC §1.2): in
// link mode by handing the reporter Bungie's own report page, in api mode with the
// reporter's own token.
type destiny struct {
	api  BungieAPI
	mode string // BungieLink or BungieAPIMode
	web  string // the site the report links point to
	// links are the reporters' Bungie.net accounts (api mode; nil otherwise).
	links *Links
}

func (*destiny) Game() Game           { return Destiny2 }
func (*destiny) Title() string        { return "Destiny 2" }
func (*destiny) Flow() Flow           { return FlowActivity }
func (*destiny) Offers(r Reason) bool { return r.Destiny != nil }

// Resolve reads the activity's PGCR and asks the reporter which of its players they
// report (a *ChoiceError of all but their own characters, when their linked
// memberships tell which those are), until one is chosen.
func (p *destiny) Resolve(ctx context.Context, r *Report) error {
	if r.TargetPlayer != "" {
		return nil
	}
	pgcr, err := p.api.PGCR(ctx, r.ActivityID)
	if err != nil {
		return err
	}
	own := map[string]bool{}
	if p.links != nil {
		if ms, err := p.links.Memberships(ctx, r.ReporterID); err == nil {
			for _, m := range ms {
				own[m.ID] = true
			}
		}
	}
	var cs []Candidate
	for _, pl := range pgcr.Players {
		if !own[pl.MembershipID] {
			label := pl.Label()
			cs = append(cs, Candidate{ID: pl.CharacterID, Label: label,
				Target: Target{Kind: TargetCharacter, Value: pl.CharacterID, Label: label}})
		}
	}
	if len(cs) == 0 {
		return errNobodyElse
	}
	return &ChoiceError{Candidates: cs}
}

// Send files r with Bungie: in link mode it returns the report page for the reporter;
// in api mode it files the report with the reporter's token, refreshing it once if
// Bungie says it expired. 1403 (already reported) counts as delivered.
func (p *destiny) Send(ctx context.Context, r *Report) (Sent, error) {
	if p.mode != BungieAPIMode {
		return Sent{Link: ReportLink(p.web, r.ActivityID, r.TargetPlayer)}, nil
	}
	if r.Reason.Destiny == nil {
		return Sent{}, fmt.Errorf("report %s: its reason has no Destiny mapping", r.ID)
	}
	offender, err := strconv.ParseInt(r.TargetPlayer, 10, 64)
	if err != nil {
		return Sent{}, fmt.Errorf("report %s: character %q: %w", r.ID, r.TargetPlayer, err)
	}
	req := bungie.ReportRequest{
		ReasonCategoryHashes: []uint32{r.Reason.Destiny.CategoryHash},
		ReasonHashes:         []uint32{r.Reason.Destiny.ReasonHash},
		OffendingCharacterID: offender,
	}
	refused := ""
	for attempt := 0; ; attempt++ {
		token, err := p.links.AccessToken(ctx, r.ReporterID, refused)
		if err != nil {
			return Sent{}, err
		}
		err = p.api.Report(ctx, token, r.ActivityID, req)
		switch {
		case err == nil:
			return Sent{UpstreamID: "bungie"}, nil
		case bungie.IsCode(err, bungie.CodeReportAlreadyReported):
			return Sent{UpstreamID: "bungie (already reported)"}, nil
		case attempt == 0 && (bungie.IsCode(err, bungie.CodeAccessTokenExpired) || bungie.IsCode(err, bungie.CodeOAuthTokenExpired)):
			refused = token
			continue
		}
		return Sent{}, err
	}
}

// Lookup cannot tell: Bungie lists no reports. A report sent twice is answered 1403
// (already reported), which counts as delivered.
func (*destiny) Lookup(context.Context, *Report) (string, error) { return "", nil }

// Classify sorts an error of reading the activity, of the reporter's link, or of
// filing.
func (*destiny) Classify(err error) Fault {
	if errors.Is(err, errNobodyElse) {
		return Fault{Kind: FaultNobodyElse, Reporter: true, Unfiled: true}
	}
	return ClassifyBungie(err)
}

// ClassifyBungie sorts an error of the Bungie client or of the reporter's link.
func ClassifyBungie(err error) Fault {
	var e *bungie.Error
	reporter := func(k FaultKind) Fault { return Fault{Kind: k, Reporter: true} }
	unfiled := func(k FaultKind) Fault { return Fault{Kind: k, Reporter: true, Unfiled: true} }
	switch {
	case errors.Is(err, ErrNotLinked):
		return unfiled(FaultBungieNotLinked)
	case errors.Is(err, ErrRelink):
		return unfiled(FaultRelink)
	case errors.As(err, &e) && e.Temporary():
		return Fault{Kind: FaultUnavailable, RetryAfter: e.Throttle, MaybeSent: true}
	case errors.As(err, &e):
		switch e.Code {
		case bungie.CodePGCRNotFound:
			return unfiled(FaultActivityNotFound)
		case bungie.CodePrivacyRestriction:
			return unfiled(FaultActivityPrivate)
		case bungie.CodeOffenderNotInPGCR:
			return reporter(FaultOffenderNotInActivity)
		case bungie.CodeRequestorNotInPGCR:
			return reporter(FaultReporterNotInActivity)
		case bungie.CodeCannotReportSelf:
			return faultSelfReport
		case bungie.CodeWebAuthRequired, bungie.CodeRefreshTokenInvalid, bungie.CodeRefreshTokenExpired, bungie.CodeTokenRevoked,
			bungie.CodeAccessTokenExpired, bungie.CodeOAuthTokenExpired:
			return unfiled(FaultRelink)
		}
		return Fault{Kind: FaultUnknown, Detail: e.Status}
	case bungie.IsTemporary(err):
		return faultUnavailable
	}
	return faultUnknown
}

// ReportLink is Bungie's own report page for a player of an activity.
func ReportLink(webURL, activityID, characterID string) string {
	return webURL + "/en/PGCR/Report/" + url.PathEscape(activityID) + "/?characterId=" + url.QueryEscape(characterID)
}
