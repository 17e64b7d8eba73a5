package apiv1

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// MethodSpec is what one RPC of ClusterSetService declares in api.proto: its idempotency level
// and its access option (access.proto). The masters authorize, forward and audit by it, and
// csetctl decides by it which calls carry a request id and which may be retried; nothing else
// keeps a list of methods.
type MethodSpec struct {
	Name       string // "AddMember"
	FullMethod string // "/cset.api.v1.ClusterSetService/AddMember", as gRPC interceptors see it
	// Role is the least role of a token that may call it: "read", "operate", "admin" or "guard".
	Role string
	// Write: it changes the state and is deduplicated by its request id (IDEMPOTENT), so it
	// carries one, a retry after an unknown outcome applies it once, and the leader records
	// it in the event log.
	Write bool
	// Local: a master serves it from its own state (NO_SIDE_EFFECTS and not access.leader);
	// every other method runs on the leader.
	Local bool
	// Retryable: a call whose outcome is unknown may be sent again (NO_SIDE_EFFECTS or
	// IDEMPOTENT); never for IDEMPOTENCY_UNKNOWN.
	Retryable bool
	// Master: another master may call it with its certificate.
	Master bool
}

// specs reads, once, every method that declares both options, by name, and the methods that
// lack one (TestEveryMethodDeclaresItsAccess fails on them, and the masters refuse them). Read
// on first use: the descriptors are built by the generated code's init functions, after the
// package's variables.
var specs = sync.OnceValues(readMethodSpecs)

func readMethodSpecs() (map[string]MethodSpec, []string) {
	svc := File_cset_api_v1_api_proto.Services().ByName("ClusterSetService")
	out := map[string]MethodSpec{}
	var missing []string
	methods := svc.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		spec, ok := methodSpecOf(svc, m)
		if !ok {
			missing = append(missing, string(m.Name()))
			continue
		}
		out[spec.Name] = spec
	}
	return out, missing
}

func methodSpecOf(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor) (MethodSpec, bool) {
	opts, ok := m.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil || opts.IdempotencyLevel == nil || !proto.HasExtension(opts, E_Access) {
		return MethodSpec{}, false
	}
	access, _ := proto.GetExtension(opts, E_Access).(*Access)
	if access.GetRole() == Role_ROLE_UNSPECIFIED {
		return MethodSpec{}, false
	}
	level := opts.GetIdempotencyLevel()
	return MethodSpec{
		Name:       string(m.Name()),
		FullMethod: "/" + string(svc.FullName()) + "/" + string(m.Name()),
		Role:       strings.ToLower(strings.TrimPrefix(access.GetRole().String(), "ROLE_")),
		Write:      level == descriptorpb.MethodOptions_IDEMPOTENT,
		Local:      level == descriptorpb.MethodOptions_NO_SIDE_EFFECTS && !access.GetLeader(),
		Retryable:  level != descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN,
		Master:     access.GetMaster(),
	}, true
}

// Method returns the spec of the ClusterSetService method name ("AddMember"); false for an
// unknown method or one that does not declare its access.
func Method(name string) (MethodSpec, bool) {
	all, _ := specs()
	s, ok := all[name]
	return s, ok
}

// MethodByFullName is Method for a full gRPC method name ("/cset.api.v1.ClusterSetService/AddMember").
func MethodByFullName(full string) (MethodSpec, bool) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !ok || svc != ClusterSetService_ServiceDesc.ServiceName {
		return MethodSpec{}, false
	}
	return Method(name)
}
