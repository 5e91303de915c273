package app

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/hotline12345/hotline-gw/httpapi"
)

// localAPI is what serves /api/v1/ on the HTTP listener: a second gRPC
// server with the same auth.Guard interceptors and the same service
// implementations as the gRPC listener's, reached over an in-process
// connection (a memory pipe, never a socket), and the HTTP/JSON handler
// in front of it. Every HTTP request therefore passes the same guard as a
// gRPC one — tokens, roles, rate limit, event-stream cap, refusal metrics —
// and the gRPC listener's TLS (or mTLS) is not in the way: the HTTP
// listener has its own (listen.http_tls).
type localAPI struct {
	srv  *grpc.Server
	lis  *bufconn.Listener
	conn *grpc.ClientConn
	http *httpapi.Handler
}

func (a *App) newLocalAPI(register func(grpc.ServiceRegistrar)) error {
	l := &localAPI{srv: grpc.NewServer(a.guard.ServerOptions()...), lis: bufconn.Listen(1 << 20)}
	register(l.srv)
	conn, err := grpc.NewClient("passthrough:///hotline-gw-local",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("http api: in-process connection: %w", err)
	}
	l.conn = conn
	a.lc.onStop("http api client", func(context.Context) error { return conn.Close() })
	if l.http, err = httpapi.New(httpapi.Options{Conn: conn, Log: a.log.With("component", "http-api")}); err != nil {
		return err
	}
	a.api = l
	return nil
}
