package reporting

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands/catalog"
)

// boundLinker is a signIn whose one sign-in ("s") is bound to the first browser.
type boundLinker struct{ browser string }

func (l *boundLinker) AuthorizeURL(_ context.Context, state, browser string) (string, error) {
	switch {
	case state != "s":
		return "", ErrStateExpired
	case l.browser == "":
		l.browser = browser
	case l.browser != browser:
		return "", ErrOtherBrowser
	}
	return "https://bungie.example/consent?state=s", nil
}

func (l *boundLinker) Complete(_ context.Context, state, browser, _, _ string) (string, error) {
	if browser == "" || browser != l.browser {
		return "", ErrOtherBrowser
	}
	return "1", nil
}

// TestSignInCookie: the sign-in cookie is HttpOnly and SameSite=Lax, and over https
// Secure with the __Host- prefix; every sign-in response forbids sniffing, referrers
// and framing; the browser that opened the link finishes it, another does not.
func TestSignInCookie(t *testing.T) {
	t.Parallel()
	for _, public := range []string{"http://bot.example", "https://bot.example"} {
		t.Run(public, func(t *testing.T) {
			u, _ := url.Parse(public)
			words := catalog.Shipped()
			h := newSignInPages(&boundLinker{}, PagesOptions{
				Words:  func(header string) PageWords { return words.ForAcceptLanguage(header) },
				Secure: u.Scheme == "https", Logger: zerolog.Nop()})
			get := func(path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, public+path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
					if got := rec.Header().Get(k); got != want {
						t.Errorf("%s: %s %q, want %q", path, k, got, want)
					}
				}
				if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("%s: CSP %q", path, csp)
				}
				return rec
			}
			start := get("/oauth/bungie/start?state=s")
			cookies := start.Result().Cookies()
			if start.Code != http.StatusFound || len(cookies) != 1 {
				t.Fatalf("start: %d, cookies %v", start.Code, cookies)
			}
			c := cookies[0]
			secure := u.Scheme == "https"
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || strings.HasPrefix(c.Name, "__Host-") != secure || len(c.Value) < 40 {
				t.Fatalf("cookie %+v over %s", c, u.Scheme)
			}
			if rec := get("/oauth/bungie/start?state=s"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "opened in another browser") {
				t.Fatalf("a second browser: %d %s", rec.Code, rec.Body)
			}
			if rec := get("/oauth/bungie/start?state=s", c); rec.Code != http.StatusFound || rec.Result().Cookies()[0].Value != c.Value {
				t.Fatalf("the same browser again: %d; it keeps its secret", rec.Code)
			}
			if rec := get("/oauth/bungie/callback?state=s&code=x"); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "started in another browser") {
				t.Fatalf("callback without the cookie: %d %s", rec.Code, rec.Body)
			}
			forged := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", 43)}
			if rec := get("/oauth/bungie/callback?state=s&code=x", forged); rec.Code != http.StatusForbidden {
				t.Fatalf("callback with another browser's cookie: %d", rec.Code)
			}
			if rec := get("/oauth/bungie/callback?state=s&code=x", c); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Bungie.net linked") {
				t.Fatalf("callback in the browser that started: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
