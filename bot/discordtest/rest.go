package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds what the fake reads of a request; Discord's upload limit for bots
// without boosts is far below it.
const maxBody = 64 << 20

// Discord error codes the fake answers with.
const (
	codeUnknownApplication  = 10002
	codeUnknownChannel      = 10003
	codeUnknownMessage      = 10008
	codeUnknownWebhook      = 10015
	codeUnknownInteraction  = 10062
	codeAlreadyAcknowledged = 40060
	codeCannotDM            = 50007
	codeMissingPermissions  = 50013
)

func (s *Server) getGateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": s.GatewayURL})
}

func (s *Server) getGatewayBot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"url":    s.GatewayURL,
		"shards": 1,
		"session_start_limit": map[string]int{
			"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1,
		},
	})
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	me := s.botUser()
	me["mfa_enabled"], me["locale"], me["verified"] = false, "en-US", true
	writeJSON(w, http.StatusOK, me)
}

// putCommands is a bulk overwrite, global or per guild. Ids stay the same for a
// command of the same type and name, as on Discord; the version changes every time.
func (s *Server) putCommands(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("app") != s.AppID {
		writeError(w, http.StatusNotFound, codeUnknownApplication, "Unknown Application")
		return
	}
	guild := r.PathValue("guild")
	var cmds []map[string]json.RawMessage
	if err := json.Unmarshal(inputOf(r).body, &cmds); err != nil {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	if err := s.checkLocalizations(inputOf(r).body); err != nil {
		s.errorf("PUT %s: %v", r.URL.Path, err)
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	version := s.snowflakeLocked()
	out := make([]json.RawMessage, 0, len(cmds))
	for _, c := range cmds {
		typ := "1"
		if t, ok := c["type"]; ok {
			typ = string(t)
		} else {
			c["type"] = json.RawMessage("1")
		}
		key := guild + "/" + typ + "/" + string(c["name"])
		id, ok := s.commandIDs[key]
		if !ok {
			id = s.snowflakeLocked()
			s.commandIDs[key] = id
		}
		c["id"] = mustJSON(id)
		c["application_id"] = mustJSON(s.AppID)
		c["version"] = mustJSON(version)
		if guild != "" {
			c["guild_id"] = mustJSON(guild)
		}
		if _, ok := c["default_member_permissions"]; !ok {
			c["default_member_permissions"] = json.RawMessage("null")
		}
		if _, ok := c["description"]; !ok {
			c["description"] = json.RawMessage(`""`) // context menu commands have none
		}
		out = append(out, mustJSON(c))
	}
	s.commands[guild] = out
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// postCallback acknowledges an interaction through REST: once, within 3 seconds of
// its delivery (no limit for an interaction the test never delivered).
func (s *Server) postCallback(w http.ResponseWriter, r *http.Request) {
	in := inputOf(r)
	token := r.PathValue("token")
	s.mu.Lock()
	it := s.interactions[token]
	if it == nil || it.id != r.PathValue("id") {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeUnknownInteraction, "Unknown interaction")
		return
	}
	if it.callback != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeAlreadyAcknowledged, "Interaction has already been acknowledged.")
		return
	}
	if late := in.at.Sub(it.sentAt); !it.sentAt.IsZero() && late > ackDeadline {
		s.mu.Unlock()
		s.errorf("interaction %s was acknowledged %v after it was sent: the bot missed Discord's 3-second deadline", it.id, late.Round(time.Millisecond))
		writeError(w, http.StatusNotFound, codeUnknownInteraction, "Unknown interaction")
		return
	}
	err := s.acknowledgeLocked(it, in.body, in.files)
	s.mu.Unlock()
	if err != nil {
		s.errorf("interaction %s: %v", it.id, err)
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookInteraction finds the interaction whose token a webhook route uses, and
// answers Unknown Webhook as Discord does when the token cannot be used (yet or any
// more). It returns with s.mu held when it finds one.
func (s *Server) webhookInteraction(w http.ResponseWriter, r *http.Request) *interaction {
	s.mu.Lock()
	it := s.interactions[r.PathValue("token")]
	if r.PathValue("app") != s.AppID || it == nil || it.callback == nil || inputOf(r).at.Sub(it.created) > tokenLifetime {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeUnknownWebhook, "Unknown Webhook")
		return nil
	}
	return it
}

// webhookMessage is the message a webhook route names: @original or a follow-up.
func (it *interaction) webhookMessage(id string) *message {
	if id == "" || (it.original != nil && id == it.original.id) {
		return it.original
	}
	for _, m := range it.followups {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (s *Server) getWebhookMessage(w http.ResponseWriter, r *http.Request) {
	it := s.webhookInteraction(w, r)
	if it == nil {
		return
	}
	m := it.webhookMessage(r.PathValue("mid"))
	if m == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	obj := s.messageObjectLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

// patchWebhookMessage edits @original or a follow-up: the fields present replace the
// old ones.
func (s *Server) patchWebhookMessage(w http.ResponseWriter, r *http.Request) {
	in := inputOf(r)
	it := s.webhookInteraction(w, r)
	if it == nil {
		return
	}
	// A modal or autocomplete answer leaves no message to edit.
	m := it.webhookMessage(r.PathValue("mid"))
	if m == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	s.editAndAnswer(w, m, in)
}

// postFollowup creates a follow-up message. The fake always answers the message, as
// Discord does with ?wait=true; discordgo ignores the body otherwise.
func (s *Server) postFollowup(w http.ResponseWriter, r *http.Request) {
	in := inputOf(r)
	it := s.webhookInteraction(w, r)
	if it == nil {
		return
	}
	m, err := s.newMessageLocked(it.channelID, in.body, in.files, in.at)
	if err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	m.webhook = true
	it.followups = append(it.followups, m)
	obj := s.messageObjectLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

// channelRefused answers the configured failures of a channel; it reports whether it
// did. Called with s.mu held.
func (s *Server) channelRefusedLocked(w http.ResponseWriter, channelID string, sending bool) bool {
	switch {
	case s.missing[channelID]:
		writeError(w, http.StatusNotFound, codeUnknownChannel, "Unknown Channel")
	case s.forbidden[channelID]:
		writeError(w, http.StatusForbidden, codeMissingPermissions, "Missing Permissions")
	case sending && s.closedDMs[s.userByDM[channelID]]:
		writeError(w, http.StatusForbidden, codeCannotDM, "Cannot send messages to this user")
	default:
		return false
	}
	return true
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	in := inputOf(r)
	channel := r.PathValue("channel")
	s.mu.Lock()
	if s.channelRefusedLocked(w, channel, true) {
		s.mu.Unlock()
		return
	}
	m, err := s.newMessageLocked(channel, in.body, in.files, in.at)
	if err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.channels[channel] = append(s.channels[channel], m)
	obj := s.messageObjectLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

// channelMessage finds a message of a channel, answering the channel's configured
// failures or Unknown Message. It returns with s.mu held when it finds one.
func (s *Server) channelMessage(w http.ResponseWriter, r *http.Request) *message {
	channel := r.PathValue("channel")
	s.mu.Lock()
	if s.channelRefusedLocked(w, channel, false) {
		s.mu.Unlock()
		return nil
	}
	for _, m := range s.channels[channel] {
		if m.id == r.PathValue("mid") {
			return m
		}
	}
	s.mu.Unlock()
	writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
	return nil
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m := s.channelMessage(w, r)
	if m == nil {
		return
	}
	obj := s.messageObjectLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

func (s *Server) patchMessage(w http.ResponseWriter, r *http.Request) {
	in := inputOf(r)
	m := s.channelMessage(w, r)
	if m == nil {
		return
	}
	s.editAndAnswer(w, m, in)
}

// postDM opens (or returns) the DM channel with a user; its id is stable per user.
func (s *Server) postDM(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	if err := json.Unmarshal(inputOf(r).body, &req); err != nil || !isSnowflake(req.RecipientID) {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	id, ok := s.dmByUser[req.RecipientID]
	if !ok {
		id = s.snowflakeLocked()
		s.dmByUser[req.RecipientID] = id
		s.userByDM[id] = req.RecipientID
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id":              id,
		"type":            1,
		"flags":           0,
		"last_message_id": nil,
		"recipients":      []any{userObject(req.RecipientID, "user"+req.RecipientID, false)},
	})
}

// botUser is the bot's own user object.
func (s *Server) botUser() map[string]any {
	return userObject(s.AppID, botName, true)
}

// userObject is a user as Discord serialises it, with every field its document
// requires.
func userObject(id, username string, bot bool) map[string]any {
	u := map[string]any{
		"id":            id,
		"username":      username,
		"discriminator": "0",
		"global_name":   nil,
		"avatar":        nil,
		"public_flags":  0,
		"flags":         0,
		"primary_guild": nil,
	}
	if bot {
		u["bot"] = true
	}
	return u
}

// readBody returns the request's JSON: its body, or the payload_json part and the
// files of a multipart body.
func readBody(r *http.Request) (body []byte, files []File, multi bool, err error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading the body: %w", err)
	}
	return parseBody(r.Header.Get("Content-Type"), raw)
}

// parseBody splits a multipart body (Discord's payload_json and files[n]) into its
// JSON and its files; any other body is returned as it is.
func parseBody(contentType string, raw []byte) (body []byte, files []File, multi bool, err error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt != "multipart/form-data" {
		if len(raw) == 0 {
			return nil, nil, false, nil
		}
		return raw, nil, false, nil
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return body, files, true, nil
		}
		if err != nil {
			return nil, nil, true, fmt.Errorf("reading the multipart body: %w", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, true, fmt.Errorf("reading part %q: %w", p.FormName(), err)
		}
		switch {
		case p.FormName() == "payload_json":
			body = data
		case p.FileName() != "":
			files = append(files, File{
				Field:       p.FormName(),
				Name:        p.FileName(),
				ContentType: p.Header.Get("Content-Type"),
				Data:        data,
			})
		}
	}
}

func readCloser(b []byte) io.ReadCloser {
	return io.NopCloser(bytes.NewReader(b))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the fake's own values are written; they always encode.
		panic(fmt.Sprintf("discordtest: encoding a response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers a Discord error body.
func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("discordtest: encoding %T: %v", v, err))
	}
	return b
}

// isJSONType reports whether a Content-Type is JSON.
func isJSONType(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// editAndAnswer applies an edit to m, releases the lock the caller holds, and answers
// with the edited message.
func (s *Server) editAndAnswer(w http.ResponseWriter, m *message, in *input) {
	err := s.editLocked(m, in.body, in.files, in.at)
	obj := s.messageObjectLocked(m)
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// checkLocalizations refuses name_localizations and description_localizations (of
// commands, options and choices, at any depth) keyed by anything but a locale of
// Discord's document (AvailableLocalesEnum): Discord answers those with 400, which the
// document's schema, an object of any keys, does not say.
func (s *Server) checkLocalizations(body []byte) error {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch v := v.(type) {
		case []any:
			for i, x := range v {
				if err := walk(fmt.Sprintf("%s[%d]", path, i), x); err != nil {
					return err
				}
			}
		case map[string]any:
			for k, x := range v {
				if m, ok := x.(map[string]any); ok && (k == "name_localizations" || k == "description_localizations") {
					for locale := range m {
						if !s.locales[locale] {
							return fmt.Errorf("%s.%s: %q is not a Discord locale", path, k, locale)
						}
					}
					continue
				}
				if err := walk(path+"."+k, x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("", doc)
}
