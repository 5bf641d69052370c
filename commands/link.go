package commands

import (
	"context"

	"github.com/bwmarrin/discordgo"
)

// linkCommand handles /link bungie and /unlink bungie (Bungie's api mode).
func (c *call) linkCommand(ctx context.Context, data discordgo.ApplicationCommandInteractionData) Response {
	if c.svc.Links == nil || len(data.Options) != 1 || data.Options[0].Name != subBungie {
		return reply(c.unknown())
	}
	if data.Name == cmdUnlink {
		was, err := c.svc.Links.Unlink(ctx, c.user.ID)
		if err != nil {
			return reply(c.fail(err, "unlinking Bungie.net"))
		}
		c.log.Info().Bool("was_linked", was).Msg("Bungie.net unlinked")
		return reply(msgUnlinked(c.w, was))
	}
	start, err := c.svc.Links.Start(ctx, c.user.ID)
	if err != nil {
		return reply(c.fail(err, "starting a Bungie.net link"))
	}
	resp := reply(c.w.T("reply.link_bungie", nil))
	resp.Reply.Data.Components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: truncate(c.w.T("button.link_bungie", nil), 80), Style: discordgo.LinkButton, URL: start},
	}}}
	return resp
}
