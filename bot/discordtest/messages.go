package discordtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Message is a message the bot created, with its current content.
type Message struct {
	// ID is the message id the fake gave it.
	ID string
	// ChannelID is the channel it is in.
	ChannelID string
	// Body is the current JSON the bot sent for it: the creating body with every edit
	// merged over it (fields present in an edit replace the old ones; null removes).
	Body json.RawMessage
	// Files are all the files uploaded with it, at creation and in edits.
	Files []File
	// Edits counts the edits.
	Edits int
}

// message is the fake's record of a message. Every field is guarded by Server.mu.
type message struct {
	id, channelID string
	fields        map[string]json.RawMessage
	files         []File
	attachments   []*attachment
	edits         int
	created       time.Time
	edited        time.Time
	typ           int  // Discord message type
	webhook       bool // sent through an interaction's webhook
}

// attachment is a file the fake's CDN serves.
type attachment struct {
	id, filename, contentType string
	data                      []byte
	url, proxyURL             string
}

// Messages returns the messages the bot created in the channel, oldest first, with
// their current content.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot(s.channels[channelID])
}

// Followups returns the follow-up messages the bot sent for the interaction, oldest
// first, with their current content.
func (s *Server) Followups(token string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.interactions[token]; it != nil {
		return snapshot(it.followups)
	}
	return nil
}

func snapshot(ms []*message) []Message {
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, Message{
			ID:        m.id,
			ChannelID: m.channelID,
			Body:      mustJSON(m.fields),
			Files:     append([]File(nil), m.files...),
			Edits:     m.edits,
		})
	}
	return out
}

// AddAttachment stores a file on the fake's CDN, as if a user had uploaded it (for
// example as evidence in a modal), and returns it as Discord describes it. Its URL is
// http://127.0.0.1:N/cdn/attachments/<id>/<filename>?ex=…&is=…&hm=… (signed like
// Discord's links); ProxyURL serves the same file under /media/.
func (s *Server) AddAttachment(filename, contentType string, data []byte) *discordgo.MessageAttachment {
	s.mu.Lock()
	a := s.newAttachmentLocked(filename, contentType, data)
	s.mu.Unlock()
	return &discordgo.MessageAttachment{
		ID:          a.id,
		URL:         a.url,
		ProxyURL:    a.proxyURL,
		Filename:    a.filename,
		ContentType: a.contentType,
		Size:        len(a.data),
	}
}

func (s *Server) newAttachmentLocked(filename, contentType string, data []byte) *attachment {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	id := s.snowflakeLocked()
	now := s.now()
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	// Discord's links expire (ex) and are signed (hm); bots must keep the query.
	query := fmt.Sprintf("?ex=%x&is=%x&hm=%s", now.Add(24*time.Hour).Unix(), now.Unix(), hex.EncodeToString(sig))
	path := "/attachments/" + id + "/" + url.PathEscape(filename) + query
	a := &attachment{
		id:          id,
		filename:    filename,
		contentType: contentType,
		data:        bytes.Clone(data),
		url:         s.base + "/cdn" + path,
		proxyURL:    s.base + "/media" + path,
	}
	s.attachments[id] = a
	return a
}

func (a *attachment) object() map[string]any {
	return map[string]any{
		"id":           a.id,
		"filename":     a.filename,
		"size":         len(a.data),
		"url":          a.url,
		"proxy_url":    a.proxyURL,
		"content_type": a.contentType,
	}
}

// newMessageLocked records a message created with body and files.
func (s *Server) newMessageLocked(channelID string, body []byte, files []File, at time.Time) (*message, error) {
	m := &message{id: s.snowflakeLocked(), channelID: channelID, fields: map[string]json.RawMessage{}, created: at}
	if err := s.mergeLocked(m, body, files); err != nil {
		return nil, err
	}
	return m, nil
}

// editLocked merges an edit into a message.
func (s *Server) editLocked(m *message, body []byte, files []File, at time.Time) error {
	if err := s.mergeLocked(m, body, files); err != nil {
		return err
	}
	m.edits++
	m.edited = at
	return nil
}

// mergeLocked applies Discord's PATCH semantics: each top-level field present
// replaces the old value, and null clears it. Uploaded files are added to the CDN.
func (s *Server) mergeLocked(m *message, body []byte, files []File) error {
	if len(body) > 0 {
		var patch map[string]json.RawMessage
		if err := json.Unmarshal(body, &patch); err != nil {
			return fmt.Errorf("decoding the message body: %w", err)
		}
		for k, v := range patch {
			if string(v) == "null" {
				delete(m.fields, k)
			} else {
				m.fields[k] = v
			}
		}
	}
	for _, f := range files {
		m.files = append(m.files, f)
		m.attachments = append(m.attachments, s.newAttachmentLocked(f.Name, f.ContentType, f.Data))
	}
	return nil
}

// messageObjectLocked is the message as Discord answers it, with every field its
// document requires.
func (s *Server) messageObjectLocked(m *message) map[string]any {
	atts := make([]map[string]any, 0, len(m.attachments))
	for _, a := range m.attachments {
		atts = append(atts, a.object())
	}
	obj := map[string]any{
		"id":               m.id,
		"channel_id":       m.channelID,
		"type":             m.typ,
		"content":          "",
		"embeds":           []any{},
		"components":       []any{},
		"attachments":      atts,
		"flags":            0,
		"tts":              false,
		"mentions":         []any{},
		"mention_roles":    []any{},
		"mention_everyone": false,
		"pinned":           false,
		"timestamp":        discordTime(m.created),
		"edited_timestamp": nil,
		"author":           s.botUser(),
	}
	if !m.edited.IsZero() {
		obj["edited_timestamp"] = discordTime(m.edited)
	}
	for _, k := range []string{"content", "embeds", "components", "flags", "tts", "poll", "message_reference"} {
		if v, ok := m.fields[k]; ok {
			obj[k] = v
		}
	}
	if m.webhook {
		obj["webhook_id"] = s.AppID
		obj["application_id"] = s.AppID
	}
	return obj
}

// discordTime formats a time as Discord does: 2024-05-01T12:00:00.000000+00:00.
func discordTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000-07:00")
}

// messageFields turns a message object (from an interaction's payload) into the
// fields the bot controls, to start an original response from.
func messageFields(raw json.RawMessage) (id string, fields map[string]json.RawMessage) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return "", map[string]json.RawMessage{}
	}
	fields = map[string]json.RawMessage{}
	for _, k := range []string{"content", "embeds", "components", "flags", "tts"} {
		if v, ok := obj[k]; ok && string(v) != "null" {
			fields[k] = v
		}
	}
	_ = json.Unmarshal(obj["id"], &id)
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		id = ""
	}
	return id, fields
}
