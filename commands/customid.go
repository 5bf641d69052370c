package commands

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/reportbot/reportbot/reporting"
)

// The custom_ids of SPEC §2 are a contract: the modal's inputs are named player,
// activity, reason, description, match and evidence, and the offender select offender.
const (
	inputPlayer      = "player"
	inputActivity    = "activity"
	inputReason      = "reason"
	inputDescription = "description"
	inputMatch       = "match"
	inputEvidence    = "evidence"
	selectOffender   = "offender"
)

// CustomID is a decoded custom_id of a modal or a message component: a kind and its
// arguments, written kind:arg:arg. Every custom_id the bot receives goes through
// ParseCustomID, which refuses anything the bot could not have produced.
type CustomID struct {
	Kind string
	Args []string
}

// The kinds of custom_id, and what their arguments must look like.
const (
	// kindReport is a report modal: report:<game>[:<member id>].
	kindReport = "report"
	// kindPlayer is the select of players sharing a name (RallyHere): player.
	kindPlayer = inputPlayer
)

var (
	snowflakeRE = regexp.MustCompile(`^[0-9]{17,20}$`)
	errCustomID = errors.New("unknown custom_id")
)

func (c CustomID) String() string {
	return strings.Join(append([]string{c.Kind}, c.Args...), ":")
}

// ParseCustomID decodes s, checking the kind, the number of arguments and each
// argument's form.
func ParseCustomID(s string) (CustomID, error) {
	if len(s) == 0 || len(s) > 100 {
		return CustomID{}, errCustomID
	}
	parts := strings.Split(s, ":")
	c := CustomID{Kind: parts[0], Args: parts[1:]}
	ok := false
	switch c.Kind {
	case kindReport:
		ok = len(c.Args) >= 1 && len(c.Args) <= 2 && validGame(c.Args[0]) &&
			(len(c.Args) == 1 || (c.Args[0] == string(reporting.RallyHere) && snowflakeRE.MatchString(c.Args[1])))
	case kindPlayer:
		ok = len(c.Args) == 0
	}
	if !ok {
		return CustomID{}, fmt.Errorf("%w: %q", errCustomID, s)
	}
	return c, nil
}

func validGame(s string) bool {
	return s == string(reporting.RallyHere) || s == string(reporting.Destiny2)
}
