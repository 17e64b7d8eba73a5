package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// A member whose REST API hangs (accepts, never answers) must leave "up" about unreachable_after
// after it stopped answering, even when the ECX call timeout is long: each poll has a deadline
// shorter than unreachable_after (issue 11, case 8: it took the servers' timeouts, 11 s in dev).
func TestController_HangingMemberIsUnreachableOnTime(t *testing.T) {
	t.Parallel()
	const ecxTimeout = 5 * time.Second
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"},
		tune: func(cfg *config.Config) { cfg.Controller.ECXTimeout = ecxTimeout }})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.Isolate("east"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.Eventually(t, 2*ecxTimeout, func() error {
		m, err := e.client().GetMember(clustertest.Ctx(t), &apiv1.GetRequest{Name: "east"})
		if err != nil {
			return err
		}
		if h := m.GetMember().GetHealth(); h == "up" || h == "degraded" {
			return fmt.Errorf("east is still %s", h)
		}
		return nil
	})
	// One ECX timeout per server (10 s) is what it took before; the bound is unreachable_after
	// plus a poll deadline plus a few rounds of slack for a loaded machine.
	if took := time.Since(start); took >= ecxTimeout {
		t.Errorf("a hanging member left up after %v, want well below the ECX timeout %v", took, ecxTimeout)
	}
	if err := e.sim.Heal("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 10*time.Second)
}
