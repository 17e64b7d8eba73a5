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

type drillStepJSON struct {
	Workload        string `json:"workload"`
	From            string `json:"from_member"`
	To              string `json:"to_member"`
	Server          string `json:"to_server"`
	Wave            uint32 `json:"wave"`
	Reason          string `json:"reason"`
	ExpectedStartMs int64  `json:"expected_start_ms"`
	// After --execute --wait: where it went, by which operation, in how long.
	Actual      string `json:"actual_member"`
	OperationID string `json:"operation_id"`
	TookMs      int64  `json:"took_ms"`
}

type drillJSON struct {
	Members       []string        `json:"members"`
	Steps         []drillStepJSON `json:"steps"`
	DetectionMs   int64           `json:"detection_ms"`
	ExpectedMs    int64           `json:"expected_ms"`
	EstimateBasis string          `json:"estimate_basis"`
	Executed      bool            `json:"executed"`
	// Matched: after --execute --wait, every workload went where the drill predicted.
	Matched bool `json:"matched"`
}

func toDrillJSON(r *apiv1.DrillResponse) drillJSON {
	out := drillJSON{Members: nonNil(r.GetMembers()), Steps: []drillStepJSON{}, DetectionMs: r.GetDetectionMs(), ExpectedMs: r.GetExpectedMs(),
		EstimateBasis: r.GetEstimateBasis(), Executed: r.GetExecuted()}
	for _, s := range r.GetSteps() {
		out.Steps = append(out.Steps, drillStepJSON{Workload: s.GetWorkload(), From: s.GetFromMember(), To: s.GetToMember(), Server: s.GetToServer(),
			Wave: s.GetWave(), Reason: s.GetReason(), ExpectedStartMs: s.GetExpectedStartMs()})
	}
	return out
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

func (a *app) drillCommand() *cobra.Command {
	var members, domains []string
	var execute, wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "drill --member M [--member M2] [--fault-domain F] [--execute [--wait]]",
		Short: "Predict (or rehearse) the loss of members: where each workload would go, in which order, how long",
		Long: `drill predicts, from the current state and without changing anything, what the
loss of the given members (or of every member of the given fault domains) would
do: where each workload running there would be started, in which dependency wave
(a workload starts once its dependencies run), which would find no place and why
(capacity, hard spread, dependencies), and the expected time: detection
(fence_after) plus each wave's longest expected start, from recent starts.

--execute rehearses it for real as a planned evacuation: the members are set
draining, and the controller moves their workloads off (no detection time).
With --wait, csetctl follows it until no workload of the drill is left on the
members, then reports where each went, by which operation and in how long, and
whether that matches the prediction. Afterwards, 'csetctl member undrain' ends
the drill: workloads with failback: auto return by themselves, the others with
'csetctl workload move'.`,
		Example: `  csetctl drill --member east
  csetctl drill --fault-domain site-a
  csetctl drill --member east --execute --wait`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(members) == 0 && len(domains) == 0 {
				return usagef("drill needs --member or --fault-domain")
			}
			if err := checkList("--member: member", members); err != nil {
				return &usageError{msg: err.Error()}
			}
			if wait && !execute {
				return usagef("--wait applies with --execute only")
			}
			r, err := call(cmd.Context(), a, service.Drill, &apiv1.DrillRequest{Members: members, FaultDomains: domains, Execute: execute})
			if err != nil {
				return err
			}
			doc := toDrillJSON(r)
			if execute && wait {
				if err := a.followDrill(cmd.Context(), r, &doc, waitTimeout); err != nil {
					return err
				}
			}
			return a.emit(doc, func() error { return a.printDrill(r, doc, execute && wait) })
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&members, "member", nil, "a member to lose (repeatable)")
	f.StringArrayVar(&domains, "fault-domain", nil, "a fault domain whose members to lose (repeatable)")
	f.BoolVar(&execute, "execute", false, "rehearse it for real: set the members draining (a planned evacuation)")
	f.BoolVar(&wait, "wait", false, "with --execute, follow the evacuation and report what happened")
	f.DurationVar(&waitTimeout, "wait-timeout", 30*time.Minute, "with --wait, give up after this long (the evacuation goes on)")
	a.completeFlag(cmd, "member", a.memberNames())
	return cmd
}

// followDrill waits until no workload of the drill is placed on its members with an operation
// in flight, then fills in where each went.
func (a *app) followDrill(ctx context.Context, r *apiv1.DrillResponse, doc *drillJSON, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ws, err := call(ctx, a, service.ListWorkloads, &apiv1.ListRequest{Read: a.readOpts()})
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("gave up waiting after --wait-timeout %s: the evacuation goes on; follow it with 'csetctl operation list'", timeout)
			}
			return err
		}
		byName := map[string]*apiv1.Workload{}
		for _, w := range ws.GetWorkloads() {
			byName[w.GetName()] = w
		}
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
			doc.Matched = true
			for i, s := range doc.Steps {
				w := byName[s.Workload]
				doc.Steps[i].Actual = w.GetMember()
				doc.Steps[i].OperationID = w.GetOperationId()
				if op, err := call(ctx, a, service.GetOperation, &apiv1.GetRequest{Name: w.GetOperationId(), Read: a.readOpts()}); err == nil && w.GetOperationId() != "" {
					doc.Steps[i].TookMs = (op.GetUpdatedUnixNano() - op.GetCreatedUnixNano()) / int64(time.Millisecond)
				}
				if s.To != "" && w.GetMember() != s.To {
					doc.Matched = false
				}
			}
			return nil
		}
		t := time.NewTimer(a.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting after --wait-timeout %s: the evacuation goes on; follow it with 'csetctl operation list'", timeout)
		case <-t.C:
		}
	}
}

func (a *app) printDrill(r *apiv1.DrillResponse, doc drillJSON, followed bool) error {
	verb := "losing"
	if r.GetExecuted() {
		verb = "evacuating"
	}
	fmt.Fprintf(a.stdout, "drill: %s %s\n", verb, strings.Join(r.GetMembers(), ","))
	if len(doc.Steps) == 0 {
		fmt.Fprintln(a.stdout, "no workload runs there: nothing would move")
		return nil
	}
	header := []string{"WAVE", "WORKLOAD", "FROM", "TO", "EXPECTED", "WHY"}
	if followed {
		header = append(header, "WENT TO", "OPERATION", "TOOK")
	}
	t := newTable(a.stdout, header...)
	for _, s := range doc.Steps {
		to := s.To
		if to == "" {
			to = "-"
		}
		row := []string{fmt.Sprint(s.Wave), s.Workload, s.From, to, ms(s.ExpectedStartMs), s.Reason}
		if followed {
			row = append(row, s.Actual, s.OperationID, ms(s.TookMs))
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
	switch {
	case followed && doc.Matched:
		fmt.Fprintln(a.stdout, "every workload went where the drill predicted")
	case followed:
		fmt.Fprintln(a.stdout, "some workloads went elsewhere than predicted (the state changed, or capacity was taken meanwhile)")
	}
	if r.GetExecuted() {
		fmt.Fprintf(a.stdout, "the members are draining; to fail back: csetctl member undrain %s (workloads with failback: auto return by themselves, the others with 'csetctl workload move')\n", strings.Join(r.GetMembers(), " "))
	}
	return nil
}
