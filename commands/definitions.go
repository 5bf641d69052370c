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
	cmdConfig     = "report-config"

	subPlayer = "player"
	optPlayer = "player"

	subShow         = "show"
	subReasons      = "reasons"
	subReasonAdd    = "reason-add"
	subReasonRemove = "reason-remove"
	subReasonReset  = "reason-reset"

	optLabel           = "label"
	optRallyHereReason = "rallyhere-reason"
	optReason          = "reason"
)

// Definitions returns the application commands to register for the games the
// operator configured. Every command is guild-only.
func Definitions(enabled func(reporting.Game) bool) []*discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	manageGuild := int64(discordgo.PermissionManageGuild)
	var cmds []*discordgo.ApplicationCommand
	if enabled(reporting.RallyHere) {
		cmds = append(cmds,
			&discordgo.ApplicationCommand{
				Name: cmdReport, Description: "Report a player you met in a match", Contexts: guildOnly,
				Options: []*discordgo.ApplicationCommandOption{{
					Type: discordgo.ApplicationCommandOptionSubCommand, Name: subPlayer,
					Description: "Report a RallyHere player by name or player ID",
					Options: []*discordgo.ApplicationCommandOption{{
						Type: discordgo.ApplicationCommandOptionString, Name: optPlayer,
						Description: "Their in-game name or player ID (you can also fill it in the form)", MaxLength: 100,
					}},
				}},
			},
			&discordgo.ApplicationCommand{Type: discordgo.UserApplicationCommand, Name: cmdReportUser, Contexts: guildOnly},
		)
	}
	rallyHereChoices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, r := range reporting.RallyHereReasons() {
		rallyHereChoices = append(rallyHereChoices, &discordgo.ApplicationCommandOptionChoice{Name: r, Value: r})
	}
	cmds = append(cmds, &discordgo.ApplicationCommand{
		Name: cmdConfig, Description: "Report settings of this server", Contexts: guildOnly,
		DefaultMemberPermissions: &manageGuild,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subShow, Description: "Show this server's report settings"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasons, Description: "List the report reasons"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonAdd, Description: "Add a report reason",
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optLabel, Description: "What players see, e.g. Toxic voice chat",
						Required: true, MaxLength: reporting.MaxReasonLabel},
					{Type: discordgo.ApplicationCommandOptionString, Name: optRallyHereReason, Description: "The RallyHere reason it files as",
						Choices: rallyHereChoices},
				}},
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
