package commands

import (
	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting"
)

// Command, subcommand and option names (SPEC §2, §3): a contract with the people
// who use them.
const (
	cmdReport     = "report"
	cmdReportUser = "Report player"
	cmdReports    = "reports"
	cmdConfig     = "report-config"
	cmdLink       = "link"
	cmdUnlink     = "unlink"

	subPlayer   = "player"
	optPlayer   = "player"
	subActivity = "activity"
	optActivity = "activity"
	subBungie   = "bungie"

	subMine  = "mine"
	subList  = "list"
	subBar   = "bar"
	subUnbar = "unbar"

	optStatus   = "status"
	optMember   = "member"
	optDuration = "duration"

	subShow         = "show"
	subChannel      = "channel"
	subModRole      = "mod-role"
	subLimit        = "limit"
	subAnonymous    = "anonymous"
	subGames        = "games"
	subReasons      = "reasons"
	subReasonAdd    = "reason-add"
	subReasonRemove = "reason-remove"
	subReasonReset  = "reason-reset"

	optChannel         = "channel"
	optRole            = "role"
	optCount           = "count"
	optPer             = "per"
	optOn              = "on"
	optLabel           = "label"
	optRallyHereReason = "rallyhere-reason"
	optDestinyReason   = "destiny-reason"
	optDestiny2        = "destiny2"
	optRallyHere       = "rallyhere"
	optReason          = "reason"
)

// Definitions returns the application commands to register for the games the
// operator configured (and, for /link and /unlink, Bungie's api mode). Every command
// is guild-only.
func Definitions(enabled func(reporting.Game) bool, bungieMode string) []*discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	manageGuild := int64(discordgo.PermissionManageGuild)
	var cmds []*discordgo.ApplicationCommand
	var report []*discordgo.ApplicationCommandOption
	if enabled(reporting.RallyHere) {
		report = append(report, &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionSubCommand, Name: subPlayer,
			Description: "Report a RallyHere player by name or player ID",
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: optPlayer,
				Description: "Their in-game name or player ID (you can also fill it in the form)", MaxLength: 100,
			}},
		})
	}
	if enabled(reporting.Destiny2) {
		report = append(report, &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionSubCommand, Name: subActivity,
			Description: "Report a Destiny 2 player you met in an activity",
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: optActivity,
				Description: "The activity's id or PGCR link (you can also fill it in the form)", MaxLength: 300,
			}},
		})
	}
	if len(report) > 0 {
		cmds = append(cmds, &discordgo.ApplicationCommand{
			Name: cmdReport, Description: "Report a player you met in a match", Contexts: guildOnly, Options: report,
		})
	}
	if enabled(reporting.RallyHere) {
		cmds = append(cmds, &discordgo.ApplicationCommand{Type: discordgo.UserApplicationCommand, Name: cmdReportUser, Contexts: guildOnly})
	}
	if enabled(reporting.Destiny2) && bungieMode == reporting.BungieAPIMode {
		for _, c := range []struct{ name, desc string }{
			{cmdLink, "Link your Bungie.net account, so the bot can file Destiny 2 reports for you"},
			{cmdUnlink, "Unlink your Bungie.net account: the bot forgets its tokens"},
		} {
			cmds = append(cmds, &discordgo.ApplicationCommand{Name: c.name, Description: c.desc, Contexts: guildOnly,
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subBungie, Description: c.desc}}})
		}
	}
	statusChoices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, st := range listStatuses {
		statusChoices = append(statusChoices, &discordgo.ApplicationCommandOptionChoice{Name: string(st), Value: string(st)})
	}
	member := func(desc string) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionUser, Name: optMember, Description: desc, Required: true}
	}
	cmds = append(cmds, &discordgo.ApplicationCommand{
		Name: cmdReports, Description: "Look reports up", Contexts: guildOnly,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subMine, Description: "Your latest reports and where each stands"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subList, Description: "Moderators: recent reports in this server",
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optStatus, Description: "Only reports with this status", Choices: statusChoices},
					{Type: discordgo.ApplicationCommandOptionString, Name: optPlayer, Description: "Only reports about this player (name, id or @member)", MaxLength: maxPlayerFilter},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subBar, Description: "Moderators: stop a member from filing reports for a while",
				Options: []*discordgo.ApplicationCommandOption{
					member("The member to bar"),
					{Type: discordgo.ApplicationCommandOptionString, Name: optDuration, Description: "For how long, e.g. 12h, 7d, 30d (at most 365d)", Required: true, MaxLength: 20},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subUnbar, Description: "Moderators: let a barred member report again",
				Options: []*discordgo.ApplicationCommandOption{member("The member to let report again")}},
		},
	})
	rallyHereChoices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, r := range reporting.RallyHereReasons() {
		rallyHereChoices = append(rallyHereChoices, &discordgo.ApplicationCommandOptionChoice{Name: r, Value: r})
	}
	reasonAdd := []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionString, Name: optLabel, Description: "What players see, e.g. Toxic voice chat",
			Required: true, MaxLength: reporting.MaxReasonLabel},
	}
	var games []*discordgo.ApplicationCommandOption
	if enabled(reporting.RallyHere) {
		reasonAdd = append(reasonAdd, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: optRallyHereReason, Description: "The RallyHere reason it files as", Choices: rallyHereChoices})
		games = append(games, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean,
			Name: optRallyHere, Description: "Take RallyHere reports in this server"})
	}
	if enabled(reporting.Destiny2) {
		reasonAdd = append(reasonAdd, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: optDestinyReason, Description: "The Destiny 2 reason it files as (Category › Reason)", Autocomplete: true})
		games = append(games, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean,
			Name: optDestiny2, Description: "Take Destiny 2 reports in this server"})
	}
	cmds = append(cmds, &discordgo.ApplicationCommand{
		Name: cmdConfig, Description: "Report settings of this server", Contexts: guildOnly,
		DefaultMemberPermissions: &manageGuild,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subShow, Description: "Show this server's report settings"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subChannel, Description: "Where reports are posted for moderators (leave empty: nowhere)",
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionChannel, Name: optChannel,
					Description: "The mod-log channel", ChannelTypes: []discordgo.ChannelType{discordgo.ChannelTypeGuildText,
						discordgo.ChannelTypeGuildNews, discordgo.ChannelTypeGuildPublicThread, discordgo.ChannelTypeGuildPrivateThread}}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subModRole, Description: "A role whose members handle reports (leave empty: none)",
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionRole, Name: optRole, Description: "The moderators' role"}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subLimit, Description: "How many reports each member may file",
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionInteger, Name: optCount, Description: "Reports…", Required: true, MinValue: ptr(1.0), MaxValue: 10000},
					{Type: discordgo.ApplicationCommandOptionString, Name: optPer, Description: "…per this long, e.g. 10m, 1h, 1d", Required: true, MaxLength: 20},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subAnonymous, Description: "Hide who reported from moderators",
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionBoolean, Name: optOn, Description: "On or off", Required: true}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasons, Description: "List the report reasons"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonAdd, Description: "Add a report reason", Options: reasonAdd},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subGames, Description: "Turn each game's reports on or off in this server", Options: games},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonRemove, Description: "Remove a report reason",
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optReason, Description: "The reason to remove",
						Required: true, Autocomplete: true},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonReset, Description: "Put the default reasons back"},
		},
	})
	return cmds
}
