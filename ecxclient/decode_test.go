package ecxclient

import (
	"bytes"
	"errors"
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
