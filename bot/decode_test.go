package bot

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// interactionBodies are interactions as Discord sends them, and some it does not,
// for TestDecodeInteraction, FuzzDecodeInteraction and BenchmarkDecode. lean says
// whether decodeLean decodes the body itself rather than leaving it to discordgo.
var interactionBodies = []interactionBody{
	{"report form", true, reportForm},
	{"report form in action rows", true, `{"id":"1","type":5,"token":"t","member":{"user":{"id":"2","username":"a"},"permissions":"8","roles":["3"]},` +
		`"data":{"custom_id":"report:rallyhere","components":[{"type":1,"id":1,"components":[{"type":4,"id":2,"custom_id":"player","value":"bob"}]},` +
		`{"type":1,"components":[{"type":4,"custom_id":"description","value":"x","style":2,"label":"L","placeholder":"p","required":true,"min_length":1,"max_length":9}]}]}}`},
	{"evidence and every select", true, `{"id":"1","type":5,"user":{"id":"2","username":"a"},"guild_locale":"de","locale":"pl","app_permissions":"2048",` +
		`"data":{"custom_id":"report:rallyhere:5","components":[` +
		`{"type":18,"id":1,"label":"Files","description":"d","component":{"type":19,"id":2,"custom_id":"evidence","values":["500","501"],"min_values":0,"max_values":5,"required":false}},` +
		`{"type":18,"component":{"type":5,"custom_id":"u","values":["7"],"default_values":[{"id":"7","type":"user"}]}},` +
		`{"type":18,"component":{"type":6,"custom_id":"r","values":[]}},{"type":18,"component":{"type":7,"custom_id":"m"}},` +
		`{"type":18,"component":{"type":8,"custom_id":"c","channel_types":[0,5],"disabled":true,"options":[{"label":"l","value":"v","default":true}]}},` +
		`{"type":10,"id":9,"content":"read me"}],` +
		`"resolved":{"attachments":{"500":{"id":"500","filename":"a.png","url":"https://cdn.discordapp.com/a.png","content_type":"image/png","size":10}}}}}`},
	{"empty modal", true, `{"id":"1","type":5,"data":{"custom_id":"x"}}`},
	{"modal data null", true, `{"id":"1","type":5,"data":null}`},
	{"components null", true, `{"id":"1","type":5,"data":{"custom_id":"x","components":null}}`},
	{"row without components", true, `{"id":"1","type":5,"data":{"custom_id":"x","components":[{"type":1}]}}`},
	{"keys in another case", true, `{"ID":"1","Type":5,"DATA":{"Custom_ID":"x","COMPONENTS":[{"TYPE":18,"Component":{"Type":4,"Value":"v","custom_id":"p"}}]}}`},
	{"a value's key repeated", true, `{"id":"1","type":5,"data":{"custom_id":"x"},"data":{"custom_id":"y","components":[{"type":4,"type":3,"custom_id":"s","values":["a"]}]}}`},
	{"slash command", true, `{"id":"1","type":2,"guild_id":"3","member":{"user":{"id":"2"}},"data":{"id":"9","name":"report","type":1,"options":[{"type":1,"name":"player","options":[{"type":3,"name":"player","value":"bob"}]}]}}`},
	{"autocomplete", true, `{"id":"1","type":4,"data":{"name":"report-config","options":[{"type":3,"name":"x","value":"ha","focused":true}]}}`},
	{"button", true, `{"id":"1","type":3,"message":{"id":"5","content":"c","components":[{"type":1,"components":[{"type":2,"custom_id":"b","label":"B","style":1}]}]},"data":{"custom_id":"choose:1","component_type":2}}`},
	{"ping", true, `{"id":"1","type":1,"application_id":"9","token":"t","version":1}`},
	// What discordgo decodes, or refuses, another way: left to it.
	{"label without component", false, `{"id":"1","type":5,"data":{"components":[{"type":18,"label":"x"}]}}`},
	{"label with null component", false, `{"id":"1","type":5,"data":{"components":[{"type":18,"component":null}]}}`},
	{"null component", false, `{"id":"1","type":5,"data":{"components":[null]}}`},
	{"button in a modal", false, `{"id":"1","type":5,"data":{"components":[{"type":1,"components":[{"type":2,"custom_id":"b","style":1}]}]}}`},
	{"unknown component", false, `{"id":"1","type":5,"data":{"components":[{"type":99}]}}`},
	{"field of another component, of the wrong type", false, `{"id":"1","type":5,"data":{"components":[{"type":10,"content":"c","values":"not a list"}]}}`},
	{"component of the wrong JSON type", false, `{"id":"1","type":5,"data":{"components":[5]}}`},
	{"modal without data", false, `{"id":"1","type":5}`},
	{"command without data", false, `{"id":"1","type":2}`},
	{"bad type", false, `{"id":"1","type":"5"}`},
	{"not JSON", false, `{"id":"1",`},
	{"not an object", false, `[]`},
}

type interactionBody struct {
	name string
	lean bool
	body string
}

// reportForm is a report form as Discord sends it: its inputs in labels.
const reportForm = `{"id":"1446473563498893313","application_id":"900000000000000777","type":5,"token":"aW50ZXJhY3Rpb246MTQ0NjQ3MzU2MzQ5ODg5MzMxMzp0b2tlbg",` +
	`"version":1,"guild_id":"910000000000000001","channel_id":"910000000000000002","guild_locale":"en-US",` +
	`"member":{"user":{"id":"400000000000000001","username":"alice","global_name":"Alice"},"permissions":"2248473465835073","roles":[],"joined_at":"2024-01-01T00:00:00.000000+00:00"},` +
	`"locale":"en-US","context":0,"app_permissions":"2248473465835073","entitlements":[],"authorizing_integration_owners":{"0":"910000000000000001"},` +
	`"data":{"custom_id":"report:rallyhere","components":[` +
	`{"type":18,"id":1,"component":{"type":4,"id":2,"custom_id":"player","value":"bob"}},` +
	`{"type":18,"id":3,"component":{"type":3,"id":4,"custom_id":"reason","values":["cheating"]}},` +
	`{"type":18,"id":5,"component":{"type":4,"id":6,"custom_id":"description","value":"spinbot in every round"}}]}}`

// decodeAsDiscordgo is the reference: discordgo's own decoding.
func decodeAsDiscordgo(body []byte) (*discordgo.Interaction, error) {
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		return nil, err
	}
	return &i, nil
}

// sameAsDiscordgo fails t unless decodeInteraction decodes body as discordgo does:
// the same interaction, or the same error.
func sameAsDiscordgo(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := decodeAsDiscordgo(body)
	got, err := decodeInteraction(body)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("error %v, discordgo's %v\nbody: %s", err, wantErr, body)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("error %q, discordgo's %q", err, wantErr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("decoded\n%#v\ndiscordgo\n%#v\nbody: %s", got, want, body)
	}
}

func TestDecodeInteraction(t *testing.T) {
	t.Parallel()
	for _, tc := range interactionBodies {
		t.Run(tc.name, func(t *testing.T) {
			sameAsDiscordgo(t, []byte(tc.body))
			if _, lean := decodeLean([]byte(tc.body)); lean != tc.lean {
				t.Errorf("decoded by the lean path: %v, want %v", lean, tc.lean)
			}
		})
	}
	t.Run("the report form's inputs", func(t *testing.T) {
		i, err := decodeInteraction([]byte(reportForm))
		if err != nil {
			t.Fatal(err)
		}
		f := i.ModalSubmitData()
		player := f.Components[0].(*discordgo.Label).Component.(*discordgo.TextInput)
		reason := f.Components[1].(*discordgo.Label).Component.(*discordgo.SelectMenu)
		if f.CustomID != "report:rallyhere" || player.CustomID != "player" || player.Value != "bob" ||
			reason.Values[0] != "cheating" || i.Member.User.Username != "alice" || i.Token == "" {
			t.Errorf("decoded %+v, %+v, %+v", f, player, reason)
		}
	})
}

// FuzzDecodeInteraction: on any body that repeats no key, decodeInteraction gives
// what discordgo gives. Where an object repeats a key whose value is a component,
// encoding/json merges the second value into what it decoded of the first, where
// discordgo's components decode it afresh; Discord repeats no key, and only the
// bodies it signed are decoded.
func FuzzDecodeInteraction(f *testing.F) {
	for _, tc := range interactionBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if repeatsAKey(body) {
			_, _ = decodeInteraction(body) // no panic, at least
			return
		}
		sameAsDiscordgo(t, body)
	})
}

// repeatsAKey reports whether an object in the JSON body has a key twice, as
// encoding/json matches keys to fields: without regard to case.
func repeatsAKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	// keys holds the keys seen in each object open, innermost last; nil for an array.
	var keys []map[string]bool
	expectKey := func() bool { return len(keys) > 0 && keys[len(keys)-1] != nil }
	atKey := true
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			keys = append(keys, map[string]bool{})
			atKey = true
			continue
		case json.Delim('['):
			keys = append(keys, nil)
			continue
		case json.Delim('}'), json.Delim(']'):
			keys = keys[:len(keys)-1]
			atKey = expectKey()
			continue
		}
		if expectKey() && atKey {
			k := foldKey(tok.(string))
			if keys[len(keys)-1][k] {
				return true
			}
			keys[len(keys)-1][k] = true
			atKey = false
			continue
		}
		atKey = expectKey()
	}
}

// foldKey folds a key as encoding/json does to match it to a field's name (its
// foldName): ASCII letters to upper case, other letters to the smallest of their
// case-fold set.
func foldKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if r < utf8.RuneSelf {
			b.WriteRune(unicode.ToUpper(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestRepeatsAKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, false},
		{`{"a":1,"A":2}`, true},
		{`{"a":[{"x":1,"y":[1,{"z":1}],"x":2}]}`, true},
		{`{"data":{"components":[{"component":{},"c\u006fmponent":{}}]}}`, true},
		{`{"custom_id":1,"cuſtom_id":2}`, true},
		{`{"k":1,"K":2}`, true},
		{`["a","a",{"a":"a"}]`, false},
		{`{"a":`, false},
	} {
		if got := repeatsAKey([]byte(tc.body)); got != tc.want {
			t.Errorf("repeatsAKey(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

// BenchmarkDecode compares decodeInteraction with discordgo's decoding on a report
// form and on a slash command.
//
//	go test -run='^$' -bench=Decode -benchmem ./bot/
func BenchmarkDecode(b *testing.B) {
	command := interactionBodies[slices.IndexFunc(interactionBodies, func(tc interactionBody) bool { return tc.name == "slash command" })].body
	for _, body := range []struct{ name, body string }{{"report-form", reportForm}, {"command", command}} {
		for _, dec := range []struct {
			name string
			fn   func([]byte) (*discordgo.Interaction, error)
		}{{"discordgo", decodeAsDiscordgo}, {"bot", decodeInteraction}} {
			b.Run(body.name+"/"+dec.name, func(b *testing.B) {
				raw := []byte(body.body)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := dec.fn(raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
