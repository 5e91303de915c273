// Command hotlinectl is the PBX administrator's tool for a running hotline-gw.
//
//	HOTLINE_TOKEN=<supervisor token> hotlinectl report --from 2023-01-01 --to 2023-02-28 [--json] [--addr 127.0.0.1:50051]
//	    [--token-file FILE] [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/buildinfo"
	"github.com/hotline12345/hotline-gw/gateway/report"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: HOTLINE_TOKEN=<supervisor token> hotlinectl report --from YYYY-MM-DD --to YYYY-MM-DD [--json] [--addr host:port]")
	fmt.Fprintln(w, "         [--token-file FILE] [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "report":
		return reportCmd(args[1:], stdout, stderr)
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, buildinfo.Line("hotlinectl"))
		return 0
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hotlinectl: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:50051", "gateway gRPC address")
	from := fs.String("from", "", "first day, YYYY-MM-DD (Asia/Shanghai)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (default: from)")
	asJSON := fs.Bool("json", false, "print the statistics as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	tokenFile := fs.String("token-file", "", "file holding a supervisor token (default: $HOTLINE_TOKEN)")
	caFile := fs.String("ca", "", "CA file verifying the gateway's TLS certificate (listen.grpc_tls); empty: plaintext")
	certFile := fs.String("cert", "", "client certificate for a gateway with client_ca_file (with -key)")
	keyFile := fs.String("key", "", "client certificate's key")
	serverName := fs.String("server-name", "", "verify the gateway's certificate under this name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	token := os.Getenv("HOTLINE_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "hotlinectl report: --token-file: %v\n", err)
			return 2
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		fmt.Fprintln(stderr, "hotlinectl report: a supervisor token is required (HOTLINE_TOKEN or --token-file)")
		return 2
	}
	tc := tlsconf.Client{CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile, ServerName: *serverName}
	tc.Plaintext = tc.IsZero()
	creds, err := tlsconf.GRPCDialOption("hotlinectl", tc)
	if err != nil {
		fmt.Fprintf(stderr, "hotlinectl report: %v\n", err)
		return 2
	}
	if *from == "" {
		fmt.Fprintln(stderr, "hotlinectl report: --from is required")
		return 2
	}
	if *to == "" {
		*to = *from
	}
	conn, err := grpc.NewClient(*addr, creds, grpc.WithPerRPCCredentials(auth.Bearer{Token: token, AllowPlaintext: tc.Plaintext}))
	if err != nil {
		fmt.Fprintf(stderr, "hotlinectl report: --addr %q: %v\n", *addr, err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, err := hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{From: *from, To: *to})
	if err != nil {
		s := status.Convert(err)
		fmt.Fprintf(stderr, "hotlinectl report: %s: %s\n", s.Code(), s.Message())
		return 1
	}
	if *asJSON {
		b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true, UseProtoNames: true}.Marshal(st)
		if err != nil {
			fmt.Fprintf(stderr, "hotlinectl report: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if err := report.Write(stdout, st); err != nil {
		fmt.Fprintf(stderr, "hotlinectl report: %v\n", err)
		return 1
	}
	return 0
}
