// Package reporting is the domain of reportbot: reports and their records, the
// reason lists and settings of each server, the limits on reporters, and delivery
// to the publishers' report APIs. It knows nothing of Discord interactions; package
// commands turns those into calls here.
package reporting

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// Game is a game the bot can file reports for.
type Game string

// The games the bot knows.
const (
	RallyHere Game = "rallyhere"
	Destiny2  Game = "destiny2"
)

// Status is where a report stands.
type Status string

// Report statuses (SPEC §4).
const (
	StatusQueued    Status = "queued"
	StatusDelivered Status = "delivered"
	StatusHandedOff Status = "handed_off"
	StatusFailed    Status = "failed"
	StatusClaimed   Status = "claimed"
	StatusResolved  Status = "resolved"
	StatusDismissed Status = "dismissed"
)

// Report is one report as stored: one Redis hash, read and written whole through the
// redis tags (Store), field by field where the pipeline and the moderators update
// it. Times are UTC.
type Report struct {
	ID   string `redis:"id,omitempty"`
	Game Game   `redis:"game,omitempty"`

	GuildID      string `redis:"guild_id,omitempty"`
	ChannelID    string `redis:"channel_id,omitempty"`
	ReporterID   string `redis:"reporter_id,omitempty"`
	ReporterName string `redis:"reporter_name,omitempty"`
	// ReporterLocale is the Discord locale of the reporter when they filed it (en-US,
	// de, …): the language of what they are told later. GuildLocale is the server's
	// Discord locale then: the mod log's language unless an admin chose one.
	ReporterLocale string `redis:"reporter_locale,omitempty"`
	GuildLocale    string `redis:"guild_locale,omitempty"`

	// Target is the reported player as the reporter gave it.
	Target Target `redis:"target,omitempty"`
	// TargetPlayer is the upstream id of the reported player: a RallyHere player UUID,
	// or a Destiny character id.
	TargetPlayer string `redis:"target_player,omitempty"`
	// SourcePlayer is the upstream id of the reporter.
	SourcePlayer string `redis:"source_player,omitempty"`
	// SourceFallback is true when SourcePlayer is the operator's fallback player
	// because the reporter has no linked game account.
	SourceFallback Flag `redis:"source_fallback,omitempty"`
	// ActivityID is the Destiny activity (PGCR) the report is about.
	ActivityID string `redis:"activity_id,omitempty"`
	// Candidates are the players the reporter chooses from: those sharing the name
	// given, or those of the activity.
	Candidates Candidates `redis:"candidates,omitempty"`

	Reason      Reason       `redis:"reason,omitempty"`
	Description string       `redis:"description,omitempty"`
	MatchID     string       `redis:"match_id,omitempty"`
	Evidence    EvidenceList `redis:"evidence,omitempty"`

	// Delivery is queued, delivered, handed_off or failed; Moderation is empty,
	// claimed, resolved or dismissed. Status combines them.
	Delivery    Status `redis:"delivery,omitempty"`
	Moderation  Status `redis:"moderation,omitempty"`
	ModeratorID string `redis:"moderator_id,omitempty"`

	Attempts int `redis:"attempts,omitempty"`
	// Streak counts the attempts in a row that failed without getting further; it
	// sets the backoff.
	Streak int `redis:"streak,omitempty"`
	// LastError is the last delivery error, for logs and moderators.
	LastError string `redis:"last_error,omitempty"`
	// Fault and FaultDetail say why delivery failed or is being retried, for the
	// messages people read; FaultUnfiled that the report never became a real one
	// (Fault.Unfiled), so moderators are not shown it.
	Fault        FaultKind `redis:"fault,omitempty"`
	FaultDetail  string    `redis:"fault_detail,omitempty"`
	FaultUnfiled Flag      `redis:"fault_unfiled,omitempty"`
	// Dead is true when delivery was given up after a day of failures.
	Dead       Flag   `redis:"dead,omitempty"`
	UpstreamID string `redis:"upstream_id,omitempty"`
	// Link is where the reporter files the report themselves (handed_off).
	Link string `redis:"link,omitempty"`

	CreatedAt     Millis `redis:"created_at,omitempty"`
	UpdatedAt     Millis `redis:"updated_at,omitempty"`
	DeliveredAt   Millis `redis:"delivered_at,omitempty"`
	NextAttemptAt Millis `redis:"next_attempt_at,omitempty"`
	// AttemptStartedAt is set while an attempt is under way: found set by a later
	// attempt, it means the earlier one's outcome is unknown.
	AttemptStartedAt Millis `redis:"attempt_started_at,omitempty"`

	// The mod-log post of the report and the status it shows; and the news last told
	// to the reporter.
	ModLogChannelID string `redis:"modlog_channel_id,omitempty"`
	ModLogMessageID string `redis:"modlog_message_id,omitempty"`
	ModLogShown     string `redis:"modlog_shown,omitempty"`
	Notified        News   `redis:"notified,omitempty"`
}

// Status is where the report stands: a moderator's decision, else its delivery.
func (r *Report) Status() Status {
	if r.Moderation != "" {
		return r.Moderation
	}
	return r.Delivery
}

// EvidenceList is a report's evidence, stored as JSON.
type EvidenceList []Evidence

// Evidence is a file the reporter attached in the modal.
type Evidence struct {
	Filename    string `json:"filename"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Size        int    `json:"size,omitempty"`
	// Refused, when set, is why the file is not fetched (one of the Evidence*
	// reasons): its URL is not a file on Discord's CDN. It is kept for the
	// moderators, never downloaded, and not passed upstream.
	Refused string `json:"refused,omitempty"`
}

// Why an evidence URL is refused (Evidence.Refused).
const (
	// EvidenceNotCDN: the URL's host is not one of DISCORD_CDN_HOSTS.
	EvidenceNotCDN = "not_cdn"
	// EvidenceNotHTTPS: the URL is on a CDN host but not https.
	EvidenceNotHTTPS = "not_https"
	// EvidenceBadURL: the URL does not parse, or carries credentials.
	EvidenceBadURL = "bad_url"
)

// MaxEvidence is how many files a report may carry.
const MaxEvidence = 5

// MaxDescription is the longest description a reporter may write (the modal's limit;
// RallyHere takes up to 4096).
const MaxDescription = 4000

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewID returns a new report id: "R-" and 13 Crockford base32 characters, the first
// six from the time so ids sort roughly by creation.
func NewID(now time.Time) string {
	var b [8]byte
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3] = byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8)
	_, _ = rand.Read(b[4:])
	return "R-" + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the form NewID produces; ids arrive back in custom_ids.
func ValidID(s string) bool {
	rest, ok := strings.CutPrefix(s, "R-")
	if !ok || len(rest) != 13 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}
