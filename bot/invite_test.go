package bot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/config/buildinfo"
)

func TestInviteURL(t *testing.T) {
	t.Parallel()
	// 1024 view channel + 2048 send messages + 16384 embed links + 32768 attach files
	// + 1<<38 send messages in threads.
	const want = "https://discord.com/oauth2/authorize?client_id=1234567890123456789&permissions=274877959168&scope=bot+applications.commands"
	if got := InviteURL("1234567890123456789"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestUserAgentCarriesTheVersion: Discord's User-Agent form, with this release.
func TestUserAgentCarriesTheVersion(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("User-Agent")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	r := NewREST(srv.URL, "token", "1234567890123456789", nil)
	_ = r.EditMessage(context.Background(), "1", "2", &discordgo.MessageEdit{})
	if want := "DiscordBot (https://github.com/reportbot/reportbot, " + buildinfo.Version + ")"; got != want {
		t.Fatalf("User-Agent %q, want %q", got, want)
	}
}
