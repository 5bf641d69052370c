package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
)

// statusKB reads a field (VmRSS, VmHWM) of /proc/<pid>/status, in KiB.
func statusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestUnauthenticatedFlood is the attack of issue 9: 64 clients post 4 MB bodies to
// /interactions that Discord did not sign, with and without a Content-Length, with
// well-formed and malformed signature headers. The bot's peak RSS (VmHWM, reset to
// the current RSS before the attack) must rise by less than 50 MB, and a real
// interaction sent in the middle of it must still be answered in time.
func TestUnauthenticatedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the binary with 1 GB of requests")
	}
	t.Parallel() // what it measures is the bot process's own memory
	e := newEnv(t)
	e.vars["LOG_LEVEL"] = "info"
	p := e.spawn(t)
	pid := p.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // let start-up garbage settle
	// Writing 5 to clear_refs resets the peak RSS to the current one.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset VmHWM (%v); the peak includes start-up", err)
	}
	before := statusKB(t, pid, "VmRSS")

	const clients, rounds, size = 64, 4, 4 << 20
	fakeSig := func() string {
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	variants := []struct {
		name   string
		length bool // send a Content-Length
		header func(h http.Header)
	}{
		{"well-formed bad signature, with length", true, func(h http.Header) {
			h.Set("X-Signature-Ed25519", fakeSig())
			h.Set("X-Signature-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		}},
		{"well-formed bad signature, chunked", false, func(h http.Header) {
			h.Set("X-Signature-Ed25519", fakeSig())
			h.Set("X-Signature-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		}},
		{"no signature, chunked", false, func(http.Header) {}},
		{"garbage signature, with length", true, func(h http.Header) {
			h.Set("X-Signature-Ed25519", "zz")
			h.Set("X-Signature-Timestamp", "yesterday")
		}},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	var statuses sync.Map // status → *atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				v := variants[(c+r)%len(variants)]
				req, _ := http.NewRequest(http.MethodPost, p.base+"/interactions", io.LimitReader(zeros{}, size))
				req.Header.Set("Content-Type", "application/json")
				if v.length {
					req.ContentLength = size
				} else {
					req.ContentLength = -1
				}
				v.header(req.Header)
				resp, err := client.Do(req)
				if err != nil {
					// The bot may answer and close before the body is all sent.
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n, _ := statuses.LoadOrStore(resp.StatusCode, &atomic.Int64{})
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	// A real interaction in the middle of the flood is answered within Discord's 3 s.
	answered := make(chan error, 1)
	go func() {
		<-start
		time.Sleep(200 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		i := e.discord.NewInteraction(discordgo.InteractionApplicationCommand, testGuild, testChannel, reporter, 0, slashData("report", "player"))
		sent := time.Now()
		resp, status, err := e.discord.Post(ctx, p.base+"/interactions", e.signer, i)
		switch {
		case err != nil:
			answered <- err
		case status != 200 || resp.Type != discordgo.InteractionResponseModal:
			answered <- fmt.Errorf("status %d, %+v", status, resp)
		default:
			t.Logf("the real interaction was answered in %s during the flood", time.Since(sent).Round(time.Millisecond))
			answered <- nil
		}
	}()
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	if err := <-answered; err != nil {
		t.Errorf("a real interaction during the flood: %v", err)
	}
	peak := statusKB(t, pid, "VmHWM")
	after := statusKB(t, pid, "VmRSS")
	var seen []string
	statuses.Range(func(k, v any) bool {
		seen = append(seen, fmt.Sprintf("%d×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("%d requests of 4 MB in %s: answers %v, %d cut off while sending; RSS %d MB before, peak %d MB, %d MB after",
		clients*rounds, took.Round(time.Millisecond), seen, errs.Load(), before>>10, peak>>10, after>>10)
	if rise := peak - before; rise >= 50<<10 {
		t.Fatalf("the flood raised the peak RSS by %d MB (from %d to %d MB); the limit is 50 MB", rise>>10, before>>10, peak>>10)
	}
	if l := p.logs.String(); strings.Contains(l, `"level":"error"`) {
		t.Errorf("the flood logged errors:\n%s", l[max(0, len(l)-3000):])
	}
	_ = bytes.MinRead
}
