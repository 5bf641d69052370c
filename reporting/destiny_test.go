package reporting

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/bungie"
)

// TestClassifyBungie sorts every error code SPEC §1.2 names (1403 never gets here: a
// report Bungie already has counts as delivered; 2111/2115 only after the one refresh
// failed).
func TestClassifyBungie(t *testing.T) {
	t.Parallel()
	code := func(c int) error {
		return fmt.Errorf("reporting: %w", &bungie.Error{Op: "report", HTTPStatus: 200, Code: c, Status: "Code" + fmt.Sprint(c)})
	}
	tests := []struct {
		name string
		err  error
		want FaultKind
	}{
		{"5 SystemDisabled", code(5), FaultUnavailable},
		{"99 WebAuthRequired", code(99), FaultRelink},
		{"1653 DestinyPGCRNotFound", code(1653), FaultActivityNotFound},
		{"1665 DestinyPrivacyRestriction", code(1665), FaultActivityPrivate},
		{"2111 AccessTokenHasExpired", code(2111), FaultRelink},
		{"2115 OAuthTokenExpired", code(2115), FaultRelink},
		{"2117 RefreshTokenNotYetValid", code(2117), FaultRelink},
		{"2118 RefreshTokenExpired", code(2118), FaultRelink},
		{"2120 AuthorizationRecordRevoked", code(2120), FaultRelink},
		{"2700 ReportOffenderNotInPgcr", code(2700), FaultOffenderNotInActivity},
		{"2701 ReportRequestorNotInPgcr", code(2701), FaultReporterNotInActivity},
		{"2702 ReportSubmissionFailed", code(2702), FaultUnavailable},
		{"2703 ReportCannotReportSelf", code(2703), FaultSelfReport},
		{"an unknown code", code(1618), FaultUnknown},
		{"HTTP 503 without an envelope", &bungie.Error{HTTPStatus: 503}, FaultUnavailable},
		{"an HTML maintenance page", fmt.Errorf("reading the PGCR: %w", bungie.ErrOutage), FaultUnavailable},
		{"a timeout", context.DeadlineExceeded, FaultUnavailable},
		{"not linked", ErrNotLinked, FaultBungieNotLinked},
		{"dead refresh token", fmt.Errorf("refreshing: %w", ErrRelink), FaultRelink},
	}
	for _, c := range []int{31, 35, 36, 37, 51, 54, 55, 56, 57} {
		tests = append(tests, struct {
			name string
			err  error
			want FaultKind
		}{fmt.Sprintf("%d throttle", c), &bungie.Error{Code: c, HTTPStatus: 200, Throttle: 3 * time.Second}, FaultUnavailable})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ClassifyBungie(tt.err)
			if f.Kind != tt.want {
				t.Fatalf("ClassifyBungie(%v) = %s, want %s", tt.err, f.Kind, tt.want)
			}
			if f.Temporary() != (tt.want == FaultUnavailable) {
				t.Fatalf("%s: temporary %v", f.Kind, f.Temporary())
			}
			if b, ok := tt.err.(*bungie.Error); ok && b.Throttle > 0 && f.RetryAfter != b.Throttle {
				t.Fatalf("a throttle waits %v, not ThrottleSeconds (%v)", f.RetryAfter, b.Throttle)
			}
		})
	}
}

// FuzzDestinyReasonInput feeds what an admin may type as reason-add's destiny-reason
// (the autocomplete's value, or anything else): a key that parses writes back to the
// same hashes, and a search never returns a reason that misses a typed word.
func FuzzDestinyReasonInput(f *testing.F) {
	for _, s := range []string{"1851805954:2352608786", "0:0", "4294967295:1", "4294967296:1", "1:", ":1", "1:2:3", "+1:2", " 1:2", "hack", "quit mid", "Cheating › Hacking", "\xff"} {
		f.Add(s)
	}
	m := NewManifest(nil, zerolog.Nop())
	f.Fuzz(func(t *testing.T, s string) {
		if c, r, ok := ParseDestinyKey(s); ok {
			d := DestinyReason{CategoryHash: c, ReasonHash: r}
			if c2, r2, ok := ParseDestinyKey(d.Key()); !ok || c2 != c || r2 != r {
				t.Fatalf("ParseDestinyKey(%q) = %d, %d; its Key %q reads back as %d, %d, %v", s, c, r, d.Key(), c2, r2, ok)
			}
		}
		found := m.Search(context.Background(), "", s, 25)
		if len(found) > 25 {
			t.Fatalf("Search(%q): %d results, over the 25 asked", s, len(found))
		}
		for _, d := range found {
			for _, w := range strings.Fields(strings.ToLower(s)) {
				if !strings.Contains(strings.ToLower(d.Label), w) {
					t.Fatalf("Search(%q) returned %q, which lacks %q", s, d.Label, w)
				}
			}
			if got, ok := m.Find(context.Background(), d.CategoryHash, d.ReasonHash); !ok || got.Label != d.Label {
				t.Fatalf("Search found %+v but Find has %+v, %v", d, got, ok)
			}
		}
	})
}
