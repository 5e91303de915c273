package httpapi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/auth"
)

// omap is a YAML mapping that keeps its keys in the order given.
type omap []kv

type kv struct {
	k string
	v any
}

func (m omap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, e := range m {
		var v yaml.Node
		if err := v.Encode(e.v); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: e.k}, &v)
	}
	return n, nil
}

// errorStatuses are the error answers every operation documents.
var errorStatuses = []struct {
	code int
	name string
	desc string
}{
	{400, "BadRequest", "Malformed JSON, an invalid field (INVALID_ARGUMENT, INVALID_NUMBER, ...) or a state that does not allow the request (FAILED_PRECONDITION reasons such as TRANSFER_WRONG_STATE)."},
	{401, "Unauthenticated", "No bearer token, or one that is not configured (UNAUTHENTICATED)."},
	{403, "PermissionDenied", "A token of a role the operation does not accept, or another agent's extension (PERMISSION_DENIED, NOT_YOUR_AGENT, NOT_ON_CALL)."},
	{404, "NotFound", "The agent, call or call-back task does not exist (AGENT_NOT_LOGGED_IN, CALL_NOT_FOUND, CALLBACK_NOT_FOUND)."},
	{409, "Conflict", "Already done (AGENT_ALREADY_LOGGED_IN)."},
	{429, "TooManyRequests", "Over the token's rate limit or the agent's event-stream cap (RESOURCE_EXHAUSTED), or outbound calls rate limited."},
	{503, "Unavailable", "The gateway cannot serve the request now (Redis or Asterisk unreachable, shutting down); retry."},
}

// OpenAPI is the OpenAPI 3 document of Routes(), generated from the
// descriptors and auth.DefaultPolicy; api/openapi/hotline.yaml is its
// committed copy (TestOpenAPIDocumentIsCurrent).
func OpenAPI() ([]byte, error) {
	pol := auth.DefaultPolicy()
	schemas := map[string]any{}
	var tags []string
	tagSeen := map[string]bool{}
	paths := omap{}
	for _, rt := range Routes() {
		rule, ok := pol[rt.RPC]
		if !ok {
			return nil, fmt.Errorf("%s: no access policy", rt.RPC)
		}
		svc := string(rt.Desc.Parent().Name())
		if !tagSeen[svc] {
			tagSeen[svc] = true
			tags = append(tags, svc)
		}
		in, out := rt.Desc.Input(), rt.Desc.Output()
		if !rt.Stream {
			addSchema(schemas, in) // a stream's request is its query
		}
		addSchema(schemas, out)
		opID := svc + "_" + string(rt.Desc.Name())
		summary := fmt.Sprintf("%s.%s", svc, rt.Desc.Name())
		desc := fmt.Sprintf("gRPC `%s`. Allowed: %s.", strings.TrimPrefix(rt.RPC, "/"), rule)
		if rt.Path == PoliceReferencesPath {
			opID = "PoliceReferences_Push"
			summary = "110 pushes its case reference for a call it transfers to 12345"
			desc = "The same as TransferService/PushPoliceReference, for the 110 platform. " + desc
		}
		op := omap{
			{"operationId", opID},
			{"summary", summary},
			{"description", desc},
			{"tags", []string{svc}},
		}
		responses := omap{}
		if rt.Stream {
			var params []any
			fields := in.Fields()
			for i := 0; i < fields.Len(); i++ {
				fd := fields.Get(i)
				params = append(params, omap{{"name", string(fd.Name())}, {"in", "query"}, {"required", false},
					{"description", fmt.Sprintf("Field `%s` of %s.", fd.Name(), in.Name())}, {"schema", fieldSchema(fd)}})
			}
			op = append(op, kv{"parameters", params})
			responses = append(responses, kv{"200", omap{
				{"description", fmt.Sprintf("Server-Sent Events: one event per %s, named after the field set in its oneof (`offer`, `progress`, `state`), its `data` the message as JSON (the schema given here, %s); `: keep-alive` comments; an `error` event with an Error body before the stream ends on a failure.", out.Name(), schemaName(out))},
				{"content", omap{{"text/event-stream", omap{{"schema", ref(out)}}}}}, // the schema of each event's data
			}})
		} else {
			op = append(op, kv{"requestBody", omap{
				{"required", false},
				{"content", omap{{"application/json", omap{{"schema", ref(in)}}}}},
			}})
			responses = append(responses, kv{"200", omap{
				{"description", fmt.Sprintf("The %s.", out.Name())},
				{"content", omap{{"application/json", omap{{"schema", ref(out)}}}}},
			}})
		}
		for _, e := range errorStatuses {
			responses = append(responses, kv{fmt.Sprint(e.code), omap{{"$ref", "#/components/responses/" + e.name}}})
		}
		op = append(op, kv{"responses", responses})
		paths = append(paths, kv{rt.Path, omap{{strings.ToLower(rt.Method), op}}})
	}

	var tagList []any
	for _, t := range tags {
		tagList = append(tagList, omap{{"name", t}, {"description", "gRPC service hotline.v1." + t + " (api/hotline/v1)."}})
	}
	names := make([]string, 0, len(schemas))
	for n := range schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	comps := omap{}
	for _, n := range names {
		comps = append(comps, kv{n, schemas[n]})
	}
	comps = append(comps, kv{"Error", omap{
		{"type", "object"},
		{"description", "Every error answer."},
		{"required", []string{"code", "message", "grpc_code"}},
		{"properties", omap{
			{"code", omap{{"type", "string"}, {"description", "Stable reason code a client translates: UNAUTHENTICATED, PERMISSION_DENIED, AGENT_NOT_LOGGED_IN, INVALID_NUMBER, CALL_NOT_FOUND, ... (edge/reasons.go)."}}},
			{"message", omap{{"type", "string"}, {"description", "What is wrong, in English."}}},
			{"grpc_code", omap{{"type", "integer"}, {"format", "int32"}, {"description", "The numeric gRPC status code."}}},
		}},
	}})
	resps := omap{}
	for _, e := range errorStatuses {
		resps = append(resps, kv{e.name, omap{
			{"description", e.desc},
			{"content", omap{{"application/json", omap{{"schema", omap{{"$ref", "#/components/schemas/Error"}}}}}}},
		}})
	}
	doc := omap{
		{"openapi", "3.0.3"},
		{"info", omap{
			{"title", "hotline-gw HTTP/JSON API"},
			{"version", "v1"},
			{"description", "Every RPC of the gateway's gRPC services as JSON over HTTP (proto field names; enums by name; 64-bit integers as strings), under the same bearer tokens and roles. Generated from api/hotline/v1 and auth.DefaultPolicy by httpapi.OpenAPI; do not edit by hand."},
			{"license", omap{{"name", "Proprietary"}, {"url", "https://github.com/hotline12345/hotline-gw"}}},
		}},
		{"servers", []any{omap{{"url", "http://127.0.0.1:9108"}, {"description", "The gateway's HTTP listener (listen.http; https with listen.http_tls)."}}}},
		{"security", []any{omap{{"bearer", []string{}}}}},
		{"tags", tagList},
		{"paths", paths},
		{"components", omap{
			{"securitySchemes", omap{{"bearer", omap{{"type", "http"}, {"scheme", "bearer"},
				{"description", "A token of the role the operation names (agent, supervisor, police110), as configured in acd.agents and auth.*."}}}}},
			{"responses", resps},
			{"schemas", comps},
		}},
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func schemaName(md protoreflect.Descriptor) string {
	return strings.TrimPrefix(string(md.FullName()), "hotline.v1.")
}

func ref(md protoreflect.Descriptor) omap {
	return omap{{"$ref", "#/components/schemas/" + schemaName(md)}}
}

// addSchema adds md's schema and those of every message and enum it uses.
func addSchema(schemas map[string]any, md protoreflect.MessageDescriptor) {
	name := schemaName(md)
	if _, ok := schemas[name]; ok {
		return
	}
	schemas[name] = nil // a placeholder against recursion
	props := omap{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		props = append(props, kv{string(fd.Name()), fieldSchema(fd)})
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && !wellKnown(fd.Message()) {
			addSchema(schemas, fd.Message())
		}
		if fd.Enum() != nil {
			addEnum(schemas, fd.Enum())
		}
	}
	s := omap{{"type", "object"}, {"description", fmt.Sprintf("hotline.v1 message %s.", md.FullName())}}
	if o := md.Oneofs(); o.Len() > 0 {
		var names []string
		for i := 0; i < o.Get(0).Fields().Len(); i++ {
			names = append(names, "`"+string(o.Get(0).Fields().Get(i).Name())+"`")
		}
		s[1].v = fmt.Sprintf("hotline.v1 message %s: exactly one of %s is set.", md.FullName(), strings.Join(names, ", "))
	}
	if len(props) > 0 {
		s = append(s, kv{"properties", props})
	}
	schemas[name] = s
}

func addEnum(schemas map[string]any, ed protoreflect.EnumDescriptor) {
	var vals []string
	for i := 0; i < ed.Values().Len(); i++ {
		vals = append(vals, string(ed.Values().Get(i).Name()))
	}
	schemas[schemaName(ed)] = omap{{"type", "string"}, {"description", fmt.Sprintf("hotline.v1 enum %s, by name.", ed.FullName())}, {"enum", vals}}
}

func wellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

// fieldSchema is the JSON schema of one field, as protojson writes it.
func fieldSchema(fd protoreflect.FieldDescriptor) any {
	var s any
	switch fd.Kind() {
	case protoreflect.StringKind:
		s = omap{{"type", "string"}}
	case protoreflect.BoolKind:
		s = omap{{"type", "boolean"}}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		s = omap{{"type", "integer"}, {"format", "int32"}}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		s = omap{{"type", "integer"}, {"format", "int64"}, {"minimum", 0}}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s = omap{{"type", "string"}, {"format", "int64"}, {"description", "A 64-bit integer, as a decimal string."}}
	case protoreflect.DoubleKind:
		s = omap{{"type", "number"}, {"format", "double"}}
	case protoreflect.FloatKind:
		s = omap{{"type", "number"}, {"format", "float"}}
	case protoreflect.BytesKind:
		s = omap{{"type", "string"}, {"format", "byte"}}
	case protoreflect.EnumKind:
		s = ref(fd.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			s = omap{{"type", "string"}, {"format", "date-time"}}
		case "google.protobuf.Duration":
			s = omap{{"type", "string"}, {"description", "A duration such as \"1.5s\"."}}
		default:
			s = ref(fd.Message())
		}
	}
	if fd.IsMap() {
		return omap{{"type", "object"}, {"additionalProperties", fieldSchema(fd.MapValue())}}
	}
	if fd.IsList() {
		return omap{{"type", "array"}, {"items", s}}
	}
	return s
}
