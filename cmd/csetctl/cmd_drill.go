package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

type drillPhaseJSON struct {
	Phase string `json:"phase"`
	At    string `json:"at"`
	Ms    int64  `json:"ms"`
}

type drillStepJSON struct {
	Workload        string `json:"workload"`
	From            string `json:"from_member"`
	To              string `json:"to_member"`
	Server          string `json:"to_server"`
	Wave            uint32 `json:"wave"`
	Reason          string `json:"reason"`
	ExpectedStartMs int64  `json:"expected_start_ms"`
	// After --execute --wait: where it went, by which operation, through which phases, in how
	// long, and when DNS switched to it (the server's drill report).
	Actual       string           `json:"actual_member"`
	ActualServer string           `json:"actual_server"`
	OperationID  string           `json:"operation_id"`
	Result       string           `json:"result"`
	Error        string           `json:"error"`
	Phases       []drillPhaseJSON `json:"phases"`
	TookMs       int64            `json:"took_ms"`
	DNSSwitch    string           `json:"dns_switch"`
	DNSSwitchMs  int64            `json:"dns_switch_ms"`
}

type drillJSON struct {
	Members       []string        `json:"members"`
	Steps         []drillStepJSON `json:"steps"`
	DetectionMs   int64           `json:"detection_ms"`
	ExpectedMs    int64           `json:"expected_ms"`
	EstimateBasis string          `json:"estimate_basis"`
	Planned       bool            `json:"planned"`
	Executed      bool            `json:"executed"`
	// Matched: after --execute --wait, every workload went where the drill predicted.
	Matched bool `json:"matched"`
	// FailbackCommands, after --execute: the commands that end the drill and move back the
	// workloads that do not return by themselves; FailbackAuto: those that do (failback: auto
	// to the member they left).
	FailbackCommands []string `json:"failback_commands"`
	FailbackAuto     []string `json:"failback_auto"`
}

func toDrillJSON(r *apiv1.DrillResponse, planned bool) drillJSON {
	out := drillJSON{Members: nonNil(r.GetMembers()), Steps: []drillStepJSON{}, DetectionMs: r.GetDetectionMs(), ExpectedMs: r.GetExpectedMs(),
		EstimateBasis: r.GetEstimateBasis(), Planned: planned || r.GetExecuted(), Executed: r.GetExecuted(),
		FailbackCommands: []string{}, FailbackAuto: []string{}}
	for _, s := range r.GetSteps() {
		out.Steps = append(out.Steps, drillStepJSON{Workload: s.GetWorkload(), From: s.GetFromMember(), To: s.GetToMember(), Server: s.GetToServer(),
			Wave: s.GetWave(), Reason: s.GetReason(), ExpectedStartMs: s.GetExpectedStartMs(), Phases: []drillPhaseJSON{}})
	}
	return out
}

// addReport fills in the steps of doc from a drill report (DrillRequest.report_operations).
func (doc *drillJSON) addReport(r *apiv1.DrillResponse) {
	by := map[string]*apiv1.DrillStep{}
	for _, s := range r.GetSteps() {
		by[s.GetWorkload()] = s
	}
	for i := range doc.Steps {
		s := by[doc.Steps[i].Workload]
		if s == nil {
			continue
		}
		d := &doc.Steps[i]
		d.OperationID, d.Actual, d.ActualServer, d.Result, d.Error = s.GetOperationId(), s.GetActualMember(), s.GetActualServer(), s.GetResult(), s.GetError()
		d.TookMs, d.DNSSwitch, d.DNSSwitchMs = s.GetTookMs(), timeString(s.GetDnsSwitchUnixNano()), s.GetDnsSwitchMs()
		d.Phases = []drillPhaseJSON{}
		for _, p := range s.GetPhases() {
			d.Phases = append(d.Phases, drillPhaseJSON{Phase: p.GetPhase(), At: timeString(p.GetAtUnixNano()), Ms: p.GetMs()})
		}
	}
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

func (a *app) drillCommand() *cobra.Command {
	var members, domains []string
	var planned, execute, wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "drill --member M [--member M2] [--fault-domain F] [--planned | --execute [--wait]]",
		Short: "Predict (or rehearse) the loss of members: where each workload would go, in which order, how long",
		Long: `drill predicts, from the current state and without changing anything, what the
loss of the given members (or of every member of the given fault domains) would
do: where each workload running there would be started, in which dependency wave
(a workload starts once its dependencies run), which would find no place and why
(capacity, hard spread, dependencies), and the expected time: detection
(fence_after) plus each wave's longest expected start, from recent starts.

--planned predicts instead the planned evacuation that --execute runs: the
members drained, dependents leaving before what they depend on (while it still
runs), no detection time.

--execute rehearses it for real as a planned evacuation: the members are set
draining, and the controller moves their workloads off (no detection time).
With --wait, csetctl follows it until no workload of the drill is left on the
members, then reports per workload where it went, by which operation, the
phases that operation went through with the time of each, the total time and
when DNS switched to the new member, and whether all that matches the
prediction. An executed drill ends with the commands that fail back:
'csetctl member undrain' for each member, then 'csetctl workload move' for the
workloads that do not return by themselves (failback: auto to the member they
left).`,
		Example: `  csetctl drill --member east
  csetctl drill --fault-domain site-a
  csetctl drill --member east --planned
  csetctl drill --member east --execute --wait`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(members) == 0 && len(domains) == 0 {
				return usagef("drill needs --member or --fault-domain")
			}
			if err := checkList("--member: member", members); err != nil {
				return &usageError{msg: err.Error()}
			}
			if err := checkList("--fault-domain: fault domain", domains); err != nil {
				return &usageError{msg: err.Error()}
			}
			if wait && !execute {
				return usagef("--wait applies with --execute only")
			}
			if planned && execute {
				return usagef("--planned predicts what --execute would do without doing it: give one of them")
			}
			r, err := call(cmd.Context(), a, service.Drill, &apiv1.DrillRequest{Members: members, FaultDomains: domains, Execute: execute, Planned: planned})
			if err != nil {
				return err
			}
			doc := toDrillJSON(r, planned)
			var workloads map[string]*apiv1.Workload
			if execute && wait {
				if workloads, err = a.followDrill(cmd.Context(), r, &doc, waitTimeout); err != nil {
					return err
				}
			} else if execute {
				// Only to tell which workloads return by themselves; the drill runs already.
				ws, err := call(cmd.Context(), a, service.ListWorkloads, &apiv1.ListRequest{Read: a.readOpts()})
				if err != nil {
					fmt.Fprintf(a.stderr, "warning: reading the workloads' failback settings failed (%v): every move back is listed\n", err)
				}
				workloads = workloadsByName(ws.GetWorkloads())
			}
			if execute {
				doc.FailbackCommands, doc.FailbackAuto = failbackCommands(doc, workloads, execute && wait)
			}
			return a.emit(doc, func() error { return a.printDrill(r, doc, execute && wait) })
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&members, "member", nil, "a member to lose (repeatable)")
	f.StringArrayVar(&domains, "fault-domain", nil, "a fault domain whose members to lose (repeatable)")
	f.BoolVar(&planned, "planned", false, "predict the planned evacuation that --execute runs instead of a loss")
	f.BoolVar(&execute, "execute", false, "rehearse it for real: set the members draining (a planned evacuation)")
	f.BoolVar(&wait, "wait", false, "with --execute, follow the evacuation and report what happened")
	f.DurationVar(&waitTimeout, "wait-timeout", 30*time.Minute, "with --wait, give up after this long (the evacuation goes on)")
	a.completeFlag(cmd, "member", a.memberNames())
	return cmd
}

func workloadsByName(ws []*apiv1.Workload) map[string]*apiv1.Workload {
	out := map[string]*apiv1.Workload{}
	for _, w := range ws {
		out[w.GetName()] = w
	}
	return out
}

// failbackCommands returns the commands that end an executed drill: 'member undrain' for each
// member, then a 'workload move' back to the member it left for each workload that moved (the
// predicted ones; with followed, those that did) and does not return there by itself, in the
// order of the steps; and the workloads that do return by themselves: failback: auto with the
// member they left as first candidate. workloads may be nil (unknown: every move is listed).
func failbackCommands(doc drillJSON, workloads map[string]*apiv1.Workload, followed bool) (cmds, auto []string) {
	cmds, auto = []string{}, []string{}
	for _, m := range doc.Members {
		cmds = append(cmds, "csetctl member undrain "+m)
	}
	for _, s := range doc.Steps {
		to := s.To
		if followed {
			to = s.Actual
			if s.Result != "done" {
				to = ""
			}
		}
		if to == "" || slices.Contains(doc.Members, to) {
			continue
		}
		w := workloads[s.Workload]
		if w.GetFailback() == "auto" && len(w.GetCandidates()) > 0 && w.GetCandidates()[0] == s.From {
			auto = append(auto, s.Workload)
			continue
		}
		cmds = append(cmds, fmt.Sprintf("csetctl workload move %s --to %s", s.Workload, s.From))
	}
	return cmds, auto
}

func giveUp(timeout time.Duration) error {
	return fmt.Errorf("gave up waiting after --wait-timeout %s: the evacuation goes on; follow it with 'csetctl operation list'", timeout)
}

// followDrill waits until no workload of the drill is placed on its members with an operation
// in flight, then fills in where each went and, from the masters' drill report, by which
// operation, through which phases, in how long. It returns the workloads as it last read them.
func (a *app) followDrill(ctx context.Context, r *apiv1.DrillResponse, doc *drillJSON, timeout time.Duration) (map[string]*apiv1.Workload, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ws, err := call(ctx, a, service.ListWorkloads, &apiv1.ListRequest{Read: a.readOpts()})
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, giveUp(timeout)
			}
			return nil, err
		}
		byName := workloadsByName(ws.GetWorkloads())
		done := true
		for _, s := range r.GetSteps() {
			w := byName[s.GetWorkload()]
			if w == nil {
				continue
			}
			if w.GetActiveOperationId() != "" || (slices.Contains(r.GetMembers(), w.GetMember()) && s.GetToMember() != "") || w.GetStatus() != "Online" && s.GetToMember() != "" {
				done = false
			}
		}
		if done {
			if err := a.reportDrill(ctx, r, doc, byName); err != nil {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return nil, giveUp(timeout)
				}
				return nil, fmt.Errorf("the evacuation is over, but reading its report failed: %w", err)
			}
			return byName, nil
		}
		t := time.NewTimer(a.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, giveUp(timeout)
		case <-t.C:
		}
	}
}

// reportDrill fills in doc once the evacuation is over: each workload that left the members
// did so by the operation that placed it where it is now (its operation_id), when that
// operation's source is one of the drill's members; the masters report what those operations
// did (DrillRequest.report_operations).
func (a *app) reportDrill(ctx context.Context, r *apiv1.DrillResponse, doc *drillJSON, byName map[string]*apiv1.Workload) error {
	ops, err := call(ctx, a, service.ListOperations, &apiv1.ListRequest{Read: a.readOpts()})
	if err != nil {
		return err
	}
	source := map[string]string{}
	for _, op := range ops.GetOperations() {
		source[op.GetId()] = op.GetSourceMember()
	}
	var ids []string
	for _, s := range r.GetSteps() {
		w := byName[s.GetWorkload()]
		id := w.GetOperationId()
		if w == nil || id == "" || slices.Contains(r.GetMembers(), w.GetMember()) || !slices.Contains(r.GetMembers(), source[id]) || slices.Contains(ids, id) {
			continue
		}
		ids = append(ids, id)
	}
	doc.Matched = true
	for i, s := range doc.Steps {
		doc.Steps[i].Actual = byName[s.Workload].GetMember()
		if s.To != "" && doc.Steps[i].Actual != s.To {
			doc.Matched = false
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rep, err := call(ctx, a, service.Drill, &apiv1.DrillRequest{Members: r.GetMembers(), ReportOperations: ids})
	if err != nil {
		return err
	}
	doc.addReport(rep)
	return nil
}

// phasesText is a step's phases for people: each with the time spent in it, the last with
// the time it was reached.
func phasesText(s drillStepJSON) string {
	var parts []string
	for i, p := range s.Phases {
		if i == len(s.Phases)-1 {
			at := p.At
			if t, err := time.Parse(time.RFC3339Nano, p.At); err == nil {
				at = t.UTC().Format("15:04:05.000Z")
			}
			parts = append(parts, fmt.Sprintf("%s at %s", p.Phase, at))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", p.Phase, ms(p.Ms)))
	}
	return strings.Join(parts, ", ")
}

func (a *app) printDrill(r *apiv1.DrillResponse, doc drillJSON, followed bool) error {
	verb := "losing"
	switch {
	case r.GetExecuted():
		verb = "evacuating"
	case doc.Planned:
		verb = "evacuating (planned, not executed)"
	}
	fmt.Fprintf(a.stdout, "drill: %s %s\n", verb, strings.Join(r.GetMembers(), ","))
	if len(doc.Steps) == 0 {
		fmt.Fprintln(a.stdout, "no workload runs there: nothing would move")
		return nil
	}
	header := []string{"WAVE", "WORKLOAD", "FROM", "TO", "EXPECTED", "WHY"}
	if followed {
		header = append(header, "WENT TO", "OPERATION", "RESULT", "TOOK", "DNS SWITCH")
	}
	t := newTable(a.stdout, header...)
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	for _, s := range doc.Steps {
		row := []string{fmt.Sprint(s.Wave), s.Workload, s.From, dash(s.To), ms(s.ExpectedStartMs), s.Reason}
		if followed {
			took, dns := "-", "-"
			if s.OperationID != "" {
				took = ms(s.TookMs)
			}
			if s.DNSSwitch != "" {
				dns = ms(s.DNSSwitchMs)
			}
			row = append(row, dash(s.Actual), dash(s.OperationID), dash(s.Result), took, dns)
		}
		t.row(row...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if r.GetDetectionMs() > 0 {
		fmt.Fprintf(a.stdout, "expected: %s (detection %s, then the waves one after another)\n", ms(r.GetExpectedMs()), ms(r.GetDetectionMs()))
	} else {
		fmt.Fprintf(a.stdout, "expected: %s (the waves one after another)\n", ms(r.GetExpectedMs()))
	}
	fmt.Fprintf(a.stdout, "start times: %s\n", r.GetEstimateBasis())
	if followed {
		var lines []string
		for _, s := range doc.Steps {
			if len(s.Phases) > 0 {
				line := fmt.Sprintf("  %s (%s): %s", s.Workload, s.OperationID, phasesText(s))
				if s.Error != "" {
					line += "; " + s.Error
				}
				lines = append(lines, line)
			}
		}
		if len(lines) > 0 {
			fmt.Fprintln(a.stdout, "phases (time spent in each):")
			for _, l := range lines {
				fmt.Fprintln(a.stdout, l)
			}
			fmt.Fprintln(a.stdout, "TOOK: from the operation's creation to its end. DNS SWITCH: from its creation to the commit that placed the workload Online on the new member, when the masters' DNS answer started naming it (resolvers may keep the old answer up to the zone's TTL).")
		}
	}
	switch {
	case followed && doc.Matched:
		fmt.Fprintln(a.stdout, "every workload went where the drill predicted")
	case followed:
		fmt.Fprintln(a.stdout, "some workloads went elsewhere than predicted (the state changed, or capacity was taken meanwhile)")
	}
	if r.GetExecuted() {
		fmt.Fprintf(a.stdout, "the members are draining; to fail back:\n")
		for _, c := range doc.FailbackCommands {
			fmt.Fprintf(a.stdout, "  %s\n", c)
		}
		switch len(doc.FailbackAuto) {
		case 0:
		case 1:
			fmt.Fprintf(a.stdout, "%s returns by itself once its member is undrained (failback: auto, after its failback_after)\n", doc.FailbackAuto[0])
		default:
			fmt.Fprintf(a.stdout, "%s return by themselves once their members are undrained (failback: auto, after their failback_after)\n", strings.Join(doc.FailbackAuto, ", "))
		}
	}
	return nil
}
