package reporting

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting/bungie"
	"github.com/reportbot/reportbot/reporting/bungie/bungietest"
	"github.com/reportbot/reportbot/reporting/redistest"
)

func newLinks(t *testing.T) (*Links, *bungietest.Server) {
	t.Helper()
	bg := bungietest.New(t, bungietest.Options{RedirectURL: "https://bot.example/oauth/bungie/callback"})
	client := bungie.New(bg.APIKey, bungie.Options{APIURL: bg.URL + "/Platform", StatsURL: bg.StatsURL, WebURL: bg.URL})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	oauth := bungie.OAuth(bg.ClientID, bg.ClientSecret, bg.URL+"/en/OAuth/Authorize", bg.URL+"/Platform", "https://bot.example/oauth/bungie/callback")
	l, err := NewLinks(redistest.New(t).UniversalClient(t), key, oauth, client, "https://bot.example", zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	return l, bg
}

// testBrowser is the sign-in cookie of the browser the tests sign in with.
const testBrowser = "browser-secret-of-the-test"

// consent runs Bungie's consent page for a sign-in link and returns its answer.
func consent(t *testing.T, l *Links, start string) (state string, answer url.Values) {
	t.Helper()
	su, _ := url.Parse(start)
	state = su.Query().Get("state")
	to, err := l.AuthorizeURL(context.Background(), state, testBrowser)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	return state, back.Query()
}

func TestLinksSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	u := bg.AddUser("Alice", "Hunter", "Titan")
	bg.SetAuthorizingUser(u)

	start, err := l.Start(ctx, "100")
	if err != nil {
		t.Fatal(err)
	}
	state, answer := consent(t, l, start)
	if id, err := l.Complete(ctx, state, testBrowser, answer.Get("code"), ""); err != nil || id != "100" {
		t.Fatalf("complete: %q, %v", id, err)
	}
	ms, err := l.Memberships(ctx, "100")
	if err != nil || len(ms) != 1 || ms[0].ID != u.Memberships[0].ID {
		t.Fatalf("memberships %+v, %v", ms, err)
	}
	if _, err := l.Complete(ctx, state, testBrowser, answer.Get("code"), ""); !errors.Is(err, ErrStateExpired) {
		t.Fatalf("second use of the state: %v", err)
	}
	if _, err := l.AuthorizeURL(ctx, "made-up", testBrowser); !errors.Is(err, ErrStateExpired) {
		t.Fatalf("unknown state: %v", err)
	}

	bg.SetConsent(bungietest.ConsentDeny)
	start, _ = l.Start(ctx, "200")
	state, answer = consent(t, l, start)
	if _, err := l.Complete(ctx, state, testBrowser, answer.Get("code"), answer.Get("error")); !errors.Is(err, ErrConsentDenied) {
		t.Fatalf("denied: %v", err)
	}
	bg.SetConsent(bungietest.ConsentApprove)
	bg.FailNext(bungietest.OpToken, 1, bungietest.Failure{HTTPStatus: 503})
	start, _ = l.Start(ctx, "300")
	state, answer = consent(t, l, start)
	if _, err := l.Complete(ctx, state, testBrowser, answer.Get("code"), ""); !errors.Is(err, ErrBungieDown) {
		t.Fatalf("Bungie down: %v", err)
	}
	if _, err := l.Memberships(ctx, "300"); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("a failed sign-in linked: %v", err)
	}
}

// TestLinksBoundToTheBrowser: a sign-in finishes only in the browser that opened its
// link. Any other browser (none, a wrong secret, one that opened the link second)
// links nothing, and the state is spent.
func TestLinksBoundToTheBrowser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	bg.SetAuthorizingUser(bg.AddUser("Victim", "Hunter"))
	for _, tt := range []struct{ name, browser string }{{"no cookie", ""}, {"another browser", "attacker-secret"}} {
		t.Run(tt.name, func(t *testing.T) {
			start, _ := l.Start(ctx, "666")
			state, answer := consent(t, l, start)
			if _, err := l.Complete(ctx, state, tt.browser, answer.Get("code"), ""); !errors.Is(err, ErrOtherBrowser) {
				t.Fatalf("got %v, want ErrOtherBrowser", err)
			}
			if _, err := l.Memberships(ctx, "666"); !errors.Is(err, ErrNotLinked) {
				t.Fatalf("linked from another browser: %v", err)
			}
			if _, err := l.Complete(ctx, state, testBrowser, answer.Get("code"), ""); !errors.Is(err, ErrStateExpired) {
				t.Fatalf("the state after a refusal: %v, want it spent", err)
			}
		})
	}
	t.Run("opened in a second browser", func(t *testing.T) {
		start, _ := l.Start(ctx, "667")
		state, _ := consent(t, l, start)
		if _, err := l.AuthorizeURL(ctx, state, testBrowser); err != nil {
			t.Fatalf("the same browser again: %v", err)
		}
		if _, err := l.AuthorizeURL(ctx, state, "second-browser"); !errors.Is(err, ErrOtherBrowser) {
			t.Fatalf("a second browser: %v, want ErrOtherBrowser", err)
		}
		if _, err := l.AuthorizeURL(ctx, state, ""); !errors.Is(err, ErrOtherBrowser) {
			t.Fatalf("no browser: %v, want ErrOtherBrowser", err)
		}
	})
	t.Run("an unknown state writes nothing", func(t *testing.T) {
		if _, err := l.AuthorizeURL(ctx, "made-up", testBrowser); !errors.Is(err, ErrStateExpired) {
			t.Fatal(err)
		}
		if n, _ := l.rdb.Exists(ctx, browserKey("made-up")).Result(); n != 0 {
			t.Fatal("an unknown state was bound")
		}
	})
}

func linkUser(t *testing.T, l *Links, bg *bungietest.Server, discordID string) {
	t.Helper()
	bg.SetAuthorizingUser(bg.AddUser("Player"+discordID, "Hunter"))
	start, _ := l.Start(context.Background(), discordID)
	state, answer := consent(t, l, start)
	if _, err := l.Complete(context.Background(), state, testBrowser, answer.Get("code"), ""); err != nil {
		t.Fatal(err)
	}
}

// TestLinksTokensAreSealed checks the stored tokens are encrypted and bound to their
// Discord user: copied to another user's key, they do not open.
func TestLinksTokensAreSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	linkUser(t, l, bg, "100")
	tok, err := l.AccessToken(ctx, "100", "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := l.rdb.Get(ctx, linkKey("100")).Bytes()
	if err != nil || len(raw) < 40 {
		t.Fatalf("stored %d bytes, %v", len(raw), err)
	}
	if contains(raw, []byte(tok)) {
		t.Fatal("the access token is stored in the clear")
	}
	if err := l.rdb.Set(ctx, linkKey("999"), raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AccessToken(ctx, "999", ""); !errors.Is(err, ErrRelink) {
		t.Fatalf("another user's sealed link opened: %v", err)
	}
}

func contains(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}

// TestLinksRefreshRace: ten reports find the token refused at once; Bungie's refresh
// tokens are single-use, so exactly one refresh happens and all ten get its token.
func TestLinksRefreshRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	linkUser(t, l, bg, "100")
	old, _ := l.AccessToken(ctx, "100", "")
	_, refreshesBefore := bg.TokensIssued()
	var wg sync.WaitGroup
	got := make([]string, 10)
	errs := make([]error, 10)
	for k := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[k], errs[k] = l.AccessToken(ctx, "100", old)
		}()
	}
	wg.Wait()
	for k := range 10 {
		if errs[k] != nil || got[k] == old || got[k] != got[0] {
			t.Fatalf("caller %d: %q, %v (others got %q)", k, got[k], errs[k], got[0])
		}
	}
	if _, refreshes := bg.TokensIssued(); refreshes != refreshesBefore+1 {
		t.Fatalf("%d refreshes for ten callers, want 1", refreshes-refreshesBefore)
	}
}

// TestLinksRefreshLockLapsed: a refresh outlives its lock (Bungie is slow), another
// caller refreshes meanwhile, and the slow one's single-use token is then refused.
// The link is alive (it holds the other caller's tokens): the slow caller takes them
// and does not unlink the user.
func TestLinksRefreshLockLapsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	l.lockTTL = 200 * time.Millisecond
	linkUser(t, l, bg, "100")
	old, _ := l.AccessToken(ctx, "100", "")
	bg.FailNext(bungietest.OpToken, 1, bungietest.Failure{Delay: 800 * time.Millisecond})
	type result struct {
		tok string
		err error
	}
	slow := make(chan result, 1)
	go func() {
		tok, err := l.AccessToken(ctx, "100", old)
		slow <- result{tok, err}
	}()
	time.Sleep(400 * time.Millisecond) // the slow refresh is under way, its lock gone
	fast, err := l.AccessToken(ctx, "100", old)
	if err != nil || fast == old {
		t.Fatalf("the second caller: %q, %v", fast, err)
	}
	got := <-slow
	if got.err != nil || got.tok != fast {
		t.Fatalf("the slow caller: %q, %v; want the other caller's token %q", got.tok, got.err, fast)
	}
	if _, err := l.Memberships(ctx, "100"); err != nil {
		t.Fatalf("the link is gone: %v", err)
	}
}

func TestLinksDeadRefreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, bg := newLinks(t)
	linkUser(t, l, bg, "100")
	old, _ := l.AccessToken(ctx, "100", "")
	bg.RevokeRefreshTokens()
	if _, err := l.AccessToken(ctx, "100", old); !errors.Is(err, ErrRelink) {
		t.Fatalf("got %v, want ErrRelink", err)
	}
	if _, err := l.Memberships(ctx, "100"); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("the dead link is kept: %v", err)
	}
}

func TestManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bg := bungietest.New(t, bungietest.Options{})
	client := bungie.New(bg.APIKey, bungie.Options{APIURL: bg.URL + "/Platform", StatsURL: bg.StatsURL, WebURL: bg.URL})
	m := NewManifest(client, zerolog.New(zerolog.NewTestWriter(t)))
	if _, ok := m.Find(ctx, 1851805954, 2352608786); !ok {
		t.Fatal("Cheating › Hacking not found")
	}
	clock := time.Now()
	m.now = func() time.Time { return clock }
	m.Categories(ctx, English)
	if n := bg.Calls(bungietest.OpManifest); n != 1 {
		t.Fatalf("%d manifest fetches for two lookups, want 1 (cached for a day)", n)
	}
	steps := []struct {
		name    string
		advance time.Duration
		fail    bool
		calls   int
	}{
		{"a day later it is fetched again", 25 * time.Hour, false, 2},
		{"the next day Bungie is down", 25 * time.Hour, true, 3},
		{"a failed fetch is not tried again at once", time.Minute, false, 3},
		{"but ten minutes later", 10 * time.Minute, false, 4},
		{"and then kept for a day", time.Hour, false, 4},
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		if s.fail {
			bg.FailNext(bungietest.OpManifest, 1, bungietest.Failure{HTTPStatus: 503})
		}
		if _, ok := m.Find(ctx, 1851805954, 2352608786); !ok {
			t.Fatalf("%s: Cheating › Hacking not found", s.name)
		}
		if n := bg.Calls(bungietest.OpManifest); n != s.calls {
			t.Fatalf("%s: %d manifest fetches, want %d", s.name, n, s.calls)
		}
	}

	down := bungietest.New(t, bungietest.Options{})
	down.SetFailure(bungietest.OpManifest, bungietest.Failure{HTML: true})
	fallback := NewManifest(bungie.New(down.APIKey, bungie.Options{APIURL: down.URL + "/Platform", StatsURL: down.StatsURL, WebURL: down.URL}),
		zerolog.New(zerolog.NewTestWriter(t)))
	if got := fallback.Search(ctx, English, "quit mid", 5); len(got) != 1 || got[0].Label != "Quitting › Quit Mid-Activity" {
		t.Fatalf("with Bungie down: %+v; want the shipped copy", got)
	}
	if id, ok := fallback.Find(ctx, 1, 2); ok {
		t.Fatalf("found %+v", id)
	}
}
