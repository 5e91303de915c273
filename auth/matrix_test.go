package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// method is one RPC found in the generated descriptors.
type method struct {
	full string // "/hotline.v1.StatsService/GetStats"
	desc protoreflect.MethodDescriptor
}

// allMethods enumerates every method of every service of package
// hotline.v1 from the generated descriptors, plus health and reflection.
func allMethods(t *testing.T) []method {
	t.Helper()
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("hotline.v1", func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	if len(files) < 6 {
		t.Fatalf("found %d files of package hotline.v1; the generated code is not linked in", len(files))
	}
	_ = hotlinev1.File_hotline_v1_agent_proto // the generated package registers its files
	files = append(files, healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto, reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto)
	var out []method
	for _, fd := range files {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				out = append(out, method{full: fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()), desc: md})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].full < out[j].full })
	return out
}

func TestPolicyCoversEveryMethodAndNothingElse(t *testing.T) {
	pol := DefaultPolicy()
	if err := pol.Check(); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range allMethods(t) {
		known[m.full] = true
		r, ok := pol[m.full]
		if !ok {
			t.Errorf("%s has no access policy; add it to DefaultPolicy", m.full)
			continue
		}
		if !r.Public && len(r.Roles) != 1 && !slices.Contains(SharedReads, m.full) {
			t.Errorf("%s: %s; every method belongs to exactly one role", m.full, r)
		}
	}
	for m := range pol {
		if !known[m] {
			t.Errorf("policy names %s, which no service defines (stale entry)", m)
		}
	}
	for _, m := range []string{healthpb.Health_Check_FullMethodName, healthpb.Health_Watch_FullMethodName, healthpb.Health_List_FullMethodName} {
		if !pol[m].Public {
			t.Errorf("%s must be public", m)
		}
	}
	for m, r := range pol {
		if r.Public && !strings.HasPrefix(m, "/grpc.health.v1.") {
			t.Errorf("%s is public; only health may be", m)
		}
	}
}

func TestPolicyCheckRefusesMalformedRules(t *testing.T) {
	for name, mutate := range map[string]func(Policy){
		"second role outside the shared reads": func(p Policy) {
			p[hotlinev1.StatsService_GetStats_FullMethodName] = Rule{Roles: []Role{RoleSupervisor, RoleAgent}}
		},
		"no role":      func(p Policy) { p[hotlinev1.StatsService_GetStats_FullMethodName] = Rule{} },
		"unknown role": func(p Policy) { p[hotlinev1.StatsService_GetStats_FullMethodName] = Rule{Roles: []Role{"root"}} },
		"public with a role": func(p Policy) {
			p[healthpb.Health_Check_FullMethodName] = Rule{Public: true, Roles: []Role{RoleAgent}}
		},
		"stream cap without agents": func(p Policy) {
			p[hotlinev1.StatsService_GetStats_FullMethodName] = Rule{Roles: []Role{RoleSupervisor}, EventStream: true}
		},
	} {
		p := DefaultPolicy()
		mutate(p)
		if err := p.Check(); err == nil {
			t.Errorf("%s: Check accepted it", name)
		}
	}
}

// call invokes m with an empty request over conn and returns the status
// code (for streams: of the first receive).
func call(ctx context.Context, conn *grpc.ClientConn, m method) error {
	in := dynamicpb.NewMessage(m.desc.Input())
	out := dynamicpb.NewMessage(m.desc.Output())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, in, out)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: string(m.desc.Name()),
		ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()}, m.full)
	if err != nil {
		return err
	}
	// SendMsg reports io.EOF when the server has already ended the
	// stream; its status then comes from RecvMsg.
	if err := cs.SendMsg(in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(out)
}

func isAuthCode(c codes.Code) bool {
	return c == codes.Unauthenticated || c == codes.PermissionDenied || c == codes.ResourceExhausted
}

// TestRoleMatrix: every RPC × (no token, an unknown token, every other
// role's token, the right role's token) on a real server.
func TestRoleMatrix(t *testing.T) {
	ts := startServer(t, Options{})
	pol := DefaultPolicy()
	for _, m := range allMethods(t) {
		rule := pol[m.full]
		t.Run(strings.TrimPrefix(m.full, "/"), func(t *testing.T) {
			check := func(what, tok string, want codes.Code) {
				t.Helper()
				err := call(withToken(t, tok), ts.conn, m)
				got := status.Code(err)
				switch {
				case want == codes.OK && isAuthCode(got):
					t.Errorf("%s: %v, want no auth error", what, err)
				case want != codes.OK && got != want:
					t.Errorf("%s: %v, want %s", what, err, want)
				}
				if tok != "" && strings.Contains(status.Convert(err).Message(), tok) {
					t.Errorf("%s: the error echoes the token: %v", what, err)
				}
				if want == codes.Unauthenticated && !strings.Contains(status.Convert(err).Message(), m.full) {
					t.Errorf("%s: the error does not name the method: %v", what, err)
				}
			}
			if rule.Public {
				check("no token", "", codes.OK)
				check("unknown token", "not-a-configured-token-123", codes.OK)
				for _, r := range Roles() {
					check(string(r)+" token", tokenOf(t, r), codes.OK)
				}
				return
			}
			check("no token", "", codes.Unauthenticated)
			check("unknown token", "not-a-configured-token-123", codes.Unauthenticated)
			for _, r := range Roles() {
				want := codes.PermissionDenied
				if rule.Allows(r) {
					want = codes.OK
				}
				check(string(r)+" token", tokenOf(t, r), want)
			}
		})
	}
}

func TestMalformedAuthorizationIsUnauthenticated(t *testing.T) {
	ts := startServer(t, Options{})
	m := method{full: hotlinev1.StatsService_GetStats_FullMethodName,
		desc: hotlinev1.File_hotline_v1_stats_proto.Services().ByName("StatsService").Methods().ByName("GetStats")}
	sup := tokenOf(t, RoleSupervisor)
	for name, md := range map[string][]string{
		"basic scheme":       {"authorization", "Basic " + sup},
		"no scheme":          {"authorization", sup},
		"two values":         {"authorization", "Bearer " + sup, "authorization", "Bearer " + sup},
		"empty bearer":       {"authorization", "Bearer "},
		"token in other key": {"x-token", sup},
	} {
		ctx := withToken(t, "")
		ctx = metadataAppend(ctx, md...)
		err := call(ctx, ts.conn, m)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
		if strings.Contains(status.Convert(err).Message(), sup) {
			t.Errorf("%s: the error echoes the token: %v", name, err)
		}
	}
}
