// Package catalog holds every text a person reads from the bot, in every language it
// ships: one message file per language in locales/ (TOML, named after the Discord
// locale it serves, e.g. de.toml, pt-BR.toml), embedded in the binary and read once
// with go-i18n, which brings CLDR plural rules. English (en-US) is the source every
// other file translates, and the fallback for any locale that has no file.
//
// Messages are Go templates ({{.Player}}); their values are written as given, so what
// people typed must be escaped for Discord before it is passed in.
package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/bwmarrin/discordgo"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Source is the language every message file translates, and the fallback.
const Source = "en-US"

//go:embed locales/*.toml
var locales embed.FS

// V are the values of a message's placeholders, by name.
type V = map[string]any

// Catalog is the messages of every shipped language. It is read-only once built and
// safe for concurrent use.
type Catalog struct {
	langs    []*Localizer          // Source first, then by code
	byLocale map[string]*Localizer // by every Discord locale served, lower case
	matcher  language.Matcher      // of the langs' tags, for Accept-Language
	// messages are the parsed files, by language code and message id.
	messages map[string]map[string]*i18n.Message
}

// Localizer renders messages in one language. Make one per language (Catalog keeps
// them): it holds no per-call state.
type Localizer struct {
	// Code is the language's file name and Discord locale (de, pt-BR, …).
	Code string
	// Name is the language's own name ("Deutsch"), as admins choose it.
	Name string
	// Bungie is the language of Bungie.net's manifest with the same names (de, pt-br).
	Bungie string
	// Also are other Discord locales this language serves (es-419 for es-ES).
	Also []string

	tag language.Tag
	loc *i18n.Localizer
	ids map[string]*i18n.Message // the source language's messages
}

// meta is the [language] table every message file starts with.
type meta struct {
	Language struct {
		Name   string `toml:"name"`
		Bungie string `toml:"bungie"`
		Also   string `toml:"also"`
	} `toml:"language"`
}

// Shipped returns the catalog of the message files built into the binary. They are
// parsed once, on first use; a broken file is a bug the tests catch, so it panics.
var Shipped = sync.OnceValue(func() *Catalog {
	sub, err := fs.Sub(locales, "locales")
	if err == nil {
		var c *Catalog
		if c, err = New(sub); err == nil {
			return c
		}
	}
	panic("catalog: the shipped message files are broken: " + err.Error())
})

// New reads every *.toml message file at the root of fsys. Each is named after the
// Discord locale it serves; Source must be among them.
func New(fsys fs.FS) (*Catalog, error) {
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("catalog: listing message files: %w", err)
	}
	bundle := i18n.NewBundle(language.MustParse(Source))
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{messages: map[string]map[string]*i18n.Message{}}
	for _, name := range names {
		code := strings.TrimSuffix(path.Base(name), ".toml")
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		l, messages, err := parseFile(bundle, code, raw)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", name, err)
		}
		c.messages[code] = map[string]*i18n.Message{}
		for _, m := range messages {
			c.messages[code][m.ID] = m
		}
		c.langs = append(c.langs, l)
	}
	if len(c.messages[Source]) == 0 {
		return nil, fmt.Errorf("catalog: no %s.toml, the source language", Source)
	}
	c.index(bundle)
	return c, nil
}

// parseFile adds the messages of the file of language code to bundle and returns the
// language it describes and its messages.
func parseFile(bundle *i18n.Bundle, code string, raw []byte) (*Localizer, []*i18n.Message, error) {
	if _, ok := discordgo.Locales[discordgo.Locale(code)]; !ok || code == "" {
		return nil, nil, fmt.Errorf("%q is not a Discord locale", code)
	}
	var m meta
	if err := toml.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	if m.Language.Name == "" || m.Language.Bungie == "" {
		return nil, nil, fmt.Errorf("[language] needs a name and a bungie language")
	}
	l := &Localizer{Code: code, Name: m.Language.Name, Bungie: m.Language.Bungie, tag: language.Make(code)}
	for _, also := range strings.Split(m.Language.Also, ",") {
		if also = strings.TrimSpace(also); also != "" {
			if _, ok := discordgo.Locales[discordgo.Locale(also)]; !ok {
				return nil, nil, fmt.Errorf("also: %q is not a Discord locale", also)
			}
			l.Also = append(l.Also, also)
		}
	}
	file, err := bundle.ParseMessageFileBytes(raw, code+".toml")
	if err != nil {
		return nil, nil, err
	}
	return l, file.Messages, nil
}

// index orders the languages (Source first), makes their localizers on bundle and
// the lookup tables.
func (c *Catalog) index(bundle *i18n.Bundle) {
	slices.SortFunc(c.langs, func(a, b *Localizer) int {
		if (a.Code == Source) != (b.Code == Source) {
			if a.Code == Source {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Code, b.Code)
	})
	c.byLocale = map[string]*Localizer{}
	tags := make([]language.Tag, 0, len(c.langs))
	for _, l := range c.langs {
		l.loc = i18n.NewLocalizer(bundle, l.Code)
		l.ids = c.messages[Source]
		tags = append(tags, l.tag)
		for _, locale := range append([]string{l.Code}, l.Also...) {
			if _, taken := c.byLocale[strings.ToLower(locale)]; !taken {
				c.byLocale[strings.ToLower(locale)] = l
			}
		}
	}
	c.matcher = language.NewMatcher(tags)
}

// Languages are the shipped languages, Source first.
func (c *Catalog) Languages() []*Localizer { return slices.Clone(c.langs) }

// Source is the localizer of the source language, English.
func (c *Catalog) Source() *Localizer { return c.langs[0] }

// For is the localizer of a Discord locale (en-US, de, es-419, …): the language that
// serves it, else English.
func (c *Catalog) For(locale string) *Localizer {
	if l, ok := c.byLocale[locale]; ok {
		return l
	}
	if l, ok := c.byLocale[strings.ToLower(locale)]; ok {
		return l
	}
	return c.langs[0]
}

// Lookup is the shipped language whose code is exactly code.
func (c *Catalog) Lookup(code string) (*Localizer, bool) {
	for _, l := range c.langs {
		if l.Code == code {
			return l, true
		}
	}
	return nil, false
}

// ForAcceptLanguage is the shipped language that best fits a browser's
// Accept-Language header (de-AT finds de), else English.
func (c *Catalog) ForAcceptLanguage(header string) *Localizer {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return c.langs[0]
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return c.langs[0]
	}
	return c.langs[i]
}

// Locales are the Discord locales served by a language other than Source.
func (c *Catalog) Locales() []discordgo.Locale {
	var out []discordgo.Locale
	for _, l := range c.langs[1:] {
		for _, locale := range append([]string{l.Code}, l.Also...) {
			out = append(out, discordgo.Locale(locale))
		}
	}
	return out
}

// Localizations are message id in every shipped language but Source, keyed by each
// Discord locale the language serves: Discord's name_localizations and
// description_localizations.
func (c *Catalog) Localizations(id string, v V) map[discordgo.Locale]string {
	out := map[discordgo.Locale]string{}
	for _, locale := range c.Locales() {
		out[locale] = c.For(string(locale)).T(id, v)
	}
	return out
}

// HTMLLang is the language's code for an HTML lang attribute: its base language (en,
// de, pt).
func (l *Localizer) HTMLLang() string {
	base, _ := l.tag.Base()
	return base.String()
}

// Has reports whether the catalog has message id (in English, hence in every
// language).
func (l *Localizer) Has(id string) bool {
	_, ok := l.ids[id]
	return ok
}

// T renders message id with the values v (nil: none). A message the language lacks
// falls back to English; one English lacks renders as ⟦id⟧, which the tests catch.
func (l *Localizer) T(id string, v V) string {
	return l.render(&i18n.LocalizeConfig{MessageID: id, TemplateData: v})
}

// N renders message id in the plural form n takes in this language (CLDR); n is its
// placeholder {{.Count}}.
func (l *Localizer) N(id string, n int, v V) string {
	data := make(V, len(v)+1)
	for k, x := range v {
		data[k] = x
	}
	data["Count"] = n
	return l.render(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: n})
}

func (l *Localizer) render(lc *i18n.LocalizeConfig) string {
	text, err := l.localize(lc)
	if text == "" && err != nil {
		return "⟦" + lc.MessageID + "⟧"
	}
	return text
}

// localize is go-i18n's Localize with the catalog's template parser. It errs for a
// message missing in this language too (and then renders English).
func (l *Localizer) localize(lc *i18n.LocalizeConfig) (string, error) {
	lc.TemplateParser = placeholders{}
	return l.loc.Localize(lc)
}
