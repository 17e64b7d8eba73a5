package ecxsim_test

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
)

var updateRouting = flag.Bool("update-routing", false, "rewrite testdata/routing.golden from the running code")

// routingMethods are the methods every routed path is tried with: the ones the REST API serves,
// HEAD (which Go's ServeMux would serve with a GET handler) and two it never serves.
var routingMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}

// routingPaths are the paths of the routing table: every route, a neighbour of each (unknown
// operation or name, one segment more or less, a trailing slash), escaped names and unclean
// paths. The POSTs among them fail before changing anything (unknown names, invalid bodies), so
// the answers do not depend on the order of the requests or on timing.
var routingPaths = []string{
	"/", "/api", "/api/v1", "/api/v1/", "/api/v1/nothing", "/api/v1/scripts/run", "/api/v1/metrics/groups/uptime",
	"/api/v1/cluster", "/api/v1/cluster/", "/api/v1/cluster/bogus", "/api/v1/cluster/bogus/x",
	"/api/v1/cluster/toratio", "/api/v1/cluster/toratio/", "/api/v1/cluster/toratio/set", "/api/v1/cluster/toratio/bogus",
	"/api/v1/cluster/toratio/set/x",
	"/api/v1/servers", "/api/v1/servers/", "/api/v1/servers/s1", "/api/v1/servers/s1?select=name", "/api/v1/servers/nope",
	"/api/v1/servers/%73%31", "/api/v1/servers/s%2F1", "/api/v1/servers/nope/stop", "/api/v1/servers/nope/bogus",
	"/api/v1/servers/nope/dummy-failure", "/api/v1/servers/nope/dummy-failure/start", "/api/v1/servers/nope/dummy-failure/bogus",
	"/api/v1/servers/nope/dummy-failure/start/x",
	"/api/v1/groups", "/api/v1/groups/", "/api/v1/groups?select=bogus", "/api/v1/groups/g1", "/api/v1/groups/g1/",
	"/api/v1/groups/g1?select=resources", "/api/v1/groups/g%31", "/api/v1/groups/g%2F1", "/api/v1/groups/nope",
	"/api/v1/groups/start", "/api/v1/groups/stop", "/api/v1/groups/%73tart", "/api/v1/groups/nope/start",
	"/api/v1/groups/g1/start", "/api/v1/groups/g1/bogus", "/api/v1/groups/g1/start/x",
	"/api/v1/resources", "/api/v1/resources/", "/api/v1/resources/g1-fip", "/api/v1/resources/nope",
	"/api/v1/resources/nope/start", "/api/v1/resources/g1-fip/bogus",
	"/api/v1/monitors", "/api/v1/monitors/", "/api/v1/monitors/userw", "/api/v1/monitors/nope", "/api/v1/monitors/nope/suspend",
	"/api/v1/monitors/nope/dummy-failure/start", "/api/v1/monitors/userw/dummy-failure/bogus",
	"/api/v1/mirrors", "/api/v1/mirrors/backup", "/api/v1/mirrors/backup/status", "/api/v1/mirrors/restore/status",
	"/api/v1/mirrors/backup/status/", "/api/v1/mirrors/backup/preaction", "/api/v1/mirrors/restore/postaction",
	"/api/v1/mirrors/bogus/status", "/api/v1/mirrors/bogus/preaction", "/api/v1/mirrors/backup/bogus",
	"/api/v1/mirrors/%62ackup/status", "/api/v1/mirrors/backup/status/x",
	"/api/v1//cluster", "/api/v1/./cluster", "/api/v1/groups/../cluster", "/api/v1/groups/%2E%2E", "/api/v1/cluster/.",
}

// routingBody is sent with every request: each operation it reaches refuses it (no server or
// group is named "nope", a mirror timeout must be positive, toratio/set needs a ratio).
const routingBody = `{"target":"nope","timeout":0}`

// routingAnswer renders one answer: status, headers but Date, and body.
func routingAnswer(t *testing.T, method, url string, auth bool) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(routingBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.SetBasicAuth(user, password)
	}
	// Redirects are answers to pin, not to follow.
	c := &http.Client{Timeout: client.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %d", resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, strings.Join(resp.Header[k], ", "))
	}
	fmt.Fprintf(&b, "\n  %s\n", strings.ReplaceAll(strings.TrimSuffix(string(body), "\n"), "\n", `\n`))
	return b.String()
}

// TestRouting_Golden pins what the REST API answers to every method on every path of
// routingPaths, in both error styles, byte for byte (status, headers and body) against
// testdata/routing.golden: wrong methods (405 in the ECX envelope with Allow), HEAD, unknown paths
// and operations (404 in the envelope), escaped names, trailing slashes and unclean paths. The
// golden file was written by the routing that preceded Go's method patterns, so a change of
// routing must leave it as it is. Run with -update-routing only for an intended change of answers.
func TestRouting_Golden(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	var out strings.Builder
	for _, style := range []string{ecxsim.ErrorStyleHTTP, ecxsim.ErrorStyleEnvelope} {
		if code, body := controlPost(t, sim, "/sim/v1/clusters/c/error-style", `{"style":"`+style+`"}`); code != http.StatusOK {
			t.Fatalf("error-style %s: %d %s", style, code, body)
		}
		fmt.Fprintf(&out, "# error style %s\n", style)
		for _, p := range routingPaths {
			for _, m := range routingMethods {
				fmt.Fprintf(&out, "%s %s\n%s", m, p, routingAnswer(t, m, url+p, true))
			}
		}
		// Authentication comes before routing: an unknown path or a wrong method is 401 too.
		for _, p := range []string{"/api/v1/groups", "/api/v1/nothing"} {
			fmt.Fprintf(&out, "PUT %s without credentials\n%s", p, routingAnswer(t, http.MethodPut, url+p, false))
		}
	}
	testutil.Golden(t, "testdata/routing.golden", out.String(), *updateRouting)
}

// A method ECX knows nothing of is refused like PUT: 405 with the method of the path (whose
// routing would otherwise fall to cluster/{op}'s for toratio, or to POST's for groups/start), or
// 404 on an unknown path.
func TestRouting_UnknownMethod(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	for _, tc := range []struct {
		path   string
		status int
		allow  string
	}{
		{"/api/v1/cluster/toratio", http.StatusMethodNotAllowed, "GET"},
		{"/api/v1/cluster/start", http.StatusMethodNotAllowed, "POST"},
		{"/api/v1/groups/start", http.StatusMethodNotAllowed, "GET"},
		{"/api/v1/groups/g1/start", http.StatusMethodNotAllowed, "POST"},
		{"/api/v1/mirrors/backup/status", http.StatusMethodNotAllowed, "GET"},
		{"/api/v1/mirrors/bogus/status", http.StatusNotFound, ""},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "FROB", url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("FROB %s: %v", tc.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"result":{"code":1,"message":"method FROB not allowed on %s"}}`, tc.path)
		if tc.status == http.StatusNotFound {
			want = fmt.Sprintf(`{"result":{"code":3,"message":"path \"%s\" not found"}}`, tc.path)
		}
		if got := strings.TrimSpace(string(body)); resp.StatusCode != tc.status || got != want || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("FROB %s: got %d (Allow %q) %s, want %d (Allow %q) %s", tc.path, resp.StatusCode, resp.Header.Get("Allow"), got, tc.status, tc.allow, want)
		}
	}
}
