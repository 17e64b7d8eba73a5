package ecxsim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cset-project/cset/ecxsim"
)

// ECX reports a failed operation either with an error status or inside a 200 (docs/ecx.md: a
// non-zero result.code or a non-empty message). The envelope style answers the second way.
func TestErrorStyle_EnvelopeAnswersFailuresInside200(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))

	// The default style: a rejection is HTTP 409.
	r := call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`)
	mustFail(t, "http style rejection", r, http.StatusConflict, ecxsim.CodeRejected, "already online")

	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/error-style", `{"style":"envelope"}`); code != 200 {
		t.Fatalf("error-style: %d %s", code, body)
	}
	if got := sim.State().Clusters[0].ErrorStyle; got != ecxsim.ErrorStyleEnvelope {
		t.Fatalf("state error_style = %q", got)
	}
	r = call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`)
	mustFail(t, "envelope style rejection", r, http.StatusOK, ecxsim.CodeRejected, "already online")
	r = call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"nope"}`)
	mustFail(t, "envelope style invalid target", r, http.StatusOK, ecxsim.CodeInvalidRequest, "not a server")
	// What is not an operation failure keeps its status: unknown objects, authentication.
	r = call(t, http.MethodPost, url+"/api/v1/groups/nope/start", `{"target":"s1"}`)
	mustFail(t, "unknown group", r, http.StatusNotFound, ecxsim.CodeNotFound, "nope")
	r, err := tryCall(http.MethodPost, url+"/api/v1/groups/g2/start", `{"target":"s1"}`, user, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, "bad password", r, http.StatusUnauthorized, ecxsim.CodeAuthFailed, ecxsim.MessageAuthFailed)
	// A successful operation is still code 0 with an empty message.
	mustOK(t, "stop", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))

	// Injected errors follow the style, for reads too.
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/errors", `{"rate":1}`); code != 200 {
		t.Fatalf("errors: %d %s", code, body)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		path := "/api/v1/groups"
		if m == http.MethodPost {
			path = "/api/v1/groups/g2/start"
		}
		r = call(t, m, url+path, "")
		mustFail(t, "injected error, envelope style "+m, r, http.StatusOK, ecxsim.CodeInternal, "injected")
	}
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/error-style", `{"style":"http"}`); code != 200 {
		t.Fatalf("error-style http: %d %s", code, body)
	}
	r = call(t, http.MethodPost, url+"/api/v1/groups/g2/start", "")
	mustFail(t, "injected error, http style", r, http.StatusInternalServerError, ecxsim.CodeInternal, "injected")
	if code, _ := controlPost(t, sim, "/sim/v1/clusters/c/errors", `{"rate":0}`); code != 200 {
		t.Fatal("errors reset")
	}
	mustOK(t, "after the reset", call(t, http.MethodGet, url+"/api/v1/groups", ""))
}

func TestErrorStyle_BadValues(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/error-style", `{"style":"smtp"}`); code != http.StatusBadRequest || !strings.Contains(body, "smtp") {
		t.Fatalf("unknown style: %d %s", code, body)
	}
	if code, _ := controlPost(t, sim, "/sim/v1/clusters/nope/error-style", `{"style":"envelope"}`); code != http.StatusNotFound {
		t.Fatalf("unknown cluster: %d", code)
	}
	if err := sim.SetErrorStyle("c", "bogus"); err == nil {
		t.Fatal("SetErrorStyle accepted an unknown style")
	}
	cfg := oneCluster()
	cfg.Clusters[0].ErrorStyle = "bogus"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "error_style") {
		t.Fatalf("Validate with error_style bogus: %v", err)
	}
	cfg.Clusters[0].ErrorStyle = ecxsim.ErrorStyleEnvelope
	if _, err := ecxsim.ParseConfig([]byte("clusters:\n  - name: c\n    user: u\n    error_style: envelope\n    servers: [{name: s1}]\n")); err != nil {
		t.Fatalf("ParseConfig with error_style envelope: %v", err)
	}
	sim2 := startSim(t, cfg)
	r := call(t, http.MethodPost, sim2.ServerURL("c", "s1")+"/api/v1/groups/g1/stop", `{"target":"s9"}`)
	mustFail(t, "configured envelope style", r, http.StatusOK, ecxsim.CodeInvalidRequest, "s9")
}
