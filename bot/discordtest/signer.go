package discordtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Signer is an Ed25519 key pair standing in for Discord's: the bot is configured with
// its public key and checks the signature of every interaction it receives over HTTP.
type Signer struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

// NewSigner makes a fresh key pair.
func NewSigner() *Signer {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("discordtest: generating a key: %v", err))
	}
	return &Signer{pub: pub, priv: priv}
}

// PublicKeyHex is the public key in hex: the value for DISCORD_PUBLIC_KEY.
func (s *Signer) PublicKeyHex() string {
	return hex.EncodeToString(s.pub)
}

// PublicKey is the public key.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return s.pub
}

// Sign sets X-Signature-Timestamp to ts in unix seconds and X-Signature-Ed25519 to the
// hex signature of timestamp+body, as Discord does.
func (s *Signer) Sign(req *http.Request, body []byte, ts time.Time) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	msg := make([]byte, 0, len(stamp)+len(body))
	msg = append(append(msg, stamp...), body...)
	req.Header.Set("X-Signature-Timestamp", stamp)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(s.priv, msg)))
}

// Request builds a signed POST of body to endpoint with Content-Type
// application/json, signed as of ts (an old ts makes a replay-window test).
func (s *Signer) Request(ctx context.Context, endpoint string, body []byte, ts time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the signed request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	s.Sign(req, body, ts)
	return req, nil
}
