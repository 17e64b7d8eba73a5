package guard_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/guard"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/witness"
)

// switchable serves a witness unless it is switched off (then 503, as a witness behind a cut).
type switchable struct {
	h   http.Handler
	off atomic.Bool
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.off.Load() {
		http.Error(w, "cut", http.StatusServiceUnavailable)
		return
	}
	s.h.ServeHTTP(w, r)
}

// threeWitnesses starts three real witness servers and returns a Quorum over them and their
// switches.
func threeWitnesses(t *testing.T) (*witness.Quorum, []*switchable) {
	t.Helper()
	var clients []*witness.Client
	var urls []string
	var sw []*switchable
	for range 3 {
		srv, err := witness.NewServer(witness.ServerConfig{DataDir: t.TempDir(), RestartHold: -1, Logger: testutil.Logger(t, "witness")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		s := &switchable{h: srv.Handler()}
		hs := httptest.NewServer(s)
		t.Cleanup(hs.Close)
		c, err := witness.NewClient(witness.ClientConfig{URL: hs.URL})
		if err != nil {
			t.Fatal(err)
		}
		clients, urls, sw = append(clients, c), append(urls, hs.URL), append(sw, s)
	}
	q, err := witness.NewQuorum(clients, urls)
	if err != nil {
		t.Fatal(err)
	}
	return q, sw
}

// With three witnesses and no masters, the guard keeps its groups while a majority (two)
// acknowledges its heartbeats, stops them when only a minority (one) does, and lets them run
// again once a majority answers again.
func TestGuard_SeveralWitnessesNeedAMajority(t *testing.T) {
	t.Parallel()
	q, sw := threeWitnesses(t)
	w := newWorld(t, "")
	w.step(t) // the masters send the managed groups
	w.masters.setDown(true)
	deps := guard.Deps{Local: w.local, Clock: w.clock, Logger: testutil.Logger(t, "guard"), Witness: q, Masters: mastersLink{w.masters}}
	g, err := guard.New(guard.Config{Cluster: "west", Server: "west-1", Timeout: timeout, Interval: time.Second}, deps)
	if err != nil {
		t.Fatal(err)
	}
	w.g = g
	w.masters.setDown(false)
	w.step(t) // learn the groups from the masters
	w.masters.setDown(true)
	if stopped := w.run(t, 2*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v with three witnesses acknowledging", stopped)
	}
	sw[0].off.Store(true)
	if stopped := w.run(t, 2*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v with two of three witnesses acknowledging", stopped)
	}
	if err := g.Beat(t.Context()); err == nil || !strings.Contains(err.Error(), "masters") || strings.Contains(err.Error(), "witness") {
		t.Fatalf("Beat with two of three witnesses and no masters = %v, want only the masters' error", err)
	}
	sw[1].off.Store(true)
	if stopped := w.run(t, 2*timeout); !slices.Equal(stopped, []string{"web"}) {
		t.Fatalf("stopped %v with one of three witnesses acknowledging, want [web]", stopped)
	}
	if !g.Status().Enforcing {
		t.Fatal("not enforcing with a minority of witnesses")
	}
	sw[0].off.Store(false)
	w.local.set("web", "Online", "west-1")
	if stopped := w.run(t, 2*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v after a majority answered again", stopped)
	}
	if g.Status().Enforcing {
		t.Fatal("still enforcing with a majority of witnesses answering again")
	}
}
