package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/ui"
	"google.golang.org/grpc/metadata"
)

type call struct {
	method, path, token, body string
	header                    map[string]string
}

type reply struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, base string, c call) reply {
	t.Helper()
	var body io.Reader
	if c.body != "" || c.method == http.MethodPost {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, strings.TrimSuffix(base, "/ui/")+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(ui.CSRFHeader, "1")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

func wantStatus(t *testing.T, what string, r reply, status int, bodyHas string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, bodyHas) {
		t.Errorf("%s: %d %s, want %d with %q", what, r.status, strings.TrimSpace(r.body), status, bodyHas)
	}
}

// TestConsole_PageAndOverview: the page and its assets are served with a strict content
// security policy, and the overview has the set, its members (with servers) and workloads.
func TestConsole_PageAndOverview(t *testing.T) {
	d := startDevSet(t, setOptions{})
	page := do(t, d.base, call{method: "GET", path: "/ui/"})
	wantStatus(t, "GET /ui/", page, 200, `<script src="/ui/static/app.js"`)
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	for _, f := range []string{"app.js", "style.css"} {
		wantStatus(t, f, do(t, d.base, call{method: "GET", path: "/ui/static/" + f}), 200, "")
	}
	wantStatus(t, "GET /ui (redirected to /ui/)", do(t, d.base, call{method: "GET", path: "/ui"}), 200, `<script src="/ui/static/app.js"`)
	wantStatus(t, "unknown asset", do(t, d.base, call{method: "GET", path: "/ui/static/nope.js"}), 404, "")
	testutil.Eventually(t, 30*time.Second, func() error {
		r := do(t, d.base, call{method: "GET", path: "/ui/api/overview"})
		var o struct {
			Status struct {
				ClusterSet string `json:"cluster_set"`
				ServedBy   string `json:"served_by"`
			}
			Members struct {
				Members []struct {
					Name    string
					Servers []struct{ Name, Status string }
				}
			}
			Workloads struct {
				Workloads []struct{ Name, Member, Status string }
			}
		}
		if err := json.Unmarshal([]byte(r.body), &o); err != nil || r.status != 200 {
			return &errString{r.body}
		}
		if o.Status.ClusterSet != "dev" || len(o.Members.Members) != 2 || len(o.Members.Members[0].Servers) != 2 || len(o.Workloads.Workloads) != 3 {
			return &errString{r.body}
		}
		for _, w := range o.Workloads.Workloads {
			if w.Status != "Online" {
				return &errString{w.Name + " is " + w.Status}
			}
		}
		return nil
	})
	wl := do(t, d.base, call{method: "GET", path: "/ui/api/workloads/web"})
	wantStatus(t, "web's page", wl, 200, `"candidates"`)
	if ov := do(t, d.base, call{method: "GET", path: "/ui/api/overview"}); !strings.Contains(ov.body, `"groups"`) || !strings.Contains(ov.body, `"east-1"`) {
		t.Errorf("the overview lacks the servers' groups: %s", ov.body)
	}
	for _, k := range []string{`"workload"`, `"placement"`, `"events"`, `"score"`} {
		if !strings.Contains(wl.body, k) {
			t.Errorf("web's page lacks %s: %s", k, wl.body)
		}
	}
	wantStatus(t, "unknown workload", do(t, d.base, call{method: "GET", path: "/ui/api/workloads/nope"}), 404, "NotFound")
}

type errString struct{ s string }

func (e *errString) Error() string { return e.s }

// TestConsole_CSRF: a POST that another site could make is refused before it reaches the API.
func TestConsole_CSRF(t *testing.T) {
	d := startDevSet(t, setOptions{noSim: true})
	path := "/ui/api/workloads/nope/desired"
	body := `{"desired":"offline"}`
	for _, c := range []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"no console header", map[string]string{ui.CSRFHeader: ""}, "missing header"},
		{"a form's content type", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "application/json"},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "cross-site"},
		{"another origin", map[string]string{"Origin": "http://evil.example"}, "cross-origin"},
	} {
		wantStatus(t, c.name, do(t, d.base, call{method: "POST", path: path, body: body, header: c.header}), 403, c.want)
	}
	// The same request from the console's own page reaches the API (which knows no such workload).
	wantStatus(t, "same origin", do(t, d.base, call{method: "POST", path: path, body: body, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}), 404, "NotFound")
	wantStatus(t, "unknown field", do(t, d.base, call{method: "POST", path: path, body: `{"desired":"offline","x":1}`}), 400, "unknown field")
	wantStatus(t, "GET of an action", do(t, d.base, call{method: "GET", path: path}), 405, "")
	wantStatus(t, "events after a bad seq", do(t, d.base, call{method: "GET", path: "/ui/api/events?after=x"}), 400, "after")
}

// TestConsole_AuthRoles: under -auth the console asks for a token (401) and each call needs the
// role the API requires of it: read to look, operate to act. The token never becomes a cookie.
func TestConsole_AuthRoles(t *testing.T) {
	dir := t.TempDir()
	d := startDevSet(t, setOptions{auth: true, noSim: true, dataDir: dir})
	var admin string
	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
		admin = strings.TrimSpace(string(b))
		return err
	})
	ctx := metadata.AppendToOutgoingContext(context.Background(), apiv1.MetadataAuthorization, "Bearer "+admin)
	token := func(name, role string) string {
		r, err := d.client.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: name, Role: role})
		if err != nil {
			t.Fatalf("create token %s: %v", name, err)
		}
		return r.GetSecret()
	}
	read, operate := token("viewer", "read"), token("operator", "operate")

	sess := do(t, d.base, call{method: "GET", path: "/ui/api/session"})
	wantStatus(t, "session", sess, 200, `"auth":true`)
	r := do(t, d.base, call{method: "GET", path: "/ui/api/overview"})
	wantStatus(t, "overview without a token", r, 401, "-auth")
	if r.header.Get("Set-Cookie") != "" {
		t.Errorf("the console set a cookie: %s", r.header.Get("Set-Cookie"))
	}
	wantStatus(t, "overview with a bad token", do(t, d.base, call{method: "GET", path: "/ui/api/overview", token: "cset_nope"}), 401, "malformed token")
	wantStatus(t, "overview with a read token", do(t, d.base, call{method: "GET", path: "/ui/api/overview", token: read}), 200, `"served_by"`)
	wantStatus(t, "events without a token", do(t, d.base, call{method: "GET", path: "/ui/api/events"}), 401, "")

	act := call{method: "POST", path: "/ui/api/members/nope/admin", body: `{"admin":"draining"}`}
	wantStatus(t, "drain without a token", do(t, d.base, act), 401, "")
	act.token = read
	wantStatus(t, "drain with a read token", do(t, d.base, act), 403, "needs operate")
	act.token = operate
	wantStatus(t, "drain with an operate token", do(t, d.base, act), 404, "NotFound")

	// The event stream with a read token: the backlog arrives as server-sent events.
	req, _ := http.NewRequest("GET", strings.TrimSuffix(d.base, "/ui/")+"/ui/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+read)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(sctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %s %s", resp.Status, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			var ev struct{ Kind, Actor string }
			if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil || ev.Kind == "" {
				t.Fatalf("event %q: %v", line, err)
			}
			return
		}
	}
	t.Fatalf("no event in the stream: %v", sc.Err())
}

// TestConsole_FollowerForwardsActions: a follower's console reads its own state, says how stale
// it may be, and sends actions to the leader, which records the console as their actor.
func TestConsole_FollowerForwardsActions(t *testing.T) {
	d := startDevSet(t, setOptions{})
	_, base := d.addFollower(t)
	r := do(t, base, call{method: "GET", path: "/ui/api/overview"})
	wantStatus(t, "follower's overview", r, 200, `"served_by":"follower"`)
	var o struct {
		Status struct {
			LastContactMs string `json:"last_contact_ms"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &o); err != nil || strings.HasPrefix(o.Status.LastContactMs, "-") {
		t.Errorf("follower's staleness: %q (%v)", o.Status.LastContactMs, err)
	}
	wantStatus(t, "drain east through the follower", do(t, base, call{method: "POST", path: "/ui/api/members/east/admin", body: `{"admin":"draining"}`}), 200, `"draining"`)
	m, err := d.client.GetMember(context.Background(), &apiv1.GetRequest{Name: "east"})
	if err != nil || m.GetMember().GetAdmin() != "draining" {
		t.Fatalf("east on the leader: %v %v", m, err)
	}
	evs, err := d.client.ListEvents(context.Background(), &apiv1.ListEventsRequest{Member: "east"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs.GetEvents() {
		found = found || (strings.Contains(e.GetMessage(), "draining") && strings.HasPrefix(e.GetActor(), "console@"))
	}
	if !found {
		t.Errorf("no drain event with the console as actor: %v", evs.GetEvents())
	}
}

// TestConsole_EventStreamOutlivesWriteTimeout: the event stream is not cut by the HTTP server's
// write timeout: an event that happens after it has passed still arrives on the same stream.
func TestConsole_EventStreamOutlivesWriteTimeout(t *testing.T) {
	d := startDevSet(t, setOptions{writeTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(d.base, "/ui/")+"/ui/api/events?member=west", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %s", resp.Status)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		close(lines)
	}()
	time.Sleep(2 * time.Second) // longer than the write timeout: that is what is tested
	wantStatus(t, "drain west", do(t, d.base, call{method: "POST", path: "/ui/api/members/west/admin", body: `{"admin":"draining"}`}), 200, "draining")
	for line := range lines {
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "draining") {
			return
		}
	}
	t.Fatalf("the stream ended before the drain event: %v", ctx.Err())
}
