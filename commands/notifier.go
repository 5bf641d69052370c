package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/commands/catalog"
	"github.com/reportbot/reportbot/reporting"
)

// Notifier tells reporters and moderators how reports are doing; the delivery
// pipeline calls it (it is a reporting.Notifier).
type Notifier struct {
	discord Discord
	hc      *http.Client
	cdn     reporting.CDN
	log     zerolog.Logger
	now     func() time.Time
	// fetchWithin bounds the download of one evidence file.
	fetchWithin time.Duration
	svc         *reporting.Service
	cat         *catalog.Catalog
}

// NewNotifier returns a Notifier sending through d. hc downloads evidence to re-upload
// it (nil: http.DefaultClient's transport), only from cdnHosts (DISCORD_CDN_HOSTS;
// nil: Discord's), following no redirect off them. It writes in the shipped
// catalog's languages, with Bungie's names of Destiny reasons from svc's manifest
// (WithService).
func NewNotifier(d Discord, hc *http.Client, cdnHosts []string, log zerolog.Logger) *Notifier {
	if hc == nil {
		hc = &http.Client{}
	}
	cdn := reporting.NewCDN(cdnHosts)
	return &Notifier{discord: d, hc: cdn.Client(hc), cdn: cdn, log: log, now: time.Now, fetchWithin: 20 * time.Second, cat: catalog.Shipped()}
}

// WithService has n name Destiny reasons in each reader's language from svc's
// manifest (without it, as they are stored: in English). It returns n.
func (n *Notifier) WithService(svc *reporting.Service) *Notifier {
	n.svc = svc
	return n
}

// words is the language of l for messages sent within ctx.
func (n *Notifier) words(ctx context.Context, l *catalog.Localizer) words {
	if n.svc == nil {
		return words{Localizer: l, destiny: func(d reporting.DestinyReason) string { return d.Label }}
	}
	return wordsOf(ctx, n.svc, l)
}

// statusOf is the HTTP status of a Discord error answer, 0 for anything else.
func statusOf(err error) int {
	var e interface{ HTTPStatus() int }
	if errors.As(err, &e) {
		return e.HTTPStatus()
	}
	return 0
}

// Reporter tells the reporter how their report went by editing their answer while
// its token lasts, else by DM; a moderator's decision always comes by DM, leaving the
// answer with its delivery outcome. A reporter who does not accept DMs is not chased:
// /reports mine always tells.
func (n *Notifier) Reporter(ctx context.Context, r *reporting.Report, token string) error {
	w := n.words(ctx, n.cat.For(r.ReporterLocale))
	text := msgReporterNews(w, r, n.now())
	log := n.log.With().Str("report_id", r.ID).Str("guild_id", r.GuildID).Logger()
	if reporting.ReporterNews(r) == "choosing" {
		// The question can only be asked on the answer; once its token is gone, so is
		// the time to choose.
		if token == "" {
			return nil
		}
		components := choiceComponents(w, r, 0)
		return n.discord.EditResponse(ctx, token, &discordgo.WebhookEdit{Content: &text, Components: &components})
	}
	if r.Delivery == reporting.StatusHandedOff && r.Moderation == "" && token != "" {
		// The link to Bungie's report page rides on the answer as a button.
		components := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: truncate(w.T("button.open_bungie", nil), 80), Style: discordgo.LinkButton, URL: r.Link},
		}}}
		err := n.discord.EditResponse(ctx, token, &discordgo.WebhookEdit{Content: &text, Components: &components})
		if err == nil {
			return nil
		}
		if status := statusOf(err); status == 0 || status >= 500 || status == http.StatusTooManyRequests {
			return fmt.Errorf("editing the reporter's answer: %w", err)
		}
	}
	if token != "" && r.Moderation == "" {
		none := []discordgo.MessageComponent{}
		err := n.discord.EditResponse(ctx, token, &discordgo.WebhookEdit{Content: &text, Components: &none})
		if err == nil {
			return nil
		}
		if status := statusOf(err); status == 0 || status >= 500 || status == http.StatusTooManyRequests {
			return fmt.Errorf("editing the reporter's answer: %w", err)
		}
		// The token is no longer valid: fall back to a DM.
	}
	err := n.discord.SendDM(ctx, r.ReporterID, &discordgo.MessageSend{Content: text})
	if s := statusOf(err); s >= 400 && s < 500 && s != http.StatusTooManyRequests {
		log.Info().Err(err).Msg("the reporter does not take direct messages; /reports mine tells them")
		return nil
	}
	if err != nil {
		return fmt.Errorf("sending the reporter a direct message: %w", err)
	}
	return nil
}

// ModLog posts r to the server's mod-log channel, with its evidence re-uploaded so it
// outlives Discord's expiring links, or edits the post. A channel the bot cannot use
// is logged, not retried: the admin has to fix it, and the next change tries again.
func (n *Notifier) ModLog(ctx context.Context, r *reporting.Report, st reporting.Settings, messageID string) (string, error) {
	log := n.log.With().Str("report_id", r.ID).Str("guild_id", r.GuildID).Str("channel_id", st.ModLogChannel).Logger()
	embed, buttons := modLogView(n.words(ctx, serverLanguage(n.cat, st, r.GuildLocale)), r, st, n.now())
	if messageID != "" {
		err := n.discord.EditMessage(ctx, st.ModLogChannel, messageID, &discordgo.MessageEdit{
			Embeds: &[]*discordgo.MessageEmbed{embed}, Components: &buttons,
		})
		switch status := statusOf(err); {
		case err == nil:
			return messageID, nil
		case status == http.StatusNotFound:
			// The post was deleted: post again.
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests:
			log.Warn().Err(err).Msg("cannot edit the mod-log post")
			return messageID, nil
		default:
			return "", fmt.Errorf("editing the mod-log post: %w", err)
		}
	}
	msg, err := n.discord.SendMessage(ctx, st.ModLogChannel, &discordgo.MessageSend{
		Embeds: []*discordgo.MessageEmbed{embed}, Components: buttons, Files: n.evidenceFiles(ctx, r, log),
	})
	if status := statusOf(err); status >= 400 && status < 500 && status != http.StatusTooManyRequests {
		log.Warn().Err(err).Msg("cannot post to the mod-log channel; an admin must let the bot post there")
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("posting to the mod log: %w", err)
	}
	return msg.ID, nil
}

// Evidence limits: Discord takes 10 MiB per message from bots.
const (
	maxEvidenceFile  = 8 << 20
	maxEvidenceTotal = 10 << 20
)

// evidenceFiles downloads r's evidence for re-upload. A file that cannot be fetched
// or is too large stays a link in the embed; a refused one is not requested.
func (n *Notifier) evidenceFiles(ctx context.Context, r *reporting.Report, log zerolog.Logger) []*discordgo.File {
	var files []*discordgo.File
	total := 0
	for i, e := range r.Evidence {
		if e.Refused != "" {
			log.Warn().Int("file", i+1).Str("refused", e.Refused).Msg("evidence not on Discord's CDN; not fetched")
			continue
		}
		data, err := n.download(ctx, e.URL)
		if err != nil || total+len(data) > maxEvidenceTotal {
			log.Info().Err(err).Int("file", i+1).Msg("evidence kept as a link only")
			continue
		}
		total += len(data)
		files = append(files, &discordgo.File{Name: e.Filename, ContentType: e.ContentType, Reader: bytes.NewReader(data)})
	}
	return files
}

// download fetches one evidence file from the CDN, within fetchWithin and
// maxEvidenceFile. The URL is checked again here: a record stored before the check
// existed must not be fetched either.
func (n *Notifier) download(ctx context.Context, url string) ([]byte, error) {
	if why := n.cdn.Refusal(url); why != "" {
		return nil, fmt.Errorf("downloading evidence: refused (%s)", why)
	}
	ctx, cancel := context.WithTimeout(ctx, n.fetchWithin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading evidence: HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > maxEvidenceFile {
		return nil, fmt.Errorf("evidence of %d bytes, over %d", resp.ContentLength, maxEvidenceFile)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxEvidenceFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEvidenceFile {
		return nil, fmt.Errorf("evidence over %d bytes", maxEvidenceFile)
	}
	return data, nil
}
