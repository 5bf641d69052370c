package reporting

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/reportbot/reportbot/reporting/rallyhere"
)

// FaultKind sorts the ways an upstream can refuse or fail a request. It decides both
// what the reporter is told and whether delivery is retried.
type FaultKind int

// Fault kinds.
const (
	// FaultUnknown is anything not recognised below: treated as permanent.
	FaultUnknown FaultKind = iota
	// FaultUnavailable: 5xx, timeouts, connection failures. Retried.
	FaultUnavailable
	// FaultBusy: 429 (RetryAfter is the wait asked for). Retried.
	FaultBusy
	// FaultInvalid: the upstream refused the report's content (422).
	FaultInvalid
	// FaultTargetGone: the reported player does not exist.
	FaultTargetGone
	// FaultNoSource: the upstream wanted a source player it did not get.
	FaultNoSource
	// FaultPermissions: the bot's credentials may not do this.
	FaultPermissions
	// FaultCredentials: the bot's credentials were refused.
	FaultCredentials
)

// Fault is a classified upstream failure.
type Fault struct {
	Kind       FaultKind
	RetryAfter time.Duration
	// Detail is the upstream's own explanation of an invalid report, fit to show.
	Detail string
}

// Temporary reports whether trying again later may succeed.
func (f Fault) Temporary() bool { return f.Kind == FaultUnavailable || f.Kind == FaultBusy }

// ReporterCaused reports whether the report itself was refused as invalid, so it should
// not count against the reporter.
func (f Fault) ReporterCaused() bool { return f.Kind == FaultInvalid || f.Kind == FaultTargetGone }

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
