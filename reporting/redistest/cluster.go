package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes owned by a test: masters
// that share the 16384 slots evenly, each with its replicas. Node timeouts are short
// (one second), so a killed master is failed over within a few seconds.
type Cluster struct {
	// Nodes are every node, masters first, in the order they were started.
	Nodes []*Server
	// Masters is how many of Nodes were made masters.
	Masters int
	// bus are the nodes' cluster bus ports.
	bus []int
	dir string
}

// ClusterOptions shape a Cluster.
type ClusterOptions struct {
	// Masters defaults to 3.
	Masters int
	// Replicas per master; 0 (the default) for none.
	Replicas int
}

// StartCluster starts and forms a cluster, and returns once every node agrees that
// all slots are served. The nodes are killed when tb ends.
func StartCluster(tb testing.TB, o ClusterOptions) *Cluster {
	tb.Helper()
	c, err := newCluster(o)
	if err != nil {
		tb.Fatalf("forming the cluster: %v", err)
	}
	tb.Cleanup(c.kill)
	return c
}

// newCluster starts and forms a cluster; the caller kills it.
func newCluster(o ClusterOptions) (*Cluster, error) {
	if o.Masters <= 0 {
		o.Masters = 3
	}
	c := &Cluster{Masters: o.Masters}
	sweepOnce.Do(sweepDirs)
	dir, err := os.MkdirTemp("", clusterDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	for i := range o.Masters * (1 + o.Replicas) {
		node := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(node, 0o700); err != nil {
			c.kill()
			return nil, err
		}
		// The bus port is picked again with the client port on each try: either may
		// be taken by the time the node binds it, with other nodes starting at once.
		var bus int
		s, err := launch(func(port int) []string {
			var perr error
			if bus, perr = freePort(); perr != nil {
				// No port to be had just now: Redis's own choice, the client port
				// plus 10000; a node that cannot bind it fails, and launch tries again.
				bus = port + 10000
			}
			return nodeArgs(port, node, []string{
				"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
				"--cluster-config-file", filepath.Join(node, "nodes.conf"),
				"--cluster-node-timeout", "1000",
				// A replica takes over however long it was cut off, and the other
				// masters keep serving their slots while one is down.
				"--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "no",
				"--cluster-allow-reads-when-down", "no",
			})
		})
		if err != nil {
			c.kill()
			return nil, err
		}
		c.bus = append(c.bus, bus)
		c.Nodes = append(c.Nodes, s)
	}
	if err := c.form(o); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// clusterDirPrefix names a cluster's directory, followed by the pid of the test
// binary that made it. The spare clusters a binary leaves when it ends are killed
// with it (their nodes die with their parent), but their directories stay: the next
// binary removes those of binaries no longer running.
const clusterDirPrefix = "redistest-cluster-"

var sweepOnce sync.Once

// sweepDirs removes the cluster directories of test binaries that have ended.
func sweepDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterDirPrefix+"*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), clusterDirPrefix), "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n == os.Getpid() {
			continue
		}
		// Signal 0 checks that the process exists: ESRCH, it has ended.
		if errors.Is(syscall.Kill(n, 0), syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

func (c *Cluster) kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// Formed three-master clusters kept ready for the next tests: a Redis node only
// takes writes two seconds after it starts (Redis's CLUSTER_WRITABLE_DELAY), so
// clusters formed while other tests run save each test that wait. spares are formed
// at once, as many as `make test` runs tests in parallel (-parallel 4): with one,
// the tests of a package waited for each other's cluster, one at a time (package
// reporting's 46 tests took 83 s on the Cluster, the sum of their own times).
const spares = 4

var spare struct {
	once  sync.Once
	ready chan spareResult
}

type spareResult struct {
	c   *Cluster
	err error
}

// spareCluster returns a spare cluster, the first formed, and starts forming one in
// its place.
func spareCluster(tb testing.TB) *Cluster {
	tb.Helper()
	spare.once.Do(func() {
		spare.ready = make(chan spareResult, spares)
		for range spares - 1 {
			go formSpare()
		}
	})
	go formSpare()
	res := <-spare.ready
	if res.err != nil {
		tb.Fatalf("forming a cluster: %v", res.err)
	}
	tb.Cleanup(res.c.kill)
	return res.c
}

func formSpare() {
	c, err := newCluster(ClusterOptions{})
	spare.ready <- spareResult{c, err}
}

func (c *Cluster) form(o ClusterOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	// The bus port is not the default (port + 10000), so MEET names it.
	host, port, _ := net.SplitHostPort(c.Nodes[0].Addr)
	for _, cl := range clients[1:] {
		if err := cl.Do(ctx, "CLUSTER", "MEET", host, port, c.bus[0]).Err(); err != nil {
			return fmt.Errorf("cluster meet: %w", err)
		}
	}
	per := 16384 / o.Masters
	for i := range o.Masters {
		from, to := i*per, (i+1)*per-1
		if i == o.Masters-1 {
			to = 16383
		}
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", from, to).Err(); err != nil {
			return fmt.Errorf("assigning slots %d-%d: %w", from, to, err)
		}
	}
	ids := make([]string, len(clients))
	for i, cl := range clients {
		id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			return fmt.Errorf("cluster myid: %w", err)
		}
		ids[i] = id
	}
	for r := range o.Replicas {
		for m := range o.Masters {
			i := o.Masters*(1+r) + m
			// A node can replicate a master only once it has heard of it.
			if err := waitFor(ctx, func() error {
				return clients[i].Do(ctx, "CLUSTER", "REPLICATE", ids[m]).Err()
			}); err != nil {
				return fmt.Errorf("making node %d a replica of %d: %w", i, m, err)
			}
		}
	}
	return waitFor(ctx, func() error { return c.healthy(ctx, clients, o) })
}

// healthy reports whether every node sees the cluster as ok, with every master and
// replica in place and every replica in sync.
func (c *Cluster) healthy(ctx context.Context, clients []*redis.Client, o ClusterOptions) error {
	for i, cl := range clients {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(clients))) {
			return fmt.Errorf("node %d: %s", i, firstLines(info, 3))
		}
		slots, err := cl.ClusterSlots(ctx).Result()
		if err != nil {
			return err
		}
		for _, s := range slots {
			if len(s.Nodes) != 1+o.Replicas {
				return fmt.Errorf("node %d: slots %d-%d have %d nodes", i, s.Start, s.End, len(s.Nodes))
			}
		}
		if i >= o.Masters {
			repl, err := cl.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("replica %d not in sync yet", i)
			}
		}
	}
	return nil
}

// URL is the cluster as a REDIS_URL for REDIS_MODE=cluster.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u
}

// Client returns a new cluster client, closed when tb ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second})
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// MasterOf returns the node that now serves the slot of key as master.
func (c *Cluster) MasterOf(tb testing.TB, key string) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slot := Slot(key)
	for _, n := range c.Nodes {
		if n.Killed() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		slots, err := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int(slot) >= s.Start && int(slot) <= s.End {
				for _, m := range c.Nodes {
					if m.Addr == s.Nodes[0].Addr {
						return m
					}
				}
			}
		}
	}
	tb.Fatalf("no node serves the slot of %q", key)
	return nil
}

// WaitFailover waits until a live master serves the slot of key again, and returns
// it.
func (c *Cluster) WaitFailover(tb testing.TB, key string, timeout time.Duration) *Server {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := c.liveMasterOf(key); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("no live master took over the slot of %q within %s", key, timeout)
	return nil
}

func (c *Cluster) liveMasterOf(key string) *Server {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	slot := int(Slot(key))
	for _, n := range c.Nodes {
		if n.Killed() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		role, err := cl.Do(ctx, "ROLE").Slice()
		slots, err2 := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil || err2 != nil || len(role) == 0 || role[0] != "master" {
			continue
		}
		for _, s := range slots {
			if slot >= s.Start && slot <= s.End && s.Nodes[0].Addr == n.Addr {
				return n
			}
		}
	}
	return nil
}

// Slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash tag, or of
// the whole key without one, modulo 16384.
func Slot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func waitFor(ctx context.Context, try func() error) error {
	var err error
	for {
		if err = try(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], "; ")
}

// Sentinel is a primary with one replica watched by three sentinels (redis-server
// --sentinel), all real processes owned by a test; the primary is failed over about
// a second after it stops answering.
type Sentinel struct {
	Primary, Replica *Server
	Sentinels        []*Server
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
}

// StartSentinel starts the primary, its replica and the sentinels, and returns once
// every sentinel knows the replica and its fellow sentinels.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s := &Sentinel{MasterName: "reportbot", Primary: Start(tb)}
	s.Replica = Start(tb, "--replicaof", strings.Replace(s.Primary.Addr, ":", " ", 1))
	host, port, _ := net.SplitHostPort(s.Primary.Addr)
	for range 3 {
		conf := tb.TempDir() + "/sentinel.conf"
		body := strings.Join([]string{
			"sentinel monitor " + s.MasterName + " " + host + " " + port + " 2",
			"sentinel down-after-milliseconds " + s.MasterName + " 1000",
			"sentinel failover-timeout " + s.MasterName + " 5000",
			"sentinel parallel-syncs " + s.MasterName + " 1",
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, startSentinel(tb, conf))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := waitFor(ctx, func() error {
		for _, sn := range s.Sentinels {
			cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
			replicas, err := cl.Replicas(ctx, s.MasterName).Result()
			sentinels, err2 := cl.Sentinels(ctx, s.MasterName).Result()
			cl.Close()
			if err != nil || err2 != nil || len(replicas) != 1 || len(sentinels) != 2 {
				return fmt.Errorf("sentinel %s: %d replicas, %d sentinels (%v, %v)", sn.Addr, len(replicas), len(sentinels), err, err2)
			}
		}
		repl := s.Replica.Client(tb)
		info, err := repl.Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica not in sync (%v)", err)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("starting the sentinels: %v", err)
	}
	return s
}

// URL is the deployment as a REDIS_URL for REDIS_MODE=sentinel.
func (s *Sentinel) URL() string {
	u := "redis://" + s.Sentinels[0].Addr + "?master_name=" + s.MasterName
	for _, sn := range s.Sentinels[1:] {
		u += "&addr=" + sn.Addr
	}
	return u
}

// Client returns a new failover client, closed when tb ends.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	cl := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: addrs})
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// WaitFailover waits until the sentinels name a primary other than old, and returns
// its address.
func (s *Sentinel) WaitFailover(tb testing.TB, old string, timeout time.Duration) string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, sn := range s.Sentinels {
			cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			addr, err := cl.GetMasterAddrByName(ctx, s.MasterName).Result()
			cancel()
			cl.Close()
			if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) != old {
				return net.JoinHostPort(addr[0], addr[1])
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("the sentinels did not fail over from %s within %s", old, timeout)
	return ""
}

// Addrs lists the nodes' addresses, sorted, for messages.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	sort.Strings(out)
	return out
}
