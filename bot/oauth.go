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

// The pages a person sees in their browser while linking Bungie.net.
var (
	pageLinked = page{http.StatusOK, "Bungie.net linked",
		"Your Bungie.net account is linked. You can close this page: your Destiny 2 reports will now be filed with Bungie for you."}
	pageExpired = page{http.StatusGone, "This link has expired",
		"Sign-in links work once, for ten minutes. Run /link bungie in Discord to get a new one."}
	pageDenied = page{http.StatusOK, "Nothing was linked",
		"You declined on Bungie.net, so the bot has no access to your account. To have your Destiny 2 reports filed for you, run /link bungie again and approve."}
	pageBungieDown = page{http.StatusBadGateway, "Bungie.net is not answering",
		"Bungie.net could not finish the sign-in, so nothing was linked. Try /link bungie again in a few minutes."}
	pageElsewhere       = newPage(http.StatusForbidden, commands.PageSignInElsewhere)
	pageOpenedElsewhere = newPage(http.StatusConflict, commands.PageSignInOpenedElsewhere)
)

func newPage(status int, text func() (string, string)) page {
	title, detail := text()
	return page{status, title, detail}
}

type page struct {
	status        int
	title, detail string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
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
{{if .Ref}}<p class="ref">Reference: <code id="ref">{{.Ref}}</code></p>{{end}}
</main>
</body>
</html>
`))

func (b *Bot) showPage(w http.ResponseWriter, p page, ref string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.status)
	_ = pageTemplate.Execute(w, struct{ Title, Detail, Ref string }{p.title, p.detail, ref})
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
		b.showPage(w, pageExpired, "")
	case errors.Is(err, reporting.ErrOtherBrowser):
		b.showPage(w, pageOpenedElsewhere, "")
	case err != nil:
		b.failPage(w, err, "starting a Bungie.net sign-in")
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
		b.showPage(w, pageLinked, "")
	case errors.Is(err, reporting.ErrStateExpired):
		b.showPage(w, pageExpired, "")
	case errors.Is(err, reporting.ErrOtherBrowser):
		b.showPage(w, pageElsewhere, "")
	case errors.Is(err, reporting.ErrConsentDenied):
		b.showPage(w, pageDenied, "")
	case errors.Is(err, reporting.ErrBungieDown):
		b.log.Warn().Err(err).Msg("Bungie.net sign-in could not finish")
		b.showPage(w, pageBungieDown, "")
	default:
		b.failPage(w, err, "finishing a Bungie.net sign-in")
	}
}

// failPage logs err with a ref and shows the page of a fault on the bot's side.
func (b *Bot) failPage(w http.ResponseWriter, err error, what string) {
	ref := commands.NewRef()
	b.log.Error().Err(err).Str("ref", ref).Msg(what)
	b.showPage(w, page{http.StatusInternalServerError, "Something went wrong on our side",
		"The bot could not finish this. Try /link bungie again in a minute; if it keeps happening, give a moderator the reference below."}, ref)
}
