package reporting

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TargetKind says how the reporter named the reported player.
type TargetKind string

// The ways a player can be named.
const (
	// TargetUUID is a RallyHere player UUID.
	TargetUUID TargetKind = "uuid"
	// TargetName is a display name, looked up upstream.
	TargetName TargetKind = "name"
	// TargetMember is a Discord member, looked up through their linked account.
	TargetMember TargetKind = "member"
	// TargetCharacter is a Destiny character chosen from an activity's players.
	TargetCharacter TargetKind = "character"
)

// Target is the reported player as the reporter gave it.
type Target struct {
	Kind TargetKind `json:"kind"`
	// Value is the canonical UUID (lower case), the display name, or the member's
	// Discord user id.
	Value string `json:"value"`
	// Label is how to show the target to people, when it differs from Value (a
	// member's name, a display name picked from several matches).
	Label string `json:"label,omitempty"`
	// Class and Team describe a Destiny character (Candidate's).
	Class string `json:"class,omitempty"`
	Team  string `json:"team,omitempty"`
}

// String is how the target is shown to people.
func (t Target) String() string {
	if t.Label != "" {
		return t.Label
	}
	return t.Value
}

// InputError is bad input from a person: Field names the input, Problem names what
// is wrong (a stable word such as "too_long"), and Vars carry the details its words
// need. Package commands says it in the reader's language: the message
// problem.<Problem> of its catalog.
type InputError struct {
	Field   string
	Problem string
	Vars    map[string]any
}

func (e *InputError) Error() string {
	if len(e.Vars) == 0 {
		return e.Field + ": " + e.Problem
	}
	return fmt.Sprintf("%s: %s %v", e.Field, e.Problem, e.Vars)
}

// IsInputError reports whether err is (or wraps) an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// MaxPlayerName is the longest display name ParsePlayer accepts.
const MaxPlayerName = 64

var (
	uuidRE    = regexp.MustCompile(`^\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?$`)
	mentionRE = regexp.MustCompile(`^<@!?([0-9]{17,20})>$`)
)

// ParsePlayer reads what a reporter typed to name a player: a RallyHere player UUID
// (with or without dashes or braces), a Discord mention, or a plausible display name.
func ParsePlayer(s string) (Target, error) {
	s = strings.TrimSpace(s)
	bad := func(problem string) (Target, error) {
		return Target{}, &InputError{Field: "player", Problem: problem}
	}
	switch {
	case s == "":
		return bad("player_empty")
	case !utf8.ValidString(s):
		return bad("not_text")
	}
	if m := uuidRE.FindStringSubmatch(s); m != nil {
		// A dashless 32-hex string or a braced one is a UUID too; a string with only
		// some of the dashes is not anybody's way of writing one.
		if dashes := strings.Count(s, "-"); dashes == 0 || dashes == 4 {
			return Target{Kind: TargetUUID, Value: strings.ToLower(strings.Join(m[1:], "-"))}, nil
		}
	}
	if m := mentionRE.FindStringSubmatch(s); m != nil {
		return Target{Kind: TargetMember, Value: m[1]}, nil
	}
	if n := utf8.RuneCountInString(s); n > MaxPlayerName {
		return bad("player_too_long")
	}
	if strings.Contains(s, "://") {
		return bad("player_link")
	}
	letters := 0
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			return bad("player_invisible")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			letters++
		case !unicode.IsPrint(r) && r != ' ':
			return bad("player_chars")
		}
	}
	if letters == 0 {
		return bad("player_no_letter")
	}
	return Target{Kind: TargetName, Value: s}, nil
}
