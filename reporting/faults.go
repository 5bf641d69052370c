package reporting

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/reportbot/reportbot/reporting/rallyhere"
)

// FaultKind sorts the ways delivering a report can fail. It decides both what the
// reporter is told and whether delivery is retried; it is stored with the report.
type FaultKind string

// Fault kinds.
const (
	// FaultUnknown is anything not recognised below: treated as permanent.
	FaultUnknown FaultKind = "unknown"
	// FaultUnavailable: 5xx, timeouts, connection failures. Retried.
	FaultUnavailable FaultKind = "unavailable"
	// FaultBusy: 429 (RetryAfter is the wait asked for). Retried.
	FaultBusy FaultKind = "busy"
	// FaultInvalid: the upstream refused the report's content (422).
	FaultInvalid FaultKind = "invalid"
	// FaultTargetGone: the reported player does not exist.
	FaultTargetGone FaultKind = "target_gone"
	// FaultNoSource: the upstream wanted a source player it did not get.
	FaultNoSource FaultKind = "no_source"
	// FaultPermissions: the bot's credentials may not do this.
	FaultPermissions FaultKind = "permissions"
	// FaultCredentials: the bot's credentials were refused.
	FaultCredentials FaultKind = "credentials"
	// FaultReporterNotLinked, FaultTargetNotLinked, FaultPlayerNotFound and
	// FaultAmbiguous: players could not be resolved when the report was delivered
	// (they are normally resolved before it is filed).
	FaultReporterNotLinked FaultKind = "reporter_not_linked"
	FaultTargetNotLinked   FaultKind = "target_not_linked"
	FaultPlayerNotFound    FaultKind = "player_not_found"
	FaultAmbiguous         FaultKind = "ambiguous"
	FaultSelfReport        FaultKind = "self_report"
	// FaultExpired: delivery failed for a whole day and was given up.
	FaultExpired FaultKind = "expired"
	// FaultChoosing: several players share the name given; the reporter is choosing.
	// While it is the fault, the report waits rather than failing.
	FaultChoosing FaultKind = "choosing"
	// FaultDuplicate: the reporter already reported this player in the last 24 h.
	FaultDuplicate FaultKind = "duplicate"
)

// Resolution reports whether the fault is about finding the players or reaching the
// upstream on the reporter's behalf: a report that failed for it was never a real
// report (a typo, an unlinked account; the reporter is asked to report again), and is
// not shown to moderators.
func (f FaultKind) Resolution() bool {
	switch f {
	case FaultReporterNotLinked, FaultTargetNotLinked, FaultPlayerNotFound, FaultAmbiguous, FaultSelfReport,
		FaultChoosing, FaultDuplicate, FaultActivityNotFound, FaultActivityPrivate, FaultNobodyElse,
		FaultBungieNotLinked, FaultRelink:
		return true
	}
	return false
}

// Fault is a classified upstream failure.
type Fault struct {
	Kind       FaultKind
	RetryAfter time.Duration
	// Detail is the upstream's own explanation of an invalid report, fit to show.
	Detail string
}

// Temporary reports whether trying again later may succeed.
func (f Fault) Temporary() bool { return f.Kind == FaultUnavailable || f.Kind == FaultBusy }

// ReporterCaused reports whether the report was refused for something about the report
// itself (invalid, a player or activity that is not there, a link to renew), so it
// should not count against the reporter.
func (f Fault) ReporterCaused() bool {
	switch f.Kind {
	case FaultInvalid, FaultTargetGone, FaultPlayerNotFound, FaultTargetNotLinked, FaultAmbiguous,
		FaultReporterNotLinked, FaultSelfReport, FaultDuplicate, FaultActivityNotFound, FaultActivityPrivate,
		FaultNobodyElse, FaultOffenderNotInActivity, FaultReporterNotInActivity, FaultBungieNotLinked, FaultRelink:
		return true
	}
	return false
}

// ClassifyRallyHere sorts an error of the RallyHere client.
func ClassifyRallyHere(err error) Fault {
	var e *rallyhere.Error
	if !errors.As(err, &e) {
		if rallyhere.IsTemporary(err) {
			return Fault{Kind: FaultUnavailable}
		}
		return Fault{Kind: FaultUnknown}
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return Fault{Kind: FaultBusy, RetryAfter: e.RetryAfter}
	case e.Temporary():
		return Fault{Kind: FaultUnavailable, RetryAfter: e.RetryAfter}
	case e.Status == http.StatusUnprocessableEntity:
		var msgs []string
		for _, d := range e.Detail {
			msgs = append(msgs, d.Msg)
		}
		if len(msgs) == 0 && e.Desc != "" {
			msgs = append(msgs, e.Desc)
		}
		return Fault{Kind: FaultInvalid, Detail: strings.Join(msgs, "; ")}
	case e.Status == http.StatusNotFound && e.Code == "player_not_found":
		return Fault{Kind: FaultTargetGone}
	case e.Status == http.StatusBadRequest && e.Code == "source_player_required":
		return Fault{Kind: FaultNoSource}
	case e.Status == http.StatusForbidden && e.Code == "insufficient_permissions":
		return Fault{Kind: FaultPermissions}
	case e.Auth():
		return Fault{Kind: FaultCredentials}
	}
	return Fault{Kind: FaultUnknown}
}
