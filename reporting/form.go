package reporting

import (
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Form is a submitted report form as the reporter typed it: every field is checked
// in one place, Service.Draft.
type Form struct {
	Game Game
	// Member is the Discord id of a member picked from the Report player menu ("" when
	// the player was typed).
	Member string
	// Player or Activity names who is reported, by the game's Flow.
	Player, Activity string
	// Reason is the key chosen in the select.
	Reason      string
	Description string
	Match       string
	Evidence    []Attachment
}

// Attachment is a file of the form, as Discord described it; Missing when the form
// named a file Discord did not describe.
type Attachment struct {
	Filename, URL, ContentType string
	Size                       int
	Missing                    bool
}

// Filer is who files a report, where, and in which languages.
type Filer struct {
	GuildID, ChannelID       string
	ReporterID, ReporterName string
	// ReporterLocale and GuildLocale are the interaction's locale and guild_locale.
	ReporterLocale, GuildLocale string
}

// ErrSelfReport is returned when the reporter named themselves.
var ErrSelfReport = errors.New("reporter reported themselves")

// ErrForgedReason is returned for a reason that is not on the server's list for the
// game (forged, or an admin just changed the list).
var ErrForgedReason = errors.New("the reason is not on the server's list")

// MaxMatchID is the longest match id a reporter may give.
const MaxMatchID = 100

var matchIDRE = regexp.MustCompile(`^[A-Za-z0-9._:\-]+$`)

// Draft checks every field of form f, submitted by who in the server whose settings
// are st, and returns the report to file. Bad input is an *InputError (or
// ErrSelfReport, ErrForgedReason); nothing is stored or spent either way.
func (s *Service) Draft(st Settings, f Form, who Filer, now time.Time) (*Draft, error) {
	pub, err := s.publisher(f.Game)
	if err != nil {
		return nil, err
	}
	d := &Draft{
		ID: NewID(now), Game: f.Game, GuildID: who.GuildID, ChannelID: who.ChannelID,
		ReporterID: who.ReporterID, ReporterName: who.ReporterName,
		ReporterLocale: who.ReporterLocale, GuildLocale: who.GuildLocale,
	}
	switch {
	case pub.Flow() == FlowActivity:
		if d.ActivityID, err = ParseActivity(f.Activity); err != nil {
			return nil, err
		}
	case f.Member != "":
		d.Target = Target{Kind: TargetMember, Value: f.Member, Label: "<@" + f.Member + ">"}
	default:
		if d.Target, err = ParsePlayer(f.Player); err != nil {
			return nil, err
		}
		if d.Target.Kind == TargetMember {
			d.Target.Label = "<@" + d.Target.Value + ">"
		}
	}
	if d.Target.Kind == TargetMember && d.Target.Value == who.ReporterID {
		return nil, ErrSelfReport
	}
	var ok bool
	if d.Reason, ok = s.FindReason(st.Reasons, f.Reason, f.Game); !ok {
		return nil, ErrForgedReason
	}
	if d.Description, err = description(f.Description); err != nil {
		return nil, err
	}
	if d.MatchID, err = matchID(f.Match); err != nil {
		return nil, err
	}
	if d.Evidence, err = s.evidence(f.Evidence); err != nil {
		return nil, err
	}
	return d, nil
}

func matchID(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", nil
	case len(s) > MaxMatchID:
		return "", &InputError{Field: "match", Problem: "too_long", Vars: map[string]any{"Count": MaxMatchID}}
	case !matchIDRE.MatchString(s):
		return "", &InputError{Field: "match", Problem: "match_chars"}
	}
	return s, nil
}

func description(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > MaxDescription {
		return "", &InputError{Field: "description", Problem: "description_too_long", Vars: map[string]any{"Count": n}}
	}
	if !utf8.ValidString(s) {
		return "", &InputError{Field: "description", Problem: "not_text"}
	}
	return s, nil
}

// evidence is the files of the form. A file whose URL is not on Discord's CDN is kept
// with why it is refused, and is never fetched.
func (s *Service) evidence(files []Attachment) ([]Evidence, error) {
	if len(files) > MaxEvidence {
		return nil, &InputError{Field: "evidence", Problem: "evidence_too_many", Vars: map[string]any{"Count": MaxEvidence}}
	}
	var out []Evidence
	for _, a := range files {
		if a.Missing || a.URL == "" {
			return nil, &InputError{Field: "evidence", Problem: "evidence_missing"}
		}
		out = append(out, Evidence{Filename: a.Filename, URL: a.URL, ContentType: a.ContentType, Size: a.Size,
			Refused: s.cdn.Refusal(a.URL)})
	}
	return out, nil
}
