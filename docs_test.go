package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/reportbot/reportbot/bot"
	"github.com/reportbot/reportbot/config/buildinfo"
)

// These tests keep the operator's documents true to the code.

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChangelog: Keep a Changelog's form, an Unreleased section first, and the newest
// release is the version the binary says it is.
func TestChangelog(t *testing.T) {
	t.Parallel()
	c := readDoc(t, "CHANGELOG.md")
	heading := regexp.MustCompile(`(?m)^## \[([^\]]+)\](.*)$`)
	releases := heading.FindAllStringSubmatch(c, -1)
	if len(releases) < 2 || releases[0][1] != "Unreleased" {
		t.Fatalf("want ## [Unreleased] and then the releases, newest first; got %v", releases)
	}
	dated := regexp.MustCompile(`^ - \d{4}-\d{2}-\d{2}$`)
	for _, r := range releases[1:] {
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(r[1]) || !dated.MatchString(r[2]) {
			t.Errorf("%q: want ## [x.y.z] - YYYY-MM-DD", r[0])
		}
		if !strings.Contains(c, "\n["+r[1]+"]: ") {
			t.Errorf("no link for [%s] at the end", r[1])
		}
	}
	if newest := releases[1][1]; newest != buildinfo.Version {
		t.Fatalf("the newest release in CHANGELOG.md is %s, but buildinfo.Version is %s: bump both", newest, buildinfo.Version)
	}
	if first := releases[len(releases)-1][1]; first != "0.1.0" {
		t.Errorf("the first release is %s, want 0.1.0", first)
	}
}

// TestREADMEInvite: the README's invite link and permissions table are what the bot
// asks for.
func TestREADMEInvite(t *testing.T) {
	t.Parallel()
	r := readDoc(t, "README.md")
	const app = "<application id>"
	if link := strings.Replace(bot.InviteURL("1"), "client_id=1&", "client_id="+app+"&", 1); !strings.Contains(r, link) {
		t.Errorf("README has no %s", link)
	}
	_, table, _ := strings.Cut(r, "| permission | value | why |\n|---|---|---|\n")
	table, _, _ = strings.Cut(table, "\n\n")
	var sum int64
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 3 {
			t.Fatalf("row %q", row)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(cells[2]), 10, 64)
		if err != nil || n&(n-1) != 0 || sum&n != 0 {
			t.Fatalf("row %q: the value is not one permission bit", row)
		}
		sum |= n
	}
	if sum != bot.Permissions {
		t.Fatalf("README's permissions add up to %d, the bot asks for %d", sum, bot.Permissions)
	}
}

func TestLicense(t *testing.T) {
	t.Parallel()
	if l := readDoc(t, "LICENSE"); !strings.HasPrefix(l, "MIT License\n") {
		t.Fatalf("LICENSE is not the MIT license")
	}
	if !strings.Contains(readDoc(t, "README.md"), "\n## License\n\nMIT: see `LICENSE`.\n") {
		t.Fatal("README does not state the license")
	}
}
