package reporting

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParsePlayer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Target
		problem string // the InputError's problem; empty when accepted
	}{
		{"5F1B1E4E-0000-4000-8000-000000000001", Target{Kind: TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}, ""},
		{"  5f1b1e4e000040008000000000000001 ", Target{Kind: TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}, ""},
		{"{5f1b1e4e-0000-4000-8000-000000000001}", Target{Kind: TargetUUID, Value: "5f1b1e4e-0000-4000-8000-000000000001"}, ""},
		{"<@123456789012345678>", Target{Kind: TargetMember, Value: "123456789012345678"}, ""},
		{"<@!123456789012345678>", Target{Kind: TargetMember, Value: "123456789012345678"}, ""},
		{"xX_Sniper_Xx", Target{Kind: TargetName, Value: "xX_Sniper_Xx"}, ""},
		{"Ünïcødé Näme 42", Target{Kind: TargetName, Value: "Ünïcødé Näme 42"}, ""},
		{"Name#1234", Target{Kind: TargetName, Value: "Name#1234"}, ""},
		{"7", Target{Kind: TargetName, Value: "7"}, ""},
		{"5f1b1e4e-0000-40008000-000000000001", Target{Kind: TargetName, Value: "5f1b1e4e-0000-40008000-000000000001"}, ""},
		{"", Target{}, "player_empty"},
		{"   ", Target{}, "player_empty"},
		{strings.Repeat("a", 65), Target{}, "player_too_long"},
		{"two\nlines", Target{}, "player_invisible"},
		{"zero\u200bwidth", Target{}, "player_invisible"},
		{"https://example.com/player/1", Target{}, "player_link"},
		{"!!!", Target{}, "player_no_letter"},
		{"bad\xffutf8", Target{}, "not_text"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePlayer(tt.in)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var ie *InputError
			if !IsInputError(err) || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("got %+v, %v; want an input error about %q", got, err, tt.problem)
			}
			_ = ie
		})
	}
}

// FuzzParsePlayer checks that whatever a reporter types, the parser either refuses it
// with an InputError or returns a target that is canonical, safe to show and stable.
func FuzzParsePlayer(f *testing.F) {
	for _, s := range []string{"5f1b1e4e-0000-4000-8000-000000000001", "<@123456789012345678>", "Name#1234",
		"", " a ", "\u202e", "a\x00b", strings.Repeat("é", 64), "{5F1B1E4E000040008000000000000001}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePlayer(s)
		if err != nil {
			if !IsInputError(err) {
				t.Fatalf("ParsePlayer(%q): %v is not an InputError", s, err)
			}
			return
		}
		switch got.Kind {
		case TargetUUID:
			if len(got.Value) != 36 || strings.ToLower(got.Value) != got.Value {
				t.Fatalf("ParsePlayer(%q) = %q: not a canonical UUID", s, got.Value)
			}
		case TargetMember:
			if _, ok := strings.CutPrefix(s, "<@"); !ok && !strings.Contains(s, "<@") {
				t.Fatalf("ParsePlayer(%q) = member without a mention", s)
			}
		case TargetName:
			if !utf8.ValidString(got.Value) || utf8.RuneCountInString(got.Value) > MaxPlayerName ||
				got.Value != strings.TrimSpace(got.Value) {
				t.Fatalf("ParsePlayer(%q) = %q: not a trimmed, valid name", s, got.Value)
			}
			for _, r := range got.Value {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Fatalf("ParsePlayer(%q) = %q: keeps an invisible character", s, got.Value)
				}
			}
		default:
			t.Fatalf("ParsePlayer(%q): unknown kind %q", s, got.Kind)
		}
		if again, err := ParsePlayer(got.Value); got.Kind != TargetMember && (err != nil || again != got) {
			t.Fatalf("ParsePlayer(%q) = %+v, but parsing that again gives %+v, %v", s, got, again, err)
		}
	})
}
