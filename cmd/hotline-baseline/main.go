// Command hotline-baseline is the benchmark baseline for hotline-gw: the
// smallest useful ARI application built on the same library path as the
// gateway (package ari: ari.New, Client.Run, Dispatcher.SetNewOwner, one
// mailbox per call). On StasisStart it answers the channel, then either waits
// for the caller to hang up (default, like the gateway's calls in the bench)
// or hangs up itself after -hangup-after.
//
//	hotline-baseline -app hotline-baseline -http 127.0.0.1:9199
//
// The lab dialplan sends DID 19002 to Stasis(hotline-baseline) ([bench-minimal]).
// It exposes /metrics with the gateway's hotline_stasis_start_to_command_seconds
// histogram (StasisStart received → Answer sent) so that both are measured
// the same way. Lab/benchmark tool only: no Redis, no counting, no agents.
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
	"sync"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	c, err := ari.New(ari.Config{URL: *url, Username: *user, Password: *pass, Application: *app}, log.With("component", "ari"), m.ARI)
	if err != nil {
		return err
	}
	b := &baseline{c: c, d: c.Dispatcher(), m: m, log: log, hangupAfter: *hangupAfter}
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
	log.Warn("hotline-baseline running", "app", *app, "ari", *url, "http", *httpAddr, "hangup_after", *hangupAfter)
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
		b.call(id, mb, received)
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
