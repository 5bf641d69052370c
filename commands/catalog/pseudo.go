package catalog

import (
	"fmt"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Pseudo returns a catalog in which every language reads the source messages with
// every letter swapped for an accented look-alike ("Répórŧ"), leaving placeholders,
// `code`, <…> and links alone. Text rendered through it that still has a plain ASCII
// letter outside those did not come from the catalog: the tests look for that.
func (c *Catalog) Pseudo() (*Catalog, error) {
	bundle := i18n.NewBundle(language.MustParse(Source))
	p := &Catalog{messages: map[string]map[string]*i18n.Message{}}
	var msgs []*i18n.Message
	for _, m := range c.messages[Source] {
		pm := *m
		for _, form := range []*string{&pm.Zero, &pm.One, &pm.Two, &pm.Few, &pm.Many, &pm.Other} {
			*form = pseudo(*form)
		}
		msgs = append(msgs, &pm)
	}
	if err := bundle.AddMessages(language.MustParse(Source), msgs...); err != nil {
		return nil, fmt.Errorf("catalog: pseudo-locale: %w", err)
	}
	for _, l := range c.langs {
		pl := *l
		// Every language reads the pseudo-locale, English plural rules included.
		pl.tag = language.MustParse(Source)
		p.langs = append(p.langs, &pl)
		p.messages[l.Code] = map[string]*i18n.Message{}
		for _, m := range msgs {
			p.messages[l.Code][m.ID] = m
		}
	}
	p.index(bundle)
	for _, l := range p.langs {
		l.loc = i18n.NewLocalizer(bundle, Source)
	}
	return p, nil
}

// accented are the look-alikes of the ASCII letters, a–z then A–Z.
var accented = []rune("áƀçđéƒĝĥíĵķļɱñóþǫŕšŧúṽŵẋýžÁƁÇĐÉƑĜĤÍĴĶĻṀÑÓÞǪŔŠŦÚṼŴẊÝŽ")

// pseudo swaps the letters of a message for look-alikes outside {{…}}, `…`, <…>,
// (…) after ] (a markdown link's target) and http(s)://… up to a space.
func pseudo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		rest := s[i:]
		if end := skip(rest); end > 0 {
			b.WriteString(rest[:end])
			i += end
			continue
		}
		r := rune(s[i])
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(accented[r-'a'])
		case r >= 'A' && r <= 'Z':
			b.WriteRune(accented[26+r-'A'])
		default:
			b.WriteByte(s[i])
		}
		i++
	}
	return b.String()
}

// skip is how many bytes at the start of s to keep as they are (0: none).
func skip(s string) int {
	for _, pair := range [][2]string{{"{{", "}}"}, {"`", "`"}, {"<", ">"}, {"](", ")"}} {
		if strings.HasPrefix(s, pair[0]) {
			if end := strings.Index(s[len(pair[0]):], pair[1]); end >= 0 {
				return len(pair[0]) + end + len(pair[1])
			}
		}
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		if end := strings.IndexAny(s, " \n"); end >= 0 {
			return end
		}
		return len(s)
	}
	return 0
}
