package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting/rallyhere/rallyheretest"
)

// replicas starts n bot processes on e (the built binary, HTTP transport, one Redis:
// a single node, or a cluster in the cluster pass).
func (e *env) replicas(t *testing.T, n int) []*process {
	t.Helper()
	out := make([]*process, n)
	for i := range out {
		out[i] = e.spawn(t)
	}
	return out
}

// TestReplicasBehaveAsOne: three replicas behind a load balancer that spreads each
// reporter's interactions over them behave exactly like one bot.
func TestReplicasBehaveAsOne(t *testing.T) {
	t.Parallel()
	players := []string{"bob", "carol", "dave", "erin", "frank", "gina"}
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		e.vars["RALLYHERE_FALLBACK_SOURCE_PLAYER"] = e.rh.AddPlayer("community-reports")
		for _, p := range players {
			e.rh.AddPlayer(p)
		}
		e.vars["LOG_LEVEL"] = "info"
		return e
	}

	t.Run("limits stay exact", func(t *testing.T) {
		e := setup(t)
		ps := e.replicas(t, 3)
		// Six submissions at once, each about another player, against a limit of 3.
		var accepted, limited int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for k, player := range players {
			wg.Add(1)
			go func() {
				defer wg.Done()
				i := e.discord.NewInteraction(discordgo.InteractionModalSubmit, testGuild, testChannel, reporter, 0, modalData("report:rallyhere", player, "cheating", nil))
				resp, status := e.postTo(t, ps[k%3].base, i)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case status == 200 && resp.Type == discordgo.InteractionResponseDeferredChannelMessageWithSource:
					accepted++
				case status == 200 && resp.Data != nil && strings.Contains(resp.Data.Content, "this server's limit of 3 reports"):
					limited++
				default:
					t.Errorf("replica %d: HTTP %d, %+v", k%3, status, resp)
				}
			}()
		}
		wg.Wait()
		if accepted != 3 || limited != 3 {
			t.Fatalf("%d accepted, %d refused by the limit; want exactly 3 and 3", accepted, limited)
		}
		e.waitArrived(t, 3, waitFor)
		exactlyOnce(t, e.rh, 3)
	})

	t.Run("a replay sent to another replica is refused", func(t *testing.T) {
		e := setup(t)
		ps := e.replicas(t, 3)
		i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
		raw, _ := json.Marshal(i)
		var statuses []int
		for _, p := range ps {
			req, err := e.signer.Request(context.Background(), p.base+"/interactions", raw, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
		}
		if statuses[0] != 200 || statuses[1] != http.StatusUnauthorized || statuses[2] != http.StatusUnauthorized {
			t.Fatalf("statuses %v, want [200 401 401]", statuses)
		}
	})

	t.Run("a crashed replica's reports are delivered by the others", func(t *testing.T) {
		e := setup(t)
		e.rh.SetFailureRate(rallyheretest.OpCreateReport, 1, rallyheretest.Failure{Status: 503})
		ps := e.replicas(t, 3)
		const n = 12
		reports := e.submit(t, ps[0], 0, n)
		for _, i := range reports {
			e.discord.WaitOriginal(t, i.Token, waitFor, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "⏳") })
		}
		if err := ps[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-ps[0].done
		e.rh.SetFailureRate(rallyheretest.OpCreateReport, 0, rallyheretest.Failure{})
		// Entries the killed replica held unacknowledged are reclaimed after 30 s;
		// those scheduled for a retry are picked up by the others at once.
		e.waitArrived(t, n, 90*time.Second, ps[1].logs, ps[2].logs)
		exactlyOnce(t, e.rh, n)
		by := map[string]int{}
		for _, p := range ps[1:] {
			by[p.base] = len(p.logs.lines("report settled"))
		}
		t.Logf("reports settled by the surviving replicas: %v", by)
		for _, i := range reports {
			e.discord.WaitOriginal(t, i.Token, 90*time.Second, func(m json.RawMessage) bool { return strings.HasPrefix(content(m), "✅") })
		}
	})
}
