package discordtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/reportbot/reportbot/reporting/openapitest"
)

const testUA = "DiscordBot (https://github.com/reportbot/reportbot, 1.0)"

// captureTB records Errorf instead of failing, to test what the fake reports.
type captureTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (c *captureTB) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *captureTB) Helper() {}

func (c *captureTB) reported() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// wantReported checks that exactly one failure was reported, mentioning want.
func (c *captureTB) wantReported(t *testing.T, want string) {
	t.Helper()
	errs := c.reported()
	if len(errs) != 1 || !strings.Contains(errs[0], want) {
		t.Fatalf("want one reported failure mentioning %q, got %q", want, errs)
	}
}

// rewrite sends discordgo's requests for https://discord.com/api/v9/ to the fake.
type rewrite struct{ base string }

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	const discord = "https://discord.com/api/v9/"
	if u := r.URL.String(); strings.HasPrefix(u, discord) {
		to, err := url.Parse(rw.base + "/" + strings.TrimPrefix(u, discord))
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.URL, r.Host = to, to.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the Discord error code of the body.
func (r response) errorCode(t *testing.T) int {
	t.Helper()
	var e struct {
		Code *int `json:"code"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == nil {
		t.Fatalf("not a Discord error body (%v): %s", err, r.body)
	}
	return *e.Code
}

// call sends a request as a well-behaved bot: its token and a DiscordBot User-Agent.
func call(t *testing.T, s *Server, method, path, contentType string, body []byte) response {
	t.Helper()
	return callWith(t, s, method, path, contentType, body, http.Header{
		"Authorization": {"Bot " + s.BotToken},
		"User-Agent":    {testUA},
	})
}

func callWith(t *testing.T, s *Server, method, path, contentType string, body []byte, h http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "") // Go would send its own otherwise
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func callJSON(t *testing.T, s *Server, method, path, body string) response {
	t.Helper()
	return call(t, s, method, path, "application/json", []byte(body))
}

// multipartBody builds Discord's multipart form: payload_json and files[n].
func multipartBody(t *testing.T, payload string, files ...File) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	h.Set("Content-Type", "application/json")
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte(payload))
	for i, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files[%d]"; filename=%q`, i, f.Name))
		h.Set("Content-Type", f.ContentType)
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(f.Data)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

func jsonField(t *testing.T, raw []byte, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return string(m[key])
}

func callbackPath(i *discordgo.Interaction) string {
	return "/interactions/" + i.ID + "/" + i.Token + "/callback"
}

func originalPath(s *Server, i *discordgo.Interaction) string {
	return "/webhooks/" + s.AppID + "/" + i.Token + "/messages/@original"
}

func command(name string) discordgo.ApplicationCommandInteractionData {
	return discordgo.ApplicationCommandInteractionData{ID: "1", Name: name, CommandType: discordgo.ChatApplicationCommand}
}

var player = &discordgo.User{ID: "80351110224678912", Username: "player", GlobalName: "Player"}

// TestDiscordgoSession runs a real discordgo session against the fake: gateway, an
// interaction delivered to a handler, the acknowledgement and an edit through REST.
func TestDiscordgoSession(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	dg, err := discordgo.New("Bot " + s.BotToken)
	if err != nil {
		t.Fatal(err)
	}
	dg.Client = &http.Client{Transport: rewrite{base: s.URL}, Timeout: 10 * time.Second}
	dg.Identify.Intents = discordgo.IntentsGuilds
	ready := make(chan *discordgo.Ready, 1)
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) { ready <- r })
	handled := make(chan error, 1)
	dg.AddHandler(func(dg *discordgo.Session, ic *discordgo.InteractionCreate) {
		err := dg.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral},
		})
		if err == nil {
			content := "Report filed: " + ic.ApplicationCommandData().Name
			_, err = dg.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: &content})
		}
		handled <- err
	})
	if err := dg.Open(); err != nil {
		t.Fatalf("opening the session: %v", err)
	}
	defer dg.Close()

	id := s.WaitIdentify(t, 5*time.Second)
	if id.Token != "Bot "+s.BotToken || id.Intents != int(discordgo.IntentsGuilds) || id.Shard != nil {
		t.Errorf("identify = %+v", id)
	}
	select {
	case r := <-ready:
		if r.User.ID != s.AppID || !r.User.Bot || r.Application.ID != s.AppID || r.SessionID == "" {
			t.Errorf("READY = %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no READY")
	}
	if n := s.Sessions(); n != 1 {
		t.Errorf("Sessions() = %d, want 1", n)
	}

	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "81384788765712384", "81384788765712385", player, discordgo.PermissionSendMessages, command("report"))
	if err := s.DispatchInteraction(i); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-handled:
		if err != nil {
			t.Fatalf("handler: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interaction was not handled")
	}
	cb, ok := s.Callback(i.Token)
	if !ok || cb.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource || cb.Data.Flags != discordgo.MessageFlagsEphemeral {
		t.Fatalf("Callback = %+v, %v", cb, ok)
	}
	orig := s.WaitOriginal(t, i.Token, time.Second, func(m json.RawMessage) bool { return strings.Contains(string(m), "Report filed") })
	if got, want := string(orig), `{"content":"Report filed: report","flags":64,"tts":false}`; got != want {
		t.Errorf("Original = %s, want %s", got, want)
	}
	c := s.WaitCall(t, time.Second, func(c Call) bool { return c.Method == "GET" && c.Path == "/gateway" })
	if c.Status != http.StatusOK || !strings.HasPrefix(c.Header.Get("User-Agent"), "DiscordBot (") {
		t.Errorf("GET /gateway = %+v", c)
	}
}

func TestSigner(t *testing.T) {
	t.Parallel()
	signer := NewSigner()
	body := []byte(`{"type":1}`)
	ts := time.Unix(1700000000, 0)
	req, err := signer.Request(context.Background(), "http://bot.example/interactions", body, ts)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Signature-Timestamp"); got != "1700000000" {
		t.Errorf("timestamp = %q", got)
	}
	if req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", req.Header.Get("Content-Type"))
	}
	sig, err := hex.DecodeString(req.Header.Get("X-Signature-Ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hex.DecodeString(signer.PublicKeyHex())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"timestamp and body", "1700000000" + string(body), true},
		{"body alone", string(body), false},
		{"other body", "1700000000" + `{"type":2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ed25519.Verify(pub, []byte(tt.msg), sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	if !discordgo.VerifyInteraction(req, signer.PublicKey()) {
		t.Error("discordgo.VerifyInteraction rejects the request")
	}
}

// TestPost delivers interactions to a tiny HTTP endpoint that checks signatures.
func TestPost(t *testing.T) {
	t.Parallel()
	signer := NewSigner()
	tests := []struct {
		name     string
		typ      discordgo.InteractionType
		unsigned bool
		answer   func(s *Server) (int, string) // status and body the endpoint answers
		wantCode int
		wantType discordgo.InteractionResponseType
		unacked  bool   // the answer must not count as an acknowledgement
		wantOrig string // Original after the answer; "" = none
		reported string // failure the fake must report; "" = none
	}{
		{name: "ping", typ: discordgo.InteractionPing,
			answer:   func(*Server) (int, string) { return 200, `{"type":1}` },
			wantCode: 200, wantType: discordgo.InteractionResponsePong},
		{name: "message", typ: discordgo.InteractionApplicationCommand,
			answer:   func(*Server) (int, string) { return 200, `{"type":4,"data":{"content":"hi","flags":64}}` },
			wantCode: 200, wantType: discordgo.InteractionResponseChannelMessageWithSource,
			wantOrig: `{"content":"hi","flags":64}`},
		{name: "modal", typ: discordgo.InteractionApplicationCommand,
			answer: func(*Server) (int, string) {
				return 200, `{"type":9,"data":{"custom_id":"report","title":"Report","components":[{"type":18,"label":"Reason","component":{"type":3,"custom_id":"reason","options":[{"label":"Cheating","value":"cheating"}]}}]}}`
			},
			wantCode: 200, wantType: discordgo.InteractionResponseModal},
		{name: "unsigned is refused", typ: discordgo.InteractionPing, unsigned: true,
			wantCode: 401},
		{name: "answer outside the document", typ: discordgo.InteractionApplicationCommand,
			answer:   func(*Server) (int, string) { return 200, `{"type":4,"data":{"content":7}}` },
			wantCode: 200, unacked: true, reported: "does not match the document"},
		{name: "too slow", typ: discordgo.InteractionApplicationCommand,
			answer: func(s *Server) (int, string) {
				s.Advance(3100 * time.Millisecond) // as if the bot had worked that long
				return 200, `{"type":5}`
			},
			wantCode: 200, unacked: true, reported: "Discord gives up after 3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctb := &captureTB{TB: t}
			s := New(ctb, Options{})
			bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.UserAgent() != interactionsUA {
					t.Errorf("User-Agent = %q", r.UserAgent())
				}
				if !discordgo.VerifyInteraction(r, signer.PublicKey()) {
					http.Error(w, "invalid request signature", http.StatusUnauthorized)
					return
				}
				var i discordgo.Interaction
				if err := json.NewDecoder(r.Body).Decode(&i); err != nil {
					t.Errorf("decoding the interaction: %v", err)
				}
				status, body := tt.answer(s)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				w.Write([]byte(body))
			}))
			defer bot.Close()

			i := s.NewInteraction(tt.typ, "81384788765712384", "81384788765712385", player, 0, nil)
			sg := signer
			if tt.unsigned {
				sg = nil
			}
			resp, code, err := s.Post(context.Background(), bot.URL+"/interactions", sg, i)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("status = %d, want %d", code, tt.wantCode)
			}
			cb, acked := s.Callback(i.Token)
			if tt.wantCode != 200 || tt.unacked {
				if acked || (resp != nil) != tt.unacked {
					t.Errorf("response %+v, acknowledged %v", resp, acked)
				}
				if tt.reported != "" {
					ctb.wantReported(t, tt.reported)
				}
				return
			}
			if resp == nil || resp.Type != tt.wantType || !acked || cb.Type != tt.wantType {
				t.Fatalf("response %+v, callback %+v; want type %d", resp, cb, tt.wantType)
			}
			orig, ok := s.Original(i.Token)
			if ok != (tt.wantOrig != "") || string(orig) != tt.wantOrig {
				t.Errorf("Original = %s, %v; want %s", orig, ok, tt.wantOrig)
			}
			if tt.reported == "" {
				if errs := ctb.reported(); len(errs) > 0 {
					t.Errorf("unexpected failures reported: %q", errs)
				}
				return
			}
			ctb.wantReported(t, tt.reported)
		})
	}
}

func TestModalResponseDecodes(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
	r := callJSON(t, s, "POST", callbackPath(i), `{"type":9,"data":{"custom_id":"report","title":"Report","components":[{"type":18,"label":"Reason","component":{"type":3,"custom_id":"reason","options":[{"label":"Cheating","value":"cheating"}]}}]}}`)
	if r.status != http.StatusNoContent {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	cb, ok := s.Callback(i.Token)
	if !ok || cb.Data == nil || len(cb.Data.Components) != 1 {
		t.Fatalf("Callback = %+v, %v", cb, ok)
	}
	label, ok := cb.Data.Components[0].(*discordgo.Label)
	if !ok || label.Label != "Reason" {
		t.Errorf("component = %#v", cb.Data.Components[0])
	}
	if _, ok := s.Original(i.Token); ok {
		t.Error("a modal has no original message")
	}
	if r := callJSON(t, s, "PATCH", originalPath(s, i), `{"content":"x"}`); r.status != 404 || r.errorCode(t) != codeUnknownMessage {
		t.Errorf("PATCH @original after a modal: %d %s", r.status, r.body)
	}
}

// TestDocumentViolation checks that a request outside the document is answered 400
// with the validator's text and reported.
func TestDocumentViolation(t *testing.T) {
	t.Parallel()
	ctb := &captureTB{TB: t}
	s := New(ctb, Options{})
	r := callJSON(t, s, "POST", "/channels/123/messages", `{"content":5}`)
	if r.status != http.StatusBadRequest || r.errorCode(t) != 50035 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), "$.content") {
		t.Errorf("the body does not carry the validator's text: %s", r.body)
	}
	ctb.wantReported(t, "does not match the document")
	if len(s.Messages("123")) != 0 {
		t.Error("an invalid message was stored")
	}

	// A multipart body is checked through its payload_json.
	ctb2 := &captureTB{TB: t}
	s2 := New(ctb2, Options{})
	ct, body := multipartBody(t, `{"content":5}`, File{Name: "a.png", ContentType: "image/png", Data: []byte("png")})
	if r := call(t, s2, "POST", "/channels/123/messages", ct, body); r.status != http.StatusBadRequest {
		t.Fatalf("multipart: got %d %s", r.status, r.body)
	}
	ctb2.wantReported(t, "$.content")
}

func TestUnknownRouteAndUserAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		header   http.Header
		status   int
		reported string
	}{
		{"unmodelled route", "/guilds/1/bans", http.Header{"Authorization": {"Bot test-token"}, "User-Agent": {testUA}}, 404, "not a route the fake models"},
		{"missing User-Agent", "/gateway/bot", http.Header{"Authorization": {"Bot test-token"}}, 200, "User-Agent"},
		{"foreign User-Agent", "/gateway/bot", http.Header{"Authorization": {"Bot test-token"}, "User-Agent": {"Go-http-client/1.1"}}, 200, "User-Agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctb := &captureTB{TB: t}
			s := New(ctb, Options{})
			r := callWith(t, s, "GET", tt.path, "", nil, tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			ctb.wantReported(t, tt.reported)
		})
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	s := New(t, Options{BotToken: "secret"})
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
	tests := []struct {
		name, method, path, body, auth string
		want                           int
	}{
		{"no token", "GET", "/gateway/bot", "", "", 401},
		{"wrong token", "GET", "/gateway/bot", "", "Bot nope", 401},
		{"missing Bot prefix", "GET", "/gateway/bot", "", "secret", 401},
		{"bearer", "POST", "/channels/1/messages", `{"content":"x"}`, "Bearer secret", 401},
		{"bot token", "GET", "/gateway/bot", "", "Bot secret", 200},
		{"gateway is public", "GET", "/gateway", "", "", 200},
		{"callback needs no token", "POST", callbackPath(i), `{"type":5}`, "", 204},
		{"webhook needs no token", "PATCH", originalPath(s, i), `{"content":"done"}`, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"User-Agent": {testUA}}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			r := callWith(t, s, tt.method, tt.path, "application/json", []byte(tt.body), h)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 401 && (r.errorCode(t) != 0 || !strings.Contains(string(r.body), "401: Unauthorized")) {
				t.Errorf("body %s", r.body)
			}
		})
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	s.RateLimitNext("POST", "/channels/1/", 1, 1500*time.Millisecond, false)
	s.RateLimitNext("", "/users/@me/channels", 1, 250*time.Millisecond, true)
	s.FailNext("PATCH", "/channels/", 2, http.StatusBadGateway)

	r := callJSON(t, s, "POST", "/channels/2/messages", `{"content":"other channel"}`)
	if r.status != 200 {
		t.Fatalf("unmatched request: %d", r.status)
	}
	r = callJSON(t, s, "POST", "/channels/1/messages", `{"content":"x"}`)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %d", r.status)
	}
	for k, want := range map[string]string{"Retry-After": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.500", "X-RateLimit-Scope": "user", "X-RateLimit-Global": ""} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("X-RateLimit-Bucket") == "" || r.header.Get("X-RateLimit-Reset") == "" {
		t.Errorf("rate-limit headers missing: %v", r.header)
	}
	var rl struct {
		Message    string  `json:"message"`
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	if err := json.Unmarshal(r.body, &rl); err != nil || rl.Message != "You are being rate limited." || rl.RetryAfter != 1.5 || rl.Global {
		t.Errorf("429 body %s (%v)", r.body, err)
	}
	if r := callJSON(t, s, "POST", "/channels/1/messages", `{"content":"x"}`); r.status != 200 {
		t.Errorf("after the injected 429: %d", r.status)
	}

	r = callJSON(t, s, "POST", "/users/@me/channels", `{"recipient_id":"5"}`)
	if r.status != 429 || r.header.Get("X-RateLimit-Global") != "true" || !strings.Contains(string(r.body), `"global":true`) {
		t.Errorf("global 429: %d %v %s", r.status, r.header, r.body)
	}

	mid := jsonField(t, callJSON(t, s, "POST", "/channels/3/messages", `{"content":"x"}`).body, "id")
	for range 2 {
		r := callJSON(t, s, "PATCH", "/channels/3/messages/"+strings.Trim(mid, `"`), `{"content":"y"}`)
		if r.status != http.StatusBadGateway || r.errorCode(t) != 0 {
			t.Errorf("injected failure: %d %s", r.status, r.body)
		}
	}
	if r := callJSON(t, s, "PATCH", "/channels/3/messages/"+strings.Trim(mid, `"`), `{"content":"y"}`); r.status != 200 {
		t.Errorf("after the injected failures: %d", r.status)
	}
	statuses := []int{}
	for _, c := range s.Calls() {
		statuses = append(statuses, c.Status)
	}
	if fmt.Sprint(statuses) != "[200 429 200 429 200 502 502 200]" {
		t.Errorf("recorded statuses %v", statuses)
	}
}

// TestDiscordgoRetriesRateLimit checks that discordgo's bookkeeping works with the
// fake's headers: it waits out an injected 429 and retries.
func TestDiscordgoRetriesRateLimit(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	dg, err := discordgo.New("Bot " + s.BotToken)
	if err != nil {
		t.Fatal(err)
	}
	dg.Client = &http.Client{Transport: rewrite{base: s.URL}, Timeout: 10 * time.Second}
	s.RateLimitNext("POST", "/channels/", 1, 100*time.Millisecond, false)
	for n := range 3 {
		if _, err := dg.ChannelMessageSendComplex("42", &discordgo.MessageSend{Content: fmt.Sprint("report ", n)}); err != nil {
			t.Fatalf("send %d: %v", n, err)
		}
	}
	msgs := s.Messages("42")
	if len(msgs) != 3 {
		t.Fatalf("messages: %+v", msgs)
	}
	calls := s.Calls()
	if len(calls) != 4 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Errorf("calls: %+v", calls)
	}
}

func TestOriginalMerge(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", player, 0, command("report"))
	if r := callJSON(t, s, "PATCH", originalPath(s, i), `{"content":"early"}`); r.status != 404 || r.errorCode(t) != codeUnknownWebhook {
		t.Fatalf("PATCH before the acknowledgement: %d %s", r.status, r.body)
	}
	if r := callJSON(t, s, "POST", callbackPath(i), `{"type":4,"data":{"content":"queued","embeds":[{"title":"Report"}],"flags":64}}`); r.status != 204 {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	steps := []struct {
		name  string
		patch string
		want  string
	}{
		{"content replaced, others kept", `{"content":"delivered"}`, `{"content":"delivered","embeds":[{"title":"Report"}],"flags":64}`},
		{"components added", `{"components":[]}`, `{"components":[],"content":"delivered","embeds":[{"title":"Report"}],"flags":64}`},
		{"null clears", `{"embeds":null,"content":"done"}`, `{"components":[],"content":"done","flags":64}`},
	}
	for _, st := range steps {
		r := callJSON(t, s, "PATCH", originalPath(s, i), st.patch)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", st.name, r.status, r.body)
		}
		got, _ := s.Original(i.Token)
		if string(got) != st.want {
			t.Errorf("%s: Original = %s, want %s", st.name, got, st.want)
		}
	}

	// A multipart edit adds a file, served by the CDN.
	ct, body := multipartBody(t, `{"content":"with evidence"}`, File{Name: "clip.png", ContentType: "image/png", Data: []byte("PNG…")})
	r := call(t, s, "PATCH", originalPath(s, i), ct, body)
	if r.status != 200 {
		t.Fatalf("multipart PATCH: %d %s", r.status, r.body)
	}
	var msg discordgo.Message
	if err := json.Unmarshal(r.body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Content != "with evidence" || msg.ChannelID != "2" || len(msg.Attachments) != 1 || msg.EditedTimestamp == nil {
		t.Fatalf("message %+v", msg)
	}
	res, err := http.Get(msg.Attachments[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(data) != "PNG…" || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("CDN: %d %q %v", res.StatusCode, data, res.Header)
	}
	c := s.WaitCall(t, time.Second, func(c Call) bool { return c.Method == "PATCH" && len(c.Files) == 1 })
	if c.Files[0].Field != "files[0]" || c.Files[0].Name != "clip.png" || string(c.Body) != `{"content":"with evidence"}` {
		t.Errorf("recorded call %+v", c)
	}

	// Follow-ups, and GET of @original.
	r = callJSON(t, s, "POST", "/webhooks/"+s.AppID+"/"+i.Token+"?wait=true", `{"content":"follow-up"}`)
	if r.status != 200 {
		t.Fatalf("follow-up: %d %s", r.status, r.body)
	}
	fid := strings.Trim(jsonField(t, r.body, "id"), `"`)
	if r := callJSON(t, s, "PATCH", "/webhooks/"+s.AppID+"/"+i.Token+"/messages/"+fid, `{"content":"edited follow-up"}`); r.status != 200 {
		t.Fatalf("follow-up edit: %d %s", r.status, r.body)
	}
	if f := s.Followups(i.Token); len(f) != 1 || f[0].Edits != 1 || !strings.Contains(string(f[0].Body), "edited follow-up") {
		t.Errorf("Followups = %+v", f)
	}
	if r := call(t, s, "GET", originalPath(s, i), "", nil); r.status != 200 || jsonField(t, r.body, "content") != `"with evidence"` {
		t.Errorf("GET @original: %d %s", r.status, r.body)
	}
	if r := callJSON(t, s, "PATCH", "/webhooks/1/"+i.Token+"/messages/@original", `{"content":"x"}`); r.status != 404 || r.errorCode(t) != codeUnknownWebhook {
		t.Errorf("other application: %d %s", r.status, r.body)
	}

	// Tokens live 15 minutes.
	s.Advance(16 * time.Minute)
	if r := callJSON(t, s, "PATCH", originalPath(s, i), `{"content":"late"}`); r.status != 404 || r.errorCode(t) != codeUnknownWebhook {
		t.Errorf("expired token: %d %s", r.status, r.body)
	}
}

func TestCallbackErrors(t *testing.T) {
	t.Parallel()
	ctb := &captureTB{TB: t}
	s := New(ctb, Options{})
	gw := dialGateway(t, s)
	gw.identify(t, "Bot "+s.BotToken, nil)

	acked := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
	if r := callJSON(t, s, "POST", callbackPath(acked), `{"type":5}`); r.status != 204 {
		t.Fatalf("first callback: %d %s", r.status, r.body)
	}
	late := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
	if err := s.DispatchInteraction(late); err != nil {
		t.Fatal(err)
	}
	gw.expectDispatch(t, "INTERACTION_CREATE")
	s.Advance(3100 * time.Millisecond)

	tests := []struct {
		name     string
		path     string
		status   int
		code     int
		reported string
	}{
		{"unknown interaction", "/interactions/123/bm9wZQ/callback", 404, codeUnknownInteraction, ""},
		{"token of another interaction", "/interactions/123/" + acked.Token + "/callback", 404, codeUnknownInteraction, ""},
		{"already acknowledged", callbackPath(acked), 400, codeAlreadyAcknowledged, ""},
		{"after the 3-second deadline", callbackPath(late), 404, codeUnknownInteraction, "3-second deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctb.mu.Lock()
			ctb.errs = nil
			ctb.mu.Unlock()
			r := callJSON(t, s, "POST", tt.path, `{"type":5}`)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Fatalf("got %d %s, want %d code %d", r.status, r.body, tt.status, tt.code)
			}
			if tt.reported == "" {
				if errs := ctb.reported(); len(errs) != 0 {
					t.Errorf("unexpected failures reported: %q", errs)
				}
				return
			}
			ctb.wantReported(t, tt.reported)
		})
	}
	if _, ok := s.Callback(late.Token); ok {
		t.Error("a late acknowledgement was recorded")
	}
}

// TestComponentUpdate: a button on a message the bot posted; answering with an update
// edits that message, and the interaction's own data reaches the bot intact.
func TestComponentUpdate(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	r := callJSON(t, s, "POST", "/channels/77/messages", `{"content":"New report","components":[{"type":1,"components":[{"type":2,"style":1,"label":"Claim","custom_id":"claim:1"}]}],"allowed_mentions":{"parse":[]}}`)
	if r.status != 200 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	var posted discordgo.Message
	if err := json.Unmarshal(r.body, &posted); err != nil {
		t.Fatal(err)
	}
	i := s.NewInteraction(discordgo.InteractionMessageComponent, "1", "77", player, discordgo.PermissionManageMessages,
		discordgo.MessageComponentInteractionData{CustomID: "claim:1", ComponentType: discordgo.ButtonComponent})
	i.Message = &posted

	gw := dialGateway(t, s)
	gw.identify(t, s.BotToken, nil)
	if err := s.DispatchInteraction(i); err != nil {
		t.Fatal(err)
	}
	f := gw.expectDispatch(t, "INTERACTION_CREATE")
	var got discordgo.Interaction
	if err := json.Unmarshal(f.D, &got); err != nil {
		t.Fatal(err)
	}
	if got.Message == nil || got.Message.ID != posted.ID || got.MessageComponentData().CustomID != "claim:1" || got.Member.Permissions != discordgo.PermissionManageMessages {
		t.Fatalf("delivered %s", f.D)
	}
	if !strings.Contains(string(f.D), `"attachment_size_limit"`) {
		t.Errorf("fields discordgo does not model were lost: %s", f.D)
	}

	if r := callJSON(t, s, "POST", callbackPath(i), `{"type":7,"data":{"content":"Claimed by player","components":[]}}`); r.status != 204 {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	msgs := s.Messages("77")
	if len(msgs) != 1 || msgs[0].Edits != 1 || msgs[0].ID != posted.ID {
		t.Fatalf("Messages = %+v", msgs)
	}
	if got, want := string(msgs[0].Body), `{"allowed_mentions":{"parse":[]},"components":[],"content":"Claimed by player"}`; got != want {
		t.Errorf("Body = %s, want %s", got, want)
	}
	if orig, _ := s.Original(i.Token); !strings.Contains(string(orig), "Claimed by player") {
		t.Errorf("Original = %s", orig)
	}
}

func TestChannels(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	dm := func() string {
		r := callJSON(t, s, "POST", "/users/@me/channels", `{"recipient_id":"555"}`)
		if r.status != 200 || jsonField(t, r.body, "type") != "1" {
			t.Fatalf("DM channel: %d %s", r.status, r.body)
		}
		return strings.Trim(jsonField(t, r.body, "id"), `"`)
	}
	ch := dm()
	if again := dm(); again != ch || s.DMChannel("555") != ch || s.DMChannel("556") != "" {
		t.Fatalf("DM channel ids %s %s %s", ch, again, s.DMChannel("555"))
	}
	if _, ok := snowflakeTime(ch); !ok {
		t.Errorf("DM channel id %q is not a snowflake", ch)
	}
	if r := callJSON(t, s, "POST", "/channels/"+ch+"/messages", `{"content":"Your report was resolved"}`); r.status != 200 {
		t.Fatalf("DM: %d %s", r.status, r.body)
	}
	s.CloseDMs("555")
	s.SetChannelMissing("404")
	s.SetForbidden("403")
	tests := []struct {
		name, method, path string
		status, code       int
	}{
		{"closed DMs", "POST", "/channels/" + ch + "/messages", 403, codeCannotDM},
		{"missing channel", "POST", "/channels/404/messages", 404, codeUnknownChannel},
		{"missing channel edit", "PATCH", "/channels/404/messages/1", 404, codeUnknownChannel},
		{"forbidden channel", "POST", "/channels/403/messages", 403, codeMissingPermissions},
		{"unknown message", "PATCH", "/channels/9/messages/1", 404, codeUnknownMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callJSON(t, s, tt.method, tt.path, `{"content":"x"}`)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Errorf("got %d %s, want %d code %d", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	if msgs := s.Messages(ch); len(msgs) != 1 || msgs[0].ChannelID != ch {
		t.Errorf("DM messages %+v", msgs)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	s := New(t, Options{AppID: "1234567890123456789"})
	cmds := `[{"name":"report","description":"Report a player","contexts":[0]},{"name":"Report player","type":2,"contexts":[0]}]`
	tests := []struct {
		name, path, guild string
		status, code      int
	}{
		{"global", "/applications/1234567890123456789/commands", "", 200, 0},
		{"guild", "/applications/1234567890123456789/guilds/42/commands", "42", 200, 0},
		{"other application", "/applications/1/commands", "", 404, codeUnknownApplication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callJSON(t, s, "PUT", tt.path, cmds)
			if r.status != tt.status {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if tt.status != 200 {
				if r.errorCode(t) != tt.code {
					t.Errorf("body %s", r.body)
				}
				return
			}
			var got []discordgo.ApplicationCommand
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID == "" || got[0].ApplicationID != s.AppID || got[0].Version == "" || got[0].GuildID != tt.guild || got[1].Type != discordgo.UserApplicationCommand {
				t.Errorf("answer %s", r.body)
			}
			// A second overwrite keeps the ids and changes the version.
			var again []discordgo.ApplicationCommand
			if err := json.Unmarshal(callJSON(t, s, "PUT", tt.path, cmds).body, &again); err != nil {
				t.Fatal(err)
			}
			if len(again) != 2 || again[0].ID != got[0].ID || again[1].ID != got[1].ID || again[0].Version == got[0].Version {
				t.Errorf("second overwrite %+v, first %+v", again, got)
			}
			if stored := s.Commands(tt.guild); len(stored) != 2 || !strings.Contains(string(stored[0]), `"name":"report"`) {
				t.Errorf("Commands(%q) = %s", tt.guild, stored)
			}
		})
	}
	if len(s.Commands("43")) != 0 {
		t.Error("commands in a guild nobody registered")
	}
}

// TestCommandLocalizations refuses localizations keyed by anything but Discord's
// locales, as Discord does, at every depth.
func TestCommandLocalizations(t *testing.T) {
	t.Parallel()
	rec := openapitest.NewRecorder(t)
	s := New(rec, Options{AppID: "1234567890123456789"})
	path := "/applications/1234567890123456789/commands"
	good := `[{"name":"report","description":"d","description_localizations":{"de":"x","es-419":"y","pt-BR":"z"},"contexts":[0],` +
		`"options":[{"type":3,"name":"s","description":"d","description_localizations":{"pl":"p"},"choices":[{"name":"a","value":"a","name_localizations":{"fr":"f"}}]}]},` +
		`{"name":"Report player","type":2,"name_localizations":{"de":"Spieler melden"},"contexts":[0]}]`
	before := rec.Count()
	if r := callJSON(t, s, "PUT", path, good); r.status != 200 {
		t.Fatalf("Discord's locales: %d %s", r.status, r.body)
	}
	rec.Expect(t, before, false)
	for _, bad := range []string{
		`[{"name":"report","description":"d","description_localizations":{"de-DE":"x"},"contexts":[0]}]`,
		`[{"name":"report","description":"d","contexts":[0],"options":[{"type":3,"name":"s","description":"d","choices":[{"name":"a","value":"a","name_localizations":{"es":"f"}}]}]}]`,
		`[{"name":"Report player","type":2,"name_localizations":{"en":"Report"},"contexts":[0]}]`,
	} {
		before := rec.Count()
		if r := callJSON(t, s, "PUT", path, bad); r.status != 400 {
			t.Errorf("%s: %d, want 400", bad, r.status)
		}
		rec.Expect(t, before, true)
	}
}

// TestResponsesMatchDocument validates the fake's own answers against the document,
// so that clients decoding them strictly get what Discord would send.
func TestResponsesMatchDocument(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("compiling the document's response schemas takes seconds")
	}
	s := New(t, Options{})
	// A validator of its own: compiling the message's response schema takes 25 s
	// under the race detector, which on the shared one held up the other tests'
	// requests for as long (one timed out at 10 s).
	v, err := openapitest.Own(openapitest.Discord)
	if err != nil {
		t.Fatal(err)
	}
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
	callJSON(t, s, "POST", callbackPath(i), `{"type":5,"data":{"flags":64}}`)
	mid := ""
	steps := []struct{ method, path, body string }{
		{"GET", "/gateway", ""},
		{"GET", "/gateway/bot", ""},
		{"GET", "/users/@me", ""},
		{"PUT", "/applications/" + s.AppID + "/commands", `[{"name":"report","description":"d","contexts":[0]}]`},
		{"PATCH", originalPath(s, i), `{"content":"done","embeds":[],"components":[]}`},
		{"POST", "/webhooks/" + s.AppID + "/" + i.Token + "?wait=true", `{"content":"more"}`},
		{"POST", "/channels/5/messages", `{"content":"log"}`},
		{"PATCH", "/channels/5/messages/{mid}", `{"content":"log 2"}`},
		{"POST", "/users/@me/channels", `{"recipient_id":"9"}`},
		{"POST", "/channels/404/messages", `{"content":"x"}`},
	}
	s.SetChannelMissing("404")
	for _, st := range steps {
		path := strings.ReplaceAll(st.path, "{mid}", mid)
		r := callJSON(t, s, st.method, path, st.body)
		if st.method == "POST" && strings.HasPrefix(path, "/channels/5/") {
			mid = strings.Trim(jsonField(t, r.body, "id"), `"`)
		}
		if r.status >= 400 {
			// The validator cannot render the document's error schema (a circular
			// reference); error bodies are checked by the tests that provoke them.
			continue
		}
		req, _ := http.NewRequest(st.method, s.URL+path, nil)
		if err := v.Response(req, r.status, r.header, r.body); err != nil {
			t.Errorf("%s %s: %v", st.method, path, err)
		}
	}
}

func TestSnowflakes(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	seen := map[string]bool{}
	start := time.Now().Add(-time.Millisecond)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				id := s.snowflake()
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 4000 {
		t.Fatalf("%d distinct ids out of 4000", len(seen))
	}
	i := s.NewInteraction(discordgo.InteractionPing, "", "", nil, 0, nil)
	at, ok := snowflakeTime(i.ID)
	if !ok || at.Before(start.Truncate(time.Millisecond)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("interaction id %s decodes to %v", i.ID, at)
	}
	if i.AppID != s.AppID || i.Version != 1 || i.Token == "" || i.User == nil || i.Member != nil || i.Context != discordgo.InteractionContextBotDM {
		t.Errorf("DM interaction %+v", i)
	}
	g := s.NewInteraction(discordgo.InteractionApplicationCommand, "10", "11", player, 8, command("report"))
	if g.Member == nil || g.Member.User.ID != player.ID || g.Member.Permissions != 8 || g.GuildID != "10" || g.ChannelID != "11" || g.Context != discordgo.InteractionContextGuild || g.ApplicationCommandData().Name != "report" {
		t.Errorf("guild interaction %+v", g)
	}
}

// gwClient is a bare gateway client, to test the protocol itself.
type gwClient struct{ ws *websocket.Conn }

type gwFrame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

func dialGateway(t *testing.T, s *Server) *gwClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.GatewayURL+"/?v=10&encoding=json", nil)
	if err != nil {
		t.Fatalf("dialing the gateway: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &gwClient{ws: ws}
	if f := c.read(t); f.Op != opHello {
		t.Fatalf("first frame %+v, want HELLO", f)
	}
	return c
}

func (c *gwClient) read(t *testing.T) gwFrame {
	t.Helper()
	f, err := c.tryRead()
	if err != nil {
		t.Fatalf("reading the gateway: %v", err)
	}
	return f
}

func (c *gwClient) tryRead() (gwFrame, error) {
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f gwFrame
	_, msg, err := c.ws.ReadMessage()
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(msg, &f)
}

func (c *gwClient) write(t *testing.T, op int, d any) {
	t.Helper()
	if err := c.ws.WriteJSON(map[string]any{"op": op, "d": d}); err != nil {
		t.Fatalf("writing to the gateway: %v", err)
	}
}

// identify sends IDENTIFY and returns READY's data.
func (c *gwClient) identify(t *testing.T, token string, shard *[2]int) map[string]json.RawMessage {
	t.Helper()
	d := map[string]any{"token": token, "intents": 1, "properties": map[string]string{"os": "linux"}, "compress": true}
	if shard != nil {
		d["shard"] = shard
	}
	c.write(t, opIdentify, d)
	f := c.expectDispatch(t, "READY")
	var ready map[string]json.RawMessage
	if err := json.Unmarshal(f.D, &ready); err != nil {
		t.Fatal(err)
	}
	return ready
}

func (c *gwClient) expectDispatch(t *testing.T, typ string) gwFrame {
	t.Helper()
	f := c.read(t)
	if f.Op != opDispatch || f.T == nil || *f.T != typ || f.S == nil {
		t.Fatalf("got %+v, want dispatch %s", f, typ)
	}
	return f
}

func TestGatewayProtocol(t *testing.T) {
	t.Parallel()
	s := New(t, Options{HeartbeatInterval: 1234 * time.Millisecond})

	t.Run("hello, heartbeat, ready, dispatch, resume", func(t *testing.T) {
		ws, _, err := websocket.DefaultDialer.Dial(s.GatewayURL+"?v=9&encoding=json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		c := &gwClient{ws: ws}
		hello := c.read(t)
		if hello.Op != opHello || string(hello.D) != `{"heartbeat_interval":1234}` || hello.S != nil || hello.T != nil {
			t.Fatalf("HELLO %+v %s", hello, hello.D)
		}
		c.write(t, opHeartbeat, nil)
		if f := c.read(t); f.Op != opHeartbeatAck {
			t.Fatalf("want heartbeat ACK, got %+v", f)
		}
		ready := c.identify(t, "Bot "+s.BotToken, &[2]int{0, 1})
		for k, want := range map[string]string{"v": "10", "shard": "[0,1]", "resume_gateway_url": strconv.Quote(s.GatewayURL), "guilds": "[]"} {
			if string(ready[k]) != want {
				t.Errorf("READY %s = %s, want %s", k, ready[k], want)
			}
		}
		if !strings.Contains(string(ready["application"]), s.AppID) || !strings.Contains(string(ready["user"]), `"bot":true`) {
			t.Errorf("READY %v", ready)
		}
		if err := s.Dispatch("GUILD_CREATE", map[string]any{"id": "1", "name": "guild"}); err != nil {
			t.Fatal(err)
		}
		if f := c.expectDispatch(t, "GUILD_CREATE"); *f.S != 2 || string(f.D) != `{"id":"1","name":"guild"}` {
			t.Errorf("dispatch %+v %s", f, f.D)
		}
		if n := s.Sessions(); n != 1 {
			t.Errorf("Sessions() = %d", n)
		}
		var sid string
		json.Unmarshal(ready["session_id"], &sid)
		ws.Close()

		// Resume on a new connection, from sequence 2.
		r := dialGateway(t, s)
		r.write(t, opResume, map[string]any{"token": "Bot " + s.BotToken, "session_id": sid, "seq": 2})
		if f := r.expectDispatch(t, "RESUMED"); *f.S != 3 {
			t.Errorf("RESUMED seq %d, want 3", *f.S)
		}
		if err := s.Dispatch("GUILD_UPDATE", json.RawMessage(`{"id":"1"}`)); err != nil {
			t.Fatal(err)
		}
		if f := r.expectDispatch(t, "GUILD_UPDATE"); *f.S != 4 {
			t.Errorf("seq after resume %d, want 4", *f.S)
		}
	})

	t.Run("unknown session is not resumable", func(t *testing.T) {
		c := dialGateway(t, s)
		c.write(t, opResume, map[string]any{"token": s.BotToken, "session_id": "nope", "seq": 5})
		if f := c.read(t); f.Op != opInvalidSession || string(f.D) != "false" {
			t.Errorf("got %+v %s, want INVALID_SESSION false", f, f.D)
		}
	})

	closes := []struct {
		name  string
		op    int
		d     any
		code  int
		twice bool
	}{
		{"wrong token", opIdentify, map[string]any{"token": "Bot nope"}, 4004, false},
		{"not authenticated", 3, map[string]any{"status": "online"}, 4003, false},
		{"invalid shard", opIdentify, map[string]any{"token": s.BotToken, "shard": []int{2, 2}}, 4010, false},
		{"identify twice", opIdentify, map[string]any{"token": s.BotToken}, 4005, true},
	}
	for _, tt := range closes {
		t.Run(tt.name, func(t *testing.T) {
			c := dialGateway(t, s)
			if tt.twice {
				c.identify(t, s.BotToken, nil)
			}
			c.write(t, tt.op, tt.d)
			_, err := c.tryRead()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Errorf("got %v, want close %d", err, tt.code)
			}
		})
	}
}

// TestGatewayShards checks that an interaction goes to its guild's shard only.
func TestGatewayShards(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	shards := []*gwClient{dialGateway(t, s), dialGateway(t, s)}
	for n, c := range shards {
		c.identify(t, s.BotToken, &[2]int{n, 2})
		if id := s.WaitIdentify(t, time.Second); id.Shard == nil || id.Shard[0] != n {
			t.Fatalf("identify %d: %+v", n, id)
		}
	}
	guild := strconv.FormatUint(1<<22, 10) // (1<<22 >> 22) % 2 = shard 1
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, guild, "2", nil, 0, command("report"))
	if err := s.DispatchInteraction(i); err != nil {
		t.Fatal(err)
	}
	shards[1].expectDispatch(t, "INTERACTION_CREATE")
	dm := s.NewInteraction(discordgo.InteractionApplicationCommand, "", "3", nil, 0, command("report"))
	if err := s.DispatchInteraction(dm); err != nil {
		t.Fatal(err)
	}
	// Shard 0's next frame is the DM, so it never saw the guild's interaction.
	f := shards[0].expectDispatch(t, "INTERACTION_CREATE")
	if !strings.Contains(string(f.D), dm.ID) {
		t.Errorf("shard 0 got %s", f.D)
	}
}

func TestAddAttachment(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	a := s.AddAttachment("clip 1.mp4", "video/mp4", []byte("mp4 data"))
	if a.ID == "" || a.Filename != "clip 1.mp4" || a.Size != 8 || a.ContentType != "video/mp4" || !strings.Contains(a.URL, "/attachments/"+a.ID+"/clip%201.mp4?ex=") {
		t.Fatalf("attachment %+v", a)
	}
	for _, u := range []string{a.URL, a.ProxyURL} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "mp4 data" {
			t.Errorf("%s: %d %q", u, res.StatusCode, b)
		}
	}
	s.FailNext("GET", "/cdn/", 1, http.StatusInternalServerError)
	if res, err := http.Get(a.URL); err != nil || res.StatusCode != 500 {
		t.Errorf("injected CDN failure: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if res, err := http.Get(strings.Replace(a.URL, a.ID, "1", 1)); err != nil || res.StatusCode != 404 {
		t.Errorf("unknown attachment: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

func TestMultipartCallback(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", player, 0, command("reports"))
	ct, body := multipartBody(t, `{"type":4,"data":{"content":"your reports","attachments":[{"id":"0","filename":"reports.csv"}],"flags":64}}`,
		File{Name: "reports.csv", ContentType: "text/csv", Data: []byte("id,status\n1,queued\n")})
	if r := call(t, s, "POST", callbackPath(i), ct, body); r.status != http.StatusNoContent {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	cb, ok := s.Callback(i.Token)
	if !ok || cb.Type != discordgo.InteractionResponseChannelMessageWithSource || cb.Data.Content != "your reports" {
		t.Fatalf("Callback = %+v, %v", cb, ok)
	}
	c := s.WaitCall(t, time.Second, func(c Call) bool { return c.Path == callbackPath(i) })
	if len(c.Files) != 1 || c.Files[0].ContentType != "text/csv" || !strings.HasPrefix(string(c.Body), `{"type":4`) {
		t.Errorf("recorded %+v", c)
	}
	r := call(t, s, "GET", originalPath(s, i), "", nil)
	var msg discordgo.Message
	if err := json.Unmarshal(r.body, &msg); err != nil || len(msg.Attachments) != 1 || msg.Attachments[0].Filename != "reports.csv" || msg.WebhookID != s.AppID {
		t.Errorf("GET @original: %d %s (%v)", r.status, r.body, err)
	}
}

// TestConcurrentUse drives many interactions at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	gw := dialGateway(t, s)
	gw.identify(t, s.BotToken, nil)
	go func() { // drain the dispatches
		for {
			if _, err := gw.tryRead(); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for n := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := s.NewInteraction(discordgo.InteractionApplicationCommand, "1", "2", nil, 0, command("report"))
			if err := s.DispatchInteraction(i); err != nil {
				t.Error(err)
				return
			}
			if r := callJSON(t, s, "POST", callbackPath(i), `{"type":5,"data":{"flags":64}}`); r.status != 204 {
				t.Errorf("callback %d: %d %s", n, r.status, r.body)
			}
			if r := callJSON(t, s, "PATCH", originalPath(s, i), fmt.Sprintf(`{"content":"report %d"}`, n)); r.status != 200 {
				t.Errorf("edit %d: %d %s", n, r.status, r.body)
			}
			if r := callJSON(t, s, "POST", "/channels/9/messages", `{"content":"log"}`); r.status != 200 {
				t.Errorf("log %d: %d", n, r.status)
			}
			if orig, _ := s.Original(i.Token); string(orig) != fmt.Sprintf(`{"content":"report %d","flags":64}`, n) {
				t.Errorf("Original %d = %s", n, orig)
			}
			_ = s.Calls()
			_ = s.Sessions()
		}()
	}
	wg.Wait()
	if n := len(s.Messages("9")); n != 20 {
		t.Errorf("%d log messages, want 20", n)
	}
}

// TestCallRecordedBeforeItsAnswer: a client that has read its answer finds its
// request in Calls, even when the server is slow to finish the request after writing
// the answer (an answer of some kilobytes reaches the client before the handler
// returns). make test once failed on this under load: the bot had logged its
// commands registered, and Calls had no PUT yet.
func TestCallRecordedBeforeItsAnswer(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	s.afterAnswer = func() { time.Sleep(200 * time.Millisecond) }
	var cmds []string
	for k := range 80 {
		cmds = append(cmds, fmt.Sprintf(`{"name":"cmd%d","description":"%s","contexts":[0]}`, k, strings.Repeat("d", 100)))
	}
	r := call(t, s, "PUT", "/applications/"+s.AppID+"/commands", "application/json", []byte("["+strings.Join(cmds, ",")+"]"))
	if r.status != 200 || len(r.body) < 10000 {
		t.Fatalf("%d, %d bytes; want 200 and a large answer", r.status, len(r.body))
	}
	if calls := s.Calls(); len(calls) != 1 || calls[0].Status != 200 {
		t.Fatalf("once answered, Calls holds %d requests", len(calls))
	}
}
