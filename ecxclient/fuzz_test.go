package ecxclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// seeds are bodies every decoding fuzz target starts from.
var seeds = []string{
	`{"result":{"code":0,"message":""},"cluster":{"name":"c1","status":"Online","toratio":1}}`,
	`{"result":{"code":0,"message":""},"servers":[{"name":"s1","status":"Online"},{"name":"s2","status":"Offline"}]}`,
	`{"result":{"code":0,"message":""},"groups":[{"name":"failover1","status":"Online","current":"server1","resources":[{"name":"fip1"},{"name":"exec1"}]}]}`,
	`{"result":{"code":0,"message":""},"groups":[{"name":"g","status":"Offline","current":"None"},{"name":"h","current":null,"resources":["r"]}]}`,
	`{"result":{"code":0,"message":""},"resources":[{"name":"fip1","type":"fip","status":"Online","current":"s1","group":"g"}]}`,
	`{"result":{"code":0,"message":""},"monitors":[{"name":"userw","type":"userw","status":"Normal","servers":[{"name":"server1","status":"Normal"},{"name":"server2","status":"Offline"}]}]}`,
	`{"result":{"code":"3","message":"group g is online on s1"}}`,
	`{"result":{"code":0.0},"groups":{"name":"g"}}`,
	`<html>502 Bad Gateway</html>`,
	`null`, `{}`, `[]`,
}

func addSeeds(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

// checkStatus verifies the Status/RawStatus invariant.
func checkStatus(t *testing.T, s Status, raw string) {
	t.Helper()
	if want, _ := ParseStatus(raw); s != want {
		t.Fatalf("Status %v does not match RawStatus %q", s, raw)
	}
}

func checkCurrent(t *testing.T, cur string) {
	t.Helper()
	if strings.EqualFold(strings.TrimSpace(cur), "none") || cur != strings.TrimSpace(cur) {
		t.Fatalf("Current %q is not normalised", cur)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err == nil && env == nil {
			t.Fatal("nil envelope without error")
		}
		if err != nil && !errors.Is(err, errNotEnvelope) {
			t.Fatalf("error %v is not errNotEnvelope", err)
		}
	})
}

func FuzzDecodeCluster(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		if cl, err := decodeCluster(env); err == nil {
			checkStatus(t, cl.Status, cl.RawStatus)
		}
		_, _ = decodeToRatio(env)
	})
}

func FuzzDecodeServers(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		list, err := decodeServers(env)
		if err != nil {
			return
		}
		for _, s := range list {
			checkStatus(t, s.Status, s.RawStatus)
		}
		_, _ = decodeNames(env.Servers, "servers")
	})
}

func FuzzDecodeGroups(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		list, err := decodeGroups(env)
		if err != nil {
			return
		}
		for _, g := range list {
			checkStatus(t, g.Status, g.RawStatus)
			checkCurrent(t, g.Current)
			for _, r := range g.Resources {
				if r.Name == "" {
					t.Fatal("empty resource name kept")
				}
			}
		}
		_, _ = decodeNames(env.Groups, "groups")
	})
}

func FuzzDecodeResources(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		list, err := decodeResources(env)
		if err != nil {
			return
		}
		for _, r := range list {
			checkStatus(t, r.Status, r.RawStatus)
			checkCurrent(t, r.Current)
		}
	})
}

func FuzzDecodeMonitors(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		list, err := decodeMonitors(env)
		if err != nil {
			return
		}
		for _, m := range list {
			checkStatus(t, m.Status, m.RawStatus)
			for _, s := range m.Servers {
				checkStatus(t, s.Status, s.RawStatus)
			}
		}
	})
}

// fixedRT answers every request with one status and body, without network.
type fixedRT struct {
	status int
	body   []byte
}

func (rt fixedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: rt.status, Status: http.StatusText(rt.status), Header: http.Header{"Location": {"http://x/"}},
		Body: io.NopCloser(bytes.NewReader(rt.body)), Request: r, ContentLength: int64(len(rt.body)),
	}, nil
}

// FuzzClientAnswer drives any status and body through every read and one
// operation: the client must return a value or one typed error, never panic.
func FuzzClientAnswer(f *testing.F) {
	for _, s := range seeds {
		for _, code := range []int{200, 401, 404, 409, 500, 502} {
			f.Add(code, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		c, err := New(MemberConfig{Name: "m", URLs: []string{"http://a:1", "http://b:1"}, User: "u"}, WithTransport(fixedRT{status, body}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(err error) {
			if err == nil {
				return
			}
			for _, s := range []error{ErrAuth, ErrNotFound, ErrRejected, ErrUnreachable, ErrMalformed} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("untyped error for HTTP %d: %v", status, err)
		}
		_, err = c.GetCluster(ctx)
		check(err)
		_, err = c.GetToRatio(ctx)
		check(err)
		_, err = c.GetServer(ctx, "s1")
		check(err)
		_, err = c.ListServerNames(ctx)
		check(err)
		_, err = c.GetGroup(ctx, "g")
		check(err)
		_, err = c.ListGroups(ctx)
		check(err)
		_, err = c.GetGroupResources(ctx, "g")
		check(err)
		_, err = c.ListResources(ctx)
		check(err)
		_, err = c.GetMonitor(ctx, "userw")
		check(err)
		err = c.StartGroup(ctx, "g", "s1")
		check(err)
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("operation accepted with HTTP %d", status)
		}
	})
}
