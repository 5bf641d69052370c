package reporting

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// Telling people: the moderators' post in the mod log and the reporter's notice,
// brought up to date with what became of a report.

// Notifier tells people how a report is doing; package commands renders and sends.
// The pipeline calls it whenever what people were last shown is out of date, so it
// must tolerate being called again for the same state.
type Notifier interface {
	// Reporter tells the reporter r's state: an edit of their answer while token (the
	// interaction's) lasts, else a direct message.
	Reporter(ctx context.Context, r *Report, token string) error
	// ModLog posts r to the server's mod-log channel, or edits the post messageID
	// (when it is in that channel), and returns the post's id.
	ModLog(ctx context.Context, r *Report, st Settings, messageID string) (string, error)
}

// News is what a reporter should know of their report.
type News string

// What a reporter is told.
const (
	// NewsNone: nothing yet (the report is on its way).
	NewsNone News = ""
	// NewsChoosing: they are asked which player they mean.
	NewsChoosing News = "choosing"
	// NewsRetrying: the upstream is not answering; the report is saved and retried.
	NewsRetrying News = "retrying"
	// NewsDelivered, NewsHandedOff and NewsFailed: how delivery ended.
	NewsDelivered News = News(StatusDelivered)
	NewsHandedOff News = News(StatusHandedOff)
	NewsFailed    News = News(StatusFailed)
	// NewsClaimed, NewsResolved and NewsDismissed: a moderator's decision.
	NewsClaimed   News = News(StatusClaimed)
	NewsResolved  News = News(StatusResolved)
	NewsDismissed News = News(StatusDismissed)
)

// ReporterNews is what the reporter should know of r: a delivery outcome, that it is
// being retried, or a moderator's decision; NewsNone while there is nothing to tell.
func ReporterNews(r *Report) News {
	switch {
	case r.Moderation != "":
		return News(r.Moderation)
	case r.Delivery == StatusQueued && r.Fault == FaultChoosing:
		return NewsChoosing
	case r.Delivery == StatusQueued && r.Fault != "":
		return NewsRetrying
	case r.Delivery == StatusQueued:
		return NewsNone
	}
	return News(r.Delivery)
}

// ModLogState is what a mod-log post of r shows; a post showing another state is
// edited.
func ModLogState(r *Report) string {
	s := string(r.Status())
	if r.Fault != "" {
		s += ":" + string(r.Fault)
	}
	return s
}

// sideEffectRetry is how soon a failed mod-log post or reporter notice is tried again.
const sideEffectRetry = 30 * time.Second

// tell updates the mod-log post and the reporter's notice when they show an older
// state than r's. It returns when to try again after a failure (zero: all done), and
// the fields recording what was shown.
func (p *Pipeline) tell(ctx context.Context, r *Report, token string, log zerolog.Logger) (time.Time, map[string]any) {
	if time.Since(r.CreatedAt.Time) > p.o.GiveUpAfter+time.Hour && r.Delivery != StatusQueued {
		// Nobody is waiting on news of a report this old; don't chase Discord for it.
		return time.Time{}, nil
	}
	var again time.Time
	told := map[string]any{}
	st, err := p.settingsOf(ctx, r.GuildID)
	if err != nil {
		p.quietly(err).Msg("reading settings to post the report")
		return time.Now().Add(sideEffectRetry), nil
	}
	// A report that never became a real one (a typo, an unlinked account) is shown to
	// moderators only if it was posted before.
	worthy := !r.FaultUnfiled || r.ModLogMessageID != ""
	if shown := ModLogState(r); worthy && st.ModLogChannel != "" && (r.ModLogShown != shown || r.ModLogChannelID != st.ModLogChannel) {
		msgID := r.ModLogMessageID
		if r.ModLogChannelID != st.ModLogChannel {
			msgID = "" // the channel changed: post anew there
		}
		newID, err := p.notify.ModLog(ctx, r, st, msgID)
		if err != nil {
			log.Warn().Err(err).Msg("posting the report to the mod log")
			again = time.Now().Add(sideEffectRetry)
		} else {
			r.ModLogChannelID, r.ModLogMessageID, r.ModLogShown = st.ModLogChannel, newID, shown
			told[fModLogChannel], told[fModLogMessage], told[fModLogShown] = st.ModLogChannel, newID, shown
		}
	}
	if news := ReporterNews(r); news != NewsNone && r.Notified != news {
		if err := p.notify.Reporter(ctx, r, token); err != nil {
			log.Warn().Err(err).Msg("telling the reporter")
			again = time.Now().Add(sideEffectRetry)
		} else {
			r.Notified = news
			told[fNotified] = news
		}
	}
	return again, told
}

// settingsOf returns a server's settings, cached for a few seconds: the pipeline
// reads them for every report.
func (p *Pipeline) settingsOf(ctx context.Context, guildID string) (Settings, error) {
	p.settingsMu.Lock()
	c, ok := p.settingsCache[guildID]
	p.settingsMu.Unlock()
	if ok && time.Since(c.at) < 5*time.Second {
		return c.st, nil
	}
	st, err := p.settings.Get(ctx, guildID)
	if err != nil {
		return Settings{}, err
	}
	p.settingsMu.Lock()
	if len(p.settingsCache) > 10000 {
		clear(p.settingsCache)
	}
	p.settingsCache[guildID] = cachedSettings{st: st, at: time.Now()}
	p.settingsMu.Unlock()
	return st, nil
}
