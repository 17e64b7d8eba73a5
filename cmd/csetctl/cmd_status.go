package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the leader, the masters and a summary of the cluster set",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := call(cmd.Context(), a, service.Status, &apiv1.StatusRequest{Read: a.readOpts()})
			if err != nil {
				return err
			}
			return a.emit(toStatusJSON(s), func() error { return a.printStatus(s) })
		},
	}
}

func (a *app) printStatus(s *apiv1.StatusResponse) error {
	set := s.GetClusterSet()
	if set == "" {
		set = "(not initialised: run csetctl set init)"
	} else {
		set += " (zone " + s.GetZone() + ")"
	}
	served := s.GetServedBy()
	if ms := s.GetLastContactMs(); ms >= 0 {
		served += fmt.Sprintf(" (follower, last contact with the leader %dms ago)", ms)
	} else {
		served += " (leader)"
	}
	leader := "none"
	if l := s.GetLeader(); l.GetId() != "" {
		leader = l.GetId() + " " + l.GetGrpcAddr()
	}
	err := kv(a.stdout,
		"cluster set", set,
		"served by", served,
		"leader", leader,
		"term", fmt.Sprint(s.GetTerm()),
		"commit index", fmt.Sprintf("%d (applied %d)", s.GetCommitIndex(), s.GetAppliedIndex()),
		"members", fmt.Sprint(s.GetMembers()),
		"workloads", fmt.Sprint(s.GetWorkloads()),
		"witness", witnessSummary(s.GetWitness())+viewFrom(s),
		"brake", brakeText(s),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	return printMasters(a, s.GetMasters())
}

// viewFrom says, on a follower, whose view of the lease the witness line shows.
func viewFrom(s *apiv1.StatusResponse) string {
	switch {
	case s.GetLastContactMs() < 0:
		return ""
	case s.GetLeaderViewFrom() == "":
		return " (this follower's own view: the leader did not answer, so the lease it holds is unknown)"
	}
	return " (as leader " + s.GetLeaderViewFrom() + " holds it)"
}

func brakeText(s *apiv1.StatusResponse) string {
	switch {
	case s.GetLeaderViewFrom() == "":
		return "unknown (no answer from the leader)"
	case s.GetBrake():
		return "ENGAGED: most members look down, automatic failovers are held"
	}
	return "off"
}

func witnessSummary(w *apiv1.WitnessInfo) string {
	if !w.GetConfigured() {
		return "not configured (members are declared down only by an operator)"
	}
	if ws := w.GetWitnesses(); len(ws) > 1 {
		// Several witnesses: the majority result, then one line per witness.
		out := fmt.Sprintf("%d witnesses, %d of them grant the lease (%d needed)", len(ws), w.GetGranting(), w.GetMajority())
		if w.GetRemainingMs() > 0 {
			out += fmt.Sprintf(": held by a majority for %s", time.Duration(w.GetRemainingMs())*time.Millisecond)
		} else {
			out += ": NO MAJORITY, the leader makes no ECX call"
		}
		for _, e := range ws {
			out += "\n  " + witnessLine(e.GetUrl(), e.GetReachable(), e.GetHolder(), e.GetTerm(), e.GetRemainingMs(), e.GetLastError())
		}
		return out
	}
	return witnessLine(w.GetUrl(), w.GetReachable(), w.GetHolder(), w.GetTerm(), w.GetRemainingMs(), w.GetLastError())
}

// witnessLine describes the lease at one witness.
func witnessLine(url string, reachable bool, holder string, term uint64, remainingMs int64, lastError string) string {
	out := url
	if reachable {
		out += " reachable"
	} else {
		out += " UNREACHABLE"
	}
	if holder != "" {
		out += fmt.Sprintf(", lease held by %s (term %d, %s left)", holder, term, time.Duration(remainingMs)*time.Millisecond)
	}
	if lastError != "" {
		out += ", last error: " + lastError
	}
	return out
}

func printMasters(a *app, ms []*apiv1.MasterInfo) error {
	t := newTable(a.stdout, "MASTER", "ROLE", "VOTER", "RAFT ADDR", "GRPC ADDR")
	for _, m := range ms {
		voter := yesNo(m.GetVoter())
		if m.GetVoter() && m.GetTiebreaker() {
			voter = "tiebreaker"
		}
		t.row(m.GetId(), m.GetRole(), voter, m.GetRaftAddr(), m.GetGrpcAddr())
	}
	return t.flush()
}

func (a *app) raftCommand() *cobra.Command {
	return groupCommand("raft", "List, add and remove masters of the Raft group",
		a.raftPeersCommand(), a.raftJoinCommand(), a.raftRemoveCommand(), a.raftTransferCommand())
}

func (a *app) raftPeersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the masters with their role and addresses",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, service.RaftPeers, &apiv1.RaftPeersRequest{Read: a.readOpts()})
			if err != nil {
				return err
			}
			return a.emit(toMastersJSON(r.GetPeers()), func() error { return printMasters(a, r.GetPeers()) })
		},
	}
}

func (a *app) raftJoinCommand() *cobra.Command {
	req := &apiv1.RaftJoinRequest{}
	cmd := &cobra.Command{
		Use:   "join ID RAFT_ADDR GRPC_ADDR",
		Short: "Add a started csetd agent to the Raft group",
		Long: `join adds the master ID, already running csetd agent with its Raft transport on
RAFT_ADDR and its gRPC API on GRPC_ADDR, to the Raft group as a voter (or with
--nonvoter as a non-voter). Same effect as starting it with -join.

The leader refuses a master that does not answer on RAFT_ADDR, or answers as
another master, and changes nothing. A voter is added as a non-voter first and
promoted once it has caught up; if that takes longer than the call (at most 30s),
the answer is Unavailable and it stays a non-voter: run the join again.`,
		Args: argNames("ID", "RAFT_ADDR", "GRPC_ADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Id, req.RaftAddr, req.GrpcAddr = args[0], args[1], args[2]
			if err := checkJoin(req); err != nil {
				return err
			}
			r, err := call(cmd.Context(), a, service.RaftJoin, req)
			if err != nil {
				return err
			}
			return a.emitf(raftJoinJSON{ID: req.Id, Index: r.GetIndex()}, "master %s joined at index %d\n", req.Id, r.GetIndex())
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.HttpAddr, "http-addr", "", "HTTP address HOST:PORT of the new master (metrics, health)")
	f.StringVar(&req.DnsAddr, "dns-addr", "", "DNS address HOST:PORT of the new master, for NS glue")
	f.BoolVar(&req.Nonvoter, "nonvoter", false, "join as a non-voting member")
	return cmd
}

func checkJoin(req *apiv1.RaftJoinRequest) error {
	if req.Id == "" {
		return usagef("ID is empty")
	}
	for _, p := range []struct{ what, v string }{
		{"RAFT_ADDR", req.RaftAddr}, {"GRPC_ADDR", req.GrpcAddr}, {"--http-addr", req.HttpAddr}, {"--dns-addr", req.DnsAddr},
	} {
		if p.v == "" && strings.HasPrefix(p.what, "--") {
			continue
		}
		if err := checkHostPort(p.what, p.v); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	return nil
}

func (a *app) raftRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a master from the Raft group",
		Args:  argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := call(cmd.Context(), a, service.RaftRemove, &apiv1.RaftRemoveRequest{Id: args[0]}); err != nil {
				return err
			}
			return a.printDeleted("master", args[0], "removed")
		},
	}
}

func (a *app) raftTransferCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "Hand leadership to master ID, or to any suitable follower",
		Args:  argNames("[ID]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &apiv1.RaftTransferLeaderRequest{}
			if len(args) == 1 {
				req.Id = args[0]
			}
			r, err := call(cmd.Context(), a, service.RaftTransferLeader, req)
			if err != nil {
				return err
			}
			return a.emitf(struct {
				Leader leaderJSON `json:"leader"`
			}{toLeaderJSON(r.GetLeader())}, "leader is now %s (%s)\n", r.GetLeader().GetId(), r.GetLeader().GetGrpcAddr())
		},
	}
}

var zoneLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// canonicalZone checks a DNS zone name and returns it fully qualified.
func canonicalZone(z string) (string, error) {
	fq := strings.TrimSuffix(z, ".")
	bad := fq == "" || len(fq) > 253
	for _, l := range strings.Split(fq, ".") {
		bad = bad || !zoneLabel.MatchString(l)
	}
	if bad {
		return "", fmt.Errorf("--zone %q: want a DNS domain name such as cset.example.com.", z)
	}
	return fq + ".", nil
}

func (a *app) setCommand() *cobra.Command {
	var zone string
	var ttl, negTTL time.Duration
	initCmd := &cobra.Command{
		Use:   "init NAME --zone ZONE",
		Short: "Name the cluster set and set its DNS zone and TTLs",
		Long: `init sets the name of the cluster set, the DNS zone the masters answer for
(a trailing dot is added when missing) and the TTLs of positive and negative
answers. Running it again changes the settings.`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName("cluster set", args[0]); err != nil {
				return &usageError{msg: err.Error()}
			}
			if zone == "" {
				return usagef("--zone is required, e.g. --zone cset.example.com.")
			}
			z, err := canonicalZone(zone)
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			t, err := seconds("--ttl", ttl)
			if err != nil || t == 0 {
				return usagef("--ttl %s: want a positive whole number of seconds, e.g. 30s", ttl)
			}
			n, err := seconds("--negative-ttl", negTTL)
			if err != nil || n == 0 {
				return usagef("--negative-ttl %s: want a positive whole number of seconds, e.g. 5s", negTTL)
			}
			r, err := call(cmd.Context(), a, service.InitSet, &apiv1.InitSetRequest{Name: args[0], Zone: z, TtlSeconds: t, NegativeTtlSeconds: n})
			if err != nil {
				return err
			}
			return a.emitf(setJSON{Name: r.GetName(), Zone: r.GetZone(), TTLSeconds: r.GetTtlSeconds(), NegativeTTLSeconds: r.GetNegativeTtlSeconds()},
				"cluster set %s: zone %s, ttl %ds, negative ttl %ds\n", r.GetName(), r.GetZone(), r.GetTtlSeconds(), r.GetNegativeTtlSeconds())
		},
	}
	f := initCmd.Flags()
	f.StringVar(&zone, "zone", "", "DNS zone of the workloads, e.g. cset.example.com. (required)")
	f.DurationVar(&ttl, "ttl", 30*time.Second, "TTL of A/AAAA/TXT/SRV answers (whole seconds, at most 24h)")
	f.DurationVar(&negTTL, "negative-ttl", 5*time.Second, "TTL of negative answers (whole seconds, at most 24h)")
	return groupCommand("set", "Settings of the cluster set", initCmd)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of csetctl",
		Args:  argNames(),
		RunE: func(*cobra.Command, []string) error {
			v := versionJSON{Version: version, Go: runtime.Version()}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v.Commit = s.Value
					}
				}
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			}
			return a.emitf(v, "csetctl %s (commit %s, %s)\n", v.Version, commit, v.Go)
		},
	}
}
