package bot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// BenchmarkAnswer is the bot's answer to a report form alone, in this process, one
// at a time: verify the signature, decode, refuse replays, validate the form on the
// server's settings, spend the limit, store the report and queue it on a real
// redis-server, answer. No deferred work runs and no network is crossed but Redis's
// loopback: what BenchmarkInteractions' answers cost the bot's CPU, without the
// noise of 200 at once on two cores. Reported besides time (which includes waiting
// for Redis) and allocations: the CPU time this process (the bot, and the signed
// requests' reading) and redis-server spent per answer.
//
//	go test -run='^$' -bench=Answer -benchmem ./bot/
func BenchmarkAnswer(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	// Only what answering needs: the fakes of the other tests validate against
	// OpenAPI documents whose models would make the process's heap, and so each of
	// its garbage collections, many times the bot's.
	log := zerolog.Nop()
	rate := config.Rate{Count: 1000000, Per: time.Hour}
	svc := reporting.NewService(rdb, reporting.Options{
		RallyHere:    rallyhere.New("http://127.0.0.1:9", "bench", "bench", rallyhere.Options{}),
		DefaultLimit: rate, MaxLimit: rate, GlobalLimit: rate, Retention: 24 * time.Hour, Logger: log,
	})
	if err := svc.LoadScripts(context.Background()); err != nil {
		b.Fatal(err)
	}
	signer := discordtest.NewSigner()
	reg := prometheus.NewRegistry()
	router := commands.NewRouter(svc, &acceptingDiscord{}, commands.Options{Logger: log, Registerer: reg})
	handler := New(Options{Discord: config.Discord{PublicKey: signer.PublicKey(), ApplicationID: fdApp},
		Router: router, Store: rdb, Registry: reg, Logger: log}).routes()
	fd := &frontDoor{}
	reqs := make([]*http.Request, b.N)
	for k := range reqs {
		from := fdUser{id: strconv.Itoa(600000000000000000 + k), name: "r" + strconv.Itoa(k)}
		body := fd.interaction(discordgo.InteractionModalSubmit, from, rallyHereForm("report:rallyhere", "bob", "cheating", nil), nil)
		req, err := signer.Request(context.Background(), "http://bot.example/interactions", body, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		reqs[k] = req
	}
	redisCPU, ownCPU := redistest.CPUTime(b, srv.Pid()), redistest.CPUTime(b, os.Getpid())
	b.ReportAllocs()
	b.ResetTimer()
	for _, req := range reqs {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"type":5`) {
			b.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redistest.CPUTime(b, os.Getpid())-ownCPU).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64((redistest.CPUTime(b, srv.Pid())-redisCPU).Nanoseconds())/1e3/float64(b.N), "redis-us/op")
}
