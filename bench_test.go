package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"syscall"
	"testing"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/httpserver"
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
// its own process, on real Redis, with Discord and RallyHere on loopback, against two
// contenders in processes of their own, in the same run. The fakes here are lean (no
// document validation) so the machine's two cores go to the servers.
//
//   - ack/bare: bursts of 200 signed modal submissions, all sent at the same instant,
//     to a handler that answers the same JSON the bot does and nothing else: the floor.
//   - ack/library: the same bursts against disgo's own HTTP interactions server
//     (httpserver.HandleInteraction: verify the signature, decode the interaction,
//     answer a deferred ephemeral reply) doing nothing else: a peer.
//   - ack/bot: the same bursts against the bot's POST /interactions; each submission
//     is a real report (verify, refuse replays, validate, check the limit, store and
//     queue it, defer; then look the players up, deliver, tell the reporter). A burst
//     is sent once the reports of the one before have reached RallyHere: 200 at once
//     is the peak measured, not a flood without end (BenchmarkDelivery measures
//     throughput).
//   - ack/bot-busy: the same, but each burst is sent while the one before is still
//     being looked up, delivered (RallyHere answers in busyDelay) and told: the
//     answers compete with deferred work.
//
// Reported for each: the HTTP answer's p50/p99 over every submission, and the CPU
// time its process spent per submission (redistest.CPUTime, from the first
// burst until the last report reached RallyHere, so the bot's includes its deferred
// work); the CPU time the contender, Redis and the load generator spent while the
// bursts were being answered, per answer (answering); for the bot also Redis's CPU
// time per report, submit-to-upstream p50/p99, and its resident memory idle and at
// its peak.
//
// With REPORTBOT_BENCH_BASELINE naming another build of the bot (say, of the
// commit before a change), it runs as ack/baseline and ack/baseline-busy in the
// same run, each after the bot's own (BENCHMARKS.md has the command of its figures):
//
//	go test -run='^$' -bench=Interactions -benchtime=4000x -count=3 .
//	REPORTBOT_BENCH_BASELINE=/tmp/reportbot-old go test -run='^$' -bench=Interactions -benchtime=4000x .
func BenchmarkInteractions(b *testing.B) {
	up := newLeanUpstreams(b)
	signer := discordtest.NewSigner()
	srv := redistest.Start(b)

	for _, peer := range []string{"bare", "library"} {
		b.Run("ack/"+peer, func(b *testing.B) {
			p := startPeer(b, peer, signer.PublicKeyHex())
			form := submission
			if peer == "library" {
				form = rowSubmission
			}
			cpu := redistest.CPUTime(b, p.pid)
			during := &answering{tb: b, pids: []int{p.pid, os.Getpid()}}
			lat := hammer(b, p.url, signer, form, burst, b.N, 0, nil, nil, during)
			b.StopTimer()
			reportLatency(b, lat, "ack")
			reportCPU(b, redistest.CPUTime(b, p.pid)-cpu)
			during.report(b, "answer-cpu-us", "client-cpu-us")
		})
	}

	bots := []struct{ name, binary string }{{"bot", shippedBinary(b)}}
	if baseline := os.Getenv("REPORTBOT_BENCH_BASELINE"); baseline != "" {
		bots = append(bots, struct{ name, binary string }{"baseline", baseline})
	}
	for _, busy := range []bool{false, true} {
		for _, bot := range bots {
			name := "ack/" + bot.name
			if busy {
				name += "-busy"
			}
			b.Run(name, func(b *testing.B) { benchBot(b, bot.binary, busy, up, signer, srv) })
		}
	}
}

// benchBot is one run of ack/bot or ack/bot-busy of BenchmarkInteractions, of the
// bot built at binary.
func benchBot(b *testing.B, binary string, busy bool, up *leanUpstreams, signer *discordtest.Signer, srv *redistest.Server) {
	_ = srv.Client(b).FlushAll(context.Background())
	pid, base := startBot(b, binary, up, signer, srv.URL())
	idle := memKB(b, pid, "VmRSS")

	up.reset()
	drained := func(sent int) { up.wait(b, sent, time.Minute) }
	if busy {
		up.setDelay(busyDelay)
		defer up.setDelay(0)
		// The next burst goes while this one is still being delivered.
		drained = func(sent int) { up.wait(b, max(sent-burst, 0), time.Minute) }
	}
	started := make([]time.Time, b.N)
	cpu, redisCPU := redistest.CPUTime(b, pid), redistest.CPUTime(b, srv.Pid())
	during := &answering{tb: b, pids: []int{pid, srv.Pid(), os.Getpid()}}
	lat := hammer(b, base+"/interactions", signer, submission, burst, b.N, up.offset, started, drained, during)
	b.StopTimer()
	arrivals := up.wait(b, b.N, time.Minute)
	reportLatency(b, lat, "ack")
	reportCPU(b, redistest.CPUTime(b, pid)-cpu)
	b.ReportMetric(float64((redistest.CPUTime(b, srv.Pid())-redisCPU).Microseconds())/float64(b.N), "redis-cpu-us/report")
	during.report(b, "answer-cpu-us", "redis-answer-cpu-us", "client-cpu-us")
	var e2e []time.Duration
	for k, at := range arrivals {
		e2e = append(e2e, at.Sub(started[k]))
	}
	slices.Sort(e2e)
	b.ReportMetric(ms(e2e[len(e2e)/2]), "e2e-p50-ms")
	b.ReportMetric(ms(e2e[len(e2e)*99/100]), "e2e-p99-ms")
	b.ReportMetric(float64(idle)/1024, "idle-MB")
	b.ReportMetric(float64(memKB(b, pid, "VmHWM"))/1024, "peak-MB")
	up.offset += b.N
}

// burst is how many submissions BenchmarkInteractions sends at the same instant.
const burst = 200

// busyDelay is how long the lean RallyHere takes to take a report in ack/bot-busy:
// long enough that the pipeline is still delivering one burst when the next arrives.
const busyDelay = 20 * time.Millisecond

// startBot starts binary on the lean upstreams and Redis at redisURL and waits for
// it to be ready and settled; it returns its pid and base URL.
func startBot(b *testing.B, binary string, up *leanUpstreams, signer *discordtest.Signer, redisURL string) (int, string) {
	b.Helper()
	cmd := exec.Command(binary)
	cmd.Env = []string{
		"DISCORD_TOKEN=bench", "DISCORD_APPLICATION_ID=" + up.appID, "DISCORD_PUBLIC_KEY=" + signer.PublicKeyHex(),
		"DISCORD_GATEWAY=false", "DISCORD_API_URL=" + up.discord.URL + "/api/v10", "HTTP_ADDR=127.0.0.1:" + strconv.Itoa(up.port),
		"REDIS_URL=" + redisURL, "RALLYHERE_API_URL=" + up.rallyhere.URL, "RALLYHERE_CLIENT_ID=bench",
		"RALLYHERE_CLIENT_SECRET=bench", "RALLYHERE_FALLBACK_SOURCE_PLAYER=" + leanSource,
		"REPORT_LIMIT=10000/1m", "REPORT_LIMIT_MAX=10000/1m", "REPORT_LIMIT_GLOBAL=10000/1m", "LOG_LEVEL=warn",
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(up.port)
	waitReady(b, base, 200, 30*time.Second)
	time.Sleep(2 * time.Second) // settle before reading the idle footprint
	return cmd.Process.Pid, base
}

// A peer is a contender of BenchmarkInteractions in a process of its own: this test
// binary again, running TestBenchPeer.
type peer struct {
	pid int
	url string
}

// startPeer starts the contender named kind ("bare" or "library") with Discord's
// public key publicKey.
func startPeer(b *testing.B, kind, publicKey string) peer {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchPeer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "REPORTBOT_BENCH_PEER="+kind, "REPORTBOT_BENCH_ADDR="+addr, "REPORTBOT_BENCH_KEY="+publicKey)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitReady(b, "http://"+addr, 200, 30*time.Second)
	return peer{pid: cmd.Process.Pid, url: "http://" + addr + "/interactions"}
}

// TestBenchPeer is a contender of BenchmarkInteractions when REPORTBOT_BENCH_PEER
// names one, and is skipped otherwise. It serves until it is killed.
func TestBenchPeer(t *testing.T) {
	kind := os.Getenv("REPORTBOT_BENCH_PEER")
	if kind == "" {
		t.Skip("run by BenchmarkInteractions")
	}
	key, err := hex.DecodeString(os.Getenv("REPORTBOT_BENCH_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	switch kind {
	case "bare":
		body := []byte(`{"type":5,"data":{"flags":64,"allowed_mentions":{"parse":[]}}}` + "\n")
		mux.HandleFunc("POST /interactions", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	case "library":
		deferred := discord.InteractionResponse{Type: discord.InteractionResponseTypeDeferredCreateMessage,
			Data: discord.MessageCreate{Flags: discord.MessageFlagEphemeral}}
		mux.Handle("POST /interactions", httpserver.HandleInteraction(key, slog.New(slog.DiscardHandler),
			func(respond httpserver.RespondFunc, _ httpserver.EventInteractionCreate) { _ = respond(deferred) }))
	default:
		t.Fatalf("no contender %q", kind)
	}
	t.Fatal(http.ListenAndServe(os.Getenv("REPORTBOT_BENCH_ADDR"), mux))
}

func reportCPU(b *testing.B, used time.Duration) {
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-us/report")
}

// hammer sends n signed modal submissions in bursts of burst, every submission of a
// burst released at the same instant, and returns each answer's latency; started,
// when given, records when submission k was sent.
func hammer(b *testing.B, url string, signer *discordtest.Signer, form func(k int) []byte, burst, n, offset int, started []time.Time, drained func(sent int), during *answering) []time.Duration {
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
			req, _ := signer.Request(context.Background(), url, form(offset+k), time.Now())
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
		during.start()
		close(release)
		wg.Wait()
		during.stop(len(reqs))
		if drained != nil {
			drained(min(from+burst, n))
		}
	}
	return lat
}

// answering measures the CPU time processes spend while bursts are being answered
// (from a burst's release until its last answer), to the nanosecond: the time each
// of their threads ran (redistest.CPUTime). Unlike the CPU per report over the
// whole run, it leaves out the deferred work done between bursts.
type answering struct {
	tb      testing.TB
	pids    []int
	at      []time.Duration
	used    []time.Duration
	answers int
}

func (a *answering) start() {
	a.at = a.at[:0]
	for _, pid := range a.pids {
		a.at = append(a.at, redistest.CPUTime(a.tb, pid))
	}
}

func (a *answering) stop(answers int) {
	a.used = slices.Grow(a.used, len(a.pids))[:len(a.pids)]
	for k, pid := range a.pids {
		a.used[k] += redistest.CPUTime(a.tb, pid) - a.at[k]
	}
	a.answers += answers
}

// report reports the CPU time of each process per answer, under the names given in
// the order of pids.
func (a *answering) report(b *testing.B, names ...string) {
	for k, name := range names {
		b.ReportMetric(float64(a.used[k].Nanoseconds())/1e3/float64(a.answers), name)
	}
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

// rowSubmission is submission k with its inputs in action rows (type 1), as Discord
// sent modals before labels (type 18): disgo v0.18.15 refuses a label ("unknown
// component with type 18 received") and answers HTTP 500. The fields and the size
// are the same, so the library does the same work.
func rowSubmission(k int) []byte {
	row := func(id int, input string) string {
		return fmt.Sprintf(`{"type":1,"id":%d,"components":[%s]}`, id, input)
	}
	body := string(submission(k))
	for _, r := range []struct{ label, input string }{
		{`{"type":18,"id":1,"component":{"type":4,"id":2,"custom_id":"player","value":"bob"}}`, `{"type":4,"id":2,"custom_id":"player","value":"bob"}`},
		{`{"type":18,"id":3,"component":{"type":3,"id":4,"custom_id":"reason","values":["cheating"]}}`, `{"type":4,"id":4,"custom_id":"reason","value":"cheating"}`},
		{`{"type":18,"id":5,"component":{"type":4,"id":6,"custom_id":"description","value":"spinbot"}}`, `{"type":4,"id":6,"custom_id":"description","value":"spinbot"}`},
	} {
		body = strings.Replace(body, r.label, row(0, r.input), 1)
	}
	return []byte(body)
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
	delay    time.Duration     // how long RallyHere takes to take a report, once there
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
			delay := u.delay
			u.mu.Unlock()
			time.Sleep(delay)
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

func (u *leanUpstreams) setDelay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
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
		if k-u.offset < n {
			out[k-u.offset] = at
		}
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
