package reporting

import "time"

// FaultKind sorts the ways delivering a report can fail. It decides what the reporter
// and the moderators are told; it is stored with the report. The kinds every game
// shares are here; each publisher declares its own beside it (rallyhere.go,
// destiny.go, webhook.go).
type FaultKind string

// Fault kinds of every game.
const (
	// FaultUnknown is anything a publisher does not recognise: treated as permanent.
	FaultUnknown FaultKind = "unknown"
	// FaultUnavailable: 5xx, timeouts, connection failures. Retried.
	FaultUnavailable FaultKind = "unavailable"
	// FaultBusy: 429 or a throttle (RetryAfter is the wait asked for). Retried.
	FaultBusy FaultKind = "busy"
	// FaultInvalid: the upstream refused the report's content.
	FaultInvalid FaultKind = "invalid"
	// FaultSelfReport: the reporter named themselves.
	FaultSelfReport FaultKind = "self_report"
	// FaultExpired: delivery failed for a whole day and was given up.
	FaultExpired FaultKind = "expired"
	// FaultChoosing: the reporter is choosing the player among candidates (players
	// sharing a name, an activity's players). While it is the fault, the report waits
	// rather than failing.
	FaultChoosing FaultKind = "choosing"
	// FaultDuplicate: the reporter already reported this player in the last 24 h.
	FaultDuplicate FaultKind = "duplicate"
)

// Fault is a classified failure of a delivery attempt, as a Publisher's Classify sorts
// it.
type Fault struct {
	Kind       FaultKind
	RetryAfter time.Duration
	// Detail is the upstream's own explanation, fit to show.
	Detail string
	// Reporter: the report itself was refused (invalid, a player or an activity that
	// is not there, a link to renew), so it does not count against the reporter's
	// limit.
	Reporter bool
	// Unfiled: the report never became a real one (a typo, an unlinked account; the
	// reporter is asked to report again), so moderators are not shown it.
	Unfiled bool
	// MaybeSent: the failed attempt may have reached the upstream and been acted on
	// (no answer, or a 5xx), so the next attempt looks for it first.
	MaybeSent bool
}

// Faults of every game, with what they mean.
var (
	faultUnavailable = Fault{Kind: FaultUnavailable, MaybeSent: true}
	faultUnknown     = Fault{Kind: FaultUnknown, MaybeSent: true}
	faultSelfReport  = Fault{Kind: FaultSelfReport, Reporter: true, Unfiled: true}
	faultDuplicate   = Fault{Kind: FaultDuplicate, Reporter: true, Unfiled: true}
)

// faultBusy is a throttle asking for wait.
func faultBusy(wait time.Duration) Fault {
	return Fault{Kind: FaultBusy, RetryAfter: wait}
}

// Temporary reports whether trying again later may succeed: the upstream is not
// answering, or asked the bot to slow down.
func (f Fault) Temporary() bool { return f.Kind == FaultUnavailable || f.Kind == FaultBusy }
