package bot

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyCase is a public key, a message and a signature, for comparing
// verifySignature with crypto/ed25519.Verify.
type verifyCase struct {
	name          string
	key, msg, sig []byte
}

// verifyCases are signatures both good and bad, among them those where
// implementations of Ed25519 are known to differ: S not reduced, a key or an R of
// small order, a key not in its canonical encoding.
func verifyCases() []verifyCase {
	seed := sha256.Sum256([]byte("reportbot"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte(`1733616000{"id":"1","type":5}`)
	sig := ed25519.Sign(priv, msg)
	flipped := bytes.Clone(sig)
	flipped[10] ^= 1
	// S + L: the same signature with S not reduced mod L, which the standard
	// library refuses.
	unreduced := bytes.Clone(sig)
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for k := range 32 {
		v := int(unreduced[32+k]) + int(l[k]) + carry
		unreduced[32+k], carry = byte(v), v>>8
	}
	identity := make([]byte, 32)
	identity[0] = 1 // the neutral point: small order
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	nonCanonical[31] = 0x7f // y = 2^255 - 1, not reduced mod p
	smallR := append(bytes.Clone(identity), make([]byte, 32)...)
	return []verifyCase{
		{"good", pub, msg, sig},
		{"other message", pub, append(bytes.Clone(msg), ' '), sig},
		{"bit flipped", pub, msg, flipped},
		{"S not reduced", pub, msg, unreduced},
		{"small-order key, zero S, small-order R", identity, msg, smallR},
		{"small-order key", identity, msg, sig},
		{"key not canonical", nonCanonical, msg, sig},
		{"zeros", make([]byte, 32), msg, make([]byte, 64)},
	}
}

// sameAsStandardLibrary fails t unless verifySignature says what
// crypto/ed25519.Verify says of key, msg and sig.
func sameAsStandardLibrary(t *testing.T, key, msg, sig []byte) {
	t.Helper()
	want := ed25519.Verify(ed25519.PublicKey(key), msg, sig)
	got := false
	if xk, err := voied.NewExpandedPublicKey(voied.PublicKey(key)); err == nil && len(sig) == ed25519.SignatureSize {
		got = verifySignature(xk, msg, sig)
	}
	if got != want {
		t.Fatalf("verifySignature = %v, crypto/ed25519 %v\nkey %x\nmsg %x\nsig %x", got, want, key, msg, sig)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	cases := verifyCases()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { sameAsStandardLibrary(t, tc.key, tc.msg, tc.sig) })
	}
	if xk, _ := voied.NewExpandedPublicKey(voied.PublicKey(cases[0].key)); !verifySignature(xk, cases[0].msg, cases[0].sig) {
		t.Error("a good signature does not verify")
	}
	offCurve := make([]byte, 32)
	offCurve[0] = 2 // y = 2 is no point's
	if verifyKeyOf(offCurve) != nil || verifyKeyOf(nil) != nil || verifyKeyOf(cases[0].key) == nil {
		t.Error("verifyKeyOf unpacks a key that is no point, or not a good one")
	}
}

// FuzzVerify: verifySignature says what crypto/ed25519 says, of any key, message
// and signature.
func FuzzVerify(f *testing.F) {
	for _, tc := range verifyCases() {
		f.Add(tc.key, tc.msg, tc.sig)
	}
	f.Fuzz(func(t *testing.T, key, msg, sig []byte) {
		if len(key) != ed25519.PublicKeySize {
			return // config.Load refuses it; crypto/ed25519 would panic
		}
		sameAsStandardLibrary(t, key, msg, sig)
	})
}

// BenchmarkVerify compares crypto/ed25519.Verify with verifySignature on a signed
// report form.
//
//	go test -run='^$' -bench=Verify ./bot/
func BenchmarkVerify(b *testing.B) {
	seed := sha256.Sum256([]byte("reportbot"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	msg := append([]byte("1733616000"), reportForm...)
	sig := ed25519.Sign(priv, msg)
	xk, err := voied.NewExpandedPublicKey(voied.PublicKey(pub))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("bot", func(b *testing.B) {
		for b.Loop() {
			if !verifySignature(xk, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
}
