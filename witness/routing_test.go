package witness

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/cset-project/cset/internal/testutil"
)

var updateRouting = flag.Bool("update-routing", false, "rewrite testdata/routing.golden from the running code")

// routingPaths are the paths of the routing table: every route, a neighbour of each (one segment
// more or less, a trailing slash), escaped names and separators, and unclean paths, which the
// protocol answers in JSON instead of redirecting.
var routingPaths = []string{
	"/", "/index.html", "/metrics", "/metrics/", "/x/../metrics",
	"/v1", "/v1/", "/v1/nothing", "/v1/lease", "/v1/lease/", "/v1/%6Cease", "/v1/lease%2F", "/v1/lease/x",
	"/v1/lease/reset", "/v1/lease/reset/", "/v1/heartbeat", "/v1/heartbeat/",
	"/v1/clusters", "/v1/clusters/", "/v1/clusters%2F", "/v1/clusters/ghost", "/v1/clusters/ghost/",
	"/v1/clusters/ghost?x=1", "/v1/clusters/a/b", "/v1/clusters/a%2Fb", "/v1/clusters/ecx%201", "/v1/clusters/%E2%82%AC",
	"/v1/clusters/a%00b", "/v1/clusters/..", "/v1/clusters/%2E%2E", "/v1/clusters/.", "/v1/clusters/../lease",
	"/v1/clusters//a", "/v1/clusters/a//", "/v1/clusters/%25", "/v1//lease", "/v1/./lease", "/v1/lease/..", "/v1/lease/.",
	"//v1/lease", "/v1%2Flease", "/v1%2Fclusters%2Fx", "/x/../v1/lease",
}

// routingAnswer renders one answer: status, headers but Date, and body. The metrics are
// replaced by a placeholder: their values change with every request.
func routingAnswer(t *testing.T, method, url, token string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Redirects are answers to pin, not to follow.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	metrics := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "# HELP")
	var b strings.Builder
	fmt.Fprintf(&b, "  %d", resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if k != "Date" && !(metrics && k == "Content-Length") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, strings.Join(resp.Header[k], ", "))
	}
	if metrics {
		body = []byte("<metrics>")
	}
	fmt.Fprintf(&b, "\n  %s\n", strings.ReplaceAll(strings.TrimSuffix(string(body), "\n"), "\n", `\n`))
	return b.String()
}

// TestRouting_Golden pins what the witness answers to every method on every path of
// routingPaths, byte for byte (status, headers and body) against testdata/routing.golden: wrong
// methods (405 in JSON with Allow), HEAD, unknown paths (404 in JSON under /v1/), escaped names,
// trailing slashes and unclean paths, with each token and without one. The golden file was
// written by the routing that preceded Go's method patterns, so a change of routing must leave it
// as it is. Run with -update-routing only for an intended change of answers.
func TestRouting_Golden(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{LeaseToken: "lease-token", HeartbeatToken: "heartbeat-token"})
	var out strings.Builder
	for _, p := range routingPaths {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
			fmt.Fprintf(&out, "%s %s\n%s", m, p, routingAnswer(t, m, url+p, "lease-token"))
		}
	}
	// Authentication comes before routing (401 for unknown paths and wrong methods too); the
	// scope of the token is checked after it (403 only for a routed call).
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/v1/nothing", ""}, {"PUT", "/v1/lease", ""}, {"POST", "/v1/lease", ""}, {"GET", "/v1/clusters/ghost", ""},
		{"GET", "/", ""}, {"HEAD", "/", ""}, {"GET", "/v1/nothing", "wrong"}, {"POST", "/v1/lease", "wrong"},
		{"POST", "/v1/lease", "heartbeat-token"}, {"DELETE", "/v1/lease", "heartbeat-token"},
		{"POST", "/v1/lease/reset", "heartbeat-token"}, {"PUT", "/v1/lease", "heartbeat-token"},
		{"POST", "/v1/heartbeat", "heartbeat-token"}, {"POST", "/v1/heartbeat", "lease-token"},
		{"GET", "/v1/clusters/ghost", "heartbeat-token"}, {"GET", "/v1/nothing", "heartbeat-token"},
	} {
		fmt.Fprintf(&out, "%s %s with token %q\n%s", tc.method, tc.path, tc.token, routingAnswer(t, tc.method, url+tc.path, tc.token))
	}
	testutil.Golden(t, "testdata/routing.golden", out.String(), *updateRouting)
}

// escapeAsWritten must give a RawPath that the URL accepts as the encoding of its Path and that
// ServeMux finds clean, or the mux would route on another path or redirect.
func TestEscapeAsWritten(t *testing.T) {
	for _, p := range []string{"/v1/lease", "/v1/clusters/ecx 1", "/v1/clusters/../lease", "/v1//lease", "/v1/lease/",
		"/v1/clusters/a//", "/v1/clusters/.", "/v1/clusters/%", "/v1/clusters/\x00\xff€", "/v1/clusters/a?b#c"} {
		raw := escapeAsWritten(p)
		u := url.URL{Path: p, RawPath: raw}
		if got := u.EscapedPath(); got != raw {
			t.Errorf("%q: EscapedPath %q, want the RawPath %q", p, got, raw)
		}
		clean := path.Clean(raw)
		if strings.HasSuffix(raw, "/") && clean != "/" {
			clean += "/"
		}
		if clean != raw {
			t.Errorf("%q: %q is not clean (%q)", p, raw, clean)
		}
	}
}
