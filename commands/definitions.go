package commands

import (
	"slices"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/commands/catalog"
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
	optReason          = "reason"

	subLanguage = "language"
	optLocale   = "locale"
	// languageAuto is the locale choice that has the mod log follow the server's
	// Discord locale.
	languageAuto = "auto"
)

// Game is what the commands need to know of a configured game: its publisher's
// name and flow.
type Game struct {
	ID    reporting.Game
	Title string
	Flow  reporting.Flow
}

// GamesOf are svc's configured games.
func GamesOf(svc *reporting.Service) []Game {
	var out []Game
	for _, p := range svc.Publishers() {
		out = append(out, Game{ID: p.Game(), Title: p.Title(), Flow: p.Flow()})
	}
	return out
}

// Definitions returns the application commands to register for the games the
// operator configured (and, for /link and /unlink, Bungie's api mode). Every command
// is guild-only. Descriptions and choice names are the shipped catalog's, in English
// with the other languages as Discord localizations.
func Definitions(games []Game, bungieMode string) []*discordgo.ApplicationCommand {
	return definitions(catalog.Shipped(), games, bungieMode)
}

func definitions(cat *catalog.Catalog, games []Game, bungieMode string) []*discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	manageGuild := int64(discordgo.PermissionManageGuild)
	enabled := func(g reporting.Game) bool { return slices.ContainsFunc(games, func(x Game) bool { return x.ID == g }) }
	// The game of the player-name flow (/report player, Report player) names itself
	// in those commands' descriptions.
	player := ""
	for _, g := range games {
		if g.Flow == reporting.FlowPlayer {
			player = g.Title
			if id := "game." + string(g.ID); cat.Source().Has(id) {
				player = cat.Source().T(id, nil)
			}
		}
	}
	var cmds []*discordgo.ApplicationCommand
	var report []*discordgo.ApplicationCommandOption
	if player != "" {
		report = append(report, &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionSubCommand, Name: subPlayer,
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: optPlayer, MaxLength: 100,
			}},
		})
	}
	if enabled(reporting.Destiny2) {
		report = append(report, &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionSubCommand, Name: subActivity,
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: optActivity, MaxLength: 300,
			}},
		})
	}
	if len(report) > 0 {
		cmds = append(cmds, &discordgo.ApplicationCommand{Name: cmdReport, Contexts: guildOnly, Options: report})
	}
	if player != "" {
		cmds = append(cmds, &discordgo.ApplicationCommand{Type: discordgo.UserApplicationCommand, Name: cmdReportUser, Contexts: guildOnly})
	}
	if enabled(reporting.Destiny2) && bungieMode == reporting.BungieAPIMode {
		for _, name := range []string{cmdLink, cmdUnlink} {
			cmds = append(cmds, &discordgo.ApplicationCommand{Name: name, Contexts: guildOnly,
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subBungie}}})
		}
	}
	statusChoices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, st := range listStatuses {
		statusChoices = append(statusChoices, &discordgo.ApplicationCommandOptionChoice{Value: string(st)})
	}
	member := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionUser, Name: optMember, Required: true}
	cmds = append(cmds, &discordgo.ApplicationCommand{
		Name: cmdReports, Contexts: guildOnly,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subMine},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subList,
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optStatus, Choices: statusChoices},
					{Type: discordgo.ApplicationCommandOptionString, Name: optPlayer, MaxLength: maxPlayerFilter},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subBar,
				Options: []*discordgo.ApplicationCommandOption{
					member,
					{Type: discordgo.ApplicationCommandOptionString, Name: optDuration, Required: true, MaxLength: 20},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subUnbar,
				Options: []*discordgo.ApplicationCommandOption{ptr(*member)}},
		},
	})
	rallyHereChoices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, r := range reporting.RallyHereReasons() {
		rallyHereChoices = append(rallyHereChoices, &discordgo.ApplicationCommandOptionChoice{Value: r})
	}
	reasonAdd := []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionString, Name: optLabel, Required: true, MaxLength: reporting.MaxReasonLabel},
	}
	// Each game's switch in /report-config games is named for it (SPEC §3).
	var toggles []*discordgo.ApplicationCommandOption
	for _, g := range games {
		toggles = append(toggles, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean, Name: string(g.ID)})
	}
	// The reason fields a server's reasons map to for the games that take a mapping.
	if enabled(reporting.RallyHere) {
		reasonAdd = append(reasonAdd, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: optRallyHereReason, Choices: rallyHereChoices})
	}
	if enabled(reporting.Destiny2) {
		reasonAdd = append(reasonAdd, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: optDestinyReason, Autocomplete: true})
	}
	languages := []*discordgo.ApplicationCommandOptionChoice{{Value: languageAuto}}
	for _, l := range cat.Languages() {
		languages = append(languages, &discordgo.ApplicationCommandOptionChoice{Name: l.Name, Value: l.Code})
	}
	cmds = append(cmds, &discordgo.ApplicationCommand{
		Name: cmdConfig, Contexts: guildOnly,
		DefaultMemberPermissions: &manageGuild,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subShow},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subChannel,
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionChannel, Name: optChannel,
					ChannelTypes: []discordgo.ChannelType{discordgo.ChannelTypeGuildText,
						discordgo.ChannelTypeGuildNews, discordgo.ChannelTypeGuildPublicThread, discordgo.ChannelTypeGuildPrivateThread}}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subModRole,
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionRole, Name: optRole}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subLimit,
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionInteger, Name: optCount, Required: true, MinValue: ptr(1.0), MaxValue: 10000},
					{Type: discordgo.ApplicationCommandOptionString, Name: optPer, Required: true, MaxLength: 20},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subAnonymous,
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionBoolean, Name: optOn, Required: true}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasons},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonAdd, Options: reasonAdd},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subGames, Options: toggles},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonRemove,
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optReason, Required: true, Autocomplete: true},
				}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subReasonReset},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: subLanguage,
				Options: []*discordgo.ApplicationCommandOption{
					{Type: discordgo.ApplicationCommandOptionString, Name: optLocale, Required: true, Choices: languages},
				}},
		},
	})
	for _, c := range cmds {
		localize(cat, c, catalog.V{"Game": player})
	}
	return cmds
}

// Catalog ids of what Discord shows of the commands: command.<path> is the
// description of a command, subcommand or option, path being the names from the
// command down ("reports bar member"); choice.<path> <value> names a choice;
// command_name.<name> is a context menu command's name.
const (
	commandPrefix     = "command."
	choicePrefix      = "choice."
	commandNamePrefix = "command_name."
	// statusChoice names the statuses, as /reports list offers them.
	statusChoice = choicePrefix + cmdReports + " " + subList + " " + optStatus + " "
)

// localize sets c's descriptions and choice names from the catalog: English, and the
// other languages as Discord localizations. A context menu command has no
// description; its name is localized. Language choices keep each language's own name.
func localize(cat *catalog.Catalog, c *discordgo.ApplicationCommand, vars catalog.V) {
	if c.Type == discordgo.UserApplicationCommand || c.Type == discordgo.MessageApplicationCommand {
		c.NameLocalizations = ptr(cat.Localizations(commandNamePrefix+c.Name, nil))
		return
	}
	c.Description = cat.Source().T(commandPrefix+c.Name, nil)
	c.DescriptionLocalizations = ptr(cat.Localizations(commandPrefix+c.Name, nil))
	var walk func(path string, opts []*discordgo.ApplicationCommandOption)
	walk = func(path string, opts []*discordgo.ApplicationCommandOption) {
		for _, o := range opts {
			p := path + " " + o.Name
			o.Description = truncate(cat.Source().T(commandPrefix+p, vars), 100)
			o.DescriptionLocalizations = cat.Localizations(commandPrefix+p, vars)
			for l, d := range o.DescriptionLocalizations {
				o.DescriptionLocalizations[l] = truncate(d, 100)
			}
			for _, ch := range o.Choices {
				if ch.Name != "" {
					// A language's own name, the same in every language.
					ch.NameLocalizations = map[discordgo.Locale]string{}
					for _, locale := range cat.Locales() {
						ch.NameLocalizations[locale] = ch.Name
					}
					continue
				}
				id := choicePrefix + p + " " + ch.Value.(string)
				ch.Name = cat.Source().T(id, nil)
				ch.NameLocalizations = cat.Localizations(id, nil)
			}
			walk(p, o.Options)
		}
	}
	walk(c.Name, c.Options)
}
