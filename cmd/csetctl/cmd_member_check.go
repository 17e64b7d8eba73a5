package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// Results of a member check (MemberCheck.result).
const (
	checkFail   = "fail"
	checkWarn   = "warn"
	checkManual = "manual"
)

func (a *app) memberCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check NAME",
		Short: "Check a member's ECX configuration through its REST API",
		Long: `check asks the leader, which holds the member's credentials, to read the ECX
REST API of member NAME through each of its servers and to compare what they
report with the registration and the workloads. It changes nothing.

  fail    a hard check failed: a server does not answer with the member's
          credentials and CA, the ECX cluster name or server list differs from
          the registration, a workload's group is missing, runs on a server that
          is not registered, or runs on two servers (or members) at once
  warn    works, but needs attention: certificates not verified, a server not
          Online, no witness or guard heartbeats, a group failed or started
          outside cset
  manual  what the REST API cannot show (the start attribute, the failover
          policy, the heartbeat timeout): a checklist line to confirm by hand
  ok      checked and fine

The exit code is 1 when a check failed, 0 otherwise (warnings included).`,
		Example: `  csetctl member check east
  csetctl member check east -o json | jq '.checks[] | select(.result == "fail")'`,
		Args:              argNames("NAME"),
		ValidArgsFunction: a.completeArgs(a.memberNames()),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName("member", args[0]); err != nil {
				return &usageError{msg: err.Error()}
			}
			r, err := call(cmd.Context(), a, service.CheckMember, &apiv1.CheckMemberRequest{Name: args[0]})
			if err != nil {
				return err
			}
			if err := a.emit(toMemberCheckJSON(r), func() error { return a.printMemberCheck(r) }); err != nil {
				return err
			}
			if failed := countResult(r.GetChecks(), checkFail); failed > 0 {
				return fmt.Errorf("member %s failed %d %s: fix what the fail lines say and run 'csetctl member check %s' again", r.GetMember(), failed, plural(failed, "check", "checks"), r.GetMember())
			}
			return nil
		},
	}
}

func (a *app) printMemberCheck(r *apiv1.CheckMemberResponse) error {
	t := newTable(a.stdout, "RESULT", "CHECK", "SUBJECT", "MESSAGE")
	for _, c := range r.GetChecks() {
		t.row(resultText(c.GetResult()), c.GetCheck(), checkSubject(c), c.GetMessage())
	}
	if err := t.flush(); err != nil {
		return err
	}
	failed, warned, manual := countResult(r.GetChecks(), checkFail), countResult(r.GetChecks(), checkWarn), countResult(r.GetChecks(), checkManual)
	verdict := "passed"
	if !r.GetPassed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(a.stdout, "\nmember %s %s (checked by %s): %d failed, %d %s, %d to confirm by hand\n",
		r.GetMember(), verdict, r.GetCheckedBy(), failed, warned, plural(warned, "warning", "warnings"), manual)
	return nil
}

// printMemberWarnings prints on stderr what AddMember found wrong with a member it added.
func (a *app) printMemberWarnings(member string, warnings []*apiv1.MemberCheck) {
	if len(warnings) == 0 {
		return
	}
	for _, c := range warnings {
		subject := checkSubject(c)
		if subject != "" {
			subject = ", " + subject
		}
		fmt.Fprintf(a.stderr, "warning: [%s] %s%s: %s\n", c.GetResult(), c.GetCheck(), subject, c.GetMessage())
	}
	fmt.Fprintf(a.stderr, "hint: member %s is registered all the same; fix the above, then run 'csetctl member check %s' (it also lists what to confirm by hand)\n", member, member)
}

// resultText makes failures stand out in the table.
func resultText(result string) string {
	if result == checkFail {
		return "FAIL"
	}
	return result
}

// checkSubject names what a check is about: "server east-1", "workload web (group g-web)".
func checkSubject(c *apiv1.MemberCheck) string {
	var parts []string
	if c.GetWorkload() != "" {
		parts = append(parts, fmt.Sprintf("workload %s (group %s)", c.GetWorkload(), c.GetGroup()))
	}
	if c.GetServer() != "" {
		parts = append(parts, "server "+c.GetServer())
	}
	return strings.Join(parts, ", ")
}

func countResult(checks []*apiv1.MemberCheck, result string) int {
	n := 0
	for _, c := range checks {
		if c.GetResult() == result {
			n++
		}
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// memberCheckJSON is the document of `member check -o json` (docs/cli.md).
type memberCheckJSON struct {
	Member    string      `json:"member"`
	Passed    bool        `json:"passed"`
	CheckedBy string      `json:"checked_by"`
	Checks    []checkJSON `json:"checks"`
}

type checkJSON struct {
	Check    string `json:"check"`
	Result   string `json:"result"`
	Server   string `json:"server"`
	Workload string `json:"workload"`
	Group    string `json:"group"`
	Message  string `json:"message"`
}

func toMemberCheckJSON(r *apiv1.CheckMemberResponse) memberCheckJSON {
	out := memberCheckJSON{Member: r.GetMember(), Passed: r.GetPassed(), CheckedBy: r.GetCheckedBy(), Checks: make([]checkJSON, 0, len(r.GetChecks()))}
	for _, c := range r.GetChecks() {
		out.Checks = append(out.Checks, checkJSON{Check: c.GetCheck(), Result: c.GetResult(), Server: c.GetServer(),
			Workload: c.GetWorkload(), Group: c.GetGroup(), Message: c.GetMessage()})
	}
	return out
}
