package commands

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// kindMod is a moderator's button on a mod-log post: mod:<action>:<report id>.
	kindMod = "mod"
	// kindOffender is the select of an activity's players (Destiny): offender.
	kindOffender = selectOffender
	// kindOffenderPage turns the pages of that select: offpage:<page>.
	kindOffenderPage = "offpage"
	// kindList is a page button of /reports list: list:<page>:<status or all>:<player>.
	// The player filter is last and may itself contain ':'.
	kindList = "list"
)

// listStatuses are the statuses /reports list filters by.
var listStatuses = []reporting.Status{
	reporting.StatusQueued, reporting.StatusDelivered, reporting.StatusHandedOff, reporting.StatusFailed,
	reporting.StatusClaimed, reporting.StatusResolved, reporting.StatusDismissed,
}

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
	kind, _, _ := strings.Cut(s, ":")
	parts := strings.Split(s, ":")
	if kind == kindList {
		parts = strings.SplitN(s, ":", 4)
	}
	c := CustomID{Kind: parts[0], Args: parts[1:]}
	ok := false
	switch c.Kind {
	case kindReport:
		// The member is the Report player menu's, which a game of the activity flow
		// never has (the form's handler checks the flow too).
		ok = len(c.Args) >= 1 && len(c.Args) <= 2 && validGame(c.Args[0]) &&
			(len(c.Args) == 1 || c.Args[0] != string(reporting.Destiny2) && snowflakeRE.MatchString(c.Args[1]))
	case kindPlayer, kindOffender:
		ok = len(c.Args) == 0
	case kindOffenderPage:
		ok = len(c.Args) == 1 && validPage(c.Args[0])
	case kindMod:
		ok = len(c.Args) == 2 && actionStatus[c.Args[0]] != "" && reporting.ValidID(c.Args[1])
	case kindList:
		ok = len(c.Args) == 3 && validPage(c.Args[0]) && validStatusFilter(c.Args[1]) && utf8.ValidString(c.Args[2])
	}
	if !ok {
		return CustomID{}, fmt.Errorf("%w: %q", errCustomID, s)
	}
	return c, nil
}

func validGame(s string) bool {
	return slices.Contains(reporting.Games(), reporting.Game(s))
}

func validPage(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 100 && strconv.Itoa(n) == s
}

func validStatusFilter(s string) bool {
	return s == "all" || slices.Contains(listStatuses, reporting.Status(s))
}
