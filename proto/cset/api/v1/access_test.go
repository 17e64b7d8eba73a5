package apiv1

import (
	"testing"
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
