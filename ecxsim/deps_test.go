package ecxsim_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces DESIGN.md section 3: ecxsim and cmd/ecxsim import no other package of
// this module (in particular not ecxclient, so the client contract is tested against an independent
// implementation), and no production package imports testing.
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
		case strings.HasPrefix(dep, "github.com/cset-project/cset/") &&
			dep != "github.com/cset-project/cset/ecxsim" && dep != "github.com/cset-project/cset/cmd/ecxsim":
			t.Errorf("forbidden internal import %s", dep)
		}
	}
}
