package catalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n/template"
)

// placeholders is the template parser of the catalog's messages, which hold no logic,
// only {{.Name}} placeholders. go-i18n's default parser is text/template, whose
// execution took most of the time of rendering a message (BenchmarkLocalize: "text"
// against "placeholders", same message); filling the placeholders of a message split
// once takes a fraction of it. Any other action fails to parse, so a message using
// one renders as ⟦id⟧, which the tests catch.
type placeholders struct{}

// Cacheable says go-i18n may keep what Parse returns (once per message form).
func (placeholders) Cacheable() bool { return true }

// Parse splits src into text and placeholders.
func (placeholders) Parse(src, left, right string) (template.ParsedTemplate, error) {
	if left == "" {
		left = "{{"
	}
	if right == "" {
		right = "}}"
	}
	t := &filled{}
	for {
		i := strings.Index(src, left)
		if i < 0 {
			t.text = append(t.text, src)
			return t, nil
		}
		j := strings.Index(src[i:], right)
		if j < 0 {
			return nil, fmt.Errorf("catalog: %q: %s without %s", src, left, right)
		}
		name, ok := strings.CutPrefix(strings.TrimSpace(src[i+len(left):i+j]), ".")
		if !ok || name == "" || strings.ContainsAny(name, " .|()$\"") {
			return nil, fmt.Errorf("catalog: %q: only placeholders like %s.Name%s are allowed", src, left, right)
		}
		t.text = append(t.text, src[:i])
		t.names = append(t.names, name)
		src = src[i+j+len(right):]
	}
}

// filled is a parsed message: text[0], the value of names[0], text[1], …, the last
// text.
type filled struct {
	text  []string
	names []string
}

// Execute writes the message with the values of data, a V; a value it lacks is an
// error.
func (t *filled) Execute(data any) (string, error) {
	if len(t.names) == 0 {
		return t.text[0], nil
	}
	vars, _ := data.(V)
	var b strings.Builder
	n := 0
	for _, s := range t.text {
		n += len(s)
	}
	b.Grow(n + 16*len(t.names))
	for i, name := range t.names {
		b.WriteString(t.text[i])
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("catalog: no value for {{.%s}}", name)
		}
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			fmt.Fprint(&b, v)
		}
	}
	b.WriteString(t.text[len(t.text)-1])
	return b.String(), nil
}
