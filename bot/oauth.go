package bot

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/reporting"
)

// Linker links Discord users to their Bungie.net accounts (package reporting's Links).
type Linker interface {
	// AuthorizeURL is Bungie's consent page for a sign-in state, while it is valid,
	// binding the state to the browser with that secret.
	AuthorizeURL(ctx context.Context, state, browser string) (string, error)
	// Complete finishes a sign-in with Bungie's answer, in the browser that opened it.
	Complete(ctx context.Context, state, browser, code, oauthError string) (string, error)
}

// The pages a person sees in their browser while linking Bungie.net; their words are
// the catalog's page.<name>.title and .detail, in the browser's language.
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

// showPage writes page p in the language the browser asks for (Accept-Language).
func (b *Bot) showPage(w http.ResponseWriter, r *http.Request, p page, ref string) {
	l := b.catalog.ForAcceptLanguage(r.Header.Get("Accept-Language"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.status)
	_ = pageTemplate.Execute(w, struct{ Lang, Title, Detail, Reference, Ref string }{
		l.HTMLLang(), l.T("page."+p.name+".title", nil), l.T("page."+p.name+".detail", nil), l.T("page.reference", nil), ref})
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
func (b *Bot) browserSecret(r *http.Request) string {
	name := signInCookie
	if b.secureCookies {
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
func (b *Bot) setBrowserSecret(w http.ResponseWriter, secret string) {
	c := &http.Cookie{Name: signInCookie, Value: secret, Path: "/oauth/bungie/", MaxAge: int(signInCookieFor.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if b.secureCookies {
		c.Name, c.Path, c.Secure = secureSignInCookie, "/", true
	}
	http.SetCookie(w, c)
}

// serveLinkStart sends the browser on to Bungie's consent page, if the sign-in link is
// still valid, and binds the sign-in to this browser: a browser keeps one secret for
// all its sign-ins.
func (b *Bot) serveLinkStart(w http.ResponseWriter, r *http.Request) {
	signInHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	secret := b.browserSecret(r)
	if secret == "" {
		var raw [32]byte
		_, _ = rand.Read(raw[:])
		secret = base64.RawURLEncoding.EncodeToString(raw[:])
	}
	to, err := b.linker.AuthorizeURL(ctx, r.URL.Query().Get("state"), secret)
	switch {
	case errors.Is(err, reporting.ErrStateExpired):
		b.showPage(w, r, pageExpired, "")
	case errors.Is(err, reporting.ErrOtherBrowser):
		b.showPage(w, r, pageOpenedElsewhere, "")
	case err != nil:
		b.failPage(w, r, err, "starting a Bungie.net sign-in")
	default:
		b.setBrowserSecret(w, secret)
		http.Redirect(w, r, to, http.StatusFound)
	}
}

// serveLinkCallback is where Bungie sends the browser back after consent.
func (b *Bot) serveLinkCallback(w http.ResponseWriter, r *http.Request) {
	signInHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	q := r.URL.Query()
	_, err := b.linker.Complete(ctx, q.Get("state"), b.browserSecret(r), q.Get("code"), q.Get("error"))
	switch {
	case err == nil:
		b.showPage(w, r, pageLinked, "")
	case errors.Is(err, reporting.ErrStateExpired):
		b.showPage(w, r, pageExpired, "")
	case errors.Is(err, reporting.ErrOtherBrowser):
		b.showPage(w, r, pageElsewhere, "")
	case errors.Is(err, reporting.ErrConsentDenied):
		b.showPage(w, r, pageDenied, "")
	case errors.Is(err, reporting.ErrBungieDown):
		b.log.Warn().Err(err).Msg("Bungie.net sign-in could not finish")
		b.showPage(w, r, pageBungieDown, "")
	default:
		b.failPage(w, r, err, "finishing a Bungie.net sign-in")
	}
}

// failPage logs err with a ref and shows the page of a fault on the bot's side.
func (b *Bot) failPage(w http.ResponseWriter, r *http.Request, err error, what string) {
	ref := commands.NewRef()
	b.log.Error().Err(err).Str("ref", ref).Msg(what)
	b.showPage(w, r, pageFailed, ref)
}
