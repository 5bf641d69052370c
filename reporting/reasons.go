package reporting

import (
	"errors"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reason is one entry of a server's reason list and what it means to each game.
type Reason struct {
	// Key is the value the modal's select submits; derived from the label.
	Key   string `json:"key"`
	Label string `json:"label"`
	// RallyHere is a value of RallyHereReasons, or empty: not offered for RallyHere.
	RallyHere string `json:"rallyhere,omitempty"`
	// Destiny is nil when the reason is not offered for Destiny 2.
	Destiny *DestinyReason `json:"destiny,omitempty"`
}

// DestinyReason is a reason of the Destiny manifest. A reason hash is unique only
// within its category, so both are kept.
type DestinyReason struct {
	CategoryHash uint32 `json:"category_hash"`
	ReasonHash   uint32 `json:"reason_hash"`
	// Label is "Category › Reason" as the manifest names them.
	Label string `json:"label"`
}

// Key is how the reason travels in a Discord option value: "category:reason".
func (d DestinyReason) Key() string {
	return strconv.FormatUint(uint64(d.CategoryHash), 10) + ":" + strconv.FormatUint(uint64(d.ReasonHash), 10)
}

// ParseDestinyKey reads a Key. It says only that the hashes are well formed; whether
// Bungie has such a reason is Manifest.Find's answer.
func ParseDestinyKey(s string) (category, reason uint32, ok bool) {
	c, r, found := strings.Cut(s, ":")
	ch, err1 := strconv.ParseUint(c, 10, 32)
	rh, err2 := strconv.ParseUint(r, 10, 32)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(ch), uint32(rh), true
}

// MaxReasons is how many reasons a server may have (a select offers at most 25).
const MaxReasons = 25

// MaxReasonLabel is the longest label of a reason (a select option's label may be 100,
// but the reason is shown in embeds and lists where short reads better).
const MaxReasonLabel = 45

// RallyHereReasons are the values of RallyHere's ReportReason.
func RallyHereReasons() []string {
	return []string{"cheating", "hate_speech", "harassment", "real_life_threat", "teaming",
		"intentional_feeding", "stream_sniping", "afk", "didnt_play_assigned_role", "other"}
}

// Destiny manifest hashes of the categories and reasons the default list maps to.
const (
	destinyCheating    = 1851805954
	destinyExploiting  = 2032714362
	destinyAbusiveChat = 1225860615
	destinyGriefing    = 2813366390
	destinyInactivity  = 2425050023
	destinyQuitting    = 1053168648
)

// DefaultReasons is the list every server starts with (SPEC §3).
func DefaultReasons() []Reason {
	d := func(cat, reason uint32, label string) *DestinyReason {
		return &DestinyReason{CategoryHash: cat, ReasonHash: reason, Label: label}
	}
	return []Reason{
		{Key: "cheating", Label: "Cheating", RallyHere: "cheating", Destiny: d(destinyCheating, 2352608786, "Cheating › Hacking")},
		{Key: "exploiting", Label: "Exploiting", RallyHere: "other", Destiny: d(destinyExploiting, 2749021087, "Exploiting › Exploiting Game")},
		{Key: "hate_speech", Label: "Hate speech", RallyHere: "hate_speech", Destiny: d(destinyAbusiveChat, 50124584, "Abusive Chat › Insult")},
		{Key: "harassment", Label: "Harassment", RallyHere: "harassment", Destiny: d(destinyAbusiveChat, 791514073, "Abusive Chat › Harassment")},
		{Key: "real_life_threat", Label: "Real-life threat", RallyHere: "real_life_threat"},
		{Key: "griefing", Label: "Griefing", RallyHere: "intentional_feeding", Destiny: d(destinyGriefing, 4003403301, "Griefing › Sabotage")},
		{Key: "teaming", Label: "Teaming", RallyHere: "teaming"},
		{Key: "afk", Label: "AFK or botting", RallyHere: "afk", Destiny: d(destinyInactivity, 1310746887, "Inactivity › AFK")},
		{Key: "quitting", Label: "Quitting", RallyHere: "other", Destiny: d(destinyQuitting, 2498661653, "Quitting › Quit Mid-Activity")},
		{Key: "other", Label: "Other", RallyHere: "other"},
	}
}

// ReasonKey derives a reason's key from its label: lower case, letters and digits,
// other runs turned into one underscore ("Real-life threat" → "real_life_threat").
func ReasonKey(label string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(label) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
			continue
		}
		sep = true
	}
	return b.String()
}

// NewReason validates an admin's new reason and returns it with its key.
func NewReason(label, rallyHere string, destiny *DestinyReason) (Reason, error) {
	label = strings.Join(strings.Fields(label), " ")
	bad := func(field, problem string, vars map[string]any) (Reason, error) {
		return Reason{}, &InputError{Field: field, Problem: problem, Vars: vars}
	}
	switch {
	case label == "":
		return bad("label", "label_empty", nil)
	case utf8.RuneCountInString(label) > MaxReasonLabel:
		return bad("label", "too_long", map[string]any{"Count": MaxReasonLabel})
	case ReasonKey(label) == "":
		return bad("label", "label_no_letter", nil)
	case rallyHere != "" && !slices.Contains(RallyHereReasons(), rallyHere):
		return bad("rallyhere-reason", "not_rallyhere_reason", map[string]any{"Value": strconv.Quote(rallyHere)})
	case rallyHere == "" && destiny == nil:
		return bad("reason", "no_game", nil)
	}
	for _, r := range label {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return bad("label", "label_invisible", nil)
		}
	}
	return Reason{Key: ReasonKey(label), Label: label, RallyHere: rallyHere, Destiny: destiny}, nil
}

// NewReason is NewReason for the games the operator configured: a reason that maps to
// no game is refused, unless a configured game takes every reason (the webhook).
func (s *Service) NewReason(label, rallyHere string, destiny *DestinyReason) (Reason, error) {
	r, err := NewReason(label, rallyHere, destiny)
	var ie *InputError
	if errors.As(err, &ie) && ie.Problem == "no_game" {
		for _, p := range s.publishers {
			if p.Offers(Reason{}) {
				label = strings.Join(strings.Fields(label), " ")
				return Reason{Key: ReasonKey(label), Label: label}, nil
			}
		}
	}
	return r, err
}

// ReasonsFor returns the reasons of list offered for game g, in list order: those
// its publisher takes.
func (s *Service) ReasonsFor(list []Reason, g Game) []Reason {
	return slices.Collect(s.offered(list, g))
}

// FindReason returns the reason of list with key, if it is offered for game g.
func (s *Service) FindReason(list []Reason, key string, g Game) (Reason, bool) {
	for r := range s.offered(list, g) {
		if r.Key == key {
			return r, true
		}
	}
	return Reason{}, false
}

// offered yields the reasons of list that game g's publisher takes, in list order;
// none for a game that is off. FindReason reads them without building a list.
func (s *Service) offered(list []Reason, g Game) iter.Seq[Reason] {
	return func(yield func(Reason) bool) {
		p, ok := s.publishers[g]
		if !ok {
			return
		}
		for _, r := range list {
			if p.Offers(r) && !yield(r) {
				return
			}
		}
	}
}
