package redistest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 12739},
		{"foo", 12182},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363}, // an empty tag is no tag: the whole key
		{"foo{{bar}}zap", 4015},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestServerRestartComesBackEmpty(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after a restart without persistence: exists=%d, %v", n, err)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Masters: 3, Replicas: 1})
	cl := c.Client(t)
	ctx := context.Background()
	for _, key := range []string{"rb:{queue}:stream", "foo", "123456789"} {
		got, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil || got != int64(Slot(key)) {
			t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; Slot says %d", key, got, err, Slot(key))
		}
		if err := cl.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	old := c.MasterOf(t, "foo")
	old.Kill()
	start := time.Now()
	now := c.WaitFailover(t, "foo", 30*time.Second)
	if now == old {
		t.Fatal("the dead master still serves the slot")
	}
	t.Logf("failover took %s", time.Since(start).Round(10*time.Millisecond))
	// The client finds the new master once it reloads the slot map (every second).
	var v string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v, err = cl.Get(ctx, "foo").Result(); err == nil {
			break
		}
	}
	if v != "v" {
		t.Fatalf("after the failover: %q, %v", v, err)
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t)
	cl := s.Client(t)
	ctx := context.Background()
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cl.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d, %v", n, err)
	}
	old := s.Primary.Addr
	s.Primary.Kill()
	now := s.WaitFailover(t, old, 30*time.Second)
	if now != s.Replica.Addr {
		t.Fatalf("new primary %s, want the replica %s", now, s.Replica.Addr)
	}
	var v string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v, err = cl.Get(ctx, "k").Result(); err == nil {
			break
		}
	}
	if v != "v" {
		t.Fatalf("after the failover: %q, %v", v, err)
	}
}

// TestSweepDirs: the cluster directories of test binaries that have ended are
// removed; those of running ones (this one, and its parent) are kept.
func TestSweepDirs(t *testing.T) {
	t.Parallel()
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{} // dir → kept
	for pid, kept := range map[int]bool{ended.Process.Pid: false, os.Getpid(): true, os.Getppid(): true} {
		d, err := os.MkdirTemp("", clusterDirPrefix+strconv.Itoa(pid)+"-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "nodes.conf"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dirs[d] = kept
	}
	sweepDirs()
	for d, kept := range dirs {
		if _, err := os.Stat(d); (err == nil) != kept {
			t.Errorf("%s: exists %v, want %v", d, err == nil, kept)
		}
	}
}
