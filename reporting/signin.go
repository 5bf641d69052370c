package reporting

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/ref"
)

// Where the sign-in pages are served, under the bot's public URL.
const (
	SignInStartPath    = "/oauth/bungie/start"
	SignInCallbackPath = "/oauth/bungie/callback"
	signInPathPrefix   = "/oauth/bungie/"
)

// PageWords is one language of the sign-in pages: a page's words are the messages
// page.<name>.title and page.<name>.detail, and page.reference (package catalog's
// Localizer is one).
type PageWords interface {
	T(id string, v map[string]any) string
	// HTMLLang is the language's code for the page's lang attribute.
	HTMLLang() string
}

// PagesOptions configure the sign-in pages.
type PagesOptions struct {
	// Words is the language that best fits a browser's Accept-Language header.
	Words func(acceptLanguage string) PageWords
	// Secure is true when the bot is reached over https (PUBLIC_URL): the sign-in
	// cookie is then Secure, with the __Host- prefix.
	Secure bool
	Logger zerolog.Logger
}

// SignInPages is the http.Handler of the pages a person's browser sees while linking
// Bungie.net: GET SignInStartPath sends it on to Bungie's consent page and
// GET SignInCallbackPath is where Bungie sends it back.
type SignInPages struct {
	links  signIn
	words  func(string) PageWords
	secure bool
	log    zerolog.Logger
	mux    *http.ServeMux
}

// signIn is what the pages need of Links.
type signIn interface {
	AuthorizeURL(ctx context.Context, state, browser string) (string, error)
	Complete(ctx context.Context, state, browser, code, oauthError string) (string, error)
}

// Pages returns the sign-in pages of these links.
func (l *Links) Pages(o PagesOptions) *SignInPages { return newSignInPages(l, o) }

func newSignInPages(l signIn, o PagesOptions) *SignInPages {
	p := &SignInPages{links: l, words: o.Words, secure: o.Secure, log: o.Logger, mux: http.NewServeMux()}
	p.mux.HandleFunc("GET "+SignInStartPath, p.serveStart)
	p.mux.HandleFunc("GET "+SignInCallbackPath, p.serveCallback)
	return p
}

// ServeHTTP serves the sign-in pages; any other path under /oauth/bungie/ is not found.
func (p *SignInPages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// The pages a person sees in their browser while linking Bungie.net.
var (
	pageLinked     = page{http.StatusOK, "linked"}
	pageExpired    = page{http.StatusGone, "expired"}
	pageDenied     = page{http.StatusOK, "denied"}
	pageBungieDown = page{http.StatusBadGateway, "bungie_down"}
	pageFailed     = page{http.StatusInternalServerError, "failed"}
	// A sign-in that came back in a browser other than the one that opened its link
	// (a consent page someone forwarded), and a link opened in a second browser.
	pageElsewhere       = page{http.StatusForbidden, "elsewhere"}
	pageOpenedElsewhere = page{http.StatusConflict, "opened_elsewhere"}
)

type page struct {
	status int
	name   string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · reportbot</title>
<style>
body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d1f23;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;max-width:30rem;margin:1rem;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 .5rem}
p{margin:0}
.ref{margin-top:1rem;color:#6b7280;font-size:.9rem}
</style>
</head>
<body>
<main>
<h1 id="title">{{.Title}}</h1>
<p id="detail">{{.Detail}}</p>
{{if .Ref}}<p class="ref">{{.Reference}} <code id="ref">{{.Ref}}</code></p>{{end}}
</main>
</body>
</html>
`))

// show writes page pg in the language the browser asks for (Accept-Language).
func (p *SignInPages) show(w http.ResponseWriter, r *http.Request, pg page, ref string) {
	l := p.words(r.Header.Get("Accept-Language"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(pg.status)
	_ = pageTemplate.Execute(w, struct{ Lang, Title, Detail, Reference, Ref string }{
		l.HTMLLang(), l.T("page."+pg.name+".title", nil), l.T("page."+pg.name+".detail", nil), l.T("page.reference", nil), ref})
}

// signInHeaders are sent with every sign-in page and redirect: nothing is cached,
// sniffed, framed, or told where the browser came from (the URL carries the state).
func signInHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// The sign-in cookie carries the browser's secret, which binds a sign-in's state to
// the browser that opened its link (login CSRF, SPEC §1.2). Over https it has the
// __Host- prefix, which no other host or plain-http page can set.
const (
	signInCookie       = "reportbot_signin"
	secureSignInCookie = "__Host-reportbot_signin"
	// signInCookieFor outlives a sign-in link (ten minutes), with room for a slow
	// consent page.
	signInCookieFor = 30 * time.Minute
)

// browserSecret is the secret in the request's sign-in cookie, if it has a well-formed
// one.
func (p *SignInPages) browserSecret(r *http.Request) string {
	name := signInCookie
	if p.secure {
		name = secureSignInCookie
	}
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return ""
	}
	return c.Value
}

// setBrowserSecret gives the browser its sign-in cookie (HttpOnly, SameSite=Lax so
// that it comes back on Bungie's redirect, Secure over https).
func (p *SignInPages) setBrowserSecret(w http.ResponseWriter, secret string) {
	c := &http.Cookie{Name: signInCookie, Value: secret, Path: signInPathPrefix, MaxAge: int(signInCookieFor.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if p.secure {
		c.Name, c.Path, c.Secure = secureSignInCookie, "/", true
	}
	http.SetCookie(w, c)
}

// serveStart sends the browser on to Bungie's consent page, if the sign-in link is
// still valid, and binds the sign-in to this browser: a browser keeps one secret for
// all its sign-ins.
func (p *SignInPages) serveStart(w http.ResponseWriter, r *http.Request) {
	signInHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	secret := p.browserSecret(r)
	if secret == "" {
		var raw [32]byte
		_, _ = rand.Read(raw[:])
		secret = base64.RawURLEncoding.EncodeToString(raw[:])
	}
	to, err := p.links.AuthorizeURL(ctx, r.URL.Query().Get("state"), secret)
	switch {
	case errors.Is(err, ErrStateExpired):
		p.show(w, r, pageExpired, "")
	case errors.Is(err, ErrOtherBrowser):
		p.show(w, r, pageOpenedElsewhere, "")
	case err != nil:
		p.fail(w, r, err, "starting a Bungie.net sign-in")
	default:
		p.setBrowserSecret(w, secret)
		http.Redirect(w, r, to, http.StatusFound)
	}
}

// serveCallback is where Bungie sends the browser back after consent.
func (p *SignInPages) serveCallback(w http.ResponseWriter, r *http.Request) {
	signInHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	q := r.URL.Query()
	_, err := p.links.Complete(ctx, q.Get("state"), p.browserSecret(r), q.Get("code"), q.Get("error"))
	switch {
	case err == nil:
		p.show(w, r, pageLinked, "")
	case errors.Is(err, ErrStateExpired):
		p.show(w, r, pageExpired, "")
	case errors.Is(err, ErrOtherBrowser):
		p.show(w, r, pageElsewhere, "")
	case errors.Is(err, ErrConsentDenied):
		p.show(w, r, pageDenied, "")
	case errors.Is(err, ErrBungieDown):
		p.log.Warn().Err(err).Msg("Bungie.net sign-in could not finish")
		p.show(w, r, pageBungieDown, "")
	default:
		p.fail(w, r, err, "finishing a Bungie.net sign-in")
	}
}

// fail logs err with a ref and shows the page of a fault on the bot's side.
func (p *SignInPages) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	id := ref.New()
	p.log.Error().Err(err).Str("ref", id).Msg(what)
	p.show(w, r, pageFailed, id)
}
