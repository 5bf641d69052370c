package config

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// recorder is a getenv that answers from m and notes every name asked for.
type recorder struct {
	m    map[string]string
	read map[string]bool
}

func (r *recorder) getenv(name string) string {
	r.read[name] = true
	return r.m[name]
}

func names() []string {
	var out []string
	for _, v := range Vars() {
		out = append(out, v.Name)
	}
	return out
}

// TestVarsAreWhatLoadReads: the list --help prints is every variable Load reads and
// nothing else. Some are read only when others are set (the Bungie api mode's), so
// Load runs on an empty and on a full environment.
func TestVarsAreWhatLoadReads(t *testing.T) {
	t.Parallel()
	r := &recorder{read: map[string]bool{}}
	for _, m := range []map[string]string{{}, base(map[string]string{
		"BUNGIE_API_KEY": "k", "BUNGIE_REPORT_MODE": "api", "RALLYHERE_API_URL": "https://rh.example",
		"RALLYHERE_CLIENT_ID": "a", "RALLYHERE_CLIENT_SECRET": "b", "WEBHOOK_URL": "https://hook.example",
	})} {
		r.m = m
		_, _ = Load(r.getenv)
	}
	var read []string
	for name := range r.read {
		read = append(read, name)
	}
	slices.Sort(read)
	want := names()
	slices.Sort(want)
	if !slices.Equal(read, want) {
		t.Fatalf("Load reads\n  %v\nvars.go lists\n  %v", read, want)
	}
	seen := map[string]bool{}
	for _, v := range Vars() {
		if seen[v.Name] || v.Meaning == "" || v.Section == "" || (v.Required && v.Default != "") {
			t.Errorf("%+v: listed twice, or without a meaning or a section, or required with a default", v)
		}
		seen[v.Name] = true
	}
}

// TestVarDefaultsAreLoadsDefaults: setting a variable to the default that --help and
// .env.example show changes nothing.
func TestVarDefaultsAreLoadsDefaults(t *testing.T) {
	t.Parallel()
	want, err := Load(getenv(base(nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars() {
		if v.Default == "" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			got, err := Load(getenv(base(map[string]string{v.Name: v.Default})))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s=%s: %v\ngot  %+v\nwant %+v", v.Name, v.Default, err, got, want)
			}
		})
	}
}

// TestEnvExampleAndREADMEListEveryVariable: .env.example sets exactly the variables
// Load reads, each to its default (empty when it has none), and the README's table of
// operator settings names exactly them.
func TestEnvExampleAndREADMEListEveryVariable(t *testing.T) {
	t.Parallel()
	t.Run(".env.example", func(t *testing.T) {
		f, err := os.Open("../.env.example")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		example := map[string]string{}
		var order []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, value, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("line %q is neither a comment nor NAME=value", line)
			}
			example[name] = value
			order = append(order, name)
		}
		if !slices.Equal(order, names()) {
			t.Fatalf(".env.example sets\n  %v\nvars.go lists (in this order)\n  %v", order, names())
		}
		for _, v := range Vars() {
			if example[v.Name] != v.Default {
				t.Errorf(".env.example: %s=%s, but its default is %q", v.Name, example[v.Name], v.Default)
			}
		}
	})
	t.Run("README", func(t *testing.T) {
		b, err := os.ReadFile("../README.md")
		if err != nil {
			t.Fatal(err)
		}
		_, table, ok := strings.Cut(string(b), "### Operator settings\n")
		if !ok {
			t.Fatal(`README.md has no "### Operator settings" section`)
		}
		table, _, _ = strings.Cut(strings.TrimLeft(table, "\n"), "\n\n")
		var listed []string
		nameRE := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
		for _, line := range strings.Split(table, "\n") {
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			first := strings.Split(line, "|")[1]
			for _, m := range nameRE.FindAllStringSubmatch(first, -1) {
				listed = append(listed, m[1])
			}
		}
		slices.Sort(listed)
		want := names()
		slices.Sort(want)
		if !slices.Equal(listed, want) {
			t.Fatalf("README's operator settings name\n  %v\nvars.go lists\n  %v", listed, want)
		}
	})
}

func TestWriteVars(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := WriteVars(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nDiscord:\n  DISCORD_TOKEN (required)\n      bot token", "\n  HTTP_ADDR=:8080\n", "\n  REDIS_URL (unset)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if n, want := strings.Count(b.String(), "\n      "), len(Vars()); n != want {
		t.Errorf("%d meanings for %d variables", n, want)
	}
}
