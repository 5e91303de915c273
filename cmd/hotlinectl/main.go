// Command hotlinectl is the PBX administrator's tool for a running hotline-gw.
//
//	hotlinectl report    --from 2023-01-01 --to 2023-02-28 [--by day|hour|line] [--format table|csv|xlsx|json] [--out FILE]
//	hotlinectl callbacks [--day 2026-11-26] [--open]
//	hotlinectl transfers [--call ID] [--limit 50]
//	hotlinectl agents
//	hotlinectl queue     [--skill SKILL]
//	hotlinectl calls
//	hotlinectl tickets dead [--limit 100]
//	hotlinectl tickets requeue <dead-letter ID>... | --all
//
// Every subcommand takes --addr (or HOTLINE_ADDR), --token (or
// HOTLINE_TOKEN, or --token-file; sent as "authorization: Bearer <token>"),
// --ca/--cert/--key/--server-name for a gateway with TLS, --timeout and
// --json, and --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // Asia/Shanghai on machines without a zone database

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hotline12345/hotline-gw/buildinfo"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

// command is one subcommand: its flags are added to fs, then do runs with
// the connection the common flags describe.
type command struct {
	name, args, help string
	flags            func(fs *flag.FlagSet) func(c *client) error
	// positional: the command takes arguments besides flags (c.args).
	positional bool
}

var commands = []command{reportCommand, callbacksCommand, transfersCommand, agentsCommand, queueCommand, callsCommand,
	ticketsDeadCommand, ticketsRequeueCommand}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hotlinectl <command> [flags]   (hotlinectl <command> --help for its flags)")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.help)
	}
	fmt.Fprintf(w, "  %-16s %s\n", "version", "print the build")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command: --addr (HOTLINE_ADDR, default 127.0.0.1:50051), --token (HOTLINE_TOKEN), --timeout, --json.")
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, buildinfo.Line("hotlinectl"))
		return 0
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr, getenv)
		}
		if len(args) > 1 && c.name == args[0]+" "+args[1] {
			return c.run(args[2:], stdout, stderr, getenv)
		}
	}
	if args[0] == "tickets" {
		fmt.Fprintln(stderr, "hotlinectl tickets: want 'tickets dead' or 'tickets requeue' (hotlinectl --help lists them)")
		return 2
	}
	fmt.Fprintf(stderr, "hotlinectl: unknown command %q (hotlinectl --help lists them)\n", args[0])
	return 2
}

// usageError is a bad flag or argument: one line, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func badUsage(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func (c command) run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", envOr(getenv, "HOTLINE_ADDR", "127.0.0.1:50051"), "gateway gRPC address (env HOTLINE_ADDR)")
	token := fs.String("token", "", "bearer token sent as authorization: Bearer <token> (default: env HOTLINE_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	tokenFile := fs.String("token-file", "", "file holding the token (instead of --token or HOTLINE_TOKEN)")
	caFile := fs.String("ca", "", "CA file verifying the gateway's TLS certificate (listen.grpc_tls); empty: plaintext")
	certFile := fs.String("cert", "", "client certificate for a gateway with client_ca_file (with --key)")
	keyFile := fs.String("key", "", "the client certificate's key")
	serverName := fs.String("server-name", "", "verify the gateway's certificate under this name")
	asJSON := fs.Bool("json", false, "print the gateway's answer as JSON")
	insecurePlain := fs.Bool("insecure", false, "allow sending the token in plaintext to a non-loopback --addr (anyone on the path can read it and act as you); without it such an address needs --ca")
	do := c.flags(fs)
	fail := func(err error) int {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "hotlinectl %s: %s (hotlinectl %s --help)\n", c.name, ue.msg, c.name)
			return 2
		}
		if s, ok := status.FromError(err); ok && s.Code() != 0 {
			fmt.Fprintf(stderr, "hotlinectl %s: %s: %s\n", c.name, s.Code(), s.Message())
			return 1
		}
		fmt.Fprintf(stderr, "hotlinectl %s: %v\n", c.name, err)
		return 1
	}
	var rest []string
	err := fs.Parse(args)
	for err == nil && c.positional && fs.NArg() > 0 { // flags may follow arguments
		rest = append(rest, fs.Arg(0))
		err = fs.Parse(fs.Args()[1:])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: hotlinectl %s %s\n\n%s\n\nflags:\n", c.name, c.args, c.help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return fail(badUsage("%v", err))
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fail(badUsage("--token-file: %v", err))
		}
		*token = strings.TrimSpace(string(b))
	}
	if *token == "" {
		*token = getenv("HOTLINE_TOKEN") // not the flag's default: --help would print it
	}
	if fs.NArg() > 0 {
		return fail(badUsage("unexpected argument %q", fs.Arg(0)))
	}
	if *timeout <= 0 {
		return fail(badUsage("--timeout %v: want a positive duration", *timeout))
	}
	if strings.TrimSpace(*addr) == "" {
		return fail(badUsage("--addr is empty"))
	}
	tc := tlsconf.Client{CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile, ServerName: *serverName}
	tc.Plaintext = tc.IsZero()
	if tc.Plaintext && *token != "" && !tlsconf.Loopback(*addr) && !*insecurePlain {
		return fail(badUsage("--addr %s is not on loopback: refusing to send the token in plaintext; give --ca for TLS (or --insecure on a network you trust)", *addr))
	}
	creds, err := tlsconf.GRPCDialOption("hotlinectl", tc)
	if err != nil {
		return fail(badUsage("%v", err))
	}
	conn, err := grpc.NewClient(*addr, creds)
	if err != nil {
		return fail(badUsage("--addr %q: %v", *addr, err))
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}
	if err := do(&client{ctx: ctx, conn: conn, json: *asJSON, stdout: stdout, args: rest}); err != nil {
		return fail(err)
	}
	return 0
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// client is what a subcommand runs with.
type client struct {
	ctx    context.Context
	conn   *grpc.ClientConn
	json   bool // --json
	stdout io.Writer
	args   []string // a positional command's arguments
}

// printJSON prints m as the gateway sent it (proto field names, zero
// values included).
func (c *client) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintln(c.stdout, string(b))
	return err
}
