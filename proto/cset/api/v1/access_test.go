package apiv1

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestEveryMethodDeclaresItsAccess: an RPC added without its idempotency level or its access
// option would be refused by every master; this fails first, naming it.
func TestEveryMethodDeclaresItsAccess(t *testing.T) {
	if _, missing := specs(); len(missing) > 0 {
		t.Fatalf("RPCs without option idempotency_level or option (access) with a role in api.proto: %v", missing)
	}
	for _, m := range ClusterSetService_ServiceDesc.Methods {
		if _, ok := Method(m.MethodName); !ok {
			t.Errorf("%s: no spec", m.MethodName)
		}
	}
	for _, m := range ClusterSetService_ServiceDesc.Streams {
		if _, ok := Method(m.StreamName); !ok {
			t.Errorf("%s: no spec", m.StreamName)
		}
	}
}

// TestMethodSpecs pins a few declarations and the rules between the fields.
func TestMethodSpecs(t *testing.T) {
	for name, want := range map[string]MethodSpec{
		"Status":         {Role: "read", Local: true, Retryable: true},
		"CheckMember":    {Role: "read", Retryable: true},
		"MoveWorkload":   {Role: "operate", Write: true, Retryable: true},
		"RaftJoin":       {Role: "admin", Write: true, Retryable: true, Master: true},
		"RecordAudit":    {Role: "admin", Master: true},
		"GuardHeartbeat": {Role: "guard", Retryable: true},
	} {
		got, ok := Method(name)
		want.Name, want.FullMethod = name, "/cset.api.v1.ClusterSetService/"+name
		if !ok || got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	all, _ := specs()
	for _, s := range all {
		if s.Write && s.Local {
			t.Errorf("%s: a write served from a master's local state", s.Name)
		}
		if byFull, ok := MethodByFullName(s.FullMethod); !ok || byFull != s {
			t.Errorf("MethodByFullName(%q) = %+v, %v", s.FullMethod, byFull, ok)
		}
	}
	if _, ok := MethodByFullName("/grpc.health.v1.Health/Check"); ok {
		t.Error("a method of another service has a spec")
	}
}

// TestNotApplied: the detail survives the status round trip and nothing else carries it.
func TestNotApplied(t *testing.T) {
	err := NotApplied("master %s is not the leader", "m1")
	if !IsNotApplied(err) || status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "master m1 is not the leader" {
		t.Fatalf("NotApplied: %v (detail %v)", err, IsNotApplied(err))
	}
	back := status.FromProto(status.Convert(err).Proto()).Err() // as a client decodes it
	if !IsNotApplied(back) {
		t.Fatal("the detail is lost on the wire")
	}
	for _, other := range []error{nil, errors.New("no leader"), status.Error(codes.Unavailable, "not the leader")} {
		if IsNotApplied(other) {
			t.Errorf("IsNotApplied(%v) = true", other)
		}
	}
}
