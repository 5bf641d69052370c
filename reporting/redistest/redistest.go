// Package redistest starts real redis-server processes on free loopback ports for a
// test, and stops them when the test ends: a single node (Start), a Redis Cluster
// (StartCluster) or a primary watched by sentinels (StartSentinel). Tests use real
// servers rather than an emulation so that Lua scripts, streams, consumer groups,
// slots and failovers behave exactly as in production. New starts the topology the
// environment asks for (EnvTopology), so one suite runs on each.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{} // closed when cmd has exited
	killed bool
}

// Start runs redis-server with persistence off (unless extra arguments turn it on) and
// returns once it answers PING. The server is killed when tb ends.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	s, err := launch(func(port int) []string { return nodeArgs(port, dir, extra) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Kill)
	return s
}

func nodeArgs(port int, dir string, extra []string) []string {
	return append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning",
		// A replica's first sync starts at once rather than after 5 s.
		"--repl-diskless-sync-delay", "0",
	}, extra...)
}

// startSentinel runs redis-server in sentinel mode with the configuration file conf,
// which the sentinel rewrites as it learns the deployment.
func startSentinel(tb testing.TB, conf string) *Server {
	tb.Helper()
	s, err := launch(func(port int) []string {
		return []string{conf, "--sentinel", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--daemonize", "no", "--loglevel", "warning"}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Kill)
	return s
}

// launch starts redis-server with the arguments args gives for a free port, trying
// another port if the first is taken in the meantime. The caller kills it.
func launch(args func(port int) []string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed: run the README's test command, which installs it")
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, args: args(port)}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("starting redis-server: %w", lastErr)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &bytes.Buffer{}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = out, out
	// A server outlives no test binary, even one that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited (%v): %s", waitErr, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd, s.out, s.exited, s.killed = cmd, out, exited, false
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING: %s", s.Addr, out.String())
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && !s.killed {
		_ = s.cmd.Process.Kill()
		// Wait until the process is gone, so the port is free for a restart.
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
	}
	s.killed = true
}

// Killed reports whether the server was killed (and not restarted since).
func (s *Server) Killed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}

// Restart kills the server and starts it again on the same address, with the same
// arguments. Without persistence it comes back empty, as a Redis without AOF does.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill()
	s.Revive(tb)
}

// Revive starts a killed server again on the same address, with the same arguments.
func (s *Server) Revive(tb testing.TB) {
	tb.Helper()
	var err error
	for range 100 { // the port may take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("restarting redis-server on %s: %v", s.Addr, err)
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Pid is the process id of the running server, for reading its CPU time (CPUTime).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// URL is the server's address as a REDIS_URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client of the server, closed when tb ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Redis is a Redis deployment of a test, of whichever topology.
type Redis interface {
	// URL and Mode are the REDIS_URL and REDIS_MODE that reach it.
	URL() string
	Mode() string
	// UniversalClient returns a new client of it, closed when tb ends.
	UniversalClient(tb testing.TB) redis.UniversalClient
}

// Mode is "single": the REDIS_MODE of a Server.
func (s *Server) Mode() string { return "single" }

// UniversalClient is Client, as a redis.UniversalClient.
func (s *Server) UniversalClient(tb testing.TB) redis.UniversalClient { return s.Client(tb) }

// Mode is "cluster".
func (c *Cluster) Mode() string { return "cluster" }

// UniversalClient is Client, as a redis.UniversalClient.
func (c *Cluster) UniversalClient(tb testing.TB) redis.UniversalClient { return c.Client(tb) }

// Mode is "sentinel".
func (s *Sentinel) Mode() string { return "sentinel" }

// UniversalClient is Client, as a redis.UniversalClient.
func (s *Sentinel) UniversalClient(tb testing.TB) redis.UniversalClient { return s.Client(tb) }

// EnvTopology names the variable that picks what New starts: "cluster" for a
// three-master Redis Cluster, "" or "single" for one node. `make test` runs the
// suites that touch Redis once each way.
const EnvTopology = "REPORTBOT_TEST_REDIS"

// New starts the Redis the environment asks for (EnvTopology) for tb.
func New(tb testing.TB) Redis {
	tb.Helper()
	switch v := os.Getenv(EnvTopology); v {
	case "cluster":
		return spareCluster(tb)
	case "", "single":
		return Start(tb)
	default:
		tb.Fatalf("%s=%q: want single or cluster", EnvTopology, v)
		return nil
	}
}

// OnCluster reports whether New starts clusters in this run.
func OnCluster() bool { return os.Getenv(EnvTopology) == "cluster" }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CPUTime is how long process pid's threads have run on a CPU, to the nanosecond
// (/proc/<pid>/task/<tid>/schedstat): for benchmarks that weigh redis-server's CPU,
// and their other processes', against what they measure.
func CPUTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		tb.Fatal(err)
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
