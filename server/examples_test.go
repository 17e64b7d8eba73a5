package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
)

var seriesName = regexp.MustCompile(`\bcset_[a-z_]+[a-z]`)

// baseName strips the suffixes Prometheus adds to a histogram's series.
func baseName(n string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if strings.HasSuffix(n, suf) && (strings.HasSuffix(strings.TrimSuffix(n, suf), "_seconds") || strings.HasSuffix(strings.TrimSuffix(n, suf), "_entries")) {
			return strings.TrimSuffix(n, suf)
		}
	}
	return n
}

func namesIn(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range seriesName.FindAllString(string(b), -1) {
		out[baseName(n)] = true
	}
	return out
}

// The shipped alert rules and dashboard use only series that docs/metrics.md lists, and every
// cset_ series a master exports is listed there; the rules pass promtool (check and unit tests).
func TestExamples_MetricsDocumentedAndRulesValid(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..")
	documented := namesIn(t, filepath.Join(root, "docs", "metrics.md"))
	for _, f := range []string{"examples/prometheus/alerts.yml", "examples/prometheus/alerts_test.yml", "examples/grafana/cset-dashboard.json"} {
		for n := range namesIn(t, filepath.Join(root, f)) {
			if !documented[n] {
				t.Errorf("%s uses %s, which docs/metrics.md does not list", f, n)
			}
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(filepath.Join(root, "examples/grafana/cset-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("the Grafana dashboard does not parse or has no panels: %v", err)
	}

	cl := clustertest.New(t, 1, func(c *config.Config) {
		c.HTTPAddr = "127.0.0.1:0"
		c.HTTP.MetricsAuth = config.MetricsAuthNone
	})
	cl.WaitForLeader()
	resp, err := http.Get("http://" + cl.Nodes[0].Server.Addrs().HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if n, ok := strings.CutPrefix(line, "# HELP "); ok && strings.HasPrefix(n, "cset_") {
			name, _, _ := strings.Cut(n, " ")
			if !documented[name] {
				t.Errorf("a master exports %s, which docs/metrics.md does not list", name)
			}
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing (Debian package prometheus): .ci/run installs it")
		}
		t.Skip("promtool not installed (Debian package prometheus): the rules are not checked")
	}
	dir := filepath.Join(root, "examples", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
