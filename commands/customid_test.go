package commands

import (
	"strings"
	"testing"
)

func TestParseCustomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"report:rallyhere", true},
		{"report:rallyhere:123456789012345678", true},
		{"report:destiny2", true},
		{"report:destiny2:123456789012345678", false},
		{"report:rallyhere:12", false},
		{"report:fortnite", false},
		{"report", false},
		{"report:rallyhere:123456789012345678:x", false},
		{"player", true},
		{"mod:claim:R-0000000000000", true},
		{"mod:resolve:R-0000000000000", true},
		{"mod:dismiss:R-ZZZZZZZZZZZZZ", true},
		{"mod:delete:R-0000000000000", false},
		{"mod:claim:R-000", false},
		{"mod:claim", false},
		{"list:0:all:", true},
		{"list:3:delivered:bob", true},
		{"list:3:delivered:a:b:c", true},
		{"list:100:all:", false},
		{"list:01:all:", false},
		{"list:1:lost:", false},
		{"list:1:all", false},
		{"player:x", false},
		{"offender", true},
		{"offender:1", false},
		{"offpage:0", true},
		{"offpage:3", true},
		{"offpage:03", false},
		{"offpage:-1", false},
		{"offpage", false},
		{"offpage:1:2", false},
		{"", false},
		{"nope", false},
		{strings.Repeat("a", 101), false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCustomID(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCustomID(%q) = %+v, %v; want ok=%v", tt.in, c, err, tt.ok)
			}
			if tt.ok && c.String() != tt.in {
				t.Fatalf("round trip: %q → %q", tt.in, c.String())
			}
		})
	}
}

// FuzzParseCustomID checks that any custom_id the bot accepts is one it could have
// written: it round-trips, fits Discord's 100 characters, and has a known kind.
func FuzzParseCustomID(f *testing.F) {
	for _, s := range []string{"report:rallyhere", "report:rallyhere:123456789012345678", "report:destiny2", "player",
		"mod:claim:R-0000000000000", "list:2:failed:bob:x", "offender", "offpage:1", "offpage:-1", "offpage:x",
		"report::", ":", "report:rallyhere:\x00", "player:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCustomID(s)
		if err != nil {
			return
		}
		if c.String() != s || len(s) > 100 {
			t.Fatalf("ParseCustomID(%q) accepted %+v, which writes back as %q", s, c, c.String())
		}
		switch c.Kind {
		case kindReport, kindPlayer, kindMod, kindList, kindOffender, kindOffenderPage:
		default:
			t.Fatalf("ParseCustomID(%q): unknown kind %q accepted", s, c.Kind)
		}
		for i, a := range c.Args {
			if c.Kind == kindList && i == 2 {
				continue // the free-text player filter
			}
			if a == "" || strings.ContainsAny(a, ": \n") {
				t.Fatalf("ParseCustomID(%q): argument %q accepted", s, a)
			}
		}
	})
}
