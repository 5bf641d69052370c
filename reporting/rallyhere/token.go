package rallyhere

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// refreshEarly is how long before its expiry a server token is replaced.
const refreshEarly = time.Minute

// tokens caches the server token. RallyHere's token endpoint takes a JSON body, which
// golang.org/x/oauth2/clientcredentials cannot send, so a small JSON exchange is
// wrapped in oauth2's ReuseTokenSource for the caching and early refresh.
type tokens struct {
	c         *Client
	basicAuth string

	mu     sync.Mutex
	src    oauth2.TokenSource
	issued string // the last token the exchange returned
}

func newTokens(c *Client, clientID, clientSecret string) *tokens {
	t := &tokens{c: c, basicAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+clientSecret))}
	t.src = oauth2.ReuseTokenSourceWithExpiry(nil, exchange{t}, refreshEarly)
	return t
}

// get returns a valid token. oauth2.TokenSource takes no context, so the exchange runs
// on its own and a caller whose context ends stops waiting for it.
func (t *tokens) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	src := t.src
	t.mu.Unlock()
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		ch <- result{tok, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", r.err
		}
		return r.tok.AccessToken, nil
	case <-ctx.Done():
		return "", fmt.Errorf("rallyhere token: %w", ctx.Err())
	}
}

// expire drops tok because the server said it expired, unless a newer token has been
// issued since.
func (t *tokens) expire(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.issued == tok {
		t.src = oauth2.ReuseTokenSourceWithExpiry(nil, exchange{t}, refreshEarly)
	}
}

// exchange asks the token endpoint for a new token.
type exchange struct{ t *tokens }

func (e exchange) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials"})
	if err := e.t.c.send(ctx, "token", http.MethodPost, "/users/v2/oauth/token", e.t.basicAuth, body, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, fmt.Errorf("rallyhere token: %w: no access_token", errBadAnswer)
	}
	e.t.mu.Lock()
	e.t.issued = out.AccessToken
	e.t.mu.Unlock()
	tok := &oauth2.Token{AccessToken: out.AccessToken, TokenType: out.TokenType}
	if out.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	return tok, nil
}
