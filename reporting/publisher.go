package reporting

import (
	"context"
	"fmt"
)

// Publisher is one game's report API, and everything about reports that differs from
// one game to another. The service and the pipeline hold one per configured game,
// keyed by Game, and never ask which game a report is for. Each implementation lives
// in its own file, beside the client it drives: rallyhere.go, destiny.go, webhook.go.
type Publisher interface {
	// Game is the game it files reports for.
	Game() Game
	// Title is the game's name as players read it.
	Title() string
	// Flow is how a reporter names the player they report.
	Flow() Flow
	// Offers reports whether reason r of a server's list is offered for the game (it
	// maps to a reason the upstream takes).
	Offers(r Reason) bool
	// Resolve finds upstream what r needs before it can be sent (the players' upstream
	// ids), filling r; it does nothing for what r already has. A *ChoiceError asks the
	// reporter to choose the player among candidates.
	Resolve(ctx context.Context, r *Report) error
	// Send files r upstream.
	Send(ctx context.Context, r *Report) (Sent, error)
	// Classify sorts an error of Resolve or Send.
	Classify(err error) Fault
	// Lookup looks for r among the reports the upstream has, in case an earlier
	// attempt filed it and its answer was lost: it returns r's upstream id, or "" when
	// r is not there or the upstream cannot tell.
	Lookup(ctx context.Context, r *Report) (string, error)
}

// Flow is how a reporter names the player they report.
type Flow int

// The flows.
const (
	// FlowPlayer: by name, player id or Discord member (/report player, the Report
	// player menu).
	FlowPlayer Flow = iota + 1
	// FlowActivity: by the activity they met in, then the player chosen among its
	// players (/report activity).
	FlowActivity
)

// Sent is what filing a report upstream gave: the upstream's report id, or the page
// where the reporter files it themselves (Link; the report is then handed off).
type Sent struct {
	UpstreamID string
	Link       string
}

// ChoiceError is returned by a Publisher's Resolve when the reporter must choose the
// player among candidates.
type ChoiceError struct{ Candidates []Candidate }

func (e *ChoiceError) Error() string {
	return fmt.Sprintf("%d candidates to choose from", len(e.Candidates))
}

// Candidate is one choice offered to a reporter: a player sharing a name, or a player
// of an activity. Target is what the report's target becomes when it is chosen.
type Candidate struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Class and Team describe a player of an activity (Destiny), as Bungie names them
	// in English ("Hunter", "Alpha"); package commands shows them in the reader's
	// language.
	Class  string `json:"class,omitempty"`
	Team   string `json:"team,omitempty"`
	Target Target `json:"target"`
}

// Publisher returns the publisher of game g, if the operator configured it.
func (s *Service) Publisher(g Game) (Publisher, bool) {
	p, ok := s.publishers[g]
	return p, ok
}

// Publishers are the configured games' publishers, in the order games are shown.
func (s *Service) Publishers() []Publisher {
	var out []Publisher
	for _, g := range Games() {
		if p, ok := s.publishers[g]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Title is game g's name as its publisher gives it ("" when not configured).
func (s *Service) Title(g Game) string {
	if p, ok := s.publishers[g]; ok {
		return p.Title()
	}
	return string(g)
}

// Enabled reports whether the operator configured game g.
func (s *Service) Enabled(g Game) bool {
	_, ok := s.publishers[g]
	return ok
}

// publisher is the publisher of r's game.
func (s *Service) publisher(g Game) (Publisher, error) {
	p, ok := s.publishers[g]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrGameOff, g)
	}
	return p, nil
}
