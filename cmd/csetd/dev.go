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
	"github.com/cset-project/cset/devset"
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

// devSimConfig is the embedded ECX world of -dev (package devset): every server runs the member
// guard against the dev master, with the master's guard timings.
func devSimConfig(witnessURL, master string, ctl config.ControllerConfig) ecxsim.Config {
	return devWorld(witnessURL, master, ctl).SimConfig()
}

// devWorld is the dev set on its fixed control address and the simulator's loopback addresses.
func devWorld(witnessURL, master string, ctl config.ControllerConfig) devset.World {
	return devset.World{ControlAddr: DevControlAddr, Listen: ecxsim.ListenAuto, Address: devset.Address,
		WitnessURL: witnessURL, Master: master, Controller: ctl}
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
	decl := devset.World{Address: devset.Address}.Declaration(e.sim.ServerURL)
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
