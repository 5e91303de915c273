// Package redistest starts real redis-server processes for tests: a single
// node or a three-master Cluster, on free loopback ports, with append-only
// persistence so a test can stop and restart a node without losing data.
// A missing redis-server fails the test; it never skips.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process.
type Server struct {
	Addr string
	dir  string
	args []string
	cmd  *exec.Cmd
	t    testing.TB
}

// Start runs a single redis-server for the test's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, nil)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func newServer(t testing.TB, extra []string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required (apt-get install redis-server): %v", err)
	}
	port := freePort(t)
	dir := t.TempDir()
	args := append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--protected-mode", "no",
	}, extra...)
	return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, args: args, t: t}
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer: %v\n%s", s.Addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server; its data stays in its directory.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same port with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Cluster is a three-master Redis Cluster.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr)
	}
	return a
}

// StartCluster runs three cluster-enabled redis-servers and joins them
// with redis-cli --cluster create.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		s := newServer(t, []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"})
		s.start()
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer cc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := cc.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			// Every node must agree before slots are served everywhere.
			ok := true
			for _, n := range c.Nodes {
				nc := redis.NewClient(&redis.Options{Addr: n.Addr})
				ni, err := nc.ClusterInfo(context.Background()).Result()
				nc.Close()
				if err != nil || !strings.Contains(ni, "cluster_state:ok") {
					ok = false
				}
			}
			if ok {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not become ok: %v %s", err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Cluster bus uses port+10000; keep it in range.
		if p+10000 < 65536 {
			return p
		}
	}
	t.Fatalf("no free port below 55536")
	return 0
}
