package ecxsim_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces docs/design.md, "Packages and who may import whom": ecxsim and cmd/ecxsim import no other package of
// this module but the member guard (the same code runs on every simulated server) and the public
// API it speaks to the masters; in particular not ecxclient, so the client contract is tested
// against an independent implementation. No production package imports testing.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".", "../cmd/ecxsim").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "testing":
			t.Errorf("production code imports testing")
		case strings.HasPrefix(dep, "github.com/cset-project/cset/") && !allowedDeps[strings.TrimPrefix(dep, "github.com/cset-project/cset/")]:
			t.Errorf("forbidden internal import %s", dep)
		}
	}
}

// allowedDeps are the packages of this module that ecxsim and cmd/ecxsim may depend on.
var allowedDeps = map[string]bool{
	"ecxsim": true, "cmd/ecxsim": true, "guard": true, "proto/cset/api/v1": true,
}
