package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// devEnv is what `csetd agent -dev` embeds besides the master: a witness and a simulator of two
// ECX members whose servers run the member guard. Everything listens on 127.0.0.1 and lives in
// temporary directories.
type devEnv struct {
	witnessURL string
	sim        *ecxsim.Sim
	closers    []func() error
}

// DevControlAddr is where the embedded simulator's control API listens in -dev mode.
const DevControlAddr = "127.0.0.1:29100"

// devWorkloads are the dev set's workloads: each serves its loopback address (devAddress) on
// port while Online, web with an HTTP probe, db with a TCP one, api with the default (none).
var devWorkloads = []struct {
	name  string
	port  int
	probe string
}{{"web", 8080, "http://:8080/"}, {"db", 5432, "tcp:5432"}, {"api", 9090, ""}}

// devAddress is the address of the i-th dev workload on member: 127.1.0.1x on east, 127.2.0.1x
// on west (Linux answers on all of 127.0.0.0/8).
func devAddress(member string, i int) string {
	n := 1
	if member == "west" {
		n = 2
	}
	return fmt.Sprintf("127.%d.0.%d", n, 10+i)
}

// devSimConfig is the embedded ECX world of -dev: members east and west, two servers each, and
// the manual-start groups web, db and api (cset decides where they run). Every server runs the
// member guard against the dev master, with the master's guard timings.
func devSimConfig(witnessURL, master string, ctl config.ControllerConfig) ecxsim.Config {
	cfg := ecxsim.Config{ControlAddr: DevControlAddr}
	for _, name := range []string{"east", "west"} {
		cl := ecxsim.ClusterConfig{
			Name: name, User: "admin", Password: "dev-" + name,
			HeartbeatTimeout: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond, WitnessURL: witnessURL,
			Guard:   &ecxsim.GuardConfig{Masters: []string{master}, Timeout: ctl.GuardTimeout, StopTimeout: ctl.GuardStopTimeout},
			Servers: []ecxsim.ServerConfig{{Name: name + "-1", Listen: "auto"}, {Name: name + "-2", Listen: "auto"}},
		}
		for i, g := range devWorkloads {
			// Each group serves its address while Online, so the masters' probes test something.
			cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: g.name, StartDuration: 2 * time.Second, StopDuration: time.Second,
				Serve: []string{net.JoinHostPort(devAddress(name, i), fmt.Sprint(g.port))}})
		}
		cfg.Clusters = append(cfg.Clusters, cl)
	}
	return cfg
}

func startDevEnv(logger hclog.Logger) (*devEnv, error) {
	e := &devEnv{}
	dir, err := os.MkdirTemp("", "csetd-dev-witness-")
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() error { return os.RemoveAll(dir) })
	ws, err := witness.NewServer(witness.ServerConfig{DataDir: dir, RestartHold: -1, Logger: logger.Named("witness")})
	if err != nil {
		e.close()
		return nil, err
	}
	e.closers = append(e.closers, ws.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.close()
		return nil, err
	}
	hs := &http.Server{Handler: ws.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(lis) }()
	e.closers = append(e.closers, hs.Close)
	e.witnessURL = "http://" + lis.Addr().String()
	return e, nil
}

// startSim starts the embedded simulator once the master serves: its guards heartbeat master.
func (e *devEnv) startSim(logger hclog.Logger, master string, ctl config.ControllerConfig) error {
	sim, err := ecxsim.New(devSimConfig(e.witnessURL, master, ctl), logger.Named("ecxsim"))
	if err == nil {
		err = sim.Start()
	}
	if err != nil {
		return fmt.Errorf("embedded ECX simulator (control API %s): %w", DevControlAddr, err)
	}
	e.sim = sim
	e.closers = append(e.closers, sim.Close)
	return nil
}

func (e *devEnv) close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	return errors.Join(errs...)
}

// seedDev declares the dev cluster set through the master's own API, like an operator would.
func seedDev(ctx context.Context, srv *server.Server, e *devEnv) error {
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	decl := &apiv1.Declaration{
		Set:              &apiv1.InitSetRequest{Name: "dev", Zone: "cset.test.", TtlSeconds: 5, NegativeTtlSeconds: 5},
		FaultDomains:     []*apiv1.CreateFaultDomainRequest{{Name: "rack-a", Members: []string{"east"}}, {Name: "rack-b", Members: []string{"west"}}},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "web-db", Soft: true}},
	}
	for _, m := range []string{"east", "west"} {
		mr := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "dev-" + m, HeartbeatTimeoutMs: 2000}
		for _, s := range []string{m + "-1", m + "-2"} {
			mr.Servers = append(mr.Servers, &apiv1.ServerSpec{Name: s, Url: e.sim.ServerURL(m, s)})
		}
		decl.Members = append(decl.Members, mr)
	}
	for i, dw := range devWorkloads {
		w := dw.name
		wr := &apiv1.RegisterWorkloadRequest{Name: w, Group: w, Candidates: []string{"east", "west"}, Size: 1,
			Addresses: map[string]*apiv1.AddressList{
				"east": {Addresses: []string{devAddress("east", i)}},
				"west": {Addresses: []string{devAddress("west", i)}},
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
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = apiv1.NewClusterSetServiceClient(conn).Apply(ctx, &apiv1.ApplyRequest{Declaration: decl})
	return err
}

const devBanner = `
cset dev master %[1]q is running with simulated ECX members east and west.
  gRPC API        %[2]s
  DNS             %[3]s (zone cset.test.)
  HTTP            http://%[4]s/metrics  http://%[4]s/v1/health
  web console     http://%[4]s/ui/
  witness         %[5]s
  ECX simulator   http://%[6]s/sim/v1/state
Try:
  bin/csetctl status
  bin/csetctl workload list
  dig @%[7]s -p %[8]s web.cset.test +short
  bin/csetctl workload move web --to west --wait
  curl -X POST http://%[6]s/sim/v1/clusters/west/down     # kill a whole member, then watch:
  bin/csetctl events --follow
  bin/csetctl workload show web                           # its probe and reachability
  curl -X POST -d '{"mode":"refuse"}' http://%[6]s/sim/v1/clusters/west/groups/web/service
                                  # web's service on west stops answering while ECX says Online:
                                  # a move to west fails its probe, and DNS never points there
  curl -X POST http://%[6]s/sim/v1/clusters/west/isolate  # cut a site off the masters ...
  curl -X POST http://%[6]s/sim/v1/clusters/west/witness-cut  # ... and the witness: its guards
                                  # stop its workloads, then the masters fail them over (docs/guard.md)
Stop with Ctrl-C; all data is temporary.
`

func printDevBanner(w io.Writer, srv *server.Server, e *devEnv) {
	a := srv.Addrs()
	host, port, _ := net.SplitHostPort(a.DNS)
	fmt.Fprintf(w, devBanner, a.NodeID, a.GRPC, a.DNS, a.HTTP, e.witnessURL, DevControlAddr, host, port)
}
