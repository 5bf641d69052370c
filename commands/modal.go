package commands

import (
	"fmt"
	"slices"

	"github.com/bwmarrin/discordgo"
)

// form is what a submitted modal carried, by custom_id.
type form struct {
	text    map[string]string
	selects map[string][]string
	files   map[string][]string
}

// readModal collects the values of a submitted modal, whether its inputs sit in
// labels (the current layout) or action rows (the older one).
func readModal(data discordgo.ModalSubmitInteractionData) (form, error) {
	f := form{text: map[string]string{}, selects: map[string][]string{}, files: map[string][]string{}}
	var walk func(cs []discordgo.MessageComponent, depth int) error
	walk = func(cs []discordgo.MessageComponent, depth int) error {
		if depth > 2 {
			return fmt.Errorf("components nested too deep")
		}
		for _, c := range cs {
			var id string
			switch v := c.(type) {
			case *discordgo.ActionsRow:
				if err := walk(v.Components, depth+1); err != nil {
					return err
				}
				continue
			case *discordgo.Label:
				if err := walk([]discordgo.MessageComponent{v.Component}, depth+1); err != nil {
					return err
				}
				continue
			case *discordgo.TextInput:
				id = v.CustomID
				f.text[id] = v.Value
			case *discordgo.SelectMenu:
				id = v.CustomID
				f.selects[id] = v.Values
			case *discordgo.FileUpload:
				id = v.CustomID
				f.files[id] = v.Values
			case *discordgo.TextDisplay, nil:
				continue
			default:
				return fmt.Errorf("unexpected component type %d", c.Type())
			}
			if id == "" {
				return fmt.Errorf("an input without custom_id")
			}
		}
		return nil
	}
	return f, walk(data.Components, 0)
}

// only fails if the form has an input not among ids: a form the bot did not build.
func (f form) only(ids ...string) error {
	for _, m := range []map[string]bool{keys(f.text), keys(f.selects), keys(f.files)} {
		for id := range m {
			if !slices.Contains(ids, id) {
				return fmt.Errorf("unexpected input %q", id)
			}
		}
	}
	return nil
}

func keys[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// one returns the single value chosen in select id, or "" when there is not exactly one.
func (f form) one(id string) string {
	if v := f.selects[id]; len(v) == 1 {
		return v[0]
	}
	return ""
}
