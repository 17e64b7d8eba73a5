package ecxclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for s := StatusUnknown; s <= StatusSuspend; s++ {
		got, ok := ParseStatus(s.String())
		if !ok || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v", s.String(), got, ok)
		}
	}
	for raw, want := range map[string]Status{
		"online pending": StatusOnlinePending, "ONLINE_FAILURE": StatusOnlineFailure,
		" Offline  Pending ": StatusOfflinePending, "offline-failure": StatusOfflineFailure,
	} {
		if got, ok := ParseStatus(raw); !ok || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"", "Starting", "OnlinePending", "Online Pending!"} {
		if got, ok := ParseStatus(raw); ok || got != StatusUnknown {
			t.Errorf("ParseStatus(%q) = %v, %v; want Unknown, false", raw, got, ok)
		}
	}
	if Status(99).String() != "Unknown" || Status(-1).String() != "Unknown" {
		t.Error("out-of-range Status must print Unknown")
	}
	if !StatusOnlineFailure.IsFailure() || StatusOnline.IsFailure() || !StatusOfflinePending.IsPending() || StatusOffline.IsPending() {
		t.Error("IsFailure/IsPending")
	}
	if b, _ := StatusOnlinePending.MarshalText(); string(b) != "Online Pending" {
		t.Errorf("MarshalText = %q", b)
	}
}

func mustEnv(t *testing.T, body string) *envelope {
	t.Helper()
	env, err := parseEnvelope([]byte(body))
	if err != nil {
		t.Fatalf("parseEnvelope(%s): %v", body, err)
	}
	return env
}

func TestDecodeGroups_Tolerance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want []Group
	}{
		{"ecx sample", `{"result":{"code":0,"message":""},"groups":[{"name":"failover1","status":"Online","current":"server1","resources":[{"name":"fip1"},{"name":"exec1"}]}]}`,
			[]Group{{Name: "failover1", Status: StatusOnline, RawStatus: "Online", Current: "server1", Resources: []ResourceRef{{"fip1"}, {"exec1"}}}}},
		{"None current", `{"result":{"code":0,"message":""},"groups":[{"name":"g","status":"Offline","current":"None"}]}`,
			[]Group{{Name: "g", Status: StatusOffline, RawStatus: "Offline"}}},
		{"null current and status", `{"result":{"code":0,"message":""},"groups":[{"name":"g","status":null,"current":null}]}`,
			[]Group{{Name: "g"}}},
		{"empty current", `{"result":{"code":0,"message":""},"groups":[{"name":"g","status":"Offline","current":""}]}`,
			[]Group{{Name: "g", Status: StatusOffline, RawStatus: "Offline"}}},
		{"unknown status, extra fields", `{"result":{"code":0,"message":"","x":1},"version":"5.2","groups":[{"name":"g","status":"Migrating","current":"s1","type":"failover","extra":{"a":[1,2]}}]}`,
			[]Group{{Name: "g", Status: StatusUnknown, RawStatus: "Migrating", Current: "s1"}}},
		{"resources as strings, null entry, empty resources", `{"result":{"code":"0"},"groups":[{"name":"g","status":"Online","current":"s","resources":["fip1",null,{"name":""},{"name":"exec1","status":"Online"}]},{"name":"h","resources":[]}]}`,
			[]Group{{Name: "g", Status: StatusOnline, RawStatus: "Online", Current: "s", Resources: []ResourceRef{{"fip1"}, {"exec1"}}}, {Name: "h", Resources: []ResourceRef{}}}},
		{"single object", `{"result":{"code":0,"message":""},"groups":{"name":"g","status":"Online Pending","current":"s"}}`,
			[]Group{{Name: "g", Status: StatusOnlinePending, RawStatus: "Online Pending", Current: "s"}}},
		{"missing groups", `{"result":{"code":0,"message":""}}`, []Group{}},
		{"null groups", `{"result":{"code":0,"message":""},"groups":null}`, []Group{}},
		{"code as float", `{"result":{"code":0.0,"message":null},"groups":[]}`, []Group{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeGroups(mustEnv(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecode_Rejects(t *testing.T) {
	t.Parallel()
	notEnvelope := []string{``, `  `, `null`, `[]`, `"ok"`, `<html>`, `{}`, `{"result":null}`, `{"result":"ok"}`,
		`{"result":{"code":"x"}}`, `{"result":{"code":1.5}}`, `{"result":{"code":1e20}}`, `{"result":{"message":5}}`, `{"result":{}`, "{\"result\":{\"code\":0}}\x00garbage"}
	for _, b := range notEnvelope {
		if _, err := parseEnvelope([]byte(b)); !errors.Is(err, errNotEnvelope) {
			t.Errorf("parseEnvelope(%q) = %v, want errNotEnvelope", b, err)
		}
	}
	badPayload := map[string]func(*envelope) error{
		`{"result":{"code":0},"groups":[{"name":5}]}`:                 func(e *envelope) error { _, err := decodeGroups(e); return err },
		`{"result":{"code":0},"groups":"g1"}`:                         func(e *envelope) error { _, err := decodeGroups(e); return err },
		`{"result":{"code":0},"groups":[{"name":"g","resources":7}]}`: func(e *envelope) error { _, err := decodeGroups(e); return err },
		`{"result":{"code":0},"servers":[{"status":true}]}`:           func(e *envelope) error { _, err := decodeServers(e); return err },
		`{"result":{"code":0},"resources":[{"group":[]}]}`:            func(e *envelope) error { _, err := decodeResources(e); return err },
		`{"result":{"code":0},"monitors":[{"servers":[{"name":1}]}]}`: func(e *envelope) error { _, err := decodeMonitors(e); return err },
		`{"result":{"code":0},"cluster":{"name":"c","toratio":"x"}}`:  func(e *envelope) error { _, err := decodeToRatio(e); return err },
		`{"result":{"code":0},"cluster":{"name":"c"}}`:                func(e *envelope) error { _, err := decodeToRatio(e); return err },
		`{"result":{"code":0}}`:                                       func(e *envelope) error { _, err := decodeCluster(e); return err },
	}
	for body, dec := range badPayload {
		if err := dec(mustEnv(t, body)); err == nil {
			t.Errorf("%s decoded without error", body)
		}
	}
}

// TestClient_OddBodies drives odd answers through a real HTTP server.
func TestClient_OddBodies(t *testing.T) {
	t.Parallel()
	t.Run("wrong object", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, constHandler(200, `{"result":{"code":0,"message":""},"groups":[{"name":"other","status":"Online"}]}`))
		_, err := newTestClient(t, []string{f.URL}).GetGroup(t.Context(), "g1")
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `"other"`) {
			t.Fatalf("error %v, want malformed naming the other object", err)
		}
	})
	t.Run("empty list is not found", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, constHandler(200, `{"result":{"code":0,"message":""},"groups":[]}`))
		_, err := newTestClient(t, []string{f.URL}).GetGroup(t.Context(), "g1")
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.Kind != "group" || nf.Name != "g1" {
			t.Fatalf("error %v, want *NotFoundError for group g1", err)
		}
	})
	t.Run("case-insensitive and unnamed", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/G1") {
				reply(w, 200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Online","current":"s1"}]}`)
				return
			}
			reply(w, 200, `{"result":{"code":0,"message":""},"servers":[{"status":"Online"}]}`)
		})
		c := newTestClient(t, []string{f.URL})
		if g, err := c.GetGroup(t.Context(), "G1"); err != nil || g.Name != "G1" || g.Current != "s1" {
			t.Errorf("GetGroup(G1) = %+v, %v", g, err)
		}
		if s, err := c.GetServer(t.Context(), "s1"); err != nil || s.Name != "s1" || s.Status != StatusOnline {
			t.Errorf("GetServer = %+v, %v", s, err)
		}
	})
	t.Run("huge body is truncated in the message", func(t *testing.T) {
		t.Parallel()
		body := "<html>" + strings.Repeat("A", 100_000) + "</html>"
		f := newFake(t, constHandler(200, body))
		_, err := newTestClient(t, []string{f.URL}).ListGroups(t.Context())
		var me *MalformedError
		if !errors.As(err, &me) {
			t.Fatalf("error %v", err)
		}
		if len(me.Body) != maxBodyExcerpt || len(err.Error()) > 1000 || !strings.Contains(err.Error(), "body is 100013 bytes") {
			t.Errorf("body kept %d bytes, message %d bytes: %s", len(me.Body), len(err.Error()), err)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		t.Parallel()
		big := `{"result":{"code":0,"message":""},"groups":[` + strings.Repeat(`{"name":"g"},`, maxBody/12) + `{"name":"g"}]}`
		f := newFake(t, constHandler(200, big))
		// 8 MiB through the race detector on a loaded machine takes longer than the usual 2 s.
		c := newTestClient(t, []string{f.URL}, func(cfg *MemberConfig) { cfg.Timeout = 30 * time.Second })
		_, err := c.ListGroups(t.Context())
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("error %v, want malformed: too large", err)
		}
	})
	t.Run("redirect names the location", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere:29009"+r.URL.Path, http.StatusMovedPermanently)
		})
		_, err := newTestClient(t, []string{f.URL}).ListGroups(t.Context())
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "https://elsewhere:29009") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestClient_UnknownStatusLoggedOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t, constHandler(200, `{"result":{"code":0,"message":""},"groups":[{"name":"a","status":"Weird"},{"name":"b","status":"Weird"},{"name":"c","status":"Odd"},{"name":"d","status":"Online"}]}`))
	var buf syncBuffer
	c, err := New(MemberConfig{Name: "m", URLs: []string{f.URL}, User: "u"},
		WithLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn})), WithTransportPool(NewTransportPool()))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		gs, err := c.ListGroups(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if gs[0].Status != StatusUnknown || gs[0].RawStatus != "Weird" {
			t.Fatalf("group a = %+v", gs[0])
		}
	}
	out := buf.String()
	if n := strings.Count(out, "unrecognised ecx status"); n != 2 {
		t.Errorf("%d warnings, want 2 (one per distinct string):\n%s", n, out)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The reference decoders below are the encoding/json decoders that the one-pass reader of
// decode.go replaced, kept to check it against (FuzzDecodeMatchesEncodingJSON) and to measure
// it against (BenchmarkDecodeGroups).

type refEnvelope struct {
	Result    json.RawMessage `json:"result"`
	Cluster   json.RawMessage `json:"cluster"`
	Servers   json.RawMessage `json:"servers"`
	Groups    json.RawMessage `json:"groups"`
	Resources json.RawMessage `json:"resources"`
	Monitors  json.RawMessage `json:"monitors"`
	Detail    json.RawMessage `json:"detail"`
}

func refParseEnvelope(body []byte) (*envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errNotEnvelope
	}
	var w refEnvelope
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotEnvelope, err)
	}
	if isNull(w.Result) {
		return nil, errNotEnvelope
	}
	var r wireResult
	if err := json.Unmarshal(w.Result, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotEnvelope, err)
	}
	return &envelope{Code: int(r.Code), Message: string(r.Message), Cluster: w.Cluster, Servers: w.Servers,
		Groups: w.Groups, Resources: w.Resources, Monitors: w.Monitors, Detail: w.Detail}, nil
}

type refWireRef struct{ Name wireString }

func (r *refWireRef) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '"' {
		return r.Name.UnmarshalJSON(t)
	}
	if isNull(t) {
		return nil
	}
	var obj struct {
		Name wireString `json:"name"`
	}
	if err := json.Unmarshal(t, &obj); err != nil {
		return err
	}
	r.Name = obj.Name
	return nil
}

type refWireGroup struct {
	Name      wireString      `json:"name"`
	Status    wireString      `json:"status"`
	Current   wireString      `json:"current"`
	Resources json.RawMessage `json:"resources"`
}

func refDecodeGroups(env *envelope) ([]Group, error) {
	list, err := decodeList[refWireGroup](env.Groups, "groups")
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(list))
	for _, w := range list {
		g := Group{Name: string(w.Name), Current: normCurrent(w.Current)}
		g.Status, g.RawStatus = status(w.Status)
		if !isNull(w.Resources) {
			refs, err := decodeList[refWireRef](w.Resources, "groups[].resources")
			if err != nil {
				return nil, err
			}
			g.Resources = make([]ResourceRef, 0, len(refs))
			for _, r := range refs {
				if r.Name != "" {
					g.Resources = append(g.Resources, ResourceRef{Name: string(r.Name)})
				}
			}
		}
		out = append(out, g)
	}
	return out, nil
}

func refDecodeServers(env *envelope) ([]Server, error) {
	list, err := decodeList[wireServer](env.Servers, "servers")
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(list))
	for _, w := range list {
		st, raw := status(w.Status)
		out = append(out, Server{Name: string(w.Name), Status: st, RawStatus: raw})
	}
	return out, nil
}

func refDecodeNames(raw json.RawMessage, key string) ([]string, error) {
	list, err := decodeList[refWireRef](raw, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		if r.Name != "" {
			out = append(out, string(r.Name))
		}
	}
	return out, nil
}

// sameOutcome fails t unless both decoders failed, or both succeeded with equal values.
func sameOutcome[T any](t *testing.T, what string, body []byte, got T, err error, want T, wantErr error) {
	t.Helper()
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s of %q: error %v, encoding/json's %v", what, body, err, wantErr)
	}
	if err == nil {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s of %q (-encoding/json +one pass):\n%s", what, body, diff)
		}
	}
}

// FuzzDecodeMatchesEncodingJSON checks that the one-pass reader accepts exactly the bodies
// encoding/json accepts and decodes the same values from them; and that the poll's decoding
// (decodeGroupStates) gives the same groups, without resources, whenever the full decoding
// succeeds.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	addSeeds(f)
	for _, s := range []string{
		`{"Result":{"CODE":"7","Message":null},"GROUPS":[null,{"NAME":"g","name":"h","ſtatus":"Online","cuRRent":" None "}]}`,
		`{"result":{"code":0},"result":{"code":"x"}}`, `{"result":{"code":"x"},"result":{"code":0}}`,
		`{"result":{"code":0},"groups":[{"name":"g","resources":7,"resources":null}]}`,
		`{"result":{"code":0},"groups":[{"name":"g\u00e9\ud800","resources":{"name":"r"}}],"servers":{"name":"s","status":"online"}}`,
		`{"result":{"code":0},"groups":[{"name":"g","resources":["a",{"name":null},{"NAME":"b","name":"c"}]}]} `,
		"{\"result\":{\"code\":0},\"groups\":[{\"name\":\"\xff\"}]}", `{"result":{"code":-0,"message":""}}`,
		`{"result":{"code":1e2}}`, `{"result":{"code":0},"x":[1.5e+3,-0.0,true,false,null,"\/\b\f\n\r\t\"\\"]}`,
		`{"result":{"code":0},"x":01}`, `{"result":{"code":0},"x":[1,]}`, `{"result":{"code":0},"x":{"a":1,}}`,
		`{"result":{"code":0},"groups":[{"name":"g"},5]}`, `{"result":{"code":0},"groups":"g"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		ref, refErr := refParseEnvelope(body)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("parseEnvelope(%q): error %v, encoding/json's %v", body, err, refErr)
		}
		if err != nil {
			return
		}
		if env.Code != ref.Code || env.Message != ref.Message {
			t.Fatalf("parseEnvelope(%q): code %d message %q, encoding/json's %d %q", body, env.Code, env.Message, ref.Code, ref.Message)
		}
		for _, p := range [][2][]byte{{env.Cluster, ref.Cluster}, {env.Servers, ref.Servers}, {env.Groups, ref.Groups},
			{env.Resources, ref.Resources}, {env.Monitors, ref.Monitors}, {env.Detail, ref.Detail}} {
			if !bytes.Equal(p[0], p[1]) {
				t.Fatalf("parseEnvelope(%q): payload %q, encoding/json's %q", body, p[0], p[1])
			}
		}
		groups, err := decodeGroups(env)
		refGroups, refGroupsErr := refDecodeGroups(ref)
		sameOutcome(t, "decodeGroups", body, groups, err, refGroups, refGroupsErr)
		servers, err := decodeServers(env)
		refServers, refErr := refDecodeServers(ref)
		sameOutcome(t, "decodeServers", body, servers, err, refServers, refErr)
		for _, p := range []json.RawMessage{env.Groups, env.Servers} {
			names, err := decodeNames(p, "x")
			refNames, refErr := refDecodeNames(p, "x")
			sameOutcome(t, "decodeNames", body, names, err, refNames, refErr)
		}
		if refGroupsErr == nil {
			for i := range refGroups {
				refGroups[i].Resources = nil
			}
			states, err := decodeGroupStates(env)
			sameOutcome(t, "decodeGroupStates", body, states, err, refGroups, nil)
		}
	})
}

// groupsBody is an answer of GET /api/v1/groups with n groups of r resources each, as ecxsim
// sends it.
func groupsBody(n, r int) []byte {
	var b strings.Builder
	b.WriteString(`{"result":{"code":0,"message":""},"groups":[`)
	for g := range n {
		if g > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"m0123-g%d","status":"Online","current":"m0123-1","resources":[`, g)
		for k := range r {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":"m0123-g%d-res%d"}`, g, k)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// TestDecodeGroupStates_SkipsResources shows that the poll's decoding does not decode the
// resources: its allocations do not grow with their number, and resources the client could not
// decode do not fail it, while ListGroups, which returns them, still refuses them.
func TestDecodeGroupStates_SkipsResources(t *testing.T) { // not parallel: AllocsPerRun
	allocs := func(body []byte, dec func(*envelope) ([]Group, error)) float64 {
		return testing.AllocsPerRun(50, func() {
			env, err := parseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dec(env); err != nil {
				t.Fatal(err)
			}
		})
	}
	few, many := groupsBody(10, 1), groupsBody(10, 20)
	if a, b := allocs(few, decodeGroupStates), allocs(many, decodeGroupStates); a != b {
		t.Errorf("decodeGroupStates: %v allocations with 1 resource per group, %v with 20: the resources are decoded", a, b)
	}
	if a, b := allocs(few, decodeGroups), allocs(many, decodeGroups); a >= b {
		t.Errorf("decodeGroups: %v allocations with 1 resource per group, %v with 20: the resources are not decoded", a, b)
	}
	// A status spelled as ECX spells it costs nothing: per group, its name and current server.
	if a := allocs(few, decodeGroupStates); a > 2+1+2*10 {
		t.Errorf("decodeGroupStates of 10 groups: %v allocations, want at most 23 (envelope, list, name and current of each group)", a)
	}

	odd := `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Online","current":"s1","resources":7},` +
		`{"name":"g2","status":"Offline","current":"None","resources":[{"name":["fip"]}]}]}`
	f := newFake(t, constHandler(200, odd))
	c := newTestClient(t, []string{f.URL})
	got, err := c.ListGroupStates(t.Context())
	want := []Group{{Name: "g1", Status: StatusOnline, RawStatus: "Online", Current: "s1"}, {Name: "g2", Status: StatusOffline, RawStatus: "Offline"}}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("ListGroupStates = %+v, %v; want %+v", got, err, want)
	}
	if _, err := c.ListGroups(t.Context()); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `"resources"`) {
		t.Errorf("ListGroups: error %v, want malformed resources", err)
	}
	if reqs := f.requests(); len(reqs) != 2 || reqs[0].Method != "GET" || reqs[0].Path != "/api/v1/groups" || reqs[0].Query != "" {
		t.Errorf("requests %+v, want GET /api/v1/groups twice", reqs)
	}
	// What is skipped is still read as JSON: a garbled body fails the poll too.
	garbled := newFake(t, constHandler(200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Online","resources":[{"name":"fip1"]}]}`))
	if _, err := newTestClient(t, []string{garbled.URL}).ListGroupStates(t.Context()); !errors.Is(err, ErrMalformed) {
		t.Errorf("ListGroupStates of a garbled body: error %v, want malformed", err)
	}
}
