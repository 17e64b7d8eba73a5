package main

import (
	"fmt"
	"io"
	"strings"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// applyJSON is the answer of apply -o json (docs/cli.md, JSON reference "apply").
type applyJSON struct {
	// Index is the Raft index that applied the file; 0 when nothing was committed.
	Index uint64 `json:"index"`
	// StateIndex is the applied index of the state the changes describe.
	StateIndex       uint64            `json:"state_index"`
	DryRun           bool              `json:"dry_run"`
	Committed        bool              `json:"committed"`
	Members          uint32            `json:"members"`
	FaultDomains     uint32            `json:"fault_domains"`
	AvailabilitySets uint32            `json:"availability_sets"`
	Workloads        uint32            `json:"workloads"`
	Changes          []applyChangeJSON `json:"changes"`
	Summary          applySummaryJSON  `json:"summary"`
}

type applyChangeJSON struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Action string   `json:"action"`
	Fields []string `json:"fields"`
	Note   string   `json:"note"`
}

// applySummaryJSON counts the changes by action.
type applySummaryJSON struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	Delete    int `json:"delete"`
	Unchanged int `json:"unchanged"`
}

func toApplyJSON(r *apiv1.ApplyResponse) applyJSON {
	out := applyJSON{
		Index: r.GetIndex(), StateIndex: r.GetStateIndex(), DryRun: r.GetDryRun(), Committed: r.GetIndex() != 0,
		Members: r.GetMembers(), FaultDomains: r.GetFaultDomains(), AvailabilitySets: r.GetAvailabilitySets(), Workloads: r.GetWorkloads(),
		Changes: []applyChangeJSON{},
	}
	for _, c := range r.GetChanges() {
		out.Changes = append(out.Changes, applyChangeJSON{Kind: c.GetKind(), Name: c.GetName(), Action: c.GetAction(), Fields: nonNil(c.GetFields()), Note: c.GetNote()})
		switch c.GetAction() {
		case "create":
			out.Summary.Create++
		case "update":
			out.Summary.Update++
		case "delete":
			out.Summary.Delete++
		case "unchanged":
			out.Summary.Unchanged++
		}
	}
	return out
}

// applySymbols marks each action in the text output, as diff tools do.
var applySymbols = map[string]string{"create": "+", "update": "~", "delete": "-", "unchanged": "="}

// printApply prints the answer of apply: one line per object, then a summary line.
func (a *app) printApply(file string, r *apiv1.ApplyResponse) error {
	out := toApplyJSON(r)
	return a.emit(out, func() error {
		writeApplyChanges(a.stdout, out.Changes)
		s := out.Summary
		switch {
		case out.DryRun:
			fmt.Fprintf(a.stdout, "dry run of %s against index %d: %d to create, %d to update, %d to delete, %d unchanged; nothing was committed\n",
				termSafe(file), out.StateIndex, s.Create, s.Update, s.Delete, s.Unchanged)
		case !out.Committed:
			fmt.Fprintf(a.stdout, "%s matches the state at index %d: %d unchanged; nothing was committed\n", termSafe(file), out.StateIndex, s.Unchanged)
		default:
			fmt.Fprintf(a.stdout, "applied %s at index %d: %d created, %d updated, %d deleted, %d unchanged\n",
				termSafe(file), out.Index, s.Create, s.Update, s.Delete, s.Unchanged)
		}
		return nil
	})
}

// writeApplyChanges prints "~ member east (capacity, password)" lines.
func writeApplyChanges(w io.Writer, changes []applyChangeJSON) {
	for _, c := range changes {
		sym, ok := applySymbols[c.Action]
		if !ok {
			sym = "?"
		}
		line := fmt.Sprintf("%s %s %s", sym, termSafe(strings.ReplaceAll(c.Kind, "_", " ")), termSafe(c.Name))
		if len(c.Fields) > 0 {
			fields := make([]string, len(c.Fields))
			for i, f := range c.Fields {
				fields[i] = termSafe(f)
			}
			line += " (" + strings.Join(fields, ", ") + ")"
		}
		if c.Note != "" {
			line += ": " + termSafe(c.Note)
		}
		fmt.Fprintln(w, line)
	}
}
