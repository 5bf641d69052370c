package webhook

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-s3cret-s3cret")
	body := []byte(`{"id":"R-0000000000000"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := "v1=" + Sign(secret, ts, body)
	tests := []struct {
		name    string
		ts, sig string
		body    []byte
		secret  []byte
		at      time.Time
		want    error
	}{
		{"good", ts, good, body, secret, now, nil},
		{"several, one good (a secret being rotated)", ts, "v1=" + Sign([]byte("old"), ts, body) + ", " + good, body, secret, now, nil},
		{"body changed", ts, good, []byte(`{"id":"R-0000000000001"}`), secret, now, ErrBadSignature},
		{"another secret", ts, good, body, []byte("other-secret-other"), now, ErrBadSignature},
		{"six minutes old", ts, good, body, secret, now.Add(6 * time.Minute), ErrStale},
		{"six minutes ahead", ts, good, body, secret, now.Add(-6 * time.Minute), ErrStale},
		{"no timestamp", "", good, body, secret, now, ErrStale},
		{"no v1", ts, "v0=" + Sign(secret, ts, body), body, secret, now, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.ts, tt.sig, tt.body, tt.at, 5*time.Minute); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzVerify: any header a sender makes up is refused unless it is the signature.
func FuzzVerify(f *testing.F) {
	f.Add("1800000000", "v1=00", []byte("{}"))
	f.Add("", "", []byte(nil))
	f.Add("1800000000", "v1=,v1=", []byte("x"))
	secret := []byte("s3cret-s3cret-s3cret")
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		now := time.Unix(1_800_000_000, 0)
		err := Verify(secret, ts, sig, body, now, 5*time.Minute)
		if err == nil && sig != "v1="+Sign(secret, ts, body) {
			for _, part := range strings.Split(sig, ",") {
				if strings.TrimSpace(part) == "v1="+Sign(secret, ts, body) {
					return
				}
			}
			t.Fatalf("accepted %q for %q", sig, body)
		}
	})
}
