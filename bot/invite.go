package bot

import (
	"net/url"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// Permissions are the permissions the bot needs in a server, the ones its invite
// link asks for; it needs no other. All of them serve the mod-log channel (which may
// be a text or announcement channel, or a thread): reading the channel, posting the
// reports and the hello of /report-config channel, their embeds and re-uploaded
// evidence files. Answers to interactions, edits of its own posts and direct messages
// need no server permission.
const Permissions int64 = discordgo.PermissionViewChannel | // see the mod-log channel
	discordgo.PermissionSendMessages | // post reports there
	discordgo.PermissionSendMessagesInThreads | // when the mod log is a thread
	discordgo.PermissionEmbedLinks | // each report is an embed
	discordgo.PermissionAttachFiles // evidence re-uploaded so it outlives Discord's expiring links

// InviteURL is the link that adds the application appID to a server, as a bot with
// the application commands and Permissions.
func InviteURL(appID string) string {
	q := url.Values{
		"client_id":   {appID},
		"scope":       {"bot applications.commands"},
		"permissions": {strconv.FormatInt(Permissions, 10)},
	}
	return "https://discord.com/oauth2/authorize?" + q.Encode()
}
