package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Defaults of Options.
const (
	DefaultMaxBody   = 1 << 20
	DefaultTimeout   = 2 * time.Minute
	DefaultHeartbeat = 15 * time.Second
)

// Options configure a Handler.
type Options struct {
	// Conn reaches the gRPC services through the auth.Guard; required.
	Conn grpc.ClientConnInterface
	// Log defaults to slog.Default().
	Log *slog.Logger
	// MaxBody bounds a request body; default DefaultMaxBody.
	MaxBody int64
	// Timeout bounds a unary RPC; default DefaultTimeout (Originate waits
	// for the agent and the citizen to answer).
	Timeout time.Duration
	// Heartbeat is the interval of SSE comments that keep proxies from
	// closing an idle event stream; default DefaultHeartbeat.
	Heartbeat time.Duration
}

// Handler serves Routes().
type Handler struct {
	o      Options
	mux    *http.ServeMux
	routes []Route

	mu      sync.Mutex
	closed  bool
	streams map[*streamCtl]struct{}
}

type streamCtl struct{ cancel context.CancelFunc }

// New returns the handler of every route.
func New(o Options) (*Handler, error) {
	if o.Conn == nil {
		return nil, errors.New("httpapi: Options.Conn is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	h := &Handler{o: o, mux: http.NewServeMux(), routes: Routes(), streams: map[*streamCtl]struct{}{}}
	for _, rt := range h.routes {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(rt.Desc.Input().FullName()); err != nil {
			return nil, fmt.Errorf("httpapi: %s: request type: %w", rt.RPC, err)
		}
		if _, err := protoregistry.GlobalTypes.FindMessageByName(rt.Desc.Output().FullName()); err != nil {
			return nil, fmt.Errorf("httpapi: %s: response type: %w", rt.RPC, err)
		}
		h.mux.Handle(rt.Path, h.route(rt))
	}
	h.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", r.URL.Path+" is not a route of the API (see the OpenAPI document)", codes.Unimplemented)
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close ends every open event stream (their clients reconnect to another
// instance) and refuses new ones; call it when the HTTP server shuts down
// (http.Server.RegisterOnShutdown), which otherwise waits for them.
func (h *Handler) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.streams {
		s.cancel()
	}
}

func (h *Handler) route(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != rt.Method {
			w.Header().Set("Allow", rt.Method)
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", fmt.Sprintf("%s takes %s, not %s", rt.Path, rt.Method, r.Method), codes.Unimplemented)
			return
		}
		in, err := h.decode(rt, w, r)
		if err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_JSON", err.Error(), codes.InvalidArgument)
			return
		}
		ctx := outgoing(r)
		if rt.Stream {
			h.stream(ctx, w, rt, in)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, h.o.Timeout)
		defer cancel()
		out := newMessage(rt.Desc.Output())
		if err := h.o.Conn.Invoke(ctx, rt.RPC, in, out); err != nil {
			writeStatus(w, err)
			return
		}
		body, err := marshal.Marshal(out)
		if err != nil {
			h.o.Log.Error("http api: response not encoded", "rpc", rt.RPC, "err", err)
			writeError(w, http.StatusInternalServerError, "INTERNAL", "the answer could not be encoded", codes.Internal)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// outgoing is the request's context carrying its Authorization header as
// gRPC metadata (every value, so that two headers are refused as
// malformed, as over gRPC) and where it came from.
func outgoing(r *http.Request) context.Context {
	md := metadata.MD{}
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		md["authorization"] = v
	}
	md.Set("x-forwarded-for", r.RemoteAddr)
	return metadata.NewOutgoingContext(r.Context(), md)
}

var (
	marshal   = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
	unmarshal = protojson.UnmarshalOptions{}
)

func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		panic(err) // checked in New
	}
	return mt.New().Interface()
}

// decode reads the RPC's request: the JSON body of a POST, the query of a
// GET (each parameter a field of the request, by its proto or JSON name).
func (h *Handler) decode(rt Route, w http.ResponseWriter, r *http.Request) (proto.Message, error) {
	in := newMessage(rt.Desc.Input())
	if r.Method == http.MethodGet {
		return in, fromQuery(in, r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, fmt.Errorf("Content-Type %q: the body must be application/json", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return in, nil
	}
	if err := unmarshal.Unmarshal(body, in); err != nil {
		return nil, fmt.Errorf("request body is not a %s: %w", rt.Desc.Input().Name(), err)
	}
	return in, nil
}

// fromQuery sets the request's scalar fields from the query parameters.
func fromQuery(in proto.Message, r *http.Request) error {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil
	}
	fields := in.ProtoReflect().Descriptor().Fields()
	obj := map[string]any{}
	for name, vals := range q {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			fd = fields.ByJSONName(name)
		}
		if fd == nil || fd.IsList() || fd.IsMap() || fd.Message() != nil {
			return fmt.Errorf("query parameter %q is not a field of %s", name, in.ProtoReflect().Descriptor().Name())
		}
		if len(vals) != 1 {
			return fmt.Errorf("query parameter %q given %d times", name, len(vals))
		}
		var v any = vals[0]
		if fd.Kind() == protoreflect.BoolKind {
			v = vals[0] == "true" || vals[0] == "1"
		}
		obj[string(fd.Name())] = v
	}
	b, _ := json.Marshal(obj)
	if err := unmarshal.Unmarshal(b, in); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// stream serves a server-streaming RPC as Server-Sent Events: one event
// per message, named after the message's oneof case ("offer", "progress",
// "state"), its data the message as JSON, with a sequence id. A refusal
// before the first message is an ordinary JSON error (401, 403, ...); one
// after it is an "error" event carrying the same JSON, then the end.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, rt Route, in proto.Message) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "INTERNAL", "streaming is not supported on this connection", codes.Internal)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctl := &streamCtl{cancel: cancel}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the gateway is shutting down; reconnect", codes.Unavailable)
		return
	}
	h.streams[ctl] = struct{}{}
	h.mu.Unlock()
	defer func() { h.mu.Lock(); delete(h.streams, ctl); h.mu.Unlock() }()

	cs, err := h.o.Conn.NewStream(ctx, &grpc.StreamDesc{StreamName: string(rt.Desc.Name()), ServerStreams: true}, rt.RPC)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if err := cs.SendMsg(in); err != nil && !errors.Is(err, io.EOF) {
		writeStatus(w, err)
		return
	}
	if err := cs.CloseSend(); err != nil {
		writeStatus(w, err)
		return
	}
	first := newMessage(rt.Desc.Output())
	if err := cs.RecvMsg(first); err != nil {
		if errors.Is(err, io.EOF) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeStatus(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 2000\n\n")

	msgs := make(chan proto.Message)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m := newMessage(rt.Desc.Output())
			if err := cs.RecvMsg(m); err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	seq := 0
	send := func(m proto.Message) bool {
		seq++
		b, err := marshal.Marshal(m)
		if err != nil {
			h.o.Log.Error("http api: event not encoded", "rpc", rt.RPC, "err", err)
			return false
		}
		_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, eventName(m), b)
		fl.Flush()
		return err == nil
	}
	if !send(first) {
		return
	}
	beat := time.NewTicker(h.o.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case m := <-msgs:
			if !send(m) {
				return
			}
		case err := <-errc:
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				_, body := errorBody(err)
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", body)
				fl.Flush()
			}
			return
		case <-beat.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-ctx.Done():
			return
		}
	}
}

// eventName is the SSE event name of m: the name of the field set in its
// first oneof ("offer"), else "message".
func eventName(m proto.Message) string {
	pm := m.ProtoReflect()
	oneofs := pm.Descriptor().Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if fd := pm.WhichOneof(oneofs.Get(i)); fd != nil {
			return string(fd.Name())
		}
	}
	return "message"
}

// Error is the JSON body of every error answer.
type Error struct {
	// Code is a stable reason a client can translate: the reason the
	// gateway attached (AGENT_NOT_LOGGED_IN, INVALID_NUMBER, ...), else the
	// gRPC code's name (UNAUTHENTICATED, PERMISSION_DENIED, ...).
	Code string `json:"code"`
	// Message says what is wrong, in English, for logs and operators.
	Message string `json:"message"`
	// GRPCCode is the numeric gRPC status code.
	GRPCCode int `json:"grpc_code"`
}

func writeError(w http.ResponseWriter, httpCode int, reason, msg string, c codes.Code) {
	b, _ := json.Marshal(Error{Code: reason, Message: msg, GRPCCode: int(c)})
	if httpCode == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hotline-gw"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpCode)
	w.Write(b)
}

func writeStatus(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	writeError(w, HTTPStatus(st.Code()), Reason(st), st.Message(), st.Code())
}

func errorBody(err error) (int, []byte) {
	st := status.Convert(err)
	b, _ := json.Marshal(Error{Code: Reason(st), Message: st.Message(), GRPCCode: int(st.Code())})
	return HTTPStatus(st.Code()), b
}

// Reason is the stable reason of st: the Reason of its first
// google.rpc.ErrorInfo detail, else its code's name.
func Reason(st *status.Status) string {
	for _, d := range st.Details() {
		if ei, ok := d.(interface{ GetReason() string }); ok && ei.GetReason() != "" {
			return ei.GetReason()
		}
	}
	return codeName(st.Code())
}

// codeName is the canonical upper-case name of c ("PERMISSION_DENIED").
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// HTTPStatus maps a gRPC code to its HTTP status (google.rpc.Code's
// documented mapping).
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
