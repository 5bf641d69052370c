package openapitest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Recorder is a testing.TB for a fake under test: it keeps what the fake reports
// instead of failing the test, so that a test can check that a bad request was
// reported, and fails the test at its end if the fake reported anything no check
// expected.
type Recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	expected int // how many of errs were accounted for by Expect
}

// NewRecorder returns a Recorder that fails t at the end over any unexpected report.
func NewRecorder(t *testing.T) *Recorder {
	r := &Recorder{TB: t}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.errs) != r.expected {
			t.Errorf("the fake reported %d problems, %d expected:\n%s", len(r.errs), r.expected, strings.Join(r.errs, "\n"))
		}
	})
	return r
}

// Errorf records a report of the fake.
func (r *Recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Count is how many reports the fake has made so far; pass it to Expect.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// Expect checks whether the fake reported something since Count returned before, as
// want says, and accounts for what it reported.
func (r *Recorder) Expect(t testing.TB, before int, want bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.errs[before:]
	if want != (len(got) > 0) {
		t.Errorf("the fake reported %q, want a report: %v", got, want)
	}
	if want {
		r.expected += len(got)
	}
}

// Delay waits d before a fake answers r, and aborts the request when the client gives
// up or done closes (the test ends) first: nobody is left to read the answer, and a
// delayed request must then change nothing.
func Delay(r *http.Request, d time.Duration, done <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		panic(http.ErrAbortHandler)
	case <-done:
		panic(http.ErrAbortHandler)
	}
}
