package fsmtest

import (
	"crypto/sha256"
	"fmt"
	"hash/fnv"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// Time0 is the proposal time of index 0 in tests; Time(index) adds one second per index, so
// timestamps in the state are predictable from the index that wrote them.
const Time0 int64 = 1_700_000_000_000_000_000

// Time returns the leader-stamped proposal time tests use for the entry at index.
func Time(index uint64) int64 { return Time0 + int64(index)*1_000_000_000 }

// Zone is the DNS zone of ClusterSet.
const Zone = "cset.example.com."

// ClusterSet returns a valid cluster set named "prod" with explicit TTLs.
func ClusterSet() *fsmv1.ClusterSet {
	return &fsmv1.ClusterSet{Name: "prod", Zone: Zone, TtlSeconds: 30, NegativeTtlSeconds: 5}
}

// Member returns a valid member with two servers NAME-1 and NAME-2, credentials and labels.
// Admin and health are left empty: the FSM fills them in on creation.
func Member(name string) *fsmv1.Member {
	return &fsmv1.Member{
		Name: name,
		Servers: []*fsmv1.MemberServer{
			{Name: name + "-1", Url: fmt.Sprintf("https://%s-1.example.com:29009", name)},
			{Name: name + "-2", Url: fmt.Sprintf("https://%s-2.example.com:29009", name)},
		},
		Capacity: 10,
		Labels:   map[string]string{"site": name, "tier": "gold"},
		User:     "cset",
		Password: "secret-" + name,
	}
}

// Workload returns a valid online workload on the ECX group "g-NAME" with an address on every
// candidate (10.<candidate position>.<hash of name>.10), size 1 and auto-failover on.
func Workload(name string, candidates ...string) *fsmv1.Workload {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	third := h.Sum32()%250 + 1
	w := &fsmv1.Workload{
		Name:               name,
		Group:              "g-" + name,
		Candidates:         append([]string(nil), candidates...),
		Addresses:          map[string]*fsmv1.AddressList{},
		Size:               1,
		AutoFailover:       true,
		HookTimeoutSeconds: 60,
		Desired:            "online",
	}
	for i, c := range candidates {
		w.Addresses[c] = &fsmv1.AddressList{Addresses: []string{fmt.Sprintf("10.%d.%d.10", i+1, third)}}
	}
	return w
}

// FaultDomain returns a fault domain with a description.
func FaultDomain(name string) *fsmv1.FaultDomain {
	return &fsmv1.FaultDomain{Name: name, Description: "fault domain " + name}
}

// AvailabilitySet returns an availability set.
func AvailabilitySet(name string, hard bool) *fsmv1.AvailabilitySet {
	return &fsmv1.AvailabilitySet{Name: name, Hard: hard}
}

// Master returns a master registration on 127.0.0.(D+1), D being the last digit of id (0 if none).
func Master(id string) *fsmv1.Master {
	n := 0
	if id != "" && id[len(id)-1] >= '0' && id[len(id)-1] <= '9' {
		n = int(id[len(id)-1] - '0')
	}
	return &fsmv1.Master{
		Id:            id,
		RaftAddr:      fmt.Sprintf("127.0.0.%d:7101", n+1),
		GrpcAddr:      fmt.Sprintf("127.0.0.%d:7100", n+1),
		HttpAddr:      fmt.Sprintf("127.0.0.%d:7180", n+1),
		DnsAddr:       fmt.Sprintf("127.0.0.%d:8600", n+1),
		SchemaVersion: 1,
	}
}

// Operation returns a planned move of workload from source to target (servers SOURCE-1 and
// TARGET-1) in no phase yet: the FSM starts it as pending.
func Operation(id, workload, source, target string) *fsmv1.Operation {
	op := &fsmv1.Operation{Id: id, Workload: workload, Reason: "planned", SourceMember: source, TargetMember: target}
	if source != "" {
		op.SourceServer = source + "-1"
	}
	if target != "" {
		op.TargetServer = target + "-1"
	}
	return op
}

// Token returns an API token with role whose hash is the SHA-256 of secret, created by "master:m1".
func Token(name, role, secret string) *fsmv1.Token {
	h := sha256.Sum256([]byte(secret))
	return &fsmv1.Token{Name: name, Role: role, Hash: h[:], CreatedBy: "master:m1"}
}
