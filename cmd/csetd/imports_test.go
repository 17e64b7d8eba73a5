package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces the package rules of docs/design.md, "Packages and who may import whom", that the
// compiler cannot: no production binary links the testing package, fsm imports nothing internal
// but its proto, the scheduler is pure, csetctl only speaks the public API, ecxsim and
// ecxclient never import each other, and the member guard (run by ecxsim too) stays off ecxclient.
func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const mod = "github.com/cset-project/cset/"
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	// hashicorp/raft itself imports testing (its testing.go), so the rule is checked on the
	// direct, non-test imports of this module's own packages.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], mod+"internal/") || strings.HasPrefix(f[0], mod+"integration") {
			continue
		}
		for _, d := range f[1:] {
			if d == "testing" || strings.HasPrefix(d, mod+"internal/") {
				t.Errorf("%s imports %s: production code must not import testing or test helpers", f[0], d)
			}
		}
	}
	rules := map[string][]string{
		"fsm":         {"proto/cset/fsm/v1"},
		"scheduler":   {},
		"ecxclient":   {},
		"ecxsim":      {"guard", "proto/cset/api/v1"},
		"guard":       {"proto/cset/api/v1"},
		"witness":     {},
		"probe":       {},
		"ui":          {"proto/cset/api/v1"},
		"dnsserver":   {},
		"cmd/csetctl": {"proto/cset/api/v1"},
	}
	for pkg, allowed := range rules {
		for _, d := range deps(pkg) {
			if !strings.HasPrefix(d, mod) || d == mod+pkg {
				continue
			}
			rel := strings.TrimPrefix(d, mod)
			ok := false
			for _, a := range allowed {
				ok = ok || rel == a
			}
			if !ok {
				t.Errorf("%s imports %s, which docs/design.md (\"Packages and who may import whom\") does not allow", pkg, rel)
			}
		}
	}
}
