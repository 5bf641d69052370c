package reporting

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/reportbot/reportbot/reporting/rallyhere"
)

// RallyHereAPI is what the RallyHere publisher needs of a RallyHere environment.
type RallyHereAPI interface {
	PlayerByPlatform(ctx context.Context, platform, platformUserID string) (string, error)
	PlayersByName(ctx context.Context, name string) ([]string, error)
	CreateReport(ctx context.Context, targetUUID string, r rallyhere.ReportRequest) (rallyhere.Report, error)
	ReportsAgainst(ctx context.Context, targetUUID, cursor string, pageSize int) (rallyhere.ReportsPage, error)
}

// RallyHere faults.
const (
	// FaultTargetGone: the reported player does not exist (404 player_not_found).
	FaultTargetGone FaultKind = "target_gone"
	// FaultNoSource: RallyHere wanted a source player it did not get.
	FaultNoSource FaultKind = "no_source"
	// FaultPermissions: the bot's credentials may not do this.
	FaultPermissions FaultKind = "permissions"
	// FaultCredentials: the bot's credentials were refused.
	FaultCredentials FaultKind = "credentials"
	// FaultReporterNotLinked, FaultTargetNotLinked, FaultPlayerNotFound and
	// FaultAmbiguous: the players could not be found.
	FaultReporterNotLinked FaultKind = "reporter_not_linked"
	FaultTargetNotLinked   FaultKind = "target_not_linked"
	FaultPlayerNotFound    FaultKind = "player_not_found"
	FaultAmbiguous         FaultKind = "ambiguous"
)

// Errors of finding the players; each has its own message to the reporter.
var (
	// ErrReporterNotLinked: the reporter's Discord account is linked to no player.
	ErrReporterNotLinked = errors.New("reporter has no linked player")
	// ErrTargetNotLinked: the reported member's Discord account is linked to no player.
	ErrTargetNotLinked = errors.New("reported member has no linked player")
	// ErrPlayerNotFound: no player has the given name or id.
	ErrPlayerNotFound = errors.New("player not found")
)

// rallyHere files reports with RallyHere's sanctions API, finding the players
// through the users API (SPEC §1.1).
type rallyHere struct {
	api RallyHereAPI
	// fallback is the operator's player UUID reported as the source when a reporter
	// has no linked account; empty refuses such reporters.
	fallback string
}

func (*rallyHere) Game() Game           { return RallyHere }
func (*rallyHere) Title() string        { return "RallyHere" }
func (*rallyHere) Flow() Flow           { return FlowPlayer }
func (*rallyHere) Offers(r Reason) bool { return r.RallyHere != "" }

// Resolve finds the reporter's player, through their linked Discord account or the
// operator's fallback, and the target's. Several players sharing the name given are
// a *ChoiceError.
func (p *rallyHere) Resolve(ctx context.Context, r *Report) error {
	if r.SourcePlayer == "" {
		player, err := p.api.PlayerByPlatform(ctx, "Discord", r.ReporterID)
		switch {
		case rallyhere.IsCode(err, http.StatusNotFound, "user_not_found") && p.fallback != "":
			r.SourcePlayer, r.SourceFallback = p.fallback, true
		case rallyhere.IsCode(err, http.StatusNotFound, "user_not_found"):
			return ErrReporterNotLinked
		case err != nil:
			return fmt.Errorf("looking up reporter %s: %w", r.ReporterID, err)
		default:
			r.SourcePlayer = player
		}
	}
	if r.TargetPlayer == "" {
		switch r.Target.Kind {
		case TargetUUID:
			r.TargetPlayer = r.Target.Value
		case TargetMember:
			player, err := p.api.PlayerByPlatform(ctx, "Discord", r.Target.Value)
			if rallyhere.IsCode(err, http.StatusNotFound, "user_not_found") {
				return ErrTargetNotLinked
			}
			if err != nil {
				return fmt.Errorf("looking up member %s: %w", r.Target.Value, err)
			}
			r.TargetPlayer = player
		case TargetName:
			players, err := p.api.PlayersByName(ctx, r.Target.Value)
			if err != nil {
				return fmt.Errorf("looking up player %q: %w", r.Target.Value, err)
			}
			switch len(players) {
			case 0:
				return ErrPlayerNotFound
			case 1:
				r.TargetPlayer = players[0]
			default:
				cs := make([]Candidate, len(players))
				for i, id := range players {
					t := r.Target
					t.Label = t.Value + " (" + id + ")"
					cs[i] = Candidate{ID: id, Label: fmt.Sprintf("%s (%d)", r.Target.Value, i+1), Target: t}
				}
				return &ChoiceError{Candidates: cs}
			}
		}
	}
	if r.TargetPlayer == r.SourcePlayer && !r.SourceFallback {
		return ErrSelfReport
	}
	return nil
}

// Send files r against its target player.
func (p *rallyHere) Send(ctx context.Context, r *Report) (Sent, error) {
	res, err := p.api.CreateReport(ctx, r.TargetPlayer, RallyHereRequest(r))
	if err != nil {
		return Sent{}, err
	}
	return Sent{UpstreamID: res.ReportID}, nil
}

// Lookup looks for r among the newest reports filed against its target, by the
// report_id the bot puts in custom_data.
func (p *rallyHere) Lookup(ctx context.Context, r *Report) (string, error) {
	if r.TargetPlayer == "" {
		return "", nil
	}
	cursor := ""
	for range 4 { // the newest 200 reports: a lost answer is recent
		page, err := p.api.ReportsAgainst(ctx, r.TargetPlayer, cursor, 50)
		if err != nil {
			return "", err
		}
		for _, u := range page.Reports {
			if u.CustomData["report_id"] == r.ID {
				return u.ReportID, nil
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return "", nil
}

// Classify sorts an error of finding the players or of the RallyHere client.
func (p *rallyHere) Classify(err error) Fault {
	unfiled := func(k FaultKind) Fault { return Fault{Kind: k, Reporter: true, Unfiled: true} }
	switch {
	case errors.Is(err, ErrReporterNotLinked):
		return unfiled(FaultReporterNotLinked)
	case errors.Is(err, ErrTargetNotLinked):
		return unfiled(FaultTargetNotLinked)
	case errors.Is(err, ErrPlayerNotFound):
		return unfiled(FaultPlayerNotFound)
	case errors.Is(err, ErrSelfReport):
		return faultSelfReport
	}
	return ClassifyRallyHere(err)
}

// ClassifyRallyHere sorts an error of the RallyHere client.
func ClassifyRallyHere(err error) Fault {
	var e *rallyhere.Error
	if !errors.As(err, &e) {
		if rallyhere.IsTemporary(err) {
			return faultUnavailable
		}
		return faultUnknown
	}
	// An answer other than a 5xx says the request was not acted on.
	sent := e.Status >= 500
	switch {
	case e.Status == http.StatusTooManyRequests:
		return faultBusy(e.RetryAfter)
	case e.Temporary():
		return Fault{Kind: FaultUnavailable, RetryAfter: e.RetryAfter, MaybeSent: sent}
	case e.Status == http.StatusUnprocessableEntity:
		var msgs []string
		for _, d := range e.Detail {
			msgs = append(msgs, d.Msg)
		}
		if len(msgs) == 0 && e.Desc != "" {
			msgs = append(msgs, e.Desc)
		}
		return Fault{Kind: FaultInvalid, Detail: strings.Join(msgs, "; "), Reporter: true}
	case e.Status == http.StatusNotFound && e.Code == "player_not_found":
		return Fault{Kind: FaultTargetGone, Reporter: true}
	case e.Status == http.StatusBadRequest && e.Code == "source_player_required":
		return Fault{Kind: FaultNoSource}
	case e.Status == http.StatusForbidden && e.Code == "insufficient_permissions":
		return Fault{Kind: FaultPermissions}
	case e.Auth():
		return Fault{Kind: FaultCredentials}
	}
	return Fault{Kind: FaultUnknown, MaybeSent: sent}
}

// RallyHereRequest is the sanctions-API body of r. custom_data carries where the report
// came from; RallyHere requires each value to be 1 to 4096 characters.
func RallyHereRequest(r *Report) rallyhere.ReportRequest {
	custom := map[string]string{
		"report_id":           r.ID,
		"discord_guild_id":    r.GuildID,
		"discord_channel_id":  r.ChannelID,
		"discord_reporter_id": r.ReporterID,
	}
	if r.SourceFallback {
		custom["source_player_fallback"] = "true"
	}
	if r.Target.Kind == TargetMember {
		custom["discord_target_id"] = r.Target.Value
	}
	// Only files on Discord's CDN go upstream: a refused URL is whatever the sender
	// wrote, and the publisher's moderators or tools would open it.
	n := 0
	for _, e := range r.Evidence {
		if e.Refused == "" {
			n++
			custom["evidence_"+strconv.Itoa(n)] = e.URL
		}
	}
	for k, v := range custom {
		if v == "" {
			delete(custom, k)
		}
	}
	return rallyhere.ReportRequest{
		SourcePlayerUUID: r.SourcePlayer,
		Reason:           r.Reason.RallyHere,
		Description:      r.Description,
		MatchID:          r.MatchID,
		CustomData:       custom,
	}
}
