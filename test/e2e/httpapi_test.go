package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/httpapi"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// apiAnswer is one HTTP answer of the gateway's /api/v1/.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (a apiAnswer) String() string {
	return fmt.Sprintf("HTTP %d %s", a.status, bytes.TrimSpace(a.body))
}

// code is the error body's stable reason code.
func (a apiAnswer) code() string { s, _ := a.json["code"].(string); return s }

// apiCall sends one request as curl would: method, the gateway's URL, an
// optional bearer token and a JSON body.
func apiCall(t *testing.T, g *labtest.Gateway, method, path, token, body string) apiAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+g.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	a := apiAnswer{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The first event is enough: read it and hang up.
		sc := bufio.NewScanner(resp.Body)
		var ev bytes.Buffer
		for sc.Scan() {
			ev.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "data: ") {
				_ = json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "data: ")), &a.json)
				break
			}
		}
		a.body = ev.Bytes()
		return a
	}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	if len(a.body) > 0 {
		if err := json.Unmarshal(a.body, &a.json); err != nil {
			t.Fatalf("%s %s: %s: not JSON: %v", method, path, a, err)
		}
	}
	return a
}

// routeBody is a request body for rt in which a field naming an agent is
// the caller's extension (as the gRPC role matrix does), so that a request
// of the right role is judged on its content.
func routeBody(rt httpapi.Route, ext string) string {
	obj := map[string]any{}
	for _, name := range []string{"extension", "agent_extension"} {
		if rt.Desc.Input().Fields().ByName(protoreflect.Name(name)) != nil {
			obj[name] = ext
		}
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

// TestHTTPRoleMatrix: every HTTP route × (no token, an unknown token, each
// role's token) against a real gateway process: 401 UNAUTHENTICATED (with
// WWW-Authenticate), 401, 403 PERMISSION_DENIED for a role the RPC does
// not accept, and neither 401 nor 403 for the right role — exactly the
// gRPC policy, because the HTTP API runs the same guard.
func TestHTTPRoleMatrix(t *testing.T) {
	l := startRoutingLab(t, "")
	tokens := roleTokens()
	pol := auth.DefaultPolicy()
	routes := httpapi.Routes()
	if len(routes) < 14 {
		t.Fatalf("%d routes; want every RPC of the four services and the 110 references", len(routes))
	}
	for _, rt := range routes {
		rule, ok := pol[rt.RPC]
		if !ok {
			t.Errorf("%s: %s has no access policy", rt.Path, rt.RPC)
			continue
		}
		t.Run(strings.TrimPrefix(rt.Path, httpapi.Prefix), func(t *testing.T) {
			check := func(who, tok string, want int) {
				t.Helper()
				path := rt.Path
				body := routeBody(rt, "1001")
				if rt.Stream {
					if strings.HasSuffix(rt.Path, "/AgentService/StreamEvents") {
						path += "?extension=1001"
					}
					body = ""
				}
				a := apiCall(t, l.g, rt.Method, path, tok, body)
				switch {
				case want == 0 && (a.status == http.StatusUnauthorized || a.status == http.StatusForbidden || a.status == http.StatusNotFound && a.code() == "NOT_FOUND"):
					t.Errorf("%s: %s; want no authentication error (the right role)", who, a)
				case want != 0 && a.status != want:
					t.Errorf("%s: %s; want HTTP %d", who, a, want)
				}
				switch want {
				case http.StatusUnauthorized:
					if a.code() != "UNAUTHENTICATED" || a.json["grpc_code"] != float64(16) || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s: %s %v; want code UNAUTHENTICATED, grpc_code 16 and WWW-Authenticate: Bearer", who, a, a.header)
					}
				case http.StatusForbidden:
					if a.code() != "PERMISSION_DENIED" || a.json["grpc_code"] != float64(7) {
						t.Errorf("%s: %s; want code PERMISSION_DENIED, grpc_code 7", who, a)
					}
				}
				if tok != "" && strings.Contains(string(a.body), tok) {
					t.Errorf("%s: the answer echoes the token: %s", who, a)
				}
			}
			check("no token", "", http.StatusUnauthorized)
			check("unknown token", "not-a-configured-token-0123", http.StatusUnauthorized)
			for _, r := range auth.Roles() {
				tok, ok := tokens[r]
				if !ok {
					continue
				}
				if rule.Allows(r) {
					check(string(r)+" token", tok, 0)
				} else {
					check(string(r)+" token", tok, http.StatusForbidden)
				}
			}
		})
	}
	// Another agent's extension with a valid agent token: 403 as well.
	if a := apiCall(t, l.g, "POST", httpapi.Prefix+"AgentService/Login", labtest.AgentToken("1002"), `{"extension":"1001"}`); a.status != http.StatusForbidden || a.code() != "NOT_YOUR_AGENT" {
		t.Errorf("agent 1002 logging in 1001: %s; want 403 NOT_YOUR_AGENT", a)
	}
}

// TestHTTPRoundTrips: every RPC over HTTP/JSON, as a desk or the 110
// platform would call it, with the answers a client relies on: fields in
// proto names, enums as names, errors with their stable reason codes, the
// event stream as Server-Sent Events.
func TestHTTPRoundTrips(t *testing.T) {
	l := startRoutingLab(t, "")
	g := l.g
	agent := labtest.AgentToken("1001")
	p := httpapi.Prefix
	want := func(what string, a apiAnswer, status int, code string) apiAnswer {
		t.Helper()
		if a.status != status || (code != "" && a.code() != code) {
			t.Errorf("%s: %s; want HTTP %d %s", what, a, status, code)
		}
		return a
	}
	covered := map[string]bool{}
	do := func(method, path, tok, body string) apiAnswer {
		t.Helper()
		covered[strings.SplitN(path, "?", 2)[0]] = true
		return apiCall(t, g, method, path, tok, body)
	}

	// AgentService.
	want("SetState before login", do("POST", p+"AgentService/SetState", agent, `{"extension":"1001","state":"AGENT_STATE_READY"}`), 404, "AGENT_NOT_LOGGED_IN")
	a := want("Login", do("POST", p+"AgentService/Login", agent, `{"extension":"1001","skills":["renshe"],"wrap_up_seconds":0}`), 200, "")
	if a.json["session_id"] == "" || a.json["state"] != "AGENT_STATE_PAUSED" {
		t.Errorf("Login: %s; want a session and state AGENT_STATE_PAUSED", a)
	}
	want("second Login", do("POST", p+"AgentService/Login", agent, `{"extension":"1001","skills":["renshe"]}`), 409, "AGENT_ALREADY_LOGGED_IN")
	a = want("SetState READY", do("POST", p+"AgentService/SetState", agent, `{"extension":"1001","state":"AGENT_STATE_READY"}`), 200, "")
	if a.json["state"] != "AGENT_STATE_READY" {
		t.Errorf("SetState READY: %s", a)
	}
	a = want("GetAgent", do("POST", p+"AgentService/GetAgent", agent, `{"extension":"1001"}`), 200, "")
	if a.json["state"] != "AGENT_STATE_READY" || a.json["extension"] != "1001" {
		t.Errorf("GetAgent: %s; want 1001 READY", a)
	}
	a = want("StreamEvents", do("GET", p+"AgentService/StreamEvents?extension=1001", agent, ""), 200, "")
	if !strings.Contains(string(a.body), "event: state\n") || a.json["state"].(map[string]any)["state"] != "AGENT_STATE_READY" {
		t.Errorf("StreamEvents: %q; want a first event \"state\" with READY", a.body)
	}
	want("StreamEvents bad parameter", do("GET", p+"AgentService/StreamEvents?ext=1001", agent, ""), 400, "INVALID_JSON")
	want("pause without a reason", do("POST", p+"AgentService/SetState", agent, `{"extension":"1001","state":"AGENT_STATE_PAUSED"}`), 400, "INVALID_ARGUMENT")
	want("malformed JSON", do("POST", p+"AgentService/SetState", agent, `{"extension":`), 400, "INVALID_JSON")
	want("unknown field", do("POST", p+"AgentService/GetAgent", agent, `{"extension":"1001","x":1}`), 400, "INVALID_JSON")
	want("GET of a unary RPC", do("GET", p+"AgentService/GetAgent", agent, ""), 405, "METHOD_NOT_ALLOWED")
	want("unknown route", apiCall(t, g, "POST", p+"AgentService/Nope", agent, `{}`), 404, "NOT_FOUND")

	// CallService.
	want("Originate to 110", do("POST", p+"CallService/Originate", agent, `{"agent_extension":"1001","number":"110","purpose":"CALL_PURPOSE_FOLLOW_UP"}`), 400, "INVALID_NUMBER")
	a = want("ListCallbacks", do("POST", p+"CallService/ListCallbacks", labtest.SupervisorToken, `{"day":"`+today()+`"}`), 200, "")
	if _, ok := a.json["callbacks"].([]any); !ok {
		t.Errorf("ListCallbacks: %s; want a callbacks list", a)
	}
	want("ClaimCallback unknown", do("POST", p+"CallService/ClaimCallback", agent, `{"agent_extension":"1001","callback_id":"cb-20261126-5f0c3a9e1b7d2c48"}`), 404, "CALLBACK_NOT_FOUND")

	// StatsService.
	a = want("GetStats", do("POST", p+"StatsService/GetStats", labtest.SupervisorToken, `{"from":"`+today()+`","to":"`+today()+`"}`), 200, "")
	if _, ok := a.json["inbound_total"]; !ok {
		t.Errorf("GetStats: %s; want inbound_total (unpopulated fields are emitted)", a)
	}
	want("GetStats bad range", do("POST", p+"StatsService/GetStats", labtest.SupervisorToken, `{"from":"2024-13-01"}`), 400, "INVALID_ARGUMENT")

	// LiveService: the wall screen's figures, as JSON and as a stream.
	a = want("GetSnapshot", do("POST", p+"LiveService/GetSnapshot", labtest.WallToken, `{}`), 200, "")
	if _, ok := a.json["lines"].([]any); !ok || a.json["timezone"] == "" {
		t.Errorf("GetSnapshot: %s; want lines and the time zone", a)
	}
	a = want("StreamSnapshots", do("GET", p+"LiveService/StreamSnapshots", labtest.SupervisorToken, ""), 200, "")
	if _, ok := a.json["lines"].([]any); !ok {
		t.Errorf("StreamSnapshots: %q; want a first snapshot with lines", a.body)
	}

	// AdminService: the administrator's view of the shared state.
	a = want("ListAgents", do("POST", p+"AdminService/ListAgents", labtest.SupervisorToken, `{}`), 200, "")
	if ags, ok := a.json["agents"].([]any); !ok || len(ags) == 0 {
		t.Errorf("ListAgents: %s; want the agent that logged in", a)
	}
	a = want("ListQueue", do("POST", p+"AdminService/ListQueue", labtest.SupervisorToken, `{"skill":"renshe"}`), 200, "")
	if _, ok := a.json["calls"].([]any); !ok {
		t.Errorf("ListQueue: %s; want a calls list", a)
	}
	a = want("ListCalls", do("POST", p+"AdminService/ListCalls", labtest.SupervisorToken, `{}`), 200, "")
	if _, ok := a.json["calls"].([]any); !ok {
		t.Errorf("ListCalls: %s; want a calls list", a)
	}
	a = want("ListDeadTickets", do("POST", p+"AdminService/ListDeadTickets", labtest.SupervisorToken, `{"limit":5}`), 200, "")
	if _, ok := a.json["tickets"].([]any); !ok {
		t.Errorf("ListDeadTickets: %s; want a tickets list", a)
	}
	want("RequeueTickets naming none", do("POST", p+"AdminService/RequeueTickets", labtest.SupervisorToken, `{}`), 400, "INVALID_ARGUMENT")

	// SupervisorService: the actions need a live agent call (the lab test
	// TestSupervisorMonitorWhisperBargeEnd); here their answers for none.
	for _, m := range []string{"Monitor", "Whisper", "Barge"} {
		want(m+" of no call", do("POST", p+"SupervisorService/"+m, labtest.SupervisorToken, `{"call_id":"no-such-call","supervisor_extension":"2101"}`), 404, "")
		want(m+" with a bad extension", apiCall(t, g, "POST", p+"SupervisorService/"+m, labtest.SupervisorToken, `{"call_id":"no-such-call","supervisor_extension":"x"}`), 400, "INVALID_ARGUMENT")
	}
	want("End of no call", do("POST", p+"SupervisorService/End", labtest.SupervisorToken, `{"call_id":"no-such-call"}`), 404, "")
	a = want("ListLiveCalls", do("POST", p+"SupervisorService/ListLiveCalls", labtest.SupervisorToken, `{}`), 200, "")
	if ags, ok := a.json["agents"].([]any); !ok || len(ags) == 0 {
		t.Errorf("ListLiveCalls: %s; want the agent that logged in", a)
	}

	// DispositionService: a disposition on a real call is the lab test
	// TestDispositionsOnTicketsAndReport; here the answers for none.
	want("SetDisposition of no call", do("POST", p+"DispositionService/SetDisposition", agent, `{"call_id":"no-such-call","code":"DISPOSITION_CODE_ANSWERED_ON_SPOT"}`), 404, "CALL_NOT_FOUND")
	want("SetDisposition without a code", apiCall(t, g, "POST", p+"DispositionService/SetDisposition", agent, `{"call_id":"no-such-call"}`), 400, "INVALID_DISPOSITION")
	want("AmendDisposition of no call", do("POST", p+"DispositionService/AmendDisposition", labtest.SupervisorToken, `{"call_id":"no-such-call","code":"DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT","department":"市住建局"}`), 404, "CALL_NOT_FOUND")
	want("AmendDisposition with an agent token", apiCall(t, g, "POST", p+"DispositionService/AmendDisposition", agent, `{"call_id":"no-such-call","code":"DISPOSITION_CODE_ANSWERED_ON_SPOT"}`), 403, "PERMISSION_DENIED")
	want("SetFollowUpVerdict of no call", do("POST", p+"DispositionService/SetFollowUpVerdict", agent, `{"call_id":"no-such-call","verdict":"FOLLOW_UP_VERDICT_SATISFIED"}`), 404, "CALL_NOT_FOUND")
	want("SetFollowUpVerdict without a verdict", apiCall(t, g, "POST", p+"DispositionService/SetFollowUpVerdict", agent, `{"call_id":"no-such-call"}`), 400, "INVALID_DISPOSITION")
	want("SetFollowUpVerdict with a supervisor token", apiCall(t, g, "POST", p+"DispositionService/SetFollowUpVerdict", labtest.SupervisorToken, `{"call_id":"no-such-call","verdict":"FOLLOW_UP_VERDICT_SATISFIED"}`), 403, "PERMISSION_DENIED")

	// TransferService.
	want("Transfer of no call", do("POST", p+"TransferService/Transfer", agent, `{"call_id":"no-such-call","target":"TRANSFER_TARGET_POLICE_110","mode":"TRANSFER_MODE_BLIND"}`), 404, "CALL_NOT_FOUND")
	want("Complete of no call", do("POST", p+"TransferService/Complete", agent, `{"call_id":"no-such-call"}`), 404, "CALL_NOT_FOUND")
	want("Cancel without call_id", do("POST", p+"TransferService/Cancel", agent, `{}`), 400, "INVALID_ARGUMENT")
	a = want("ListTransfers", do("POST", p+"TransferService/ListTransfers", labtest.PoliceToken, `{"limit":5}`), 200, "")
	if _, ok := a.json["transfers"].([]any); !ok {
		t.Errorf("ListTransfers: %s; want a transfers list", a)
	}
	for _, path := range []string{p + "TransferService/PushPoliceReference", httpapi.PoliceReferencesPath} {
		a = want("PushPoliceReference "+path, do("POST", path, labtest.PoliceToken,
			`{"caller_number":"1390000`+fmt.Sprint(len(path)%10)+`999","police_reference":"JJ-2026-`+fmt.Sprint(len(path))+`"}`), 200, "")
		if a.json["call_id"] != "" {
			t.Errorf("PushPoliceReference before the call: %s; want call_id empty (matched on arrival)", a)
		}
	}
	want("PushPoliceReference without a number", do("POST", httpapi.PoliceReferencesPath, labtest.PoliceToken, `{"police_reference":"JJ-1"}`), 400, "INVALID_ARGUMENT")

	a = want("SetState LOGGED_OUT", do("POST", p+"AgentService/SetState", agent, `{"extension":"1001","state":"AGENT_STATE_LOGGED_OUT"}`), 200, "")
	if a.json["state"] != "AGENT_STATE_LOGGED_OUT" {
		t.Errorf("logout: %s", a)
	}
	for _, rt := range httpapi.Routes() {
		if !covered[rt.Path] {
			t.Errorf("%s %s has no round trip in this test", rt.Method, rt.Path)
		}
	}
}

// TestHTTPAPIOverTLSBesideMutualTLSgRPC: the HTTP listener with its own
// certificate (listen.http_tls) and the gRPC listener with mutual TLS. Over
// https the API answers an agent's token (the in-process connection is not
// held up by the gRPC listener's client-certificate requirement) and still
// refuses no token (401) and another role (403): the same guard; /desk is
// served over https too. Plain http to the TLS listener gets no answer.
func TestHTTPAPIOverTLSBesideMutualTLSgRPC(t *testing.T) {
	labtest.RequireLab(t)
	ca := newPKI(t, "hotline")
	srvCert, srvKey := ca.issue(t, "gateway", true)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.NewGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sink.Addr, ""),
		GRPCTLS: fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", srvCert, srvKey, ca.caFile),
		HTTPTLS: fmt.Sprintf("{cert_file: %q, key_file: %q}", srvCert, srvKey)})
	g.Start()
	roots := x509.NewCertPool()
	roots.AddCert(ca.caCert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	call := func(method, path, tok, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+g.HTTP+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	labtest.Eventually(t, 30*time.Second, func() error {
		if code, body := call("GET", "/readyz", "", ""); code != 200 {
			return fmt.Errorf("https readyz: %d %s", code, body)
		}
		return nil
	})
	agent := labtest.AgentToken("1001")
	if code, body := call("POST", "/api/v1/AgentService/Login", agent, `{"extension":"1001","skills":["general"]}`); code != 200 || !strings.Contains(body, "AGENT_STATE_PAUSED") {
		t.Errorf("Login over https: %d %s", code, body)
	}
	if code, body := call("POST", "/api/v1/AgentService/GetAgent", "", `{"extension":"1001"}`); code != 401 || !strings.Contains(body, `"UNAUTHENTICATED"`) {
		t.Errorf("no token over https: %d %s; want 401", code, body)
	}
	if code, body := call("POST", "/api/v1/AgentService/GetAgent", labtest.SupervisorToken, `{"extension":"1001"}`); code != 403 || !strings.Contains(body, `"PERMISSION_DENIED"`) {
		t.Errorf("supervisor over https: %d %s; want 403", code, body)
	}
	if code, body := call("GET", "/desk", "", ""); code != 200 || !strings.Contains(body, "坐席工作台") {
		t.Errorf("/desk over https: %d", code)
	}
	if code, body := call("POST", "/api/v1/AgentService/SetState", agent, `{"extension":"1001","state":"AGENT_STATE_LOGGED_OUT"}`); code != 200 {
		t.Errorf("logout over https: %d %s", code, body)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + g.HTTP + "/api/v1/AgentService/GetAgent")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain http to the TLS listener: HTTP %d", resp.StatusCode)
		}
	}
}
