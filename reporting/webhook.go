package reporting

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/reportbot/reportbot/reporting/webhook"
)

// WebhookAPI is what the webhook publisher needs of a studio's endpoint.
type WebhookAPI interface {
	Send(ctx context.Context, r webhook.Report) (string, error)
}

// Webhook is the game of a studio's own backend, reached through the signed webhook.
const Webhook Game = "webhook"

// FaultRefused: the studio's endpoint refused the report with a 4xx other than 400
// and 422 (its set-up, not the report); FaultDetail has the status.
const FaultRefused FaultKind = "refused"

// studio files reports with a studio's own endpoint, as signed webhook requests (SPEC
// §1.3). It takes the player-name flow, every reason of a server's list, and needs
// nothing looked up: the studio's backend knows its players.
type studio struct {
	api   WebhookAPI
	title string
}

func (*studio) Game() Game         { return Webhook }
func (p *studio) Title() string    { return p.title }
func (*studio) Flow() Flow         { return FlowPlayer }
func (*studio) Offers(Reason) bool { return true }

// Resolve has nothing to find upstream: the target goes as the reporter named them.
// Its upstream "player" is what was named, for the duplicate rule.
func (*studio) Resolve(_ context.Context, r *Report) error {
	if r.TargetPlayer == "" {
		r.TargetPlayer = string(r.Target.Kind) + "=" + strings.ToLower(r.Target.Value)
	}
	return nil
}

// Send POSTs r, signed; the endpoint's id of the report, if it gave one, is kept.
func (p *studio) Send(ctx context.Context, r *Report) (Sent, error) {
	id, err := p.api.Send(ctx, WebhookRequest(r))
	if err != nil {
		return Sent{}, err
	}
	return Sent{UpstreamID: id}, nil
}

// Lookup cannot tell, and need not: a report sent again carries the same
// Idempotency-Key, which the receiver answers as the first time.
func (*studio) Lookup(context.Context, *Report) (string, error) { return "", nil }

// Classify sorts an error of the webhook client: 408, 425, 429, 5xx and no answer are
// temporary; 400 and 422 refuse the report itself; any other 4xx is final, shown with
// its status.
func (*studio) Classify(err error) Fault {
	var e *webhook.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return faultBusy(e.RetryAfter)
	case errors.As(err, &e) && e.Temporary():
		return Fault{Kind: FaultUnavailable, RetryAfter: e.RetryAfter, MaybeSent: e.Status >= 500}
	case errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity):
		return Fault{Kind: FaultInvalid, Detail: e.Body, Reporter: true}
	case errors.As(err, &e):
		return Fault{Kind: FaultRefused, Detail: http.StatusText(e.Status) + " (HTTP " + strconv.Itoa(e.Status) + ")"}
	case webhook.IsTemporary(err):
		return faultUnavailable
	}
	return faultUnknown
}

// WebhookRequest is the body of r's webhook request (SPEC §1.3).
func WebhookRequest(r *Report) webhook.Report {
	t := webhook.Target{Kind: webhook.TargetName, Value: r.Target.Value}
	switch r.Target.Kind {
	case TargetUUID:
		t.Kind = webhook.TargetID
	case TargetMember:
		t.Kind, t.DiscordUserID = webhook.TargetMember, r.Target.Value
		if name := strings.TrimPrefix(r.Target.Label, "@"); name != "" && !strings.HasPrefix(name, "<@") {
			t.Value = name
		}
	}
	evidence := []string{}
	for _, e := range r.Evidence {
		evidence = append(evidence, e.URL)
	}
	return webhook.Report{
		ID: r.ID, CreatedAt: r.CreatedAt.Time, GuildID: r.GuildID, ChannelID: r.ChannelID,
		Reporter:    webhook.Reporter{DiscordUserID: r.ReporterID, DiscordUsername: r.ReporterName},
		Target:      t,
		Reason:      webhook.Reason{Key: r.Reason.Key, Label: r.Reason.Label},
		Description: r.Description, MatchID: r.MatchID, Evidence: evidence,
	}
}
