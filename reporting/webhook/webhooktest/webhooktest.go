// Package webhooktest is a fake studio endpoint for reportbot's signed webhook: it
// verifies every request's signature (webhook.Verify) and validates it against the
// webhook's OpenAPI document, answers as a careful receiver does (the same answer to
// an Idempotency-Key seen before), and records what it accepted. Tests set its
// failures.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reportbot/reportbot/reporting/openapitest"
	"github.com/reportbot/reportbot/reporting/webhook"
)

// Server is the fake endpoint. Its zero value is not usable: use New.
type Server struct {
	// URL is WEBHOOK_URL for it; Secret is WEBHOOK_SECRET.
	URL    string
	Secret string

	tb  testing.TB
	v   *openapitest.Validator
	srv *httptest.Server

	mu       sync.Mutex
	reports  []Received
	byKey    map[string]string // Idempotency-Key → the id answered
	requests int
	failing  []Failure // answered, in order, before anything is accepted
	always   *Failure
	delay    time.Duration
}

// Received is one report the endpoint accepted.
type Received struct {
	Report webhook.Report
	// ID is the id the endpoint answered.
	ID string
	// Header is the request's header.
	Header http.Header
}

// Failure is an answer other than acceptance.
type Failure struct {
	Status     int
	RetryAfter time.Duration
	// Drop closes the connection without an answer, after the report was taken: the
	// answer is lost, the report is not.
	Drop bool
}

// New starts the fake for tb.
func New(tb testing.TB) *Server {
	tb.Helper()
	v, err := openapitest.FromDocument("reportbot-webhook.json", webhook.OpenAPI)
	if err != nil {
		tb.Fatalf("the webhook's OpenAPI document: %v", err)
	}
	s := &Server{Secret: "whsec-test-0123456789abcdef", tb: tb, v: v, byKey: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/"
	return s
}

// FailNext answers the next len(fs) requests with fs, in order.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = append(s.failing, fs...)
}

// FailAlways answers every request with f until Recover.
func (s *Server) FailAlways(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = &f
}

// Recover stops FailAlways.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = nil
}

// SetDelay makes every answer wait d first.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Reports are the reports accepted, once each, in order.
func (s *Server) Reports() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.reports...)
}

// Requests is how many requests arrived (accepted or not).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := s.v.Request(r); err != nil {
		s.tb.Errorf("webhooktest: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify([]byte(s.Secret), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		s.tb.Errorf("webhooktest: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var rep webhook.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		s.tb.Errorf("webhooktest: decoding the report: %v", err)
		http.Error(w, "bad report", http.StatusBadRequest)
		return
	}
	key := r.Header.Get(webhook.HeaderIdempotency)
	if key != rep.ID {
		s.tb.Errorf("webhooktest: Idempotency-Key %q is not the report's id %q", key, rep.ID)
	}

	s.mu.Lock()
	var fail *Failure
	switch {
	case s.always != nil:
		f := *s.always
		fail = &f
	case len(s.failing) > 0:
		fail = &s.failing[0]
		s.failing = s.failing[1:]
	}
	id, seen := s.byKey[key]
	if !seen && (fail == nil || fail.Drop) {
		id = fmt.Sprintf("studio-%d", len(s.reports)+1)
		s.byKey[key] = id
		s.reports = append(s.reports, Received{Report: rep, ID: id, Header: r.Header.Clone()})
	}
	s.mu.Unlock()

	switch {
	case fail != nil && fail.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case fail != nil && !seen:
		if fail.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((fail.RetryAfter+time.Second-1)/time.Second)))
		}
		http.Error(w, http.StatusText(fail.Status), fail.Status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusAccepted
	if seen {
		status = http.StatusOK // the same report again: answered as before
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}
