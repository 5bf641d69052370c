package reporting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
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
	Reasons(ctx context.Context, lang string) ([]bungie.Category, error)
}

// Bungie report modes (BUNGIE_REPORT_MODE).
const (
	// BungieLink: the bot hands the reporter a link to Bungie's own report page.
	BungieLink = "link"
	// BungieAPI: the bot files the report with the reporter's OAuth token.
	BungieAPIMode = "api"
)

// Manifest keeps the Destiny report reasons of Bungie's manifest, in English and in
// each language asked for, fetched on first use and then daily. While Bungie cannot
// be reached, the English copy shipped in the binary stands in (for every language).
type Manifest struct {
	api BungieAPI
	log zerolog.Logger
	now func() time.Time
	// wait bounds how long a caller waits for another language's names.
	wait time.Duration

	mu    sync.Mutex
	langs map[string]*manifestLang // by Bungie language code
}

// manifestLang is the reasons in one language: their names, in the English list's
// order and shape.
type manifestLang struct {
	cats    []bungie.Category // nil until fetched (English: the shipped copy)
	fetched time.Time
	tried   time.Time
	// loading is closed when the fetch under way ends; until is when callers stop
	// waiting for it.
	loading chan struct{}
	until   time.Time
}

// English is the manifest language of the shipped copy, and the fallback.
const English = "en"

// manifestRefresh is how often the reasons are fetched again; manifestRetry how soon
// after a failed fetch; manifestWait how long the callers of a language wait, in all,
// for a fetch of its names (they are asked while answering Discord, within its three
// seconds; English stands in meanwhile, and the fetch goes on for manifestFetch).
const (
	manifestRefresh = 24 * time.Hour
	manifestRetry   = 10 * time.Minute
	manifestWait    = time.Second
	manifestFetch   = 30 * time.Second
)

// NewManifest returns a manifest reading from api (nil: only the shipped copy).
func NewManifest(api BungieAPI, log zerolog.Logger) *Manifest {
	return &Manifest{api: api, log: log, now: time.Now, wait: manifestWait,
		langs: map[string]*manifestLang{English: {cats: bungie.ShippedReasons()}}}
}

// Categories returns the report reason categories with their names in lang, a Bungie
// language code ("" is English); in English where Bungie has no names in lang or
// cannot be reached.
func (m *Manifest) Categories(ctx context.Context, lang string) []bungie.Category {
	if lang == "" || lang == English {
		return m.english(ctx)
	}
	if cats := m.fetchLocalized(ctx, lang); cats != nil {
		return cats
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.langs[English].cats
}

// english returns the English categories, fetching them first when they are a day old
// (or never were), unless a fetch failed in the last minutes. Callers meanwhile get
// what is there.
func (m *Manifest) english(ctx context.Context) []bungie.Category {
	m.mu.Lock()
	ml := m.langs[English]
	now := m.now()
	stale := m.api != nil && now.Sub(ml.fetched) > manifestRefresh && now.Sub(ml.tried) > manifestRetry
	if stale {
		ml.tried = now
	}
	cats := ml.cats
	m.mu.Unlock()
	if !stale {
		return cats
	}
	fresh, err := m.api.Reasons(ctx, English)
	if err != nil {
		m.log.Warn().Err(err).Str("lang", English).Msg("fetching Destiny report reasons; using the copy at hand")
		return cats
	}
	m.mu.Lock()
	ml.cats, ml.fetched = fresh, now
	m.mu.Unlock()
	return fresh
}

// fetchLocalized returns lang's categories (nil: none yet), fetching them when they
// are a day old or never were. The fetch runs on its own; callers wait for it at most
// m.wait from its start, all together, and then take what is there.
func (m *Manifest) fetchLocalized(ctx context.Context, lang string) []bungie.Category {
	m.mu.Lock()
	ml := m.langs[lang]
	if ml == nil {
		ml = &manifestLang{}
		m.langs[lang] = ml
	}
	now := m.now()
	if m.api != nil && ml.loading == nil && now.Sub(ml.fetched) > manifestRefresh && now.Sub(ml.tried) > manifestRetry {
		ml.tried, ml.loading, ml.until = now, make(chan struct{}), time.Now().Add(m.wait)
		go m.load(lang, ml, m.langs[English].cats, now)
	}
	loading, until := ml.loading, ml.until
	m.mu.Unlock()
	if loading != nil {
		t := time.NewTimer(time.Until(until))
		select {
		case <-loading:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return ml.cats
}

// load fetches lang's names into ml, named as en is ordered.
func (m *Manifest) load(lang string, ml *manifestLang, en []bungie.Category, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), manifestFetch)
	defer cancel()
	fresh, err := m.api.Reasons(ctx, lang)
	if err != nil {
		m.log.Warn().Err(err).Str("lang", lang).Msg("fetching Destiny report reasons; English stands in")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		ml.cats, ml.fetched = localized(en, fresh), now
	}
	close(ml.loading)
	ml.loading = nil
}

// localized is the English list en with the names of loc, a list in another
// language: categories keep their order, reasons are sorted by their new names with
// Other (as English names it) last, and a name loc lacks stays English.
func localized(en, loc []bungie.Category) []bungie.Category {
	type key struct{ cat, reason uint32 }
	cats := map[uint32]string{}
	reasons := map[key]string{}
	for _, c := range loc {
		cats[c.Hash] = c.Name
		for _, r := range c.Reasons {
			reasons[key{c.Hash, r.Hash}] = r.Name
		}
	}
	out := make([]bungie.Category, 0, len(en))
	for _, c := range en {
		lc := bungie.Category{Hash: c.Hash, Name: cmp.Or(cats[c.Hash], c.Name), Index: c.Index}
		other := map[uint32]bool{}
		for _, r := range c.Reasons {
			other[r.Hash] = r.Name == "Other"
			lc.Reasons = append(lc.Reasons, bungie.Reason{Hash: r.Hash, Name: cmp.Or(reasons[key{c.Hash, r.Hash}], r.Name)})
		}
		slices.SortStableFunc(lc.Reasons, func(a, b bungie.Reason) int {
			if other[a.Hash] != other[b.Hash] {
				if other[a.Hash] {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.Name, b.Name)
		})
		out = append(out, lc)
	}
	return out
}

// Find returns the reason with these hashes, if the manifest has it, with its English
// label (what is stored; Label shows it in other languages).
func (m *Manifest) Find(ctx context.Context, category, reason uint32) (DestinyReason, bool) {
	return find(m.Categories(ctx, English), category, reason)
}

func find(cats []bungie.Category, category, reason uint32) (DestinyReason, bool) {
	for _, c := range cats {
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

// Label is d's "Category › Reason" in lang, as Bungie names it there; the label
// stored with d when the manifest does not have it.
func (m *Manifest) Label(ctx context.Context, lang string, d DestinyReason) string {
	if lang == "" || lang == English {
		// The stored label is English already; no need to look.
		return d.Label
	}
	if found, ok := find(m.Categories(ctx, lang), d.CategoryHash, d.ReasonHash); ok {
		return found.Label
	}
	return d.Label
}

// Search returns the reasons whose "Category › Reason" label, in lang or in English,
// contains every word of typed, at most n; their labels are in lang.
func (m *Manifest) Search(ctx context.Context, lang, typed string, n int) []DestinyReason {
	words := strings.Fields(strings.ToLower(typed))
	matches := func(label string) bool {
		label = strings.ToLower(label)
		for _, w := range words {
			if !strings.Contains(label, w) {
				return false
			}
		}
		return true
	}
	en := m.Categories(ctx, English)
	var out []DestinyReason
	for _, c := range m.Categories(ctx, lang) {
		for _, r := range c.Reasons {
			label := c.Name + " › " + r.Name
			english, _ := find(en, c.Hash, r.Hash)
			if (matches(label) || matches(english.Label)) && len(out) < n {
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
			cs = append(cs, Candidate{ID: pl.CharacterID, Label: pl.Name, Class: pl.Class, Team: pl.Team,
				Target: Target{Kind: TargetCharacter, Value: pl.CharacterID, Label: pl.Name, Class: pl.Class, Team: pl.Team}})
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
