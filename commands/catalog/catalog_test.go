package catalog

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bwmarrin/discordgo"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The catalog has no golden files; -update is accepted so that one run,
// go test ./commands/... -update, checks the catalog and rewrites commands' goldens.
var _ = flag.Bool("update", false, "rewrite the golden files (of package commands)")

// shipped are the languages the bot must ship (SPEC §2).
var shipped = []string{"en-US", "de", "es-ES", "fr", "pl", "pt-BR"}

func TestShippedLanguages(t *testing.T) {
	t.Parallel()
	var codes []string
	for _, l := range Shipped().Languages() {
		codes = append(codes, l.Code)
		if l.Name == "" || l.Bungie == "" {
			t.Errorf("%s: name %q, bungie %q", l.Code, l.Name, l.Bungie)
		}
	}
	for _, want := range shipped {
		if !slices.Contains(codes, want) {
			t.Errorf("%s is not shipped (have %v)", want, codes)
		}
	}
	if codes[0] != Source {
		t.Errorf("the first language is %s, not the source", codes[0])
	}
}

// forms are the plural forms a message can have, as go-i18n names them.
func forms(m *i18n.Message) map[string]string {
	out := map[string]string{}
	for name, text := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if text != "" {
			out[name] = text
		}
	}
	return out
}

var placeholderRE = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// placeholdersOf are the {{.Name}}s of text, sorted, without repeats.
func placeholdersOf(text string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// meta are the ids of the [language] table: each file's own, not translations.
func isMeta(id string) bool { return strings.HasPrefix(id, "language.") }

// TestEveryLanguageHasEveryMessage fails for a message missing from a language, one
// it has that English does not, and a placeholder that differs from the English one.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	t.Parallel()
	c := Shipped()
	src := c.messages[Source]
	for _, l := range c.Languages() {
		t.Run(l.Code, func(t *testing.T) {
			msgs := c.messages[l.Code]
			for id, m := range src {
				if isMeta(id) {
					continue
				}
				tm, ok := msgs[id]
				if !ok {
					t.Errorf("%s is missing", id)
					continue
				}
				want := placeholdersOf(m.Other)
				for form, text := range forms(tm) {
					got := placeholdersOf(text)
					if form == "one" {
						// The one form may write the number as a word ("un", "jeden").
						want := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return p == "Count" })
						got = slices.DeleteFunc(got, func(p string) bool { return p == "Count" })
						if !slices.Equal(got, want) {
							t.Errorf("%s (%s): placeholders %v, English has %v", id, form, got, want)
						}
						continue
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s (%s): placeholders %v, English has %v", id, form, got, want)
					}
				}
				if plural(m) != plural(tm) {
					t.Errorf("%s: plural %v, in English %v", id, plural(tm), plural(m))
				}
			}
			for id := range msgs {
				if _, ok := src[id]; !ok && !isMeta(id) {
					t.Errorf("%s is not an English message", id)
				}
			}
		})
	}
}

func plural(m *i18n.Message) bool {
	return m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != ""
}

// TestPluralForms checks every plural message has each form its language's CLDR rule
// picks for the counts the bot shows, and no other.
func TestPluralForms(t *testing.T) {
	t.Parallel()
	c := Shipped()
	counts := []int{0, 1, 2, 3, 4, 5, 11, 12, 14, 21, 22, 25, 100, 101, 102, 105, 1000, 1_000_000}
	for _, l := range c.Languages() {
		t.Run(l.Code, func(t *testing.T) {
			used := map[string]bool{}
			for _, n := range counts {
				used[formOf(t, l.tag, n)] = true
			}
			for id, m := range c.messages[l.Code] {
				if !plural(m) {
					continue
				}
				have := forms(m)
				for form := range used {
					if have[form] == "" {
						t.Errorf("%s: no %s form (%s uses it)", id, form, l.Code)
					}
				}
				for form := range have {
					if !used[form] && form != "other" {
						t.Errorf("%s: a %s form, which %s never uses", id, form, l.Code)
					}
				}
			}
		})
	}
}

// formOf is the CLDR plural form go-i18n picks for n in tag.
func formOf(t *testing.T, tag language.Tag, n int) string {
	t.Helper()
	b := i18n.NewBundle(tag)
	probe := &i18n.Message{ID: "probe", Zero: "zero", One: "one", Two: "two", Few: "few", Many: "many", Other: "other"}
	if err := b.AddMessages(tag, probe); err != nil {
		t.Fatal(err)
	}
	got, err := i18n.NewLocalizer(b, tag.String()).Localize(&i18n.LocalizeConfig{MessageID: "probe", PluralCount: n})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEveryMessageRenders executes every form of every message with each of its
// placeholders set: no template error, no value left out.
func TestEveryMessageRenders(t *testing.T) {
	t.Parallel()
	c := Shipped()
	for _, l := range c.Languages() {
		for id, m := range c.messages[l.Code] {
			if isMeta(id) {
				continue
			}
			vars := V{}
			for _, p := range placeholdersOf(m.Other) {
				vars[p] = "x"
			}
			for _, n := range []int{1, 2, 5, 22} {
				got, err := l.localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: vars, PluralCount: pluralCount(m, n)})
				if err != nil || strings.Contains(got, "<no value>") || strings.Contains(got, "{{") {
					t.Errorf("%s %s: %q, %v", l.Code, id, got, err)
				}
			}
		}
	}
}

func pluralCount(m *i18n.Message, n int) any {
	if plural(m) {
		return n
	}
	return nil
}

// TestLocales checks which language serves each Discord locale: the shipped ones,
// the ones a file adds (en-GB, es-419), and English for the rest.
func TestLocales(t *testing.T) {
	t.Parallel()
	c := Shipped()
	for locale, want := range map[string]string{
		"en-US": "en-US", "en-GB": "en-US", "de": "de", "fr": "fr", "es-ES": "es-ES", "es-419": "es-ES",
		"pt-BR": "pt-BR", "pl": "pl", "": "en-US", "DE": "de", "nonsense": "en-US",
	} {
		if got := c.For(locale).Code; got != want {
			t.Errorf("For(%q) = %s, want %s", locale, got, want)
		}
	}
	// Every other Discord locale reads English.
	served := map[string]bool{}
	for _, l := range c.Languages() {
		served[l.Code] = true
		for _, also := range l.Also {
			served[also] = true
		}
	}
	for locale := range discordgo.Locales {
		if !served[string(locale)] && locale != discordgo.Unknown {
			if got := c.For(string(locale)).Code; got != Source {
				t.Errorf("For(%q) = %s, want English", locale, got)
			}
		}
	}
	for header, want := range map[string]string{
		"de-AT,de;q=0.9,en;q=0.8": "de", "pl-PL": "pl", "pt-BR,pt;q=0.9": "pt-BR", "pt-PT": "pt-BR", "es-MX": "es-ES",
		"fr-CA": "fr", "tlh,en;q=0.5": "en-US", "tlh": "en-US", "": "en-US", "garbage;;;": "en-US", "en-GB": "en-US",
	} {
		if got := c.ForAcceptLanguage(header).Code; got != want {
			t.Errorf("ForAcceptLanguage(%q) = %s, want %s", header, got, want)
		}
	}
	for code, want := range map[string]string{"en-US": "en", "pt-BR": "pt", "es-ES": "es", "de": "de"} {
		l, _ := c.Lookup(code)
		if got := l.HTMLLang(); got != want {
			t.Errorf("%s: HTMLLang %q, want %q", code, got, want)
		}
	}
	loc := c.Localizations("command.report", nil)
	if len(loc) != len(c.Locales()) || loc["es-419"] != loc["es-ES"] || loc["de"] == "" || loc["en-GB"] != "" {
		t.Errorf("Localizations: %v", loc)
	}
}

// TestBrokenFiles checks that New refuses files it cannot serve.
func TestBrokenFiles(t *testing.T) {
	t.Parallel()
	en, err := fs.ReadFile(locales, "locales/en-US.toml")
	if err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]fstest.MapFS{
		"no source":             {"de.toml": {Data: []byte("[language]\nname = \"Deutsch\"\nbungie = \"de\"\n[reply]\nself = \"x\"\n")}},
		"not a Discord locale":  {"en-US.toml": {Data: en}, "xx.toml": {Data: []byte("[language]\nname = \"X\"\nbungie = \"x\"\n")}},
		"no language table":     {"en-US.toml": {Data: []byte("[reply]\nself = \"x\"\n")}},
		"an unknown also":       {"en-US.toml": {Data: []byte(strings.Replace(string(en), `also = "en-GB"`, `also = "en-AU"`, 1))}},
		"not TOML":              {"en-US.toml": {Data: []byte("[language\n")}},
		"a reserved key mixed":  {"en-US.toml": {Data: []byte(string(en) + "\n[mixed]\nother = \"x\"\nlabel = \"y\"\n")}},
		"a template that fails": {"en-US.toml": {Data: []byte(string(en) + "\n[broken]\nx = \"{{.A\"\n")}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(files)
			if name == "a template that fails" {
				// go-i18n parses templates when they are first used: the render test
				// catches it, and T shows the id.
				if err != nil || c.Source().T("broken.x", nil) != "⟦broken.x⟧" {
					t.Fatalf("%v, %q", err, c.Source().T("broken.x", nil))
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestMissingMessage(t *testing.T) {
	t.Parallel()
	l := Shipped().Source()
	if got := l.T("no.such.message", nil); got != "⟦no.such.message⟧" {
		t.Fatalf("got %q", got)
	}
	if l.Has("no.such.message") || !l.Has("reply.self") {
		t.Fatal("Has")
	}
}

// dynamic are the prefixes of ids the code builds from a value (a fault, a reason
// key, a command's path…) rather than writes out.
var dynamic = []string{"problem.", "fault.", "news.failed.", "status.", "reason.", "destiny.class.", "modal.",
	"modlog.field.", "modlog.button.", "page.", "command.", "command_name.", "choice.", "game.", "unit.",
	"duration.", "language."}

// TestIDsInCode reads the code of the packages that render messages: every id it
// writes out (T, N or Has with a literal) exists, and every message is used, by a
// string in the code or under a prefix the code builds ids from.
func TestIDsInCode(t *testing.T) {
	t.Parallel()
	src := Shipped().messages[Source]
	used := map[string]bool{}
	for _, dir := range []string{"..", "../../bot"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					// An id in a variable ("games.on") counts as used.
					s, _ := strconv.Unquote(lit.Value)
					used[s] = true
				}
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "T" && sel.Sel.Name != "N" && sel.Sel.Name != "Has") {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				id, _ := strconv.Unquote(lit.Value)
				if _, ok := src[id]; !ok {
					t.Errorf("%s: %s(%q): no such message", file, sel.Sel.Name, id)
				}
				return true
			})
		}
	}
	for id := range src {
		if !used[id] && !slices.ContainsFunc(dynamic, func(p string) bool { return strings.HasPrefix(id, p) }) {
			t.Errorf("%s is never used", id)
		}
	}
}

// BenchmarkLocalize is one message with values and one plural message, rendered
// through a cached localizer, with the catalog's placeholder parser and, on a catalog
// of its own (go-i18n keeps the first parse of a message), go-i18n's default
// text/template parser; and the lookup of a localizer by Discord locale. Run the two
// parsers in the same run: this machine's load changes the absolute figures.
func BenchmarkLocalize(b *testing.B) {
	c := Shipped()
	sub, _ := fs.Sub(locales, "locales")
	text, err := New(sub)
	if err != nil {
		b.Fatal(err)
	}
	vars := func() V {
		return V{"Player": "<@1>", "Game": "RallyHere", "UpstreamID": "9b2f", "Ref": "R-0000000000000"}
	}
	for _, code := range []string{"en-US", "pl"} {
		l, lt := c.For(code), text.For(code)
		b.Run("placeholders/T/"+code, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = l.T("news.delivered", vars())
			}
		})
		b.Run("text/T/"+code, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = lt.loc.Localize(&i18n.LocalizeConfig{MessageID: "news.delivered", TemplateData: vars()})
			}
		})
		b.Run("placeholders/N/"+code, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = l.N("reason.added", 11, V{"Label": "Cheating", "Mappings": "x"})
			}
		})
	}
	b.Run("For", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = c.For("es-419")
		}
	})
}

func TestPlaceholderParser(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"plain":                    "plain",
		"{{.A}}":                   "1",
		"a {{.A}} b {{ .B }} c":    "a 1 b two c",
		"{{.A}}{{.A}}":             "11",
		"ends with {{.B}}":         "ends with two",
		"single { braces } are ok": "single { braces } are ok",
	} {
		p, err := placeholders{}.Parse(src, "", "")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got, err := p.Execute(V{"A": 1, "B": "two"}); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", src, got, err, want)
		}
	}
	for _, src := range []string{"{{if .A}}x{{end}}", "{{.A", "{{A}}", "{{.A.B}}", "{{.A | printf}}", "{{}}"} {
		if _, err := (placeholders{}).Parse(src, "", ""); err == nil {
			t.Errorf("%q parsed", src)
		}
	}
	p, _ := placeholders{}.Parse("{{.Missing}}", "", "")
	if _, err := p.Execute(V{}); err == nil {
		t.Error("a missing value rendered")
	}
}
