package labtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket/sinkserver"
)

// Phone behaviours, by SIPp scenario.
const (
	Answer   = "uas_answer.xml"
	NoAnswer = "uas_noanswer.xml"
	Busy     = "uas_busy.xml"
)

// Phone is a lab agent phone (a SIPp UAS on the agent's static contact).
type Phone struct {
	Ext string
	cmd *exec.Cmd
	dir string
}

// PhonePort is the UDP port of agent extension 1001..1008 (5301..5308).
func PhonePort(ext string) int {
	n, _ := strconv.Atoi(ext)
	return 5300 + n - 1000
}

// StartPhone runs extension ext's phone with the given behaviour until the
// test ends. extra are further SIPp arguments (e.g. "-set", "ring", "2000").
func StartPhone(t testing.TB, ext, scenario string, extra ...string) *Phone {
	t.Helper()
	return StartUAS(t, ext, PhonePort(ext), scenario, extra...)
}

// StartUAS runs a SIPp UAS on port (the 110 platform is 5310, citizens 5400).
func StartUAS(t testing.TB, name string, port int, scenario string, extra ...string) *Phone {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"-sf", filepath.Join(RepoRoot(), "lab", "sipp", scenario),
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_logs", "-log_file", filepath.Join(dir, "calls.log")}, extra...)
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("start phone %s: %v", name, err)
	}
	p := &Phone{Ext: name, cmd: cmd, dir: dir}
	t.Cleanup(p.Stop)
	time.Sleep(200 * time.Millisecond) // let SIPp bind its port
	return p
}

// Stop ends the phone.
func (p *Phone) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGUSR1) // SIPp: dump and quit
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// Calls returns how many calls the phone received (SIPp's incoming calls).
func (p *Phone) Calls() int {
	b, err := os.ReadFile(filepath.Join(p.dir, "stat.csv"))
	if err != nil {
		return 0
	}
	return lastStat(string(b), "TotalCallCreated")
}

// PeakConcurrent returns the most calls the phone had at once, from the
// "call-start"/"call-end" lines uas_answer.xml logs (INVITE received to BYE
// or CANCEL received), and how many calls it logged; an error when the
// scenario logged nothing of the kind.
func (p *Phone) PeakConcurrent() (peak, calls int, err error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "calls.log"))
	if err != nil {
		return 0, 0, fmt.Errorf("phone %s: call log: %w", p.Ext, err)
	}
	var deltas []int
	open := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "call-start" && f[0] != "call-end") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("phone %s: call log line %q: %w", p.Ext, line, err)
		}
		switch {
		case f[0] == "call-start" && !open[f[2]]:
			open[f[2]] = true
			calls++
			deltas = append(deltas, +1)
		case f[0] == "call-end" && open[f[2]]:
			delete(open, f[2])
			deltas = append(deltas, -1)
		}
	}
	// SIPp is single-threaded: the log is in the order it handled the messages.
	cur := 0
	for _, d := range deltas {
		cur += d
		peak = max(peak, cur)
	}
	return peak, calls, nil
}

// AgentToken is the lab token of extension ext.
func AgentToken(ext string) string { return "lab-token-agent-" + ext }

// The lab tokens of the other roles, in every generated gateway config
// (GatewayConfig) as in configs/gateway.example.yaml.
const (
	SupervisorToken   = "lab-token-supervisor"
	PoliceToken       = "lab-token-police110"
	TicketSystemToken = "lab-token-ticket-system"
	WallToken         = "lab-token-wall-screen"
	InspectorToken    = "lab-token-inspector-qc"
)

// WithToken adds "authorization: Bearer tok" to ctx.
func WithToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// AsSupervisor adds the lab supervisor's token to ctx (StatsService,
// every call-back and transfer record, reflection).
func AsSupervisor(ctx context.Context) context.Context { return WithToken(ctx, SupervisorToken) }

// AsPolice adds the lab 110 platform's token to ctx (PushPoliceReference,
// ListTransfers).
func AsPolice(ctx context.Context) context.Context { return WithToken(ctx, PoliceToken) }

// AgentsYAML configures the lab's agents 1001..1008 for a gateway.
func AgentsYAML(sink string, extra string) string {
	s := "acd:\n  ring_timeout: 4s\n  poll_interval: 200ms\n  require_desktop: true\n" + extra + "  agents:\n"
	for i := 1001; i <= 1008; i++ {
		s += fmt.Sprintf("    - {extension: \"%d\", token: %q}\n", i, AgentToken(strconv.Itoa(i)))
	}
	if sink != "" {
		s += fmt.Sprintf("tickets: {sink: %q}\n", sink)
	}
	return s
}

// Desktop is an agent's desktop: a gRPC client of the AgentService with its
// event stream collected.
type Desktop struct {
	Ext    string
	conn   *grpc.ClientConn
	client hotlinev1.AgentServiceClient
	cancel context.CancelFunc

	mu     sync.Mutex
	events []*hotlinev1.AgentEvent
}

// OpenDesktop connects extension ext to the gateway, opens its event stream,
// logs it in with skills and sets it ready.
func OpenDesktop(t testing.TB, g *Gateway, ext string, skills ...string) *Desktop {
	t.Helper()
	return OpenDesktopDial(t, g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), ext, skills...)
}

// OpenDesktopDial is OpenDesktop to the gRPC address addr with the
// transport credentials creds (TLS, a client certificate).
func OpenDesktopDial(t testing.TB, addr string, creds grpc.DialOption, ext string, skills ...string) *Desktop {
	t.Helper()
	conn, err := grpc.NewClient(addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	d := &Desktop{Ext: ext, conn: conn, client: hotlinev1.NewAgentServiceClient(conn)}
	ctx, cancel := context.WithCancel(d.Auth(context.Background()))
	d.cancel = cancel
	stream, err := d.client.StreamEvents(ctx, &hotlinev1.StreamEventsRequest{Extension: ext})
	if err != nil {
		t.Fatalf("desktop %s: stream: %v", ext, err)
	}
	first := make(chan struct{})
	go func() {
		once := sync.Once{}
		for {
			ev, err := stream.Recv()
			if err != nil {
				once.Do(func() { close(first) })
				// Like a real desktop: reopen the stream (e.g. after a
				// gateway restart) until the test ends.
				for ctx.Err() == nil {
					time.Sleep(200 * time.Millisecond)
					if stream, err = d.client.StreamEvents(ctx, &hotlinev1.StreamEventsRequest{Extension: ext}); err == nil {
						break
					}
				}
				if ctx.Err() != nil {
					return
				}
				continue
			}
			d.mu.Lock()
			d.events = append(d.events, ev)
			d.mu.Unlock()
			once.Do(func() { close(first) })
		}
	}()
	<-first // the stream's snapshot: subscribed
	t.Cleanup(func() {
		lctx, c := context.WithTimeout(d.Auth(context.Background()), 3*time.Second)
		_, _ = d.client.SetState(lctx, &hotlinev1.SetStateRequest{Extension: ext, State: hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT})
		c()
		cancel()
		conn.Close()
	})
	rctx, c := context.WithTimeout(d.Auth(context.Background()), 5*time.Second)
	defer c()
	if _, err := d.client.Login(rctx, &hotlinev1.LoginRequest{Extension: ext, Skills: skills}); err != nil {
		t.Fatalf("desktop %s: login: %v", ext, err)
	}
	d.Ready(t)
	return d
}

// Auth adds the agent's token to ctx.
func (d *Desktop) Auth(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+AgentToken(d.Ext))
}

// Client returns the AgentService client.
func (d *Desktop) Client() hotlinev1.AgentServiceClient { return d.client }

// Ready sets the agent ready.
func (d *Desktop) Ready(t testing.TB) {
	t.Helper()
	ctx, c := context.WithTimeout(d.Auth(context.Background()), 5*time.Second)
	defer c()
	if _, err := d.client.SetState(ctx, &hotlinev1.SetStateRequest{Extension: d.Ext, State: hotlinev1.AgentState_AGENT_STATE_READY}); err != nil {
		t.Fatalf("desktop %s: ready: %v", d.Ext, err)
	}
}

// State returns the agent's state as the gateway sees it.
func (d *Desktop) State(t testing.TB) *hotlinev1.Agent {
	t.Helper()
	ctx, c := context.WithTimeout(d.Auth(context.Background()), 5*time.Second)
	defer c()
	a, err := d.client.GetAgent(ctx, &hotlinev1.GetAgentRequest{Extension: d.Ext})
	if err != nil {
		t.Fatalf("desktop %s: get agent: %v", d.Ext, err)
	}
	return a
}

// Events returns the events received so far.
func (d *Desktop) Events() []*hotlinev1.AgentEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*hotlinev1.AgentEvent(nil), d.events...)
}

// Offers returns the screen pops received so far.
func (d *Desktop) Offers() []*hotlinev1.CallOffer {
	var out []*hotlinev1.CallOffer
	for _, ev := range d.Events() {
		if o := ev.GetOffer(); o != nil {
			out = append(out, o)
		}
	}
	return out
}

// Sink is the reference ticket sink (gateway/ticket/sinkserver) served
// in the test process, so the test sees every SubmitTicket: the file holds
// one line per new ticket ID, Submits counts each submission, duplicates
// included.
type Sink struct {
	Addr string
	File string
	fs   *sinkserver.FileSink
	srv  *grpc.Server
	done chan struct{}

	gateMu  sync.Mutex
	passed  int           // submissions let through the gate
	limit   int           // -1: no gate
	open    chan struct{} // closed by Resume
	waiting int           // submissions held at the gate
}

// StartSink serves a sink on addr (a free port when empty), storing tickets
// in file (a new file in a temp dir when empty).
func StartSink(t testing.TB, addr, file string) *Sink {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	if file == "" {
		file = filepath.Join(t.TempDir(), "tickets.jsonl")
	}
	fs, err := sinkserver.Open(file, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("ticket sink: %v", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		_ = fs.Close()
		t.Fatalf("ticket sink: listen on %s: %v", addr, err)
	}
	s := &Sink{Addr: addr, File: file, fs: fs, done: make(chan struct{}), limit: -1}
	s.srv = sinkserver.NewGRPCServer(fs, "", grpc.ChainUnaryInterceptor(s.gate))
	go func() { _ = s.srv.Serve(lis); close(s.done) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop ends the sink (open submissions get 5 s to finish).
func (s *Sink) Stop() {
	if s.srv == nil {
		return
	}
	stopped := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.srv.Stop()
	}
	<-s.done
	_ = s.fs.Close()
	s.srv = nil
}

// PauseAfter lets n more submissions through, then holds the following
// ones (they neither reach the file nor count in Submits) until Resume or
// until their caller gives up.
func (s *Sink) PauseAfter(n int) {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	s.limit = s.passed + n
	s.open = make(chan struct{})
}

// Resume lets held and further submissions through.
func (s *Sink) Resume() {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	if s.limit >= 0 {
		s.limit = -1
		close(s.open)
	}
}

// Held returns how many submissions wait at the gate now.
func (s *Sink) Held() int {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	return s.waiting
}

func (s *Sink) gate(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case hotlinev1.TicketSink_SubmitTicket_FullMethodName:
		if err := s.pass(ctx, 1); err != nil {
			return nil, err
		}
		return h(ctx, req)
	case hotlinev1.TicketSink_SubmitTickets_FullMethodName:
		return s.gateBatch(ctx, req.(*hotlinev1.SubmitTicketsRequest), h)
	}
	return h(ctx, req)
}

// gateBatch lets the tickets of a batch through as far as the gate is
// open (each ticket is one submission), and holds the rest until Resume.
func (s *Sink) gateBatch(ctx context.Context, req *hotlinev1.SubmitTicketsRequest, h grpc.UnaryHandler) (any, error) {
	ts := req.GetTickets()
	s.gateMu.Lock()
	n := len(ts)
	if s.limit >= 0 {
		n = min(n, max(s.limit-s.passed, 0))
	}
	s.passed += n
	s.gateMu.Unlock()
	if n == len(ts) {
		return h(ctx, req)
	}
	var res []*hotlinev1.SubmitTicketResult
	if n > 0 {
		out, err := h(ctx, &hotlinev1.SubmitTicketsRequest{Tickets: ts[:n]})
		if err != nil {
			return nil, err
		}
		res = out.(*hotlinev1.SubmitTicketsResponse).GetResults()
	}
	if err := s.pass(ctx, len(ts)-n); err != nil {
		return nil, err
	}
	out, err := h(ctx, &hotlinev1.SubmitTicketsRequest{Tickets: ts[n:]})
	if err != nil {
		return nil, err
	}
	return &hotlinev1.SubmitTicketsResponse{Results: append(res, out.(*hotlinev1.SubmitTicketsResponse).GetResults()...)}, nil
}

// pass counts n submissions through the gate, first waiting for Resume
// (or ctx) if the gate is closed.
func (s *Sink) pass(ctx context.Context, n int) error {
	s.gateMu.Lock()
	if s.limit >= 0 && s.passed >= s.limit {
		open := s.open
		s.waiting++
		s.gateMu.Unlock()
		select {
		case <-open:
		case <-ctx.Done():
			s.gateMu.Lock()
			s.waiting--
			s.gateMu.Unlock()
			return status.FromContextError(ctx.Err()).Err()
		}
		s.gateMu.Lock()
		s.waiting--
	}
	s.passed += n
	s.gateMu.Unlock()
	return nil
}

// Submits returns how many times each ticket ID was submitted to this sink.
func (s *Sink) Submits() map[string]int { return s.fs.Submits() }

// CheckTickets compares the sink with the calls the gateway counted: the
// file holds exactly one line for each ID in want and nothing else, and
// every one was submitted at least once and at most maxSubmits times (1
// where the README promises once; the number of gateway kills or Redis
// outages plus one where a delivery may be replayed). For use inside
// Eventually.
func (s *Sink) CheckTickets(t testing.TB, want map[string]bool, maxSubmits int) error {
	t.Helper()
	return s.CheckTicketsLimit(t, want, func(string) int { return maxSubmits })
}

// CheckTicketsLimit is CheckTickets with a limit of submissions per ID.
func (s *Sink) CheckTicketsLimit(t testing.TB, want map[string]bool, maxSubmits func(id string) int) error {
	t.Helper()
	lines, _ := s.Tickets(t)
	subs := s.Submits()
	var missing, extra, doubled, replayed []string
	for id := range want {
		if lines[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range lines {
		if !want[id] {
			extra = append(extra, id)
		}
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for id, n := range subs {
		if n > maxSubmits(id) {
			replayed = append(replayed, fmt.Sprintf("%s×%d (at most %d)", id, n, maxSubmits(id)))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(doubled)
	sort.Strings(replayed)
	switch {
	case len(doubled) > 0:
		return fmt.Errorf("tickets stored more than once: %v", doubled)
	case len(replayed) > 0:
		return fmt.Errorf("%d tickets submitted more often than allowed (SubmitTicket calls per ID): %v", len(replayed), replayed)
	case len(extra) > 0:
		return fmt.Errorf("%d tickets for calls that were not counted: %v", len(extra), extra)
	case len(missing) > 0:
		return fmt.Errorf("sink has %d tickets, want %d: missing the tickets of counted calls %v", len(lines), len(want), missing)
	}
	return nil
}

// Tickets reads the sink's file: ticket ID → how many times it is there,
// and the tickets themselves (the last of each ID).
func (s *Sink) Tickets(t testing.TB) (map[string]int, map[string]map[string]any) {
	t.Helper()
	f, err := os.Open(s.File)
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]int{}, map[string]map[string]any{}
		}
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	all := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("ticket file line %q: %v", sc.Text(), err)
		}
		id, _ := m["ticketId"].(string)
		if id == "" {
			id, _ = m["ticket_id"].(string)
		}
		n[id]++
		all[id] = m
	}
	return n, all
}
