// Command hotline-baseline is the benchmark baseline for hotline-gw: the
// smallest useful ARI application built on the same library path as the
// gateway (package ari: ari.New, Client.Run, Dispatcher.SetNewOwner, one
// mailbox and goroutine per call).
//
// -mode bridge (default) is the lean bridging baseline, a routed call with
// nothing else: on the caller's StasisStart it answers, originates the agent
// leg (PJSIP/agent<ext>, extensions -agents round robin, the caller's number
// as caller ID), and when the agent leg enters Stasis (answered) it creates a
// mixing bridge and adds both channels in one request. When either side ends
// it hangs up the other and destroys the bridge: 5 REST requests per call
// (originate, create bridge, one addChannel with both, hangup, destroy
// bridge), and a 6th (answer) when the dialplan has not answered the caller
// (the lab's [bench-minimal] answers, as the hotline's lines and app_queue's
// [bench-queue] do).
// -mode answer is the old answer-only baseline (then waits for the BYE, or
// hangs up after -hangup-after).
//
//	hotline-baseline -app hotline-baseline -http 127.0.0.1:9199 [-mode bridge] [-agents 2001-2400]
//
// The lab dialplan sends DID 19002 to Stasis(hotline-baseline) ([bench-minimal]).
// It exposes /metrics with the gateway's hotline_stasis_start_to_command_seconds
// (StasisStart received → Answer sent) and hotline_stasis_start_to_agent_originate_seconds
// (StasisStart → the agent leg's originate returned) histograms, measured the
// same way as in the gateway. Lab/benchmark tool only: no Redis, no counting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "hotline-baseline: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hotline-baseline", flag.ContinueOnError)
	url := fs.String("ari", "http://127.0.0.1:8088/ari", "ARI URL")
	user := fs.String("user", "hotline", "ARI user")
	pass := fs.String("password", "hotline-lab", "ARI password (lab default)")
	app := fs.String("app", "hotline-baseline", "Stasis application name")
	httpAddr := fs.String("http", "127.0.0.1:9199", "listen address for /metrics (empty: none)")
	hangupAfter := fs.Duration("hangup-after", 0, "hang up this long after answering (0: wait for the caller's BYE)")
	level := fs.String("log-level", "warn", "debug, info, warn, error")
	mode := fs.String("mode", "bridge", "bridge (answer, originate the agent leg, bridge both) or answer (answer only)")
	agentsFlag := fs.String("agents", "2001-2400", "agent extensions for -mode bridge, FIRST-LAST (round robin)")
	endpoint := fs.String("endpoint", "PJSIP/agent{ext}", "agent endpoint for -mode bridge ({ext} = extension)")
	ringTimeout := fs.Duration("ring-timeout", 10*time.Second, "agent ring timeout for -mode bridge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "bridge" && *mode != "answer" {
		return fmt.Errorf("-mode %q: want bridge or answer", *mode)
	}
	first, last, err := extRange(*agentsFlag)
	if err != nil {
		return fmt.Errorf("-agents: %w", err)
	}
	if !strings.Contains(*endpoint, "{ext}") {
		return fmt.Errorf("-endpoint %q: no {ext} placeholder", *endpoint)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	callErrors := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotline_baseline_call_errors_total",
		Help: "Calls of the baseline ended by a failed ARI request (answer, originate, bridge) instead of a hangup.",
	})
	reg.MustRegister(callErrors)

	c, err := ari.New(ari.Config{URL: *url, Username: *user, Password: *pass, Application: *app}, log.With("component", "ari"), m.ARI)
	if err != nil {
		return err
	}
	b := &baseline{c: c, d: c.Dispatcher(), m: m, log: log, hangupAfter: *hangupAfter, callErrors: callErrors,
		bridge: *mode == "bridge", first: first, last: last, endpoint: *endpoint, ringTimeout: *ringTimeout}
	c.Dispatcher().SetNewOwner(b.newOwner)

	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", *httpAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !c.Ready() {
				http.Error(w, "ari not connected", http.StatusServiceUnavailable)
			}
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	log.Warn("hotline-baseline running", "app", *app, "ari", *url, "http", *httpAddr, "mode", *mode, "hangup_after", *hangupAfter)
	err = c.Run(ctx)
	b.wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type baseline struct {
	c           *ari.Client
	d           *ari.Dispatcher
	m           *metrics.Metrics
	log         *slog.Logger
	hangupAfter time.Duration
	wg          sync.WaitGroup

	callErrors  prometheus.Counter
	bridge      bool // -mode bridge
	first, last int  // agent extensions
	endpoint    string
	ringTimeout time.Duration
	next        atomic.Int64 // round robin over the agents
}

// extRange parses "FIRST-LAST" (or one extension).
func extRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || first <= 0 || last < first {
		return 0, 0, fmt.Errorf("%q is not FIRST-LAST with 0 < FIRST <= LAST", s)
	}
	return first, last, nil
}

// agentExt is the next agent extension, round robin.
func (b *baseline) agentExt() string {
	n := int(b.next.Add(1)-1) % (b.last - b.first + 1)
	return strconv.Itoa(b.first + n)
}

// newOwner runs on the ARI reader goroutine: it must not block. One
// goroutine per call owns the call's mailbox, as in the gateway.
func (b *baseline) newOwner(ev *ariv5.StasisStart) *ari.Mailbox {
	id := ev.Channel.ID
	if id == "" {
		return nil
	}
	received := time.Now()
	mb := b.d.NewMailbox(id, 0)
	b.d.Attach(ari.KindChannel, id, mb)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if b.bridge {
			b.bridged(id, mb, received)
		} else {
			b.call(id, mb, received)
		}
		b.d.DetachMailbox(mb)
		mb.Close()
	}()
	return mb
}

func (b *baseline) call(id string, mb *ari.Mailbox, received time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // bound every call
	defer cancel()
	answered := false
	var hangup <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangup:
			hangup = nil
			if err := b.c.Hangup(ctx, id, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
				b.log.Warn("hangup failed", "channel", id, "err", err)
			}
		case <-mb.Wait():
			for {
				d, ok := mb.Pop()
				if !ok {
					break
				}
				switch ev := d.Event.(type) {
				case *ariv5.StasisStart:
					if answered || ev.Channel.ID != id {
						continue
					}
					answered = true
					b.m.Calls.StartToCommand.Observe(time.Since(received).Seconds())
					if err := b.c.Answer(ctx, id); err != nil {
						b.log.Warn("answer failed", "channel", id, "err", err)
						if errors.Is(err, ari.ErrNotFound) {
							return
						}
					}
					if b.hangupAfter > 0 {
						hangup = time.After(b.hangupAfter)
					}
				case *ariv5.StasisEnd, *ariv5.ChannelDestroyed:
					return
				}
			}
		}
	}
}

// bridged is one routed call of the lean bridging baseline: answer the
// caller, originate the agent leg, bridge both when the agent answers; when
// either side ends, hang up the other and destroy the bridge.
func (b *baseline) bridged(id string, mb *ari.Mailbox, received time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // bound every call
	defer cancel()
	agent, bridge := id+"-agent", id+"-bridge"
	started, bridged := false, false
	end := func(other string) {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if err := b.c.Hangup(rctx, other, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
			b.log.Warn("hangup failed", "channel", other, "err", err)
		}
		if bridged {
			if err := b.c.DestroyBridge(rctx, bridge); err != nil && !errors.Is(err, ari.ErrNotFound) {
				b.log.Warn("destroy bridge failed", "bridge", bridge, "err", err)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			end(agent)
			end(id)
			return
		case <-mb.Wait():
			for {
				d, ok := mb.Pop()
				if !ok {
					break
				}
				switch ev := d.Event.(type) {
				case *ariv5.StasisStart:
					switch {
					case ev.Channel.ID == id && !started:
						started = true
						b.m.Calls.StartToCommand.Observe(time.Since(received).Seconds())
						// A channel the dialplan answered is not answered again.
						if ev.Channel.State != "Up" {
							if err := b.c.Answer(ctx, id); err != nil {
								b.log.Warn("answer failed", "channel", id, "err", err)
								b.callErrors.Inc()
								end(id)
								return
							}
						}
						b.d.Attach(ari.KindChannel, agent, mb)
						err := b.c.Originate(ctx, ari.OriginateParams{
							ChannelID: agent, Endpoint: strings.ReplaceAll(b.endpoint, "{ext}", b.agentExt()),
							CallerID: ev.Channel.Caller.Number, Timeout: b.ringTimeout, AppArgs: "agent", Originator: id,
						})
						if err != nil {
							b.log.Warn("agent originate failed", "channel", id, "err", err)
							b.callErrors.Inc()
							end(id)
							return
						}
						b.m.Calls.StartToAgentOriginate.Observe(time.Since(received).Seconds())
					case ev.Channel.ID == agent && !bridged:
						// The agent answered: bridge both.
						bridged = true
						if err := b.c.CreateBridge(ctx, bridge, "mixing"); err != nil {
							b.log.Warn("create bridge failed", "bridge", bridge, "err", err)
							b.callErrors.Inc()
							end(agent)
							end(id)
							return
						}
						// Both channels in one request, as the gateway does.
						if err := b.c.AddChannels(ctx, bridge, id, agent); err != nil {
							b.log.Warn("add channels failed", "bridge", bridge, "err", err)
							b.callErrors.Inc()
							end(agent)
							end(id)
							return
						}
					}
				case *ariv5.StasisEnd:
					if ev.Channel.ID == id {
						end(agent)
						return
					}
					if ev.Channel.ID == agent {
						end(id)
						return
					}
				case *ariv5.ChannelDestroyed:
					if ev.Channel.ID == id {
						end(agent)
						return
					}
					if ev.Channel.ID == agent {
						end(id)
						return
					}
				}
			}
		}
	}
}
