package ui_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// devSet is what `csetd agent -dev` runs (cmd/csetd/dev.go), built in the test process on free
// ports so that it never collides with a dev master or with other tests: a witness, one master
// with the dev configuration and the HTTP console, and the ECX simulator with members east and
// west (two servers each) and the workloads web (HTTP probe), db (TCP probe) and api (no probe).
type devSet struct {
	srv    *server.Server
	sim    *ecxsim.Sim
	client apiv1.ClusterSetServiceClient
	// base is the console's URL: http://127.0.0.1:PORT/ui/
	base       string
	witnessURL string
	// addrs[member][i] is the address of the i-th workload (web, db, api) on member.
	addrs map[string][]string
}

var devWorkloads = []struct {
	name  string
	port  int
	probe string
}{{"web", 8080, "http://:8080/"}, {"db", 5432, "tcp:5432"}, {"api", 9090, ""}}

type setOptions struct {
	auth    bool // -auth
	noSim   bool // no simulator and no workloads
	dataDir string
	// writeTimeout overrides the HTTP server's write timeout (10 s).
	writeTimeout time.Duration
}

func startDevSet(t *testing.T, opt setOptions) *devSet {
	t.Helper()
	logger := testutil.LoggerAt(t, "", hclog.Warn)
	// The workloads' addresses: a random 127.x.y.0/24 per test, so that their fixed ports never
	// collide with a dev master (127.1.0.x, 127.2.0.x) or another test.
	x, y := 10+rand.IntN(200), rand.IntN(250)
	d := &devSet{addrs: map[string][]string{}}
	for k, m := range []string{"east", "west"} {
		for i := range devWorkloads {
			d.addrs[m] = append(d.addrs[m], fmt.Sprintf("127.%d.%d.%d", x, y, 10+10*k+i))
		}
	}

	ws, err := witness.NewServer(witness.ServerConfig{DataDir: t.TempDir(), RestartHold: -1, Logger: logger.Named("witness")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	wl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ws.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(wl) }()
	t.Cleanup(func() { hs.Close() })

	cfg := config.Default()
	cfg.ApplyDev()
	cfg.GRPCAddr, cfg.RaftAddr, cfg.DNSAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = opt.dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Witness = "http://" + wl.Addr().String()
	cfg.Auth = opt.auth
	cfg.Dev = !opt.auth // -dev refuses -auth: the rest of the dev configuration stays
	if opt.writeTimeout > 0 {
		cfg.HTTP.WriteTimeout = opt.writeTimeout
	}
	d.witnessURL = cfg.Witness
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := server.New(cfg, logger.Named("master"), server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d.srv = srv
	d.base = "http://" + srv.Addrs().HTTP + "/ui/"
	testutil.Eventually(t, 30*time.Second, func() error {
		if !srv.IsLeader() {
			return fmt.Errorf("not leader yet")
		}
		return nil
	})
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d.client = apiv1.NewClusterSetServiceClient(conn)
	if opt.noSim {
		return d
	}

	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
	for _, name := range []string{"east", "west"} {
		cl := ecxsim.ClusterConfig{
			Name: name, User: "admin", Password: "dev-" + name,
			HeartbeatTimeout: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond, WitnessURL: cfg.Witness,
			Guard:   &ecxsim.GuardConfig{Masters: []string{srv.Addrs().GRPC}, Timeout: cfg.Controller.GuardTimeout, StopTimeout: cfg.Controller.GuardStopTimeout},
			Servers: []ecxsim.ServerConfig{{Name: name + "-1", Listen: "127.0.0.1:0"}, {Name: name + "-2", Listen: "127.0.0.1:0"}},
		}
		for i, g := range devWorkloads {
			cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: g.name, StartDuration: 2 * time.Second, StopDuration: time.Second,
				Serve: []string{net.JoinHostPort(d.addrs[name][i], fmt.Sprint(g.port))}})
		}
		simCfg.Clusters = append(simCfg.Clusters, cl)
	}
	sim, err := ecxsim.New(simCfg, logger.Named("ecxsim"))
	if err == nil {
		err = sim.Start()
	}
	if err != nil {
		t.Fatalf("ECX simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	d.sim = sim

	decl := &apiv1.Declaration{
		Set:              &apiv1.InitSetRequest{Name: "dev", Zone: "cset.test.", TtlSeconds: 5, NegativeTtlSeconds: 5},
		FaultDomains:     []*apiv1.CreateFaultDomainRequest{{Name: "rack-a", Members: []string{"east"}}, {Name: "rack-b", Members: []string{"west"}}},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "web-db", Soft: true}},
	}
	for _, m := range []string{"east", "west"} {
		mr := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "dev-" + m, HeartbeatTimeoutMs: 2000}
		for _, s := range []string{m + "-1", m + "-2"} {
			mr.Servers = append(mr.Servers, &apiv1.ServerSpec{Name: s, Url: sim.ServerURL(m, s)})
		}
		decl.Members = append(decl.Members, mr)
	}
	for i, dw := range devWorkloads {
		w := dw.name
		wr := &apiv1.RegisterWorkloadRequest{Name: w, Group: w, Candidates: []string{"east", "west"}, Size: 1,
			Addresses: map[string]*apiv1.AddressList{
				"east": {Addresses: []string{d.addrs["east"][i]}},
				"west": {Addresses: []string{d.addrs["west"][i]}},
			}}
		if dw.probe != "" {
			wr.Probe = &apiv1.ProbeSpec{Target: dw.probe, IntervalMs: 2000, GraceMs: 10000}
		}
		if w == "web" || w == "db" {
			wr.AvailabilitySet = "web-db"
		}
		if w == "web" {
			wr.Services = []*apiv1.Service{{Name: "_http._tcp", Port: 8080}}
		}
		decl.Workloads = append(decl.Workloads, wr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.client.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		t.Fatalf("declaring the dev set: %v", err)
	}
	return d
}

// addFollower starts a second master that joins d's and waits until it has applied the set's
// workloads; it returns the follower and its console's URL.
func (d *devSet) addFollower(t *testing.T) (*server.Server, string) {
	t.Helper()
	cfg := config.Default()
	cfg.ApplyDev()
	cfg.NodeID, cfg.Bootstrap, cfg.Join = "follower", false, d.srv.Addrs().GRPC
	cfg.GRPCAddr, cfg.RaftAddr, cfg.DNSAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir, cfg.Witness = t.TempDir(), d.witnessURL
	if err := cfg.Validate(); err != nil {
		t.Fatalf("follower config: %v", err)
	}
	srv, err := server.New(cfg, testutil.LoggerAt(t, "follower ", hclog.Warn), server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	testutil.Eventually(t, 60*time.Second, func() error {
		if _, w := srv.FSM().Counts(); w != len(devWorkloads) {
			return fmt.Errorf("follower knows %d workloads", w)
		}
		return nil
	})
	return srv, "http://" + srv.Addrs().HTTP + "/ui/"
}
