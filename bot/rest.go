package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/config/buildinfo"
	"github.com/reportbot/reportbot/reporting/upstream"
)

// userAgent is the form Discord requires of bots, with this release's version.
const userAgent = "DiscordBot (https://github.com/reportbot/reportbot, " + buildinfo.Version + ")"

// REST is a small client of Discord's REST API at DISCORD_API_URL. The bot uses its
// own rather than discordgo's because every call must honour its context: an
// interaction callback may not wait on a rate limit past Discord's 3-second deadline,
// and discordgo's rate limiter sleeps without one. Payloads are discordgo's types.
type REST struct {
	base  string
	token string
	appID string
	hc    *http.Client
}

// NewREST returns a client of the API at base (e.g. https://discord.com/api/v10)
// authenticating with the bot token. hc defaults to a pooled client with a 30-second
// timeout; main passes an instrumented one (upstream.Metrics).
func NewREST(base, token, appID string, hc *http.Client) *REST {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second, Transport: upstream.Transport()}
	}
	return &REST{base: strings.TrimRight(base, "/"), token: token, appID: appID, hc: hc}
}

// APIError is an error answer of Discord.
type APIError struct {
	Method, Path string
	Status       int
	Code         int
	Message      string
	// RetryAfter is set on 429 answers.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("discord %s %s: HTTP %d (code %d): %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// HTTPStatus is the answer's status; package commands tells permanent refusals from
// temporary ones by it.
func (e *APIError) HTTPStatus() int { return e.Status }

// IsCode reports whether err is a Discord answer with JSON error code code.
func IsCode(err error, code int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// Respond answers an interaction through the callback endpoint (gateway mode).
func (r *REST) Respond(ctx context.Context, id, token string, resp *discordgo.InteractionResponse) error {
	return r.do(ctx, http.MethodPost, "/interactions/"+id+"/"+token+"/callback", false, callbackBody(withNoMentions(resp)), nil, nil)
}

// EditResponse edits the original response of the interaction with token.
func (r *REST) EditResponse(ctx context.Context, token string, edit *discordgo.WebhookEdit) error {
	edit.AllowedMentions = noMentions()
	return r.do(ctx, http.MethodPatch, "/webhooks/"+r.appID+"/"+token+"/messages/@original", false, edit, edit.Files, nil)
}

// SendMessage posts a message in a channel, uploading m.Files with it.
func (r *REST) SendMessage(ctx context.Context, channelID string, m *discordgo.MessageSend) (*discordgo.Message, error) {
	body := messageBody(m.Content, m.Embeds, m.Components)
	var out discordgo.Message
	if err := r.do(ctx, http.MethodPost, "/channels/"+channelID+"/messages", true, body, m.Files, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EditMessage edits a message the bot posted.
func (r *REST) EditMessage(ctx context.Context, channelID, messageID string, m *discordgo.MessageEdit) error {
	var content string
	if m.Content != nil {
		content = *m.Content
	}
	var embeds []*discordgo.MessageEmbed
	if m.Embeds != nil {
		embeds = *m.Embeds
	}
	var components []discordgo.MessageComponent
	if m.Components != nil {
		components = *m.Components
	}
	return r.do(ctx, http.MethodPatch, "/channels/"+channelID+"/messages/"+messageID, true, messageBody(content, embeds, components), nil, nil)
}

// SendDM sends a direct message to a user, opening the DM channel first.
func (r *REST) SendDM(ctx context.Context, userID string, m *discordgo.MessageSend) error {
	var ch discordgo.Channel
	if err := r.do(ctx, http.MethodPost, "/users/@me/channels", true, map[string]string{"recipient_id": userID}, nil, &ch); err != nil {
		return err
	}
	_, err := r.SendMessage(ctx, ch.ID, m)
	return err
}

// messageBody is a message as Discord's document has it, with empty parts left out
// (discordgo writes them as null) and mentions never allowed.
func messageBody(content string, embeds []*discordgo.MessageEmbed, components []discordgo.MessageComponent) map[string]any {
	body := map[string]any{"allowed_mentions": noMentions()}
	if content != "" {
		body["content"] = content
	}
	if embeds != nil {
		body["embeds"] = embeds
	}
	if components != nil {
		body["components"] = components
	}
	return body
}

// BulkOverwrite replaces the application's commands, globally when guildID is empty.
func (r *REST) BulkOverwrite(ctx context.Context, guildID string, cmds []*discordgo.ApplicationCommand) error {
	path := "/applications/" + r.appID + "/commands"
	if guildID != "" {
		path = "/applications/" + r.appID + "/guilds/" + guildID + "/commands"
	}
	body := make([]commandBody, 0, len(cmds))
	for _, c := range cmds {
		body = append(body, commandBody{ApplicationCommand: c, DefaultMemberPermissions: c.DefaultMemberPermissions})
	}
	return r.do(ctx, http.MethodPut, path, true, body, nil, nil)
}

// GatewayBot asks where the gateway is and how many sessions the bot may still start
// (GET /gateway/bot, which needs the bot token).
func (r *REST) GatewayBot(ctx context.Context) (*discordgo.GatewayBotResponse, error) {
	var out discordgo.GatewayBotResponse
	if err := r.do(ctx, http.MethodGet, "/gateway/bot", true, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.URL == "" {
		return nil, fmt.Errorf("discord GET /gateway/bot: no url in the answer")
	}
	return &out, nil
}

// commandBody writes default_member_permissions as a number, as Discord's OpenAPI
// document has it; discordgo writes a string (which Discord's API also takes).
type commandBody struct {
	*discordgo.ApplicationCommand
	DefaultMemberPermissions *int64 `json:"default_member_permissions,omitempty"`
}

func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// codeUnknownWebhook is Discord's answer to a webhook route whose interaction token
// it does not (yet, or any more) know.
const codeUnknownWebhook = 10015

// do sends one request. It retries 429s and 5xx answers, and a webhook route's
// Unknown Webhook, only while the context's deadline leaves room for the wait;
// otherwise the error is returned at once.
//
// Unknown Webhook is retried because of the HTTP transport: the bot's answer to
// POST /interactions is what makes the interaction's token usable, and Discord may
// take it a moment after the bot has written it, so the deferred work's first edit
// can arrive while the token is still unknown. The waits (0.1 s doubling, 3.1 s in
// all) outlast that moment; a token that has really expired is not sent (package
// commands stops using one after 14 minutes), so they are seldom spent in vain.
func (r *REST) do(ctx context.Context, method, path string, auth bool, body any, files []*discordgo.File, out any) error {
	var payload []byte
	var contentType string
	if body != nil {
		var err error
		if payload, contentType, err = encode(body, files); err != nil {
			return fmt.Errorf("discord %s %s: encoding: %w", method, path, err)
		}
	}
	return upstream.Retry(ctx, func(attempt int) (time.Duration, error) {
		err := r.send(ctx, method, path, auth, payload, contentType, out)
		var e *APIError
		if !errors.As(err, &e) {
			return -1, err
		}
		switch {
		case e.Status == http.StatusTooManyRequests && attempt < 3:
			return e.RetryAfter, err
		case e.Status >= 500 && attempt < 3:
			return time.Duration(250<<attempt) * time.Millisecond, err
		case e.Code == codeUnknownWebhook && strings.HasPrefix(path, "/webhooks/") && attempt < 5:
			return time.Duration(100<<attempt) * time.Millisecond, err
		}
		return -1, err
	})
}

func (r *REST) send(ctx context.Context, method, path string, auth bool, payload []byte, contentType string, out any) error {
	req, err := http.NewRequestWithContext(upstream.WithOp(ctx, route(method, path)), method, r.base+path, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("discord %s %s: %w", method, redact(path), err)
	}
	req.Header.Set("User-Agent", userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bot "+r.token)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		// The URL of an interaction route holds its token: never let it reach a log.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("discord %s %s: %w", method, redact(path), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("discord %s %s: reading the answer: %w", method, redact(path), err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Method: method, Path: redact(path), Status: resp.StatusCode}
		var body struct {
			Code       int     `json:"code"`
			Message    string  `json:"message"`
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal(raw, &body) == nil {
			e.Code, e.Message = body.Code, body.Message
			e.RetryAfter = time.Duration(body.RetryAfter * float64(time.Second))
		}
		if e.RetryAfter == 0 {
			e.RetryAfter = upstream.RetryAfter(resp.Header)
		}
		return e
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("discord %s %s: decoding the answer: %w", method, redact(path), err)
		}
	}
	return nil
}

// route names a request for the metrics, from a closed set: the method and the path
// without its ids and tokens ("PATCH /webhooks/messages/@original"). A token is known
// by where it stands (tokenAt), not by its length: a label per interaction would grow
// the metrics with every report.
func route(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	t := tokenAt(segs)
	kept := make([]string, 0, len(segs))
	for k, seg := range segs {
		switch {
		case t > 0 && (k == t || k == t-1): // the token, and the id before it
		case seg == "" || seg[0] >= '0' && seg[0] <= '9': // an id
		default:
			kept = append(kept, seg)
		}
	}
	return method + " /" + strings.Join(kept, "/")
}

// tokenAt is where the token stands in the segments of an interaction or webhook
// route (/interactions/{id}/{token}/…, /webhooks/{application}/{token}/…), after the
// id before it; 0 in any other route.
func tokenAt(segs []string) int {
	if len(segs) > 2 && (segs[0] == "interactions" || segs[0] == "webhooks") {
		return 2
	}
	return 0
}

// redact hides the token segment of interaction and webhook routes.
func redact(path string) string {
	parts := strings.Split(path, "/")
	if k := tokenAt(parts[1:]); k > 0 {
		parts[1+k] = "…"
	}
	return strings.Join(parts, "/")
}

// encode writes body as JSON, or as multipart with payload_json and files[n] when
// there are files.
func encode(body any, files []*discordgo.File) ([]byte, string, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return js, "application/json", nil
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	h.Set("Content-Type", "application/json")
	p, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := p.Write(js); err != nil {
		return nil, "", err
	}
	for i, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files[%d]"; filename="%s"`, i, quoteEscaper.Replace(f.Name)))
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		p, err := w.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := io.Copy(p, f.Reader); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

// callbackBody is the JSON Discord expects for an interaction response. discordgo's
// InteractionResponseData always writes tts, content, components and embeds, even
// empty; the document does not allow a null components or embeds, so empty fields are
// left out here.
func callbackBody(resp *discordgo.InteractionResponse) any {
	if resp.Data == nil {
		return resp
	}
	d := resp.Data
	m := map[string]any{}
	if d.Content != "" {
		m["content"] = d.Content
	}
	if d.Components != nil {
		m["components"] = d.Components
	}
	if d.Embeds != nil {
		m["embeds"] = d.Embeds
	}
	if d.AllowedMentions != nil {
		m["allowed_mentions"] = d.AllowedMentions
	}
	if d.Flags != 0 {
		m["flags"] = d.Flags
	}
	if d.Choices != nil {
		m["choices"] = d.Choices
	}
	if d.CustomID != "" {
		m["custom_id"] = d.CustomID
	}
	if d.Title != "" {
		m["title"] = d.Title
	}
	return map[string]any{"type": resp.Type, "data": m}
}
