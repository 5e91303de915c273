package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// The bench agents of the lab (lab/gen-bench-agents.sh): agent2001..agent2400.
const (
	firstAgent  = 2001
	benchAgents = 400
)

var benchSkills = []string{"general", "renshe", "shichang", "falv"}

func agentToken(ext string) string { return "bench-token-agent-" + ext }

// pprofToken is the bench gateway's supervisor token: pprof is for
// supervisors only (-cpuprofile).
const pprofToken = "bench-token-supervisor-pprof"

// gatewayConfig is the bench gateway's configuration: the lab's four lines,
// app hotline-bench, its own Redis, 400 agents without desktop streams, no
// ticket sink (tickets stay in the Redis outbox: the bench measures the
// gateway, not the ticket system).
func gatewayConfig(httpAddr, grpcAddr, redisAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `log: {level: warn, format: text}
listen: {http: %q, grpc: %q, pprof: true}
ari:
  url: http://127.0.0.1:8088/ari
  username: hotline
  password: hotline-lab
  application: hotline-bench
  request_timeout: 3s
redis:
  addrs: [%q]
  key_prefix: hlbench
instance: hotline-bench
timezone: Asia/Shanghai
lines:
  - {number: "12345", name: "12345", skill: general}
  - {number: "12333", name: "12333", skill: renshe, merged_into: "12345"}
  - {number: "12315", name: "12315", skill: shichang, merged_into: "12345"}
  - {number: "12348", name: "12348", skill: falv, merged_into: "12345"}
shutdown: {drain_timeout: 5s}
acd:
  agent_endpoint: PJSIP/agent{ext}
  ring_timeout: 10s
  require_desktop: false
  agents:
`, httpAddr, grpcAddr, redisAddr)
	for i := 0; i < benchAgents; i++ {
		ext := strconv.Itoa(firstAgent + i)
		fmt.Fprintf(&b, "    - {extension: %q, token: %q}\n", ext, agentToken(ext))
	}
	fmt.Fprintf(&b, "auth:\n  supervisors:\n    - {name: bench-pprof, token: %q}\n", pprofToken)
	return b.String()
}

// loginAgents logs the 400 bench agents in with all four skills and sets
// them ready, over the gateway's AgentService (16 at a time).
func loginAgents(ctx context.Context, grpcAddr string) error {
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cl := hotlinev1.NewAgentServiceClient(conn)
	exts := make(chan string)
	errs := make(chan error, benchAgents)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ext := range exts {
				actx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+agentToken(ext)), 10*time.Second)
				_, err := cl.Login(actx, &hotlinev1.LoginRequest{Extension: ext, Skills: benchSkills})
				if err == nil {
					_, err = cl.SetState(actx, &hotlinev1.SetStateRequest{Extension: ext, State: hotlinev1.AgentState_AGENT_STATE_READY})
				}
				cancel()
				if err != nil {
					errs <- fmt.Errorf("agent %s: %w", ext, err)
				}
			}
		}()
	}
	for i := 0; i < benchAgents; i++ {
		exts <- strconv.Itoa(firstAgent + i)
	}
	close(exts)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}
