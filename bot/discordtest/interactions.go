package discordtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
)

// interactionsUA is the User-Agent Discord sends to interactions endpoints.
const interactionsUA = "Discord-Interactions/1.0 (+https://discord.com)"

// botPermissions are the bot's permissions in the channel (app_permissions): what a
// reporting bot is typically granted.
const botPermissions = discordgo.PermissionViewChannel | discordgo.PermissionSendMessages |
	discordgo.PermissionEmbedLinks | discordgo.PermissionAttachFiles | discordgo.PermissionReadMessageHistory

// interaction is the fake's record of one interaction, by token. raw and fingerprint
// never change; every other field is guarded by Server.mu.
type interaction struct {
	id, token, channelID string
	typ                  discordgo.InteractionType
	created              time.Time
	raw                  []byte // the JSON NewInteraction built: what Discord sends
	fingerprint          []byte // discordgo's encoding of the interaction returned
	sent                 []byte // the JSON last delivered
	sentAt               time.Time
	callback             []byte // the acknowledgement, nil until there is one
	original             *message
	followups            []*message
}

// NewInteraction builds an interaction as Discord sends it: a fresh snowflake id, a
// random token, the fake's application id, version 1, a member with perms as its
// permissions when guildID is set (context 0, guild), else the user (context 1, bot
// DM; perms is then unused). data (for example a discordgo
// ApplicationCommandInteractionData, MessageComponentInteractionData or
// ModalSubmitInteractionData, or raw JSON) is encoded as the interaction's data (nil:
// none for a PING, {} otherwise); a nil user stands for a fresh one. The returned value is what discordgo decodes from
// that JSON. DispatchInteraction and Post deliver the JSON itself, so that data
// discordgo cannot encode back (such as new component types) reaches the bot intact;
// changes the test makes to the returned interaction are applied over it.
func (s *Server) NewInteraction(typ discordgo.InteractionType, guildID, channelID string, user *discordgo.User, perms int64, data any) *discordgo.Interaction {
	s.tb.Helper()
	s.mu.Lock()
	id := s.snowflakeLocked()
	userID := s.snowflakeLocked()
	s.mu.Unlock()
	created, _ := snowflakeTime(id)
	token := newToken(id)

	u := userObject(userID, "player"+userID, false)
	if user != nil {
		u = wireUser(user)
		if user.ID == "" {
			u["id"] = userID
		}
	}
	w := map[string]any{
		"id":                    id,
		"application_id":        s.AppID,
		"type":                  typ,
		"token":                 token,
		"version":               1,
		"locale":                "en-US",
		"entitlements":          []any{},
		"app_permissions":       strconv.FormatInt(botPermissions, 10),
		"attachment_size_limit": 10 << 20,
	}
	channelType := 1 // DM
	if guildID != "" {
		channelType = 0 // guild text
		w["guild_id"] = guildID
		w["guild_locale"] = "en-US"
		w["guild"] = map[string]any{"id": guildID, "locale": "en-US", "features": []any{}}
		w["member"] = map[string]any{
			"user":                         u,
			"roles":                        []any{},
			"permissions":                  strconv.FormatInt(perms, 10),
			"joined_at":                    discordTime(created.Add(-30 * 24 * time.Hour)),
			"deaf":                         false,
			"mute":                         false,
			"flags":                        0,
			"pending":                      false,
			"nick":                         nil,
			"avatar":                       nil,
			"premium_since":                nil,
			"communication_disabled_until": nil,
		}
		w["context"] = discordgo.InteractionContextGuild
		w["authorizing_integration_owners"] = map[string]string{"0": guildID}
	} else {
		w["user"] = u
		w["context"] = discordgo.InteractionContextBotDM
		w["authorizing_integration_owners"] = map[string]string{"0": "0"}
	}
	if channelID != "" {
		w["channel_id"] = channelID
		w["channel"] = map[string]any{"id": channelID, "type": channelType}
	}
	switch {
	case data != nil:
		raw, err := json.Marshal(data)
		if err != nil {
			s.tb.Fatalf("discordtest: encoding the interaction's data: %v", err)
		}
		w["data"] = json.RawMessage(raw)
	case typ != discordgo.InteractionPing:
		// Discord always sends data with these types, and discordgo requires it.
		w["data"] = map[string]any{}
	}
	raw := mustJSON(w)
	i := new(discordgo.Interaction)
	if err := json.Unmarshal(raw, i); err != nil {
		s.tb.Fatalf("discordtest: discordgo cannot decode the interaction: %v\n%s", err, raw)
	}
	fingerprint, err := json.Marshal(i)
	if err != nil {
		s.tb.Fatalf("discordtest: encoding the interaction: %v", err)
	}
	s.mu.Lock()
	s.interactions[token] = &interaction{
		id: id, token: token, channelID: channelID, typ: typ,
		created: created, raw: raw, fingerprint: fingerprint,
	}
	s.mu.Unlock()
	return i
}

// newToken makes a token shaped like Discord's: base64 of "interaction:<id>:<random>".
func newToken(id string) string {
	r := make([]byte, 48)
	_, _ = rand.Read(r)
	return base64.RawURLEncoding.EncodeToString([]byte("interaction:" + id + ":" + hex.EncodeToString(r)))
}

// wireUser is a discordgo user as Discord serialises it.
func wireUser(u *discordgo.User) map[string]any {
	m := userObject(u.ID, u.Username, u.Bot)
	if u.Discriminator != "" {
		m["discriminator"] = u.Discriminator
	}
	if u.GlobalName != "" {
		m["global_name"] = u.GlobalName
	}
	if u.Avatar != "" {
		m["avatar"] = u.Avatar
	}
	m["public_flags"] = u.PublicFlags
	m["flags"] = u.Flags
	return m
}

// payload is the JSON Discord would deliver for i: the JSON NewInteraction built, with
// the fields the test changed since (such as the message a button is on) replaced.
// Comparing field by field keeps what discordgo would not encode back the same way.
func (s *Server) payload(i *discordgo.Interaction) ([]byte, error) {
	cur, err := json.Marshal(i)
	if err != nil {
		return nil, fmt.Errorf("encoding the interaction: %w", err)
	}
	s.mu.Lock()
	it := s.interactions[i.Token]
	s.mu.Unlock()
	if it == nil {
		return cur, nil
	}
	if bytes.Equal(cur, it.fingerprint) {
		return it.raw, nil
	}
	var built, before, after map[string]json.RawMessage
	if err := json.Unmarshal(it.raw, &built); err != nil {
		return nil, fmt.Errorf("decoding the interaction: %w", err)
	}
	if err := json.Unmarshal(it.fingerprint, &before); err != nil {
		return nil, fmt.Errorf("decoding the interaction: %w", err)
	}
	if err := json.Unmarshal(cur, &after); err != nil {
		return nil, fmt.Errorf("decoding the interaction: %w", err)
	}
	for k, v := range after {
		if !bytes.Equal(before[k], v) {
			built[k] = v
		}
	}
	return json.Marshal(built)
}

// markSent records a delivery, which starts the 3-second acknowledgement clock.
func (s *Server) markSent(token string, body []byte, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.interactions[token]; it != nil {
		it.sent, it.sentAt = body, at
	}
}

// DispatchInteraction sends i to the gateway as INTERACTION_CREATE and starts the
// 3-second acknowledgement clock; a RESUME that replays it starts the clock again.
// Like Discord it goes to one shard only: the guild's ((guild_id >> 22) % shard
// count), shard 0 for DMs; sessions that did not identify with a shard get it too.
func (s *Server) DispatchInteraction(i *discordgo.Interaction) error {
	body, err := s.payload(i)
	if err != nil {
		return err
	}
	s.markSent(i.Token, body, s.now())
	return s.dispatch("INTERACTION_CREATE", body, i.Token, shardOf(i.GuildID))
}

// Post delivers i to the bot's HTTP interactions endpoint as Discord does: the JSON
// body, signed by signer (nil sends it unsigned), with Discord's User-Agent. It starts
// the 3-second clock. A 200 answer is checked against the document's callback schema,
// recorded as the interaction's acknowledgement and returned decoded; an answer that
// comes after 3 s or lies outside the document fails the test and, as on Discord,
// acknowledges nothing (it is still returned, decoded as far as possible). Other
// statuses return a nil response. The error is for requests that could not be made
// or answers that cannot be read.
func (s *Server) Post(ctx context.Context, endpoint string, signer *Signer, i *discordgo.Interaction) (*discordgo.InteractionResponse, int, error) {
	s.tb.Helper()
	body, err := s.payload(i)
	if err != nil {
		return nil, 0, err
	}
	sent := s.now()
	var req *http.Request
	if signer != nil {
		// Signed with the real time: the bot checks it against its own clock.
		req, err = signer.Request(ctx, endpoint, body, time.Now())
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("building the interaction request: %w", err)
	}
	req.Header.Set("User-Agent", interactionsUA)
	s.markSent(i.Token, body, sent)
	res, err := s.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("posting the interaction: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	took := s.now().Sub(sent)
	if err != nil {
		return nil, res.StatusCode, fmt.Errorf("reading the bot's answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, nil
	}
	ct := res.Header.Get("Content-Type")
	cb, files, multi, err := parseBody(ct, raw)
	if err != nil {
		return nil, res.StatusCode, fmt.Errorf("reading the bot's answer: %w", err)
	}
	if !multi && !isJSONType(ct) {
		s.errorf("the bot answered interaction %s with Content-Type %q; Discord needs application/json", i.ID, ct)
	}
	// Discord refuses a late answer or one outside its schema: the interaction
	// fails, unacknowledged.
	if took > ackDeadline {
		s.errorf("the bot took %v to answer interaction %s over HTTP: Discord gives up after 3s", took.Round(time.Millisecond), i.ID)
		resp, _ := decodeResponse(cb)
		return resp, res.StatusCode, nil
	}
	if err := s.validateCallback(i, cb); err != nil {
		s.errorf("the bot's answer to interaction %s: %v", i.ID, err)
		resp, _ := decodeResponse(cb)
		return resp, res.StatusCode, nil
	}
	resp, err := decodeResponse(cb)
	if err != nil {
		return resp, res.StatusCode, fmt.Errorf("decoding the bot's answer %s: %w", cb, err)
	}
	if s.answerLag > 0 {
		time.Sleep(s.answerLag)
	}
	s.mu.Lock()
	it := s.interactions[i.Token]
	var ackErr error
	switch {
	case it == nil:
	case it.callback != nil:
		ackErr = fmt.Errorf("interaction %s was acknowledged twice", i.ID)
	default:
		ackErr = s.acknowledgeLocked(it, cb, files)
	}
	s.mu.Unlock()
	if ackErr != nil {
		s.errorf("%v", ackErr)
	}
	return resp, res.StatusCode, nil
}

// validateCallback checks an HTTP answer as the body of the REST callback route,
// which is what the document describes.
func (s *Server) validateCallback(i *discordgo.Interaction, body []byte) error {
	u := s.URL + "/interactions/" + url.PathEscape(i.ID) + "/" + url.PathEscape(i.Token) + "/callback"
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return s.validator.Request(req)
}

// acknowledgeLocked records an acknowledgement and the message it starts: a new one
// for (deferred) channel messages, the message the component is on for (deferred)
// updates; modals and autocomplete results have none.
func (s *Server) acknowledgeLocked(it *interaction, body []byte, files []File) error {
	var cb struct {
		Type discordgo.InteractionResponseType `json:"type"`
		Data json.RawMessage                   `json:"data"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		return fmt.Errorf("decoding the acknowledgement: %w", err)
	}
	if string(cb.Data) == "null" {
		cb.Data = nil
	}
	now := s.now()
	switch cb.Type {
	case discordgo.InteractionResponseChannelMessageWithSource, discordgo.InteractionResponseDeferredChannelMessageWithSource:
		m, err := s.newMessageLocked(it.channelID, cb.Data, files, now)
		if err != nil {
			return err
		}
		m.webhook = true
		if it.typ == discordgo.InteractionApplicationCommand {
			m.typ = 20 // CHAT_INPUT_COMMAND
		}
		it.original = m
	case discordgo.InteractionResponseDeferredMessageUpdate, discordgo.InteractionResponseUpdateMessage:
		it.original = s.componentMessageLocked(it, now)
		if cb.Type == discordgo.InteractionResponseUpdateMessage {
			if err := s.editLocked(it.original, cb.Data, files, now); err != nil {
				return err
			}
		}
	}
	it.callback = bytes.Clone(body)
	return nil
}

// componentMessageLocked is the message a component interaction was used on: the
// channel message the bot created, when the interaction names one the fake knows, so
// that updating it shows in Messages; else a message built from the payload.
func (s *Server) componentMessageLocked(it *interaction, now time.Time) *message {
	sent := it.sent
	if sent == nil {
		sent = it.raw
	}
	var p struct {
		Message json.RawMessage `json:"message"`
	}
	_ = json.Unmarshal(sent, &p)
	id, fields := messageFields(p.Message)
	if id != "" {
		for _, m := range s.channels[it.channelID] {
			if m.id == id {
				return m
			}
		}
	}
	m := &message{id: id, channelID: it.channelID, fields: fields, created: now}
	if id == "" {
		m.id = s.snowflakeLocked()
	} else if t, ok := snowflakeTime(id); ok {
		m.created = t
	}
	return m
}

// decodeResponse decodes an acknowledgement. discordgo's InteractionResponse cannot
// decode its own components (an interface slice), so they are decoded one by one.
func decodeResponse(body []byte) (*discordgo.InteractionResponse, error) {
	var wire struct {
		Type discordgo.InteractionResponseType `json:"type"`
		Data json.RawMessage                   `json:"data"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("decoding the acknowledgement: %w", err)
	}
	resp := &discordgo.InteractionResponse{Type: wire.Type}
	if len(wire.Data) == 0 || string(wire.Data) == "null" {
		return resp, nil
	}
	var data struct {
		discordgo.InteractionResponseData
		// Shadows the embedded field, which json cannot fill.
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(wire.Data, &data); err != nil {
		return resp, fmt.Errorf("decoding the acknowledgement's data: %w", err)
	}
	resp.Data = &data.InteractionResponseData
	for _, c := range data.Components {
		mc, err := discordgo.MessageComponentFromJSON(c)
		if err != nil {
			return resp, fmt.Errorf("decoding the acknowledgement's components: %w", err)
		}
		resp.Data.Components = append(resp.Data.Components, mc)
	}
	return resp, nil
}

// Callback returns the acknowledgement received for the interaction, through the
// HTTP answer to Post or the REST callback route.
func (s *Server) Callback(token string) (*discordgo.InteractionResponse, bool) {
	s.mu.Lock()
	var body []byte
	if it := s.interactions[token]; it != nil {
		body = it.callback
	}
	s.mu.Unlock()
	if body == nil {
		return nil, false
	}
	resp, err := decodeResponse(body)
	if err != nil {
		s.errorf("%v: %s", err, body)
	}
	return resp, resp != nil
}

// Original returns the current content of the interaction's original response: the
// acknowledgement's data with every PATCH of @original merged over it (fields present
// replace the old ones, null removes one), as a JSON object with sorted keys. It
// reports false while there is none (not acknowledged, or acknowledged with a modal).
func (s *Server) Original(token string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.interactions[token]
	if it == nil || it.original == nil {
		return nil, false
	}
	return mustJSON(it.original.fields), true
}

// WaitOriginal waits until the interaction's original response matches, polling, and
// returns it; on timeout it fails the test showing the last content seen.
func (s *Server) WaitOriginal(tb testing.TB, token string, timeout time.Duration, match func(json.RawMessage) bool) json.RawMessage {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		orig, ok := s.Original(token)
		if ok && match(orig) {
			return orig
		}
		if time.Now().After(deadline) {
			if !ok {
				orig = json.RawMessage("none")
			}
			tb.Fatalf("discordtest: the original response did not match within %v; last seen: %s", timeout, orig)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}
