package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// A failover whose every other candidate fails restarts the workload on its source once the
// source is up again: the source is the last resort, not out of bounds (chaos finding L1: f03
// stayed offline for 19 s with its source up, "e1: excluded: source of the failover", until the
// dead target came back).
func TestController_FailoverFallsBackToItsHealthySource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"},
		startTimeOn: map[string]time.Duration{"west": time.Minute},
		tune:        func(cfg *config.Config) { cfg.Controller.StartTimeout = 5 * time.Minute }})
	e.waitOnline("web", "east", 15*time.Second)
	// ECX leaves the group Offline on east (as after a blip of the whole cluster): after the
	// recovery grace the controller fails it over to west, where the start hangs.
	stopGroup(t, e, "east", "web")
	op := e.activeOperation("web", 15*time.Second)
	e.waitOperation(op.GetId(), 15*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "starting" || o.GetTargetMember() != "west" {
			return fmt.Errorf("phase %s on %q", o.GetPhase(), o.GetTargetMember())
		}
		return nil
	})
	// west dies mid-start; east is up and the only member left.
	if err := e.sim.ClusterDown("west"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("west", "down", 20*time.Second)
	e.waitOnline("web", "east", 15*time.Second)
	if got := e.events("restarting it on its source east"); len(got) == 0 {
		t.Errorf("no event tells the operator that web was restarted on its source")
	}
}
