package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func (a *app) workloadCommand() *cobra.Command {
	return groupCommand("workload", "Register, inspect, start, stop, place and move workloads (ECX failover groups)",
		a.workloadRegisterCommand(),
		a.workloadListCommand(),
		a.workloadShowCommand(),
		a.workloadUnregisterCommand(),
		a.workloadDesiredCommand("start", "online", "Bring a workload online (desired state online)"),
		a.workloadDesiredCommand("stop", "offline", "Take a workload offline everywhere (desired state offline)"),
		a.workloadPlaceCommand(),
		a.workloadMoveCommand(),
	)
}

type registerFlags struct {
	group           string
	candidates      []string
	addresses       []string
	availabilitySet string
	size            int64
	noAutoFailover  bool
	hooks           []string
	hookTimeout     time.Duration
	offline         bool
	services        []string
	update          bool
	probe           probeFlags
	dependsOn       []string
	failback        string
	failbackAfter   time.Duration
}

// probeFlags are the --probe* flags of workload register (and apply's probe: block).
type probeFlags struct {
	target         string
	expectStatus   string
	timeout        time.Duration
	interval       time.Duration
	grace          time.Duration
	healthyAfter   uint32
	unhealthyAfter uint32
	dns            string
	failover       bool
}

func (a *app) workloadRegisterCommand() *cobra.Command {
	var fl registerFlags
	cmd := &cobra.Command{
		Use:   "register NAME --group G --candidates M1,M2 --address M1=IP ...",
		Short: "Register an ECX failover group as a workload (or replace one with --update)",
		Long: `register makes the ECX failover group G a workload NAME of the cluster set. The
group must exist, set to manual start, in the ECX configuration of every
candidate member. Candidates are in preference order. --address gives the
group's floating or virtual IP on each member; DNS answers NAME.<zone> with the
address on the member where the group is online.`,
		Example: `  csetctl workload register web --group failover-web --candidates east,west \
      --address east=10.0.1.10 --address west=10.0.2.10 --availability-set web-ha \
      --hook /etc/cset/hooks/copy.sh --hook-timeout 5m --service _http._tcp:80`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := registerRequest(args[0], &fl)
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			w, err := call(cmd.Context(), a, service.RegisterWorkload, req)
			if err != nil {
				return err
			}
			verb := "registered"
			if fl.update {
				verb = "updated"
			}
			return a.emitf(toWorkloadJSON(w), "workload %s %s (group %s, candidates %s)\n", w.GetName(), verb, w.GetGroup(), list(w.GetCandidates()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.group, "group", "", "ECX failover group name, the same in every candidate member (required)")
	f.StringSliceVar(&fl.candidates, "candidates", nil, "candidate members in preference order, comma separated (required)")
	f.StringArrayVar(&fl.addresses, "address", nil, "the group's address on a member, MEMBER=IP[,IP] (repeat per member; unicast only: no 0.0.0.0, ::, broadcast, multicast or link-local)")
	f.StringVar(&fl.availabilitySet, "availability-set", "", "availability set the workload belongs to")
	f.Int64Var(&fl.size, "size", 1, "capacity units the workload uses on its member (0 to 1000000000)")
	f.BoolVar(&fl.noAutoFailover, "no-auto-failover", false, "never fail over automatically; only move on request")
	f.StringArrayVar(&fl.hooks, "hook", nil, "absolute path of an executable file on every master, run on the leader as a handover hook before start (no arguments; repeatable, at most 16, run in order)")
	f.DurationVar(&fl.hookTimeout, "hook-timeout", 0, "time limit of each hook, whole seconds (0 = the masters' default)")
	f.BoolVar(&fl.offline, "offline", false, "register with desired state offline (do not start it)")
	f.StringArrayVar(&fl.services, "service", nil, "SRV record NAME:PORT with NAME the SRV prefix, e.g. _http._tcp:80 (repeatable)")
	f.BoolVar(&fl.update, "update", false, "replace an existing workload instead of failing")
	f.StringVar(&fl.failback, "failback", "", "never (default) or auto: move it back to its first candidate once that member has been up for --failback-after")
	f.DurationVar(&fl.failbackAfter, "failback-after", 0, "how long its first candidate must be up and active before an automatic failback (default 10m, whole seconds)")
	f.StringSliceVar(&fl.dependsOn, "depends-on", nil, "workloads that must be Online before this one is started (comma separated or repeated); stops run the other way round")
	f.StringVar(&fl.probe.target, "probe", "", "reachability probe of the workload's addresses: none, tcp:PORT, http://:PORT/PATH or https://:PORT/PATH (default: tcp on the first --service port, else none; docs/probe.md)")
	f.StringVar(&fl.probe.expectStatus, "probe-expect-status", "", "HTTP statuses an http(s) probe accepts, e.g. 200 or 200-299 (default 200-399)")
	f.DurationVar(&fl.probe.timeout, "probe-timeout", 0, "time limit of one probe (default 2s)")
	f.DurationVar(&fl.probe.interval, "probe-interval", 0, "time between two probes while the workload runs (default 5s)")
	f.DurationVar(&fl.probe.grace, "probe-grace", 0, "how long a start may wait for its probe to pass before it counts as failed (default 30s)")
	f.Uint32Var(&fl.probe.healthyAfter, "probe-healthy-after", 0, "probes in a row that must pass to count as reachable (default 1)")
	f.Uint32Var(&fl.probe.unhealthyAfter, "probe-unhealthy-after", 0, "probes in a row that must fail to count as unreachable (default 3)")
	f.StringVar(&fl.probe.dns, "probe-dns", "", "DNS answer while the workload is unreachable where it runs: keep (default) or withhold")
	f.BoolVar(&fl.probe.failover, "probe-failover", false, "move the workload to another candidate when it is unreachable where it runs")
	a.completeListFlag(cmd, "candidates", a.memberNames())
	a.completeFlag(cmd, "availability-set", a.availSetNames())
	return cmd
}

// registerRequest validates the register flags into a request.
func registerRequest(name string, fl *registerFlags) (*apiv1.RegisterWorkloadRequest, error) {
	if err := checkName("workload", name); err != nil {
		return nil, err
	}
	if fl.group == "" {
		return nil, fmt.Errorf("--group is required: the ECX failover group name, e.g. --group failover-%s", name)
	}
	if len(fl.candidates) == 0 {
		return nil, fmt.Errorf("--candidates is required: candidate members in preference order, e.g. --candidates east,west")
	}
	if err := checkList("--candidates: member", fl.candidates); err != nil {
		return nil, err
	}
	req := &apiv1.RegisterWorkloadRequest{
		Name: name, Group: fl.group, Candidates: fl.candidates, Size: fl.size,
		AvailabilitySet: fl.availabilitySet, NoAutoFailover: fl.noAutoFailover, Hooks: fl.hooks,
		Desired: "online", Update: fl.update, Addresses: map[string]*apiv1.AddressList{},
	}
	if fl.offline {
		req.Desired = "offline"
	}
	for _, s := range fl.addresses {
		m, ips, err := parseAddress(s)
		if err != nil {
			return nil, err
		}
		if !contains(fl.candidates, m) {
			return nil, fmt.Errorf("--address %s: %s is not in --candidates %s", s, m, list(fl.candidates))
		}
		if _, dup := req.Addresses[m]; dup {
			return nil, fmt.Errorf("--address %s: member %s is given twice; list several IPs as %s=IP,IP", s, m, m)
		}
		req.Addresses[m] = &apiv1.AddressList{Addresses: ips}
	}
	if fl.availabilitySet != "" {
		if err := checkName("--availability-set: availability set", fl.availabilitySet); err != nil {
			return nil, err
		}
	}
	if fl.size < 0 {
		return nil, fmt.Errorf("--size %d: must not be negative", fl.size)
	}
	for _, h := range fl.hooks {
		if err := checkHook(h); err != nil {
			return nil, fmt.Errorf("--hook: %w", err)
		}
	}
	t, err := seconds("--hook-timeout", fl.hookTimeout)
	if err != nil {
		return nil, err
	}
	req.HookTimeoutSeconds = t
	for _, s := range fl.services {
		svc, err := parseService(s)
		if err != nil {
			return nil, errors.New(strings.ReplaceAll(err.Error(), "--service ", "--service: "))
		}
		req.Services = append(req.Services, svc)
	}
	if req.Probe, err = probeSpec(&fl.probe); err != nil {
		return nil, err
	}
	if err := checkList("--depends-on: workload", fl.dependsOn); err != nil {
		return nil, err
	}
	req.DependsOn = fl.dependsOn
	switch fl.failback {
	case "", "never", "auto":
	default:
		return nil, fmt.Errorf("--failback %q: use never or auto", fl.failback)
	}
	if fl.failbackAfter != 0 && fl.failback != "auto" {
		return nil, errors.New("--failback-after applies with --failback auto only")
	}
	after, err := seconds("--failback-after", fl.failbackAfter)
	if err != nil {
		return nil, err
	}
	req.Failback, req.FailbackAfterSeconds = fl.failback, after
	return req, nil
}

// failbackText is the failback line of workload show.
func failbackText(w *apiv1.Workload) string {
	if w.GetFailback() != "auto" {
		return "never"
	}
	return fmt.Sprintf("auto, to %s after %v up", first(w.GetCandidates()), time.Duration(w.GetFailbackAfterSeconds())*time.Second)
}

func first(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return s[0]
}

// probeSpec turns the --probe* flags into the request's probe: nil when none is given, so the
// masters apply their default. The target's syntax is checked by the masters.
func probeSpec(fl *probeFlags) (*apiv1.ProbeSpec, error) {
	if *fl == (probeFlags{}) {
		return nil, nil
	}
	if fl.target == "" {
		return nil, errors.New("--probe-* options need --probe: the probe's target, e.g. --probe tcp:5432 or --probe http://:8080/health")
	}
	spec := &apiv1.ProbeSpec{Target: fl.target, ExpectStatus: fl.expectStatus, HealthyAfter: fl.healthyAfter,
		UnhealthyAfter: fl.unhealthyAfter, Dns: fl.dns, Failover: fl.failover}
	for _, d := range []struct {
		name string
		v    time.Duration
		out  *uint32
	}{{"--probe-timeout", fl.timeout, &spec.TimeoutMs}, {"--probe-interval", fl.interval, &spec.IntervalMs}, {"--probe-grace", fl.grace, &spec.GraceMs}} {
		if d.v < 0 || d.v > time.Hour || d.v%time.Millisecond != 0 {
			return nil, fmt.Errorf("%s %v: give whole milliseconds up to 1h, e.g. %s 2s", d.name, d.v, d.name)
		}
		*d.out = uint32(d.v.Milliseconds())
	}
	switch fl.dns {
	case "", "keep", "withhold":
	default:
		return nil, fmt.Errorf("--probe-dns %q: use keep or withhold", fl.dns)
	}
	return spec, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *app) workloadListCommand() *cobra.Command {
	return listCommand(a, "List the workloads with their placement and status", service.ListWorkloads,
		(*apiv1.ListWorkloadsResponse).GetWorkloads, toWorkloadJSON,
		[]string{"NAME", "GROUP", "DESIRED", "MEMBER", "SERVER", "STATUS", "ADDRESS", "OPERATION"},
		func(w *apiv1.Workload) []string {
			return []string{w.GetName(), w.GetGroup(), w.GetDesired(), w.GetMember(), w.GetServer(), workloadStatus(w),
				list(w.GetAddresses()[w.GetMember()].GetAddresses()), workloadOperation(w)}
		})
}

// reachabilityUnreachable is the API's ProbeResult.reachability of a workload that clients
// cannot reach where it runs (the others: reachable, and "" for not probed yet).
const reachabilityUnreachable = "unreachable"

// workloadStatus is the STATUS column of workload list: the status ECX reports for the group
// where it is placed, followed by ", unreachable" when the masters' probe has committed that
// clients cannot reach it there (docs/probe.md), e.g. "Online, unreachable". A probe result of
// reachable or not probed yet, and a workload without a probe, add nothing. -o json keeps
// status as ECX reports it and has the result in probe_result.
func workloadStatus(w *apiv1.Workload) string {
	s := w.GetStatus()
	if r := w.GetProbeResult().GetReachability(); r == reachabilityUnreachable && s != "" {
		s += ", " + r
	}
	return s
}

func (a *app) workloadShowCommand() *cobra.Command {
	return nameCommand(a, "show NAME", "Show one workload with its placement, addresses and hooks", true, a.workloadNames(), service.GetWorkload,
		func(_ string, w *apiv1.Workload) error {
			return a.emit(toWorkloadJSON(w), func() error { return a.printWorkload(w) })
		})
}

func (a *app) printWorkload(w *apiv1.Workload) error {
	placement := "not placed"
	if w.GetMember() != "" {
		placement = w.GetMember() + "/" + w.GetServer() + " " + w.GetStatus()
		if s := shortTime(w.GetSinceUnixNano()); s != "" {
			placement += " since " + s
		}
	}
	var services []string
	for _, s := range w.GetServices() {
		services = append(services, fmt.Sprintf("%s:%d", s.GetName(), s.GetPort()))
	}
	hookTimeout := ""
	if w.GetHookTimeoutSeconds() > 0 {
		hookTimeout = (time.Duration(w.GetHookTimeoutSeconds()) * time.Second).String()
	}
	err := kv(a.stdout,
		"name", w.GetName(),
		"fqdn", w.GetFqdn(),
		"group", w.GetGroup(),
		"desired", w.GetDesired(),
		"placement", placement,
		"operation", workloadOperation(w),
		"candidates", list(w.GetCandidates()),
		"availability set", w.GetAvailabilitySet(),
		"size", fmt.Sprint(w.GetSize()),
		"auto failover", yesNo(w.GetAutoFailover()),
		"hooks", list(w.GetHooks()),
		"hook timeout", hookTimeout,
		"services", strings.Join(services, ","),
		"depends on", list(w.GetDependsOn()),
		"failback", failbackText(w),
		"probe", probeText(w.GetProbe()),
		"reachability", probeResultText(w),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t := newTable(a.stdout, "MEMBER", "ADDRESSES")
	for _, m := range sortedKeys(w.GetAddresses()) {
		t.row(m, list(w.GetAddresses()[m].GetAddresses()))
	}
	return t.flush()
}

func (a *app) workloadUnregisterCommand() *cobra.Command {
	return nameCommand(a, "unregister NAME", "Forget a workload (its ECX group is left as it is)", false, a.workloadNames(), service.UnregisterWorkload,
		func(name string, _ *apiv1.Empty) error { return a.printDeleted("workload", name, "unregistered") })
}

// workloadDesiredCommand builds start and stop: SetWorkloadDesired.
func (a *app) workloadDesiredCommand(verb, desired, short string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " NAME",
		Short:             short,
		Long:              fmt.Sprintf("%s sets the desired state of workload NAME to %q; the leader's controller acts on it.", verb, desired),
		Args:              argNames("NAME"),
		ValidArgsFunction: a.completeArgs(a.workloadNames()),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := call(cmd.Context(), a, service.SetWorkloadDesired, &apiv1.SetWorkloadDesiredRequest{Name: args[0], Desired: desired})
			if err != nil {
				return err
			}
			return a.emitf(toWorkloadJSON(w), "workload %s desired %s\n", w.GetName(), w.GetDesired())
		},
	}
}

func (a *app) workloadPlaceCommand() *cobra.Command {
	cmd := nameCommand(a, "place NAME", "Show where the scheduler would place a workload now, and why not elsewhere", true,
		a.workloadNames(), service.PlaceWorkload, func(_ string, r *apiv1.PlaceWorkloadResponse) error {
			return a.emit(toPlaceJSON(r), func() error {
				t := newTable(a.stdout, "RANK", "MEMBER", "SERVER", "SCORE", "RESULT")
				rank := 0
				for _, c := range r.GetCandidates() {
					if c.GetRejected() {
						t.row("-", c.GetMember(), c.GetServer(), "-", "rejected: "+c.GetReason())
						continue
					}
					rank++
					t.row(fmt.Sprint(rank), c.GetMember(), c.GetServer(), fmt.Sprintf("%.2f", c.GetScore()), "ok")
				}
				return t.flush()
			})
		})
	cmd.Long = `place asks the scheduler to rank every candidate member and server for workload
NAME without changing anything. Accepted candidates are listed best first with
their score; rejected ones carry the reason.`
	return cmd
}
