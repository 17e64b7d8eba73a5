package server_test

import (
	"strings"
	"testing"

	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A workload's probe reaches the state with every default filled in; a workload that declares
// services and no probe is probed on the first service's port; bad probes are refused with the
// reason and leave the state as it was.
func TestServer_WorkloadProbe(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.WaitForLeader().Client()
	seed(t, cl)
	ctx := clustertest.Ctx(t)
	addrs := map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.20"}}, "west": {Addresses: []string{"10.0.2.20"}}}
	reg := func(name string, probe *apiv1.ProbeSpec, services ...*apiv1.Service) (*apiv1.Workload, error) {
		return cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: name, Group: "g-" + name, Candidates: []string{"east", "west"},
			Addresses: addrs, Probe: probe, Services: services})
	}

	w, err := reg("db", &apiv1.ProbeSpec{Target: "http://:8080/ready", ExpectStatus: "200", Dns: "WITHHOLD"})
	if err != nil {
		t.Fatal(err)
	}
	want := &apiv1.ProbeSpec{Target: "http://:8080/ready", ExpectStatus: "200", TimeoutMs: 2000, IntervalMs: 5000, GraceMs: 30000,
		HealthyAfter: 1, UnhealthyAfter: 3, Dns: "withhold"}
	if !proto.Equal(w.GetProbe(), want) {
		t.Errorf("stored probe %v, want %v", w.GetProbe(), want)
	}
	if r := w.GetProbeResult(); r.GetReachability() != "" {
		t.Errorf("a workload not placed has probe result %v", r)
	}

	w, err = reg("api", nil, &apiv1.Service{Name: "_grpc._tcp", Port: 9090}, &apiv1.Service{Name: "_http._tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.GetProbe().GetTarget(); got != "tcp:9090" {
		t.Errorf("default probe with services %q, want tcp:9090", got)
	}
	w, err = reg("batch", &apiv1.ProbeSpec{Target: "none"}, &apiv1.Service{Name: "_http._tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if w.GetProbe() != nil {
		t.Errorf("probe none stored as %v", w.GetProbe())
	}

	for _, tc := range []struct {
		name  string
		probe *apiv1.ProbeSpec
		addrs map[string]*apiv1.AddressList
		msg   string
	}{
		{"unknown form", &apiv1.ProbeSpec{Target: "ping"}, addrs, `probe "ping" is not understood`},
		{"a host", &apiv1.ProbeSpec{Target: "http://db:80/"}, addrs, "leave the host out"},
		{"options without a target", &apiv1.ProbeSpec{TimeoutMs: 100}, addrs, "the target is empty"},
		{"status on tcp", &apiv1.ProbeSpec{Target: "tcp:80", ExpectStatus: "200"}, addrs, "expect_status applies to http(s) probes only"},
		{"bad status", &apiv1.ProbeSpec{Target: "http://:80/", ExpectStatus: "2xx"}, addrs, "within 100-599"},
		{"interval below timeout", &apiv1.ProbeSpec{Target: "tcp:80", TimeoutMs: 3000, IntervalMs: 1000}, addrs, "at least the timeout"},
		{"dns", &apiv1.ProbeSpec{Target: "tcp:80", Dns: "hide"}, addrs, `dns "hide" is unknown`},
		{"no address to probe", &apiv1.ProbeSpec{Target: "tcp:80"}, map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.20"}}}, `candidate "west" has no address to probe`},
	} {
		_, err := cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "bad", Group: "g-bad", Candidates: []string{"east", "west"}, Addresses: tc.addrs, Probe: tc.probe})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("%s: %v, want InvalidArgument containing %q", tc.name, err, tc.msg)
		}
	}
	if _, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "bad"}); status.Code(err) != codes.NotFound {
		t.Errorf("a refused workload is in the state: %v", err)
	}
}
