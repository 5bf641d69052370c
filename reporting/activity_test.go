package reporting

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseActivity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		problem  string
	}{
		{"12345678901", "12345678901", ""},
		{"  0012345678901 ", "12345678901", ""},
		{"https://www.bungie.net/en/PGCR/12345678901", "12345678901", ""},
		{"https://www.bungie.net/7/en/Pgcr/12345678901?character=1", "12345678901", ""},
		{"https://www.bungie.net/en/PGCR/Report/12345678901/?characterId=2305843009", "12345678901", ""},
		{"bungie.net/en/PGCR/12345678901", "12345678901", ""},
		{"https://destinytracker.com/destiny-2/pgcr/12345678901", "12345678901", ""},
		{"https://raid.report/pgcr/12345678901", "12345678901", ""},
		{"https://dungeon.report/pgcr/12345678901", "12345678901", ""},
		{"https://crucible.report/pgcr/12345678901", "12345678901", ""},
		{"https://trials.report/pgcr/12345678901", "12345678901", ""},
		{"https://gm.report/pgcr/12345678901", "12345678901", ""},
		{"https://guardian.report/?view=PGCR&instance=12345678901", "12345678901", ""},
		{"https://guardian.report/?guardians=4611686018467484767&pgcr=12345678901", "12345678901", ""},
		{"", "", "activity_empty"},
		{"0", "", "activity_id_range"},
		{"-5", "", "activity_id_range"},
		{"99999999999999999999", "", "activity_id_range"},
		{"9223372036854775808", "", "activity_id_range"},
		{"https://evil.example/pgcr/12345678901", "", "activity_site map[Host:evil.example"},
		{"https://raid.report.evil.example/pgcr/1", "", "activity_site map[Host:raid.report.evil.example"},
		{"https://raid.report/", "", "activity_no_id"},
		{"https://raid.report/pgcr/abc", "", "activity_no_id"},
		{"ftp://raid.report/pgcr/12345678901", "", "activity_not_id"},
		{"twelve", "", "activity_not_id"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseActivity(tt.in)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !IsInputError(err) || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("got %q, %v; want an input error about %q", got, err, tt.problem)
			}
		})
	}
}

// FuzzParseActivity checks that whatever a reporter pastes, the parser either refuses
// it with an InputError or returns a canonical positive int64 found in it.
func FuzzParseActivity(f *testing.F) {
	for _, s := range []string{"12345678901", "https://raid.report/pgcr/12345678901", "https://www.bungie.net/en/PGCR/Report/1/",
		"https://guardian.report/?instance=5&instance=6", "raid.report/pgcr/0", "%", "https://raid.report/pgcr/9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseActivity(s)
		if err != nil {
			if !IsInputError(err) {
				t.Fatalf("ParseActivity(%q): %v is not an InputError", s, err)
			}
			return
		}
		n, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
			t.Fatalf("ParseActivity(%q) = %q: not a canonical positive int64", s, id)
		}
		if !strings.Contains(s, strings.TrimLeft(id, "0")) {
			t.Fatalf("ParseActivity(%q) = %q: not in the input", s, id)
		}
		if again, err := ParseActivity(id); err != nil || again != id {
			t.Fatalf("ParseActivity(%q) = %q, %v; not stable", id, again, err)
		}
	})
}
