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
	"github.com/cset-project/cset/devset"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// devSet is what `csetd agent -dev` runs (package devset), built in the test process on free
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
	for k, m := range devset.Members {
		for i := range devset.Workloads {
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

	world := devset.World{ControlAddr: "127.0.0.1:0", Listen: "127.0.0.1:0", Address: func(m string, i int) string { return d.addrs[m][i] },
		WitnessURL: cfg.Witness, Master: srv.Addrs().GRPC, Controller: cfg.Controller}
	simCfg := world.SimConfig()
	sim, err := ecxsim.New(simCfg, logger.Named("ecxsim"))
	if err == nil {
		err = sim.Start()
	}
	if err != nil {
		t.Fatalf("ECX simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	d.sim = sim

	decl := world.Declaration(sim.ServerURL)
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
		if _, w := srv.FSM().Counts(); w != len(devset.Workloads) {
			return fmt.Errorf("follower knows %d workloads", w)
		}
		return nil
	})
	return srv, "http://" + srv.Addrs().HTTP + "/ui/"
}
