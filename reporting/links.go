package reporting

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/reportbot/reportbot/reporting/bungie"
)

// Errors of linking a Bungie.net account.
var (
	// ErrNotLinked: the Discord user has not linked a Bungie.net account.
	ErrNotLinked = errors.New("no linked Bungie.net account")
	// ErrRelink: the link no longer works (its refresh token was refused); the user
	// must link again.
	ErrRelink = errors.New("the Bungie.net link must be renewed")
	// ErrStateExpired: the sign-in link was used, or is older than ten minutes.
	ErrStateExpired = errors.New("the sign-in link expired")
	// ErrConsentDenied: the user declined on Bungie's page.
	ErrConsentDenied = errors.New("the user declined")
	// ErrBungieDown: Bungie could not finish the sign-in.
	ErrBungieDown = errors.New("Bungie.net could not finish the sign-in")
	// ErrOtherBrowser: the sign-in belongs to another browser than the one that
	// came with it: a consent link forwarded to someone else (login CSRF), or a
	// start link opened in a second browser.
	ErrOtherBrowser = errors.New("the sign-in was started in another browser")
)

// stateTTL is how long a /link bungie sign-in link lasts.
const stateTTL = 10 * time.Minute

// Links keeps the Bungie.net accounts Discord users linked (api mode): their OAuth
// tokens, encrypted with AES-256-GCM under TOKEN_KEY, and refreshed when they expire.
// Bungie's refresh tokens are single-use, so refreshing is done by one instance at a
// time per user, and the others then read the new tokens.
type Links struct {
	rdb      redis.UniversalClient
	aead     cipher.AEAD
	oauth    *oauth2.Config
	bungie   BungieAPI
	startURL string
	log      zerolog.Logger
	clear    *redis.Script
	bind     *redis.Script
	writes   writes
	lockTTL  time.Duration // how long a refresh holds the user's refresh lock at most
}

// NewLinks returns the link store. key is TOKEN_KEY (32 bytes); publicURL the bot's
// external base, under which SignInPages are served.
func NewLinks(rdb redis.UniversalClient, key []byte, oauth *oauth2.Config, api BungieAPI, publicURL string, log zerolog.Logger) (*Links, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("TOKEN_KEY: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("TOKEN_KEY: %w", err)
	}
	return &Links{rdb: rdb, aead: aead, oauth: oauth, bungie: api, startURL: publicURL + SignInStartPath, log: log,
		clear: redis.NewScript(unlockLua), bind: redis.NewScript(bindLua), writes: newWrites(rdb), lockTTL: 20 * time.Second}, nil
}

// link is what is kept of a linked account.
type link struct {
	BungieID     string              `json:"bungie_id"`
	Memberships  []bungie.Membership `json:"memberships"`
	AccessToken  string              `json:"access_token"`
	RefreshToken string              `json:"refresh_token"`
	AccessUntil  time.Time           `json:"access_until"`
	RefreshUntil time.Time           `json:"refresh_until"`
	LinkedAt     time.Time           `json:"linked_at"`
}

func linkKey(discordID string) string     { return userKey(discordID, "bungie") }
func stateKey(state string) string        { return keyPrefix + "{oauth:" + state + "}" }
func browserKey(state string) string      { return keyPrefix + "{oauth:" + state + "}:browser" }
func refreshLock(discordID string) string { return userKey(discordID, "bungie-refresh") }

// Start makes a single-use sign-in link for discordID, valid ten minutes: a page of
// the bot that sends them on to Bungie's consent page. It carries ctx's replay mark.
func (l *Links) Start(ctx context.Context, discordID string) (string, error) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	key := stateKey(state)
	if _, err := l.writes.run(ctx, []string{key}, func(p redis.Pipeliner) { p.Set(ctx, key, discordID, stateTTL) }); err != nil {
		return "", fmt.Errorf("starting a Bungie sign-in: %w", err)
	}
	return l.startURL + "?state=" + url.QueryEscape(state), nil
}

// AuthorizeURL is Bungie's consent page for a sign-in link's state, while the state
// is valid. browser is the secret of the browser that opened the link (the bot's
// sign-in cookie): the first browser to open it is the only one its sign-in can
// finish in, so a consent page forwarded to someone else links nothing. Another
// browser gets ErrOtherBrowser.
func (l *Links) AuthorizeURL(ctx context.Context, state, browser string) (string, error) {
	if browser == "" {
		return "", fmt.Errorf("%w: no browser secret", ErrOtherBrowser)
	}
	sum := browserSum(browser)
	held, err := l.bind.Run(ctx, l.rdb, []string{stateKey(state), browserKey(state)}, sum).Text()
	if errors.Is(err, redis.Nil) {
		return "", ErrStateExpired
	}
	if err != nil {
		return "", fmt.Errorf("checking a Bungie sign-in: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(held), []byte(sum)) != 1 {
		return "", ErrOtherBrowser
	}
	return l.oauth.AuthCodeURL(state), nil
}

// bindLua binds a sign-in state (KEYS[1]) to the first browser that opens it: it
// stores the browser's sum (ARGV[1]) in KEYS[2], expiring with the state, unless one
// is there, and returns the sum held; nil when the state has expired. Nothing is
// written for a state that does not exist.
const bindLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then ttl = 600000 end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ttl)
return redis.call('GET', KEYS[2])
`

// browserSum is what is kept of a browser's secret: its SHA-256, so that the store
// does not hold the cookie itself.
func browserSum(browser string) string {
	h := sha256.Sum256([]byte(browser))
	return hex.EncodeToString(h[:])
}

// Complete finishes a sign-in on Bungie's answer: the state (used once, whatever the
// outcome), the secret of the browser that came back with it, and the code, or the
// error Bungie sent back. A browser other than the one that opened the sign-in link
// gets ErrOtherBrowser, and nothing is linked. It stores the account's tokens and
// memberships and returns the Discord user it belongs to.
func (l *Links) Complete(ctx context.Context, state, browser, code, oauthError string) (string, error) {
	var owner, held *redis.StringCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		owner = p.GetDel(ctx, stateKey(state))
		held = p.GetDel(ctx, browserKey(state))
		return nil
	})
	discordID, herr := owner.Val(), held.Err()
	switch {
	case err != nil && !errors.Is(err, redis.Nil):
		return "", fmt.Errorf("finishing a Bungie sign-in: %w", err)
	case errors.Is(owner.Err(), redis.Nil):
		return "", ErrStateExpired
	case errors.Is(herr, redis.Nil) || browser == "" ||
		subtle.ConstantTimeCompare([]byte(held.Val()), []byte(browserSum(browser))) != 1:
		l.log.Warn().Str("user_id", discordID).Msg("a Bungie.net sign-in came back in another browser than the one that started it; nothing linked")
		return "", ErrOtherBrowser
	}
	if oauthError != "" {
		return discordID, fmt.Errorf("%w: %s", ErrConsentDenied, oauthError)
	}
	if code == "" {
		return discordID, fmt.Errorf("%w: no code", ErrConsentDenied)
	}
	tok, err := l.oauth.Exchange(ctx, code)
	if err != nil {
		return discordID, fmt.Errorf("%w: exchanging the code: %v", ErrBungieDown, err)
	}
	ms, err := l.bungie.Memberships(ctx, tok.AccessToken)
	if err != nil {
		return discordID, fmt.Errorf("%w: reading the memberships: %v", ErrBungieDown, err)
	}
	lk := &link{BungieID: ms.BungieID, Memberships: ms.Destiny, LinkedAt: time.Now().UTC()}
	lk.set(tok)
	if err := l.save(ctx, discordID, lk); err != nil {
		return discordID, err
	}
	l.log.Info().Str("user_id", discordID).Int("memberships", len(ms.Destiny)).Msg("Bungie.net account linked")
	return discordID, nil
}

// set takes the tokens of an OAuth answer. Bungie tells the refresh token's life in
// refresh_expires_in; ninety days when it does not.
func (lk *link) set(tok *oauth2.Token) {
	lk.AccessToken, lk.AccessUntil = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		lk.RefreshToken = tok.RefreshToken
		lk.RefreshUntil = time.Now().Add(90 * 24 * time.Hour)
		if s := fmt.Sprint(tok.Extra("refresh_expires_in")); s != "" {
			if secs, err := strconv.ParseFloat(s, 64); err == nil && secs > 0 {
				lk.RefreshUntil = time.Now().Add(time.Duration(secs) * time.Second)
			}
		}
	}
}

// Unlink forgets discordID's account; it reports whether there was one. It carries
// ctx's replay mark.
func (l *Links) Unlink(ctx context.Context, discordID string) (bool, error) {
	key := linkKey(discordID)
	res, err := l.writes.run(ctx, []string{key}, func(p redis.Pipeliner) { p.Del(ctx, key) })
	if err != nil {
		return false, fmt.Errorf("unlinking %s: %w", discordID, err)
	}
	n, _ := res[0].(int64)
	return n > 0, nil
}

// Memberships are the Destiny memberships of discordID's linked account.
func (l *Links) Memberships(ctx context.Context, discordID string) ([]bungie.Membership, error) {
	lk, err := l.load(ctx, discordID)
	if err != nil {
		return nil, err
	}
	return lk.Memberships, nil
}

// accessEarly is how long before its expiry an access token is renewed.
const accessEarly = time.Minute

// AccessToken returns a valid access token of discordID's account, refreshing it when
// it expired, or when it is refused: the token Bungie refused (else ""). Refresh
// tokens are single-use: one instance refreshes while the others wait and read its
// result, and a token refreshed since it was refused is not refreshed again.
func (l *Links) AccessToken(ctx context.Context, discordID, refused string) (string, error) {
	lk, err := l.load(ctx, discordID)
	if err != nil {
		return "", err
	}
	if lk.AccessToken != refused && time.Until(lk.AccessUntil) > accessEarly {
		return lk.AccessToken, nil
	}
	stale := lk.AccessToken
	var b [12]byte
	_, _ = rand.Read(b[:])
	owner := base64.RawURLEncoding.EncodeToString(b[:])
	for {
		ok, err := l.rdb.SetNX(ctx, refreshLock(discordID), owner, l.lockTTL).Result()
		if err != nil {
			return "", fmt.Errorf("refreshing the token of %s: %w", discordID, err)
		}
		if ok {
			break
		}
		// Another instance is refreshing: wait for its tokens.
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("refreshing the token of %s: %w", discordID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if lk, err = l.load(ctx, discordID); err != nil {
			return "", err
		}
		if lk.AccessToken != stale && time.Until(lk.AccessUntil) > accessEarly {
			return lk.AccessToken, nil
		}
	}
	defer l.clear.Run(context.WithoutCancel(ctx), l.rdb, []string{refreshLock(discordID)}, owner)
	// Read again under the lock: the refresh may have happened just before.
	if lk, err = l.load(ctx, discordID); err != nil {
		return "", err
	}
	if lk.AccessToken != stale && time.Until(lk.AccessUntil) > accessEarly {
		return lk.AccessToken, nil
	}
	tok, err := l.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: lk.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.Response != nil && re.Response.StatusCode == 400):
		// Our lock may have lapsed while Bungie was slow, and another instance used the
		// token first: its tokens are then in the store, and the link is alive.
		if now, lerr := l.load(ctx, discordID); lerr == nil && now.RefreshToken != lk.RefreshToken {
			return now.AccessToken, nil
		}
		l.log.Info().Str("user_id", discordID).Msg("Bungie.net refresh token refused; the user must link again")
		_, _ = l.Unlink(ctx, discordID)
		return "", ErrRelink
	case err != nil:
		return "", fmt.Errorf("refreshing the token of %s: %w", discordID, err)
	}
	lk.set(tok)
	if err := l.save(ctx, discordID, lk); err != nil {
		return "", err
	}
	return lk.AccessToken, nil
}

// save encrypts lk and stores it until its refresh token expires. The Discord id is
// the sealed data's associated data: a record copied to another user's key does not
// open.
func (l *Links) save(ctx context.Context, discordID string, lk *link) error {
	plain, err := json.Marshal(lk)
	if err != nil {
		return fmt.Errorf("encoding the link of %s: %w", discordID, err)
	}
	nonce := make([]byte, l.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := l.aead.Seal(nonce, nonce, plain, []byte(discordID))
	ttl := time.Until(lk.RefreshUntil)
	if ttl <= 0 {
		ttl = 90 * 24 * time.Hour
	}
	if err := l.rdb.Set(ctx, linkKey(discordID), sealed, ttl).Err(); err != nil {
		return fmt.Errorf("storing the link of %s: %w", discordID, err)
	}
	return nil
}

func (l *Links) load(ctx context.Context, discordID string) (*link, error) {
	sealed, err := l.rdb.Get(ctx, linkKey(discordID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotLinked
	}
	if err != nil {
		return nil, fmt.Errorf("reading the link of %s: %w", discordID, err)
	}
	n := l.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("the link of %s is damaged", discordID)
	}
	plain, err := l.aead.Open(nil, sealed[:n], sealed[n:], []byte(discordID))
	if err != nil {
		// TOKEN_KEY changed, or the record was tampered with: the user must link again.
		l.log.Warn().Str("user_id", discordID).Msg("a Bungie.net link does not decrypt; treating it as unlinked")
		return nil, ErrRelink
	}
	var lk link
	if err := json.Unmarshal(plain, &lk); err != nil {
		return nil, fmt.Errorf("decoding the link of %s: %w", discordID, err)
	}
	return &lk, nil
}
