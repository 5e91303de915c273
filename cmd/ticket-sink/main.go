// Command ticket-sink is the reference TicketSink: it stores every new
// ticket as one JSON line in a file (fsynced before answering) and answers
// duplicate=true for ticket IDs it already has, also after a restart.
//
//	ticket-sink -listen 127.0.0.1:50052 -file tickets.jsonl [-token secret]
//
// With -token, TicketSink calls must carry metadata
// "authorization: Bearer <token>". The standard gRPC health service is
// served without a token. SIGINT or SIGTERM stops it gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotline12345/hotline-gw/buildinfo"
	"github.com/hotline12345/hotline-gw/gateway/ticket/sinkserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:50052", "address to serve gRPC on")
	file := flag.String("file", "tickets.jsonl", "file the tickets are appended to, one JSON line each")
	token := flag.String("token", os.Getenv("TICKET_SINK_TOKEN"), "bearer token required in metadata \"authorization\" (default $TICKET_SINK_TOKEN; empty: none)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Line("ticket-sink"))
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *listen, *file, *token); err != nil {
		log.Error("ticket-sink failed", "err", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, listen, file, token string) error {
	sink, err := sinkserver.Open(file, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := sink.Close(); err != nil {
			log.Error("closing ticket file", "err", err)
		}
	}()
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := sinkserver.NewGRPCServer(sink, token)
	log.Info("ticket sink serving", "listen", lis.Addr().String(), "file", file, "tickets", sink.Len(), "auth", token != "")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve gRPC: %w", err)
	case <-ctx.Done():
	}
	log.Info("ticket sink stopping")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		log.Warn("graceful stop timed out; closing connections")
		srv.Stop()
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve gRPC: %w", err)
	}
	return nil
}
