package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/bot"
	"github.com/reportbot/reportbot/bot/discordtest"
	"github.com/reportbot/reportbot/commands"
	"github.com/reportbot/reportbot/config"
	"github.com/reportbot/reportbot/reporting"
	"github.com/reportbot/reportbot/reporting/rallyhere"
	"github.com/reportbot/reportbot/reporting/redistest"
)

// BenchmarkInteractions measures the bot as operators run it: the built binary, in
// its own process, on real Redis, with Discord and RallyHere on loopback. The fakes
// here are lean (no document validation) so the machine's two cores go to the bot.
//
//   - ack/bare: bursts of 200 signed modal submissions, all sent at the same instant,
//     to a handler that answers the same JSON the bot does and nothing else: the floor.
//   - ack/bot: the same bursts against the bot's POST /interactions; each submission
//     is a real report (verify, refuse replays, validate, check the limit, defer; then
//     look the players up, file, deliver, tell the reporter). A burst is sent once
//     the reports of the one before have reached RallyHere: 200 at once is the peak
//     measured, not a flood without end (BenchmarkDelivery measures throughput).
//
// Reported: the HTTP answer's p50/p99 over every submission; for the bot also
// submit-to-upstream p50/p99, and the process's resident memory idle and at its peak.
//
//	go test -run='^$' -bench=Interactions -benchtime=4000x .
func BenchmarkInteractions(b *testing.B) {
	const burst = 200
	up := newLeanUpstreams(b)
	signer := discordtest.NewSigner()
	srv := redistest.Start(b)
	body := []byte(`{"type":5,"data":{"flags":64,"allowed_mentions":{"parse":[]}}}` + "\n")

	b.Run("ack/bare", func(b *testing.B) {
		bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
		defer bare.Close()
		lat := hammer(b, bare.URL, signer, burst, b.N, 0, nil, nil)
		reportLatency(b, lat, "ack")
	})

	b.Run("ack/bot", func(b *testing.B) {
		_ = srv.Client(b).FlushAll(context.Background())
		bin := binary(b)
		cmd := exec.Command(bin)
		cmd.Env = []string{
			"DISCORD_TOKEN=bench", "DISCORD_APPLICATION_ID=" + up.appID, "DISCORD_PUBLIC_KEY=" + signer.PublicKeyHex(),
			"DISCORD_GATEWAY=false", "DISCORD_API_URL=" + up.discord.URL + "/api/v10", "HTTP_ADDR=127.0.0.1:" + strconv.Itoa(up.port),
			"REDIS_URL=" + srv.URL(), "RALLYHERE_API_URL=" + up.rallyhere.URL, "RALLYHERE_CLIENT_ID=bench",
			"RALLYHERE_CLIENT_SECRET=bench", "RALLYHERE_FALLBACK_SOURCE_PLAYER=" + leanSource,
			"REPORT_LIMIT=10000/1m", "REPORT_LIMIT_MAX=10000/1m", "REPORT_LIMIT_GLOBAL=10000/1m", "LOG_LEVEL=warn",
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		base := "http://127.0.0.1:" + strconv.Itoa(up.port)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get(base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("the bot did not become ready")
			}
		}
		time.Sleep(2 * time.Second) // settle before reading the idle footprint
		idle := memKB(b, cmd.Process.Pid, "VmRSS")

		up.reset()
		started := make([]time.Time, b.N)
		lat := hammer(b, base+"/interactions", signer, burst, b.N, up.offset, started,
			func(sent int) { up.wait(b, sent, time.Minute) })
		b.StopTimer()
		reportLatency(b, lat, "ack")
		arrivals := up.wait(b, b.N, time.Minute)
		var e2e []time.Duration
		for k, at := range arrivals {
			e2e = append(e2e, at.Sub(started[k]))
		}
		slices.Sort(e2e)
		b.ReportMetric(ms(e2e[len(e2e)/2]), "e2e-p50-ms")
		b.ReportMetric(ms(e2e[len(e2e)*99/100]), "e2e-p99-ms")
		b.ReportMetric(float64(idle)/1024, "idle-MB")
		b.ReportMetric(float64(memKB(b, cmd.Process.Pid, "VmHWM"))/1024, "peak-MB")
		up.offset += b.N
	})
}

// hammer sends n signed modal submissions in bursts of burst, every submission of a
// burst released at the same instant, and returns each answer's latency; started,
// when given, records when submission k was sent.
func hammer(b *testing.B, url string, signer *discordtest.Signer, burst, n, offset int, started []time.Time, drained func(sent int)) []time.Duration {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: burst, MaxConnsPerHost: burst}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	lat := make([]time.Duration, n)
	b.ResetTimer()
	for from := 0; from < n; from += burst {
		// Sign first, so the burst's clock measures the server only.
		reqs := make([]*http.Request, 0, burst)
		for k := from; k < min(from+burst, n); k++ {
			req, _ := signer.Request(context.Background(), url, submission(offset+k), time.Now())
			reqs = append(reqs, req)
		}
		var wg sync.WaitGroup
		release := make(chan struct{})
		for j, req := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-release
				t0 := time.Now()
				if started != nil {
					started[from+j] = t0
				}
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[from+j] = time.Since(t0)
				if resp.StatusCode != 200 {
					b.Errorf("submission %d: HTTP %d", from+j, resp.StatusCode)
				}
			}()
		}
		close(release)
		wg.Wait()
		if drained != nil {
			drained(min(from+burst, n))
		}
	}
	return lat
}

func reportLatency(b *testing.B, lat []time.Duration, what string) {
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), what+"-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), what+"-p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// submission k is a report form about bob from member k, as Discord sends it.
func submission(k int) []byte {
	id := (uint64(time.Now().UnixMilli()-1420070400000) << 22) | uint64(k&0x3fffff)
	return fmt.Appendf(nil, `{"id":"%d","application_id":"%s","type":5,"token":"tok-%d","version":1,"guild_id":"910000000000000001","channel_id":"910000000000000002",`+
		`"member":{"user":{"id":"%d","username":"r%d"},"permissions":"0","roles":[]},"locale":"en-US","context":0,`+
		`"data":{"custom_id":"report:rallyhere","components":[`+
		`{"type":18,"id":1,"component":{"type":4,"id":2,"custom_id":"player","value":"bob"}},`+
		`{"type":18,"id":3,"component":{"type":3,"id":4,"custom_id":"reason","values":["cheating"]}},`+
		`{"type":18,"id":5,"component":{"type":4,"id":6,"custom_id":"description","value":"spinbot"}}]}}`,
		id, leanApp, k, 400000000000000000+k, k)
}

const (
	leanApp    = "900000000000000777"
	leanSource = "00000000-0000-4000-8000-000000000001"
	leanTarget = "00000000-0000-4000-8000-000000000002"
)

// leanUpstreams are loopback stand-ins for Discord and RallyHere that answer at once.
type leanUpstreams struct {
	discord, rallyhere *httptest.Server
	appID              string
	port               int // for the bot's HTTP_ADDR
	offset             int // submissions used by earlier runs

	mu       sync.Mutex
	arrivals map[int]time.Time // by submission number (the reporter id's low digits)
}

func newLeanUpstreams(b *testing.B) *leanUpstreams {
	u := &leanUpstreams{appID: leanApp, arrivals: map[int]time.Time{}}
	u.discord = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPut:
			_, _ = io.WriteString(w, "[]")
		default:
			_, _ = io.WriteString(w, `{"id":"1","channel_id":"2"}`)
		}
	}))
	u.rallyhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/oauth/token"):
			_, _ = io.WriteString(w, `{"access_token":"t","token_type":"bearer","expires_in":3600}`)
		case strings.HasSuffix(r.URL.Path, "/platform-user"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error_code":"user_not_found","desc":"User not found"}`)
		case strings.HasSuffix(r.URL.Path, "/v1/player"):
			_, _ = io.WriteString(w, `{"display_names":[{"bob":[{"player_id":2,"player_uuid":"`+leanTarget+`"}]}]}`)
		case strings.HasSuffix(r.URL.Path, "/reports"):
			var body struct {
				Custom map[string]string `json:"custom_data"`
			}
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &body)
			k, _ := strconv.Atoi(body.Custom["discord_reporter_id"][1:])
			u.mu.Lock()
			u.arrivals[k] = time.Now()
			u.mu.Unlock()
			_, _ = io.WriteString(w, `{"report_id":"u-`+strconv.Itoa(k)+`","target_player_uuid":"`+leanTarget+`","reason":"cheating"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	b.Cleanup(func() { u.discord.Close(); u.rallyhere.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	u.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	return u
}

func (u *leanUpstreams) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	clear(u.arrivals)
}

// wait returns the arrival time of each of n submissions (indexed from 0).
func (u *leanUpstreams) wait(b *testing.B, n int, within time.Duration) []time.Time {
	deadline := time.Now().Add(within)
	for {
		u.mu.Lock()
		got := len(u.arrivals)
		u.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d reports arrived", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]time.Time, n)
	for k, at := range u.arrivals {
		out[k-u.offset] = at
	}
	return out
}

// memKB reads a memory figure (VmRSS, VmHWM) of a process, in KiB.
func memKB(b *testing.B, pid int, field string) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(string(v), " kB")))
			return n
		}
	}
	b.Fatalf("no %s for pid %d", field, pid)
	return 0
}

// BenchmarkDelivery measures one instance's delivery pipeline: reports are filed
// (Service.File: the limit script, the record and the queue entry), and the pipeline
// delivers each to a loopback RallyHere and tells its reporter through a loopback
// Discord, with the real REST client and notifier.
//
//   - max: 32 submitters file as fast as they can; delivered/s is the instance's
//     throughput (first filing to last arrival).
//
//   - paced-2000: reports are filed at 2,000 a second, open loop; submit-to-upstream
//     p50/p99 is the latency at that load.
//
// Both run on one redis-server (single/…) and on a three-master Redis Cluster
// (cluster/…), in the same run.
//
//	go test -run='^$' -bench=Delivery -benchtime=10000x .
func BenchmarkDelivery(b *testing.B) {
	up := newLeanUpstreams(b)
	b.Run("single", func(b *testing.B) { benchDelivery(b, up, redistest.Start(b).UniversalClient(b)) })
	b.Run("cluster", func(b *testing.B) {
		benchDelivery(b, up, redistest.StartCluster(b, redistest.ClusterOptions{}).UniversalClient(b))
	})
}

func benchDelivery(b *testing.B, up *leanUpstreams, rdb redis.UniversalClient) {
	nop := zerolog.Nop()
	rate := config.Rate{Count: 1000000, Per: time.Minute}
	svc := reporting.NewService(rdb, reporting.Options{
		RallyHere:    rallyhere.New(up.rallyhere.URL, "bench", "bench", rallyhere.Options{}),
		DefaultLimit: rate, MaxLimit: rate, GlobalLimit: rate, Retention: 24 * time.Hour, Logger: nop,
	})
	rest := bot.NewREST(up.discord.URL+"/api/v10", "bench", leanApp, nil)
	pipeline := reporting.NewPipeline(svc, commands.NewNotifier(rest, nil, nil, nop), reporting.PipelineOptions{Logger: nop})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pipeline.Run(ctx) }()
	defer func() { cancel(); <-done }()

	st, err := svc.Settings.Get(context.Background(), "910000000000000001")
	if err != nil {
		b.Fatal(err)
	}
	file := func(k int) {
		d := &reporting.Draft{
			ID: reporting.NewID(time.Now()), Game: reporting.RallyHere, GuildID: "910000000000000001", ChannelID: "910000000000000002",
			ReporterID: fmt.Sprintf("5%017d", k), Target: reporting.Target{Kind: reporting.TargetUUID, Value: leanTarget},
			TargetPlayer: leanTarget, SourcePlayer: leanSource, Reason: reporting.DefaultReasons()[0],
		}
		if _, err := svc.File(context.Background(), st, d, reporting.Reply{Token: fmt.Sprintf("tok-%d", k), Until: time.Now().Add(14 * time.Minute)}); err != nil {
			b.Error(err)
		}
	}
	// One report first: the token, the scripts and the connections are then warm.
	up.reset()
	up.offset = 0
	file(0)
	up.wait(b, 1, 10*time.Second)
	up.offset = 1

	// run files b.N reports from 32 submitters, report k no sooner than at(k).
	run := func(b *testing.B, at func(k int) time.Time) {
		up.reset()
		started := make([]time.Time, b.N)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1)) - 1
					if k >= b.N {
						return
					}
					time.Sleep(time.Until(at(k)))
					started[k] = time.Now()
					file(up.offset + k)
				}
			}()
		}
		wg.Wait()
		arrivals := up.wait(b, b.N, 2*time.Minute)
		b.StopTimer()
		first, last := started[0], time.Time{}
		var e2e []time.Duration
		for k, arrived := range arrivals {
			e2e = append(e2e, arrived.Sub(started[k]))
			if started[k].Before(first) {
				first = started[k]
			}
			if arrived.After(last) {
				last = arrived
			}
		}
		b.ReportMetric(float64(b.N)/last.Sub(first).Seconds(), "delivered/s")
		slices.Sort(e2e)
		b.ReportMetric(ms(e2e[len(e2e)/2]), "e2e-p50-ms")
		b.ReportMetric(ms(e2e[len(e2e)*99/100]), "e2e-p99-ms")
		up.offset += b.N
	}
	b.Run("max", func(b *testing.B) { run(b, func(int) time.Time { return time.Time{} }) })
	b.Run("paced-2000", func(b *testing.B) {
		t0 := time.Now()
		run(b, func(k int) time.Time { return t0.Add(time.Duration(k) * time.Second / 2000) })
	})
}
