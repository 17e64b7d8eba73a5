package main

import (
	"strings"
	"testing"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func TestWitnessSummary_SeveralWitnesses(t *testing.T) {
	t.Parallel()
	w := &apiv1.WitnessInfo{Configured: true, Url: "http://w1,http://w2,http://w3", Majority: 2, Granting: 2, RemainingMs: 8000,
		Witnesses: []*apiv1.WitnessEndpoint{
			{Url: "http://w1", Reachable: true, Holder: "m1", Term: 7, RemainingMs: 8000},
			{Url: "http://w2", Reachable: true, Holder: "m1", Term: 7, RemainingMs: 8500},
			{Url: "http://w3", LastError: "connection refused"},
		}}
	got := witnessSummary(w)
	for _, want := range []string{
		"3 witnesses, 2 of them grant the lease (2 needed): held by a majority for 8s",
		"\n  http://w1 reachable, lease held by m1 (term 7, 8s left)",
		"\n  http://w3 UNREACHABLE, last error: connection refused",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	w.Granting, w.RemainingMs = 1, 0
	if got := witnessSummary(w); !strings.Contains(got, "NO MAJORITY") {
		t.Errorf("summary without a majority:\n%s", got)
	}
}
