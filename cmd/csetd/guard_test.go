package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestDevDefaults_Valid: the -dev timings pass the masters' validation, the fence_after
// inequality of the guards included.
func TestDevDefaults_Valid(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.ApplyDev()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if sim := devSimConfig("http://127.0.0.1:1", "127.0.0.1:7100", cfg.Controller); sim.Clusters[0].Guard.Timeout != cfg.Controller.GuardTimeout {
		t.Fatalf("the simulated guards run with timeout %v, the master expects %v", sim.Clusters[0].Guard.Timeout, cfg.Controller.GuardTimeout)
	}
}

func TestGuardFlags_Errors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"guard"}, "-cluster is required"},
		{[]string{"guard", "-cluster", "c", "-server", "s", "-ecx-user", "u", "-ecx-password-file", "f", "-state-file", "x"}, "give -masters and -witness"},
		{[]string{"guard", "-cluster", "c", "-server", "s", "-ecx-user", "u", "-ecx-password-file", "f", "-state-file", "x", "-witness", "http://w"}, "-masters is required"},
		{[]string{"guard", "-cluster", "c", "-server", "s", "-ecx-user", "u", "-ecx-password-file", "f", "-state-file", "x", "-masters", "m:1", "-witness", "http://w1,http://w2"}, "-witness: 2 witness URLs given: give an odd number"},
		{[]string{"guard", "-cluster", "c", "-server", "s", "-ecx-user", "u", "-ecx-password-file", "f", "-state-file", "x", "-masters", "m:1", "-witness", "http://w1,w2:7190,http://w3"}, `-witness: witness URL "w2:7190" must be http(s)://`},
		{[]string{"guard", "-tls-cert", "c"}, "-tls-cert and -tls-key go together"},
		{[]string{"guard", "extra"}, "unexpected arguments"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// ackMasters acknowledges guard heartbeats while on, with the groups g1.
type ackMasters struct {
	apiv1.UnimplementedClusterSetServiceServer
	on atomic.Bool
}

func (a *ackMasters) GuardHeartbeat(context.Context, *apiv1.GuardHeartbeatRequest) (*apiv1.GuardHeartbeatResponse, error) {
	if !a.on.Load() {
		return nil, status.Error(codes.Unavailable, "no leader")
	}
	return &apiv1.GuardHeartbeatResponse{Acknowledged: true, Groups: []string{"g1"}, Leader: "m1"}, nil
}

// TestGuardOnce_AgainstECX runs `csetd guard -once` as an ECX custom monitor would, against a
// simulated ECX server through ecxclient: acknowledged, it exits 0; once neither the masters nor
// the witness answered for -timeout, it stops the cset group on its server and exits 1.
func TestGuardOnce_AgainstECX(t *testing.T) {
	t.Parallel()
	sim, err := ecxsim.New(ecxsim.Config{Clusters: []ecxsim.ClusterConfig{{
		Name: "c", User: "admin", Password: "pw",
		HeartbeatTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
		Servers: []ecxsim.ServerConfig{{Name: "s1"}, {Name: "s2"}},
		Groups:  []ecxsim.GroupConfig{{Name: "g1", StopDuration: 50 * time.Millisecond}, {Name: "g2"}},
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	for _, g := range []string{"g1", "g2"} {
		req, _ := http.NewRequest(http.MethodPost, sim.ServerURL("c", "s1")+"/api/v1/groups/"+g+"/start", strings.NewReader(`{"target":"s1"}`))
		req.SetBasicAuth("admin", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	masters := &ackMasters{}
	masters.on.Store(true)
	gs := grpc.NewServer()
	apiv1.RegisterClusterSetServiceServer(gs, masters)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"guard", "-once", "-cluster", "c", "-server", "s1", "-ecx-url", sim.ServerURL("c", "s1"),
		"-ecx-user", "admin", "-ecx-password-file", pwFile, "-masters", lis.Addr().String(),
		"-witness", "http://127.0.0.1:1", "-timeout", "500ms", "-interval", "100ms", "-call-timeout", "400ms",
		"-state-file", filepath.Join(dir, "state.json")}
	once := func() (int, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := once(); code != 0 || !strings.Contains(out, "cset groups: g1") {
		t.Fatalf("acknowledged: exit %d, output %q; want 0 and the groups", code, out)
	}
	masters.on.Store(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		code, out := once()
		if code != 1 {
			return fmt.Errorf("exit %d (%s), want 1", code, out)
		}
		for _, c := range sim.State().Clusters {
			for _, g := range c.Groups {
				if g.Name == "g1" && g.RunningOn != "" {
					return fmt.Errorf("g1 still runs on %s", g.RunningOn)
				}
				if g.Name == "g2" && g.RunningOn != "s1" {
					return errors.New("g2, not cset's, was stopped")
				}
			}
		}
		return nil
	})
	masters.on.Store(true)
	if code, out := once(); code != 0 {
		t.Fatalf("acknowledged again: exit %d, output %q", code, out)
	}
}
