// Command hotline-gw is the 12345 hotline's telephony gateway: it controls
// the calls in Asterisk's Stasis application over ARI, counts them in Redis
// and serves gRPC and Prometheus (package app wires it all).
//
//	hotline-gw                                        # /etc/hotline-gw/gateway.yaml
//	hotline-gw -config configs/gateway.example.yaml   # the lab
//
// SIGHUP reloads the configuration file: what can change live (tokens,
// seats, line names, log level, limits, certificates) is applied, a file
// that does not validate is refused and the old configuration stays; the
// process never exits on SIGHUP.
// SIGTERM drains: intake stops (health NOT_SERVING), live calls may finish
// for shutdown.drain_timeout, counts and tickets are flushed, then it exits.
// SIGINT (or a second signal while draining) stops now: live calls stay in
// Asterisk for the next gateway to adopt; counts and tickets are flushed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/hotline-gw/app"
	"github.com/hotline12345/hotline-gw/buildinfo"
)

// defaultConfig is where the Debian package installs the configuration.
const defaultConfig = "/etc/hotline-gw/gateway.yaml"

func main() {
	// SIGHUP from the start: before the app exists it is ignored, never the
	// default (which ends the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	fs := flag.NewFlagSet("hotline-gw", flag.ContinueOnError)
	path := fs.String("config", defaultConfig, "configuration file (YAML); SIGHUP reloads it")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	version := fs.Bool("version", false, "print the version and exit")
	if fs.Parse(os.Args[1:]) != nil {
		os.Exit(2)
	} else if *version {
		fmt.Println(buildinfo.Line("hotline-gw"))
		return
	}
	cfg, err := app.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hotline-gw: %s\n", app.OneLine(err))
		os.Exit(2)
	} else if *check {
		fmt.Fprintln(os.Stderr, "hotline-gw: configuration OK")
		return
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	a, err := app.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		log.Error("hotline-gw not started", "err", err)
		fmt.Fprintf(os.Stderr, "hotline-gw: %s\n", app.OneLine(err))
		os.Exit(1)
	}
	go func() {
		for range hup {
			_ = a.Reload(*path) // logs and counts the result; never exits
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	runCtx, stopRun := context.WithCancel(context.Background())
	drainCtx, stopDrain := context.WithCancel(context.Background())
	drain := make(chan bool, 1)
	go func() {
		drain <- (<-sigs == syscall.SIGTERM)
		stopRun()
		<-sigs // SIGINT, or a second signal: stop draining now
		stopDrain()
	}()
	runErr := a.Run(runCtx)
	if stopRun(); runErr == nil && <-drain {
		a.Drain(drainCtx)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = a.Stop(sctx) // logs what failed; counts and tickets left in Redis are not lost
	cancel()
	if runErr != nil {
		log.Error("hotline-gw stopped", "err", runErr)
		fmt.Fprintf(os.Stderr, "hotline-gw: %s\n", app.OneLine(runErr))
		os.Exit(1)
	}
}
