// Package httpapi is the gateway's HTTP/JSON face for integrators and the
// desk: every RPC of AgentService, CallService, StatsService and
// TransferService under /api/v1/, JSON in and out (protojson, proto field
// names), server streams as Server-Sent Events, errors as JSON with a
// stable reason code.
//
// It holds no access rules of its own: each request is forwarded, with its
// Authorization header as the "authorization" metadata, over a gRPC client
// connection to a server that runs the same auth.Guard interceptors and the
// same service implementations as the gateway's gRPC listener (app wires an
// in-process connection). So a route cannot be reached with fewer
// permissions than its RPC: no token is 401, another role's token 403,
// exactly as Unauthenticated and PermissionDenied over gRPC.
//
// Routes come from the generated descriptors, so a new RPC gets its route
// without anyone listing it:
//
//	POST /api/v1/{Service}/{Method}          unary RPC, the request as JSON
//	GET  /api/v1/{Service}/{Method}?field=…  server stream as text/event-stream
//	POST /api/v1/police/references           TransferService.PushPoliceReference (for the 110 platform)
package httpapi

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// Prefix is the path prefix of every route.
const Prefix = "/api/v1/"

// PoliceReferencesPath is the 110 platform's endpoint for its case
// references, beside TransferService/PushPoliceReference.
const PoliceReferencesPath = Prefix + "police/references"

// Route is one HTTP route and the RPC behind it.
type Route struct {
	// Method is "POST" (unary) or "GET" (server stream, as SSE).
	Method string
	// Path is the URL path, e.g. "/api/v1/AgentService/Login".
	Path string
	// RPC is the full gRPC method, e.g. "/hotline.v1.AgentService/Login".
	RPC string
	// Stream is set for a server-streaming RPC.
	Stream bool
	// Desc describes the RPC's request and response.
	Desc protoreflect.MethodDescriptor
}

// peerServices are served by the peers and called by the gateway, never
// served by it.
var peerServices = map[protoreflect.FullName]bool{"hotline.v1.TicketSink": true, "hotline.v1.PoliceLink": true}

// ServedServices are the services of package hotline.v1 the gateway
// serves, sorted by name: every one but the peers' (TicketSink, PoliceLink).
func ServedServices() []protoreflect.ServiceDescriptor {
	_ = hotlinev1.File_hotline_v1_agent_proto // links the generated files in
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("hotline.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			if sd := fd.Services().Get(i); !peerServices[sd.FullName()] {
				out = append(out, sd)
			}
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// Routes lists every route, sorted by path.
func Routes() []Route {
	var out []Route
	for _, sd := range ServedServices() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			if md.IsStreamingClient() {
				continue // none today; HTTP has no good shape for them
			}
			rt := Route{Method: "POST", Path: fmt.Sprintf("%s%s/%s", Prefix, sd.Name(), md.Name()),
				RPC: fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()), Desc: md}
			if md.IsStreamingServer() {
				rt.Method, rt.Stream = "GET", true
			}
			out = append(out, rt)
		}
	}
	push := hotlinev1.File_hotline_v1_transfer_proto.Services().ByName("TransferService").Methods().ByName("PushPoliceReference")
	out = append(out, Route{Method: "POST", Path: PoliceReferencesPath,
		RPC: hotlinev1.TransferService_PushPoliceReference_FullMethodName, Desc: push})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
