package ecxclient

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// ECX may report a failure with an error status or inside a 200 with a non-zero result.code
// (docs/ecx.md). Both must be errors to the client, for operations and for reads, in either
// error style of ecxsim.
func TestClient_ErrorStylesAreBothErrors(t *testing.T) {
	t.Parallel()
	cfg := ecxsim.Config{Clusters: []ecxsim.ClusterConfig{{
		Name: "c", User: "admin", Password: "pw",
		Servers:          []ecxsim.ServerConfig{{Name: "s1"}, {Name: "s2"}},
		Groups:           []ecxsim.GroupConfig{{Name: "g1", StartDuration: 20 * time.Millisecond, StopDuration: 20 * time.Millisecond}},
		HeartbeatTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond,
	}}}
	sim, err := ecxsim.New(cfg, testLogger(t).Named("ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	c, err := New(MemberConfig{Name: "m", URLs: []string{sim.ServerURL("c", "s1")}, User: "admin", Password: "pw", Timeout: 2 * time.Second},
		WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.StartGroup(ctx, "g1", "s1"); err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, style := range []string{ecxsim.ErrorStyleHTTP, ecxsim.ErrorStyleEnvelope} {
		wantStatus := http.StatusConflict
		if style == ecxsim.ErrorStyleEnvelope {
			wantStatus = http.StatusOK
		}
		if err := sim.SetErrorStyle("c", style); err != nil {
			t.Fatal(err)
		}
		// A rejected operation.
		err := c.StartGroup(ctx, "g1", "s2")
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.HTTPStatus != wantStatus || rej.Code != ecxsim.CodeRejected {
			t.Fatalf("%s style: start on the other server: %v (want a RejectedError with HTTP %d, code %d)", style, err, wantStatus, ecxsim.CodeRejected)
		}
		// Injected errors, on an operation and on a read.
		if err := sim.SetErrorRate("c", 1); err != nil {
			t.Fatal(err)
		}
		if style == ecxsim.ErrorStyleHTTP {
			wantStatus = http.StatusInternalServerError
		}
		err = c.StopGroup(ctx, "g1", "")
		if !errors.As(err, &rej) || rej.HTTPStatus != wantStatus || rej.Code != ecxsim.CodeInternal {
			t.Fatalf("%s style: injected error on a stop: %v (want a RejectedError with HTTP %d, code %d)", style, err, wantStatus, ecxsim.CodeInternal)
		}
		if gs, err := c.ListGroups(ctx); err == nil {
			t.Fatalf("%s style: injected error on a read: no error, groups %+v", style, gs)
		}
		if err := sim.SetErrorRate("c", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListGroups(ctx); err != nil {
			t.Fatalf("%s style: read after the reset: %v", style, err)
		}
	}
}
