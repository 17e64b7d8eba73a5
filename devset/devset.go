// Package devset is the dev cluster set of `csetd agent -dev` (docs/quickstart.md): two
// simulated ECX members, east and west, of two servers each, and the workloads web, db and api.
// The dev master and the web console's browser tests build the same world from it.
package devset

import (
	"fmt"
	"net"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// Members are the dev set's members.
var Members = []string{"east", "west"}

// Workload is one dev workload: an ECX group of the same name that serves its address on Port
// while Online, with probe Probe ("" for the default: none).
type Workload struct {
	Name  string
	Port  int
	Probe string
}

// Workloads are the dev set's workloads: web with an HTTP probe, db with a TCP one, api with
// none.
var Workloads = []Workload{{"web", 8080, "http://:8080/"}, {"db", 5432, "tcp:5432"}, {"api", 9090, ""}}

// Address is the address of the i-th dev workload on member in `csetd agent -dev`: 127.1.0.1x
// on east, 127.2.0.1x on west (Linux answers on all of 127.0.0.0/8).
func Address(member string, i int) string {
	n := 1
	if member == "west" {
		n = 2
	}
	return fmt.Sprintf("127.%d.0.%d", n, 10+i)
}

// World says where the dev world lives.
type World struct {
	// ControlAddr is the simulator's control API; Listen is its servers' listen address
	// (ecxsim.ListenAuto, or "127.0.0.1:0").
	ControlAddr, Listen string
	// Address gives the i-th workload's address on a member (Address for -dev).
	Address func(member string, i int) string
	// WitnessURL is the witness the simulated servers heartbeat; Master the gRPC address their
	// guards heartbeat, with Controller's guard timings.
	WitnessURL, Master string
	Controller         config.ControllerConfig
}

// SimConfig is the simulated ECX world: manual-start groups (cset decides where they run), each
// serving its address while Online, and every server running the member guard.
func (w World) SimConfig() ecxsim.Config {
	cfg := ecxsim.Config{ControlAddr: w.ControlAddr}
	for _, name := range Members {
		cl := ecxsim.ClusterConfig{
			Name: name, User: "admin", Password: "dev-" + name,
			HeartbeatTimeout: 2 * time.Second, HeartbeatInterval: 500 * time.Millisecond, WitnessURL: w.WitnessURL,
			Guard:   &ecxsim.GuardConfig{Masters: []string{w.Master}, Timeout: w.Controller.GuardTimeout, StopTimeout: w.Controller.GuardStopTimeout},
			Servers: []ecxsim.ServerConfig{{Name: name + "-1", Listen: w.Listen}, {Name: name + "-2", Listen: w.Listen}},
		}
		for i, g := range Workloads {
			cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: g.Name, StartDuration: 2 * time.Second, StopDuration: time.Second,
				Serve: []string{net.JoinHostPort(w.Address(name, i), fmt.Sprint(g.Port))}})
		}
		cfg.Clusters = append(cfg.Clusters, cl)
	}
	return cfg
}

// Declaration is the dev set as an operator would apply it; serverURL gives the REST URL of a
// simulated server (ecxsim.Sim.ServerURL).
func (w World) Declaration(serverURL func(member, server string) string) *apiv1.Declaration {
	decl := &apiv1.Declaration{
		Set:              &apiv1.InitSetRequest{Name: "dev", Zone: "cset.test.", TtlSeconds: 5, NegativeTtlSeconds: 5},
		FaultDomains:     []*apiv1.CreateFaultDomainRequest{{Name: "rack-a", Members: []string{"east"}}, {Name: "rack-b", Members: []string{"west"}}},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "web-db", Soft: true}},
	}
	for _, m := range Members {
		mr := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "dev-" + m, HeartbeatTimeoutMs: 2000}
		for _, s := range []string{m + "-1", m + "-2"} {
			mr.Servers = append(mr.Servers, &apiv1.ServerSpec{Name: s, Url: serverURL(m, s)})
		}
		decl.Members = append(decl.Members, mr)
	}
	for i, dw := range Workloads {
		wr := &apiv1.RegisterWorkloadRequest{Name: dw.Name, Group: dw.Name, Candidates: Members, Size: 1, Addresses: map[string]*apiv1.AddressList{}}
		for _, m := range Members {
			wr.Addresses[m] = &apiv1.AddressList{Addresses: []string{w.Address(m, i)}}
		}
		if dw.Probe != "" {
			wr.Probe = &apiv1.ProbeSpec{Target: dw.Probe, IntervalMs: 2000, GraceMs: 10000}
		}
		if dw.Name == "web" || dw.Name == "db" {
			wr.AvailabilitySet = "web-db"
		}
		if dw.Name == "web" {
			wr.Services = []*apiv1.Service{{Name: "_http._tcp", Port: uint32(dw.Port)}}
		}
		decl.Workloads = append(decl.Workloads, wr)
	}
	return decl
}
