package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportbot/reportbot/config/buildinfo"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// These tests run the command line on the built binary: what an operator types, its
// output, and its exit status.

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// execBinary runs the built binary with args and exactly the variables in env, and
// waits for it (at most 20 s).
func execBinary(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return execPath(t, binary(t), env, args...)
}

// execPath is execBinary for the binary at bin.
func execPath(t *testing.T, bin string, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %v: %v", args, err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// untouchable is a full environment whose Discord and Redis count every request and
// connection they get: a command that must start nothing leaves both at zero.
func untouchable(t *testing.T) (env map[string]string, touched func() int64) {
	var n atomic.Int64
	discord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(discord.Close)
	redis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redis.Close() })
	go func() {
		for {
			c, err := redis.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	env = map[string]string{
		"DISCORD_TOKEN": "token", "DISCORD_APPLICATION_ID": "1234567890123456789",
		"DISCORD_API_URL": discord.URL, "REDIS_URL": "redis://" + redis.Addr().String() + "/0",
		"HTTP_ADDR": "127.0.0.1:0", "RALLYHERE_API_URL": discord.URL, "RALLYHERE_CLIENT_ID": "id", "RALLYHERE_CLIENT_SECRET": "secret",
	}
	return env, n.Load
}

func TestHelp(t *testing.T) {
	t.Parallel()
	env, touched := untouchable(t)
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		t.Run(arg, func(t *testing.T) {
			r := execBinary(t, env, arg)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			golden(t, "help.golden", r.stdout)
		})
	}
	// Give a process that wrongly started the bot the time to reach Redis.
	time.Sleep(100 * time.Millisecond)
	if n := touched(); n != 0 {
		t.Fatalf("--help touched Discord or Redis %d times", n)
	}
}

// TestHelpListsEveryVariable: the help is config's list, whole.
func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DISCORD_TOKEN (required)", "HTTP_ADDR=:8080", "REPORT_LIMIT=3/10m", "METRICS_ADDR (unset)", "LOG_FORMAT=json"} {
		if !strings.Contains(out.String(), "\n  "+name+"\n") {
			t.Errorf("no %q in the help", name)
		}
	}
}

func TestBadCommandLine(t *testing.T) {
	t.Parallel()
	env, touched := untouchable(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `reportbot: unknown argument "bogus"`},
		{[]string{"--verbose"}, `reportbot: unknown argument "--verbose"`},
		{[]string{"version", "now"}, `reportbot: unexpected argument "now" after "version"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := execBinary(t, env, tt.args...)
			if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, tt.want+"\n\nUsage: reportbot [command]\n") {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	if n := touched(); n != 0 {
		t.Fatalf("a bad command line touched Discord or Redis %d times", n)
	}
}

// TestConfigErrorsAllAtOnce: every bad or missing variable, one line each, then exit 2.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	t.Parallel()
	r := execBinary(t, map[string]string{
		"DISCORD_APPLICATION_ID": "abc", "DISCORD_GATEWAY": "maybe", "HTTP_ADDR": "8080",
		"REPORT_LIMIT": "lots", "LOG_FORMAT": "xml", "REPORT_RETENTION": "forever",
	})
	want := `reportbot: DISCORD_TOKEN: required
reportbot: DISCORD_APPLICATION_ID: "abc" is not a Discord id (17 to 20 digits)
reportbot: DISCORD_GATEWAY: "maybe" is not true or false
reportbot: HTTP_ADDR: "8080" is not a listen address like :8080 or 127.0.0.1:9090
reportbot: REPORT_LIMIT: "lots" is not count/duration, e.g. 3/10m
reportbot: REPORT_RETENTION: "forever" is not a duration like 90s, 10m, 24h or 90d
reportbot: LOG_FORMAT: "xml" is not one of json, console
`
	if r.code != 2 || r.stdout != "" || r.stderr != want {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
}

// TestVersion: the built binary prints the release, and the commit and Go version the
// build recorded in it (go version -m shows the same record).
func TestVersion(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	r := execBinary(t, nil, "version")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	setting := func(key string) string {
		m := regexp.MustCompile(`(?m)^\s+build\s+` + regexp.QuoteMeta(key) + `=(.*)$`).FindSubmatch(out)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	commit := setting("vcs.revision")
	if commit == "" {
		commit = "unknown"
	} else if setting("vcs.modified") == "true" {
		commit += "+dirty"
	}
	goVersion := strings.TrimSpace(strings.SplitN(strings.SplitN(string(out), "\n", 2)[0], ": ", 2)[1])
	if !strings.HasPrefix(r.stdout, "reportbot "+buildinfo.Version+"\ncommit:  "+commit) || !strings.HasSuffix(r.stdout, "\ngo:      "+goVersion+"\n") {
		t.Fatalf("printed:\n%s\nwant version %s, commit %s, %s", r.stdout, buildinfo.Version, commit, goVersion)
	}
	// A build from a git clone records its commit (a git worktree, whose .git is a
	// file, records none: a limit of go build).
	if st, err := os.Stat(".git"); err == nil && st.IsDir() {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err == nil && !strings.HasPrefix(commit, strings.TrimSpace(string(head))) {
			t.Fatalf("commit %s, but HEAD is %s", commit, head)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name   string
		env    map[string]string
		status int
		code   int
		stderr string
	}{
		{"ready", map[string]string{"HTTP_ADDR": addr}, 200, 0, ""},
		{"every interface", map[string]string{"HTTP_ADDR": ":" + port}, 200, 0, ""},
		{"ready with nothing else set", map[string]string{"HTTP_ADDR": addr, "REPORT_LIMIT": "lots"}, 200, 0, ""},
		{"not ready", map[string]string{"HTTP_ADDR": addr}, 503, 1, "503 Service Unavailable"},
		{"bad HTTP_ADDR", map[string]string{"HTTP_ADDR": "8080"}, 200, 2, "reportbot: HTTP_ADDR:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status.Store(int64(tt.status))
			r := execBinary(t, tt.env, "healthcheck")
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || tt.stderr == "" && r.stderr != "" {
				t.Fatalf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
	srv.Close()
	if r := execBinary(t, map[string]string{"HTTP_ADDR": addr}, "healthcheck"); r.code != 1 || !strings.Contains(r.stderr, "refused") {
		t.Fatalf("nobody listening: exit %d, stderr %q", r.code, r.stderr)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s . -update creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -run %s . -update rewrites it):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

// TestGCSettings: GOGC and GOMEMLIMIT set by the operator win over the bot's own
// settings of Go's garbage collector (tuneGC; TestMakeRun sees those).
func TestGCSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["GOGC"], e.vars["GOMEMLIMIT"] = "150", "1GiB"
	p := e.spawn(t)
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\ngo_gc_gogc_percent 150\n", "\ngo_gc_gomemlimit_bytes 1.073741824e+09\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
}
