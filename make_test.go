package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reportbot/reportbot/bot"
	"github.com/reportbot/reportbot/config"
)

// TestMakeRun runs the README's `make run` with a .env whose REDIS_URL= is empty and
// REDIS_URL set in the shell: the shell's wins, so the bot uses that Redis and not the
// embedded store. A SIGTERM to make stops the bot, cleanly, before make exits. The
// bot it runs is checked on the way: invite link, healthcheck, build info.
func TestMakeRun(t *testing.T) {
	onlySinglePass(t, "runs make, which is the same on any Redis")
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed (apt-get install make): this test runs `make run`")
	}
	e := newEnv(t)
	dir := t.TempDir()
	var file strings.Builder
	file.WriteString("# as in .env.example: an empty REDIS_URL, a value with a space\nREDIS_URL=\nWEBHOOK_GAME_NAME=the game\n")
	for k, v := range e.vars {
		if k != "REDIS_URL" {
			file.WriteString(k + "=" + v + "\n")
		}
	}
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("make", "-s", "run", "ENV_FILE="+envFile, "BIN="+filepath.Join(dir, "reportbot"))
	// The shell's environment, without any setting of the bot but REDIS_URL, nor
	// of Go's collector, which the bot sets itself.
	settings := map[string]bool{"GOGC": true, "GOMEMLIMIT": true}
	for _, v := range config.Vars() {
		settings[v.Name] = true
	}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !settings[name] {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "REDIS_URL="+e.redis.URL())
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// A group of its own, so that a failed test leaves nothing running; the test's
	// SIGTERM goes to make alone, as an operator's kill would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of the group
		<-done
	})

	var addr string
	for deadline := time.Now().Add(2 * waitFor); addr == ""; time.Sleep(50 * time.Millisecond) {
		if l := logs.lines("serving HTTP"); len(l) > 0 && len(logs.lines("commands registered")) > 0 {
			addr = l[0]["addr"].(string)
		}
		select {
		case <-done:
			t.Fatalf("make run ended: %v\n%s", waitErr, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not start:\n%s", logs)
		}
	}
	if n := len(logs.lines("REDIS_URL is not set: using an embedded in-memory store; reports, limits and settings are lost when the bot stops")); n != 0 {
		t.Fatalf(".env's empty REDIS_URL won over the shell's:\n%s", logs)
	}
	if keys, err := e.redis.UniversalClient(t).DBSize(t.Context()).Result(); err != nil || keys == 0 {
		t.Fatalf("the shell's Redis holds %d keys (%v): the bot is not using it", keys, err)
	}

	// While it runs, the binary make built logs its invite link, answers the
	// healthcheck, and labels reportbot_build_info with what its version prints.
	bin := filepath.Join(dir, "reportbot")
	if l := logs.lines("starting; add the bot to a server with its invite_url"); len(l) != 1 || l[0]["invite_url"] != bot.InviteURL(e.discord.AppID) {
		t.Errorf("start-up lines %v, want one with invite_url %s", l, bot.InviteURL(e.discord.AppID))
	}
	if r := execPath(t, bin, map[string]string{"HTTP_ADDR": addr}, "healthcheck"); r.code != 0 {
		t.Errorf("healthcheck of the running bot: exit %d, %s", r.code, r.stderr)
	}
	version := execPath(t, bin, nil, "version").stdout
	m := regexp.MustCompile(`^reportbot (\S+)\ncommit:  (\S+).*\ngo:      (\S+)\n$`).FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("version printed %q", version)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `reportbot_build_info{commit="` + m[2] + `",go_version="` + m[3] + `",version="` + m[1] + `"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("no %s in /metrics", want)
	}
	// Neither GOGC nor GOMEMLIMIT set: the bot's own settings of the collector.
	for _, want := range []string{"\ngo_gc_gogc_percent 400\n", "\ngo_gc_gomemlimit_bytes 6.7108864e+07\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("no %q in /metrics", want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("make did not end within %s of its SIGTERM:\n%s", waitFor, logs)
	}
	if len(logs.lines("stopped")) != 1 {
		t.Fatalf("the bot did not stop cleanly:\n%s", logs)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("the bot still serves on %s after make ended", addr)
	}
}
