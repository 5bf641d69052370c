package bot

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/reportbot/reportbot/reporting/redistest"
)

// BenchmarkAnswer is the bot's answer to a report form alone, in this process, one
// at a time: verify the signature, decode, refuse replays, validate the form on the
// server's settings, spend the limit, store the report and queue it on a real
// redis-server, answer. No deferred work runs and no network is crossed but Redis's
// loopback: what BenchmarkInteractions' answers cost the bot's CPU, without the
// noise of 200 at once on two cores. Reported besides time and allocations: the
// CPU time redis-server spent per answer.
//
//	go test -run='^$' -bench=Answer -benchmem ./bot/
func BenchmarkAnswer(b *testing.B) {
	srv := redistest.Start(b)
	fd := newFrontDoorOn(b, srv.Client(b))
	reqs := make([]*http.Request, b.N)
	for k := range reqs {
		from := fdUser{id: strconv.Itoa(600000000000000000 + k), name: "r" + strconv.Itoa(k)}
		body := fd.interaction(discordgo.InteractionModalSubmit, from, rallyHereForm("report:rallyhere", "bob", "cheating", nil), nil)
		req, err := fd.signer.Request(context.Background(), "http://bot.example/interactions", body, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		reqs[k] = req
	}
	redisCPU := ranFor(b, srv.Pid())
	b.ReportAllocs()
	b.ResetTimer()
	for _, req := range reqs {
		rec := httptest.NewRecorder()
		fd.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"type":5`) {
			b.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((ranFor(b, srv.Pid())-redisCPU).Nanoseconds())/1e3/float64(b.N), "redis-us/op")

}

// ranFor is how long process pid has run on a CPU: the sum over its threads.
func ranFor(b *testing.B, pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, task := range tasks {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if f := strings.Fields(string(raw)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}
