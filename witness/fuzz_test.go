package witness

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzServer is one witness shared by all inputs of a fuzz target: state accumulates across
// inputs, which exercises more rule paths than a fresh server per input.
func fuzzServer(f *testing.F) http.Handler {
	s, err := NewServer(ServerConfig{DataDir: f.TempDir(), RestartHold: -1, MaxBodyBytes: 1024})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	return s.Handler()
}

// checkAnswer fails on a 5xx and on a non-JSON body where JSON is promised.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, body string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body.String())
	}
	if rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("body %q: status %d with a non-JSON answer %q", body, rec.Code, rec.Body.String())
	}
}

func FuzzLeaseHandler(f *testing.F) {
	h := fuzzServer(f)
	for _, seed := range []string{
		`{"set":"prod","holder":"a","term":1,"ttl_ms":10000}`,
		`{"set":"prod","holder":"b","term":2,"ttl_ms":1000}`,
		`{"set":"prod","holder":"a","term":1}`,
		`{"set":"","holder":"a","term":1,"ttl_ms":10000}`,
		`{"set":"prod","holder":"a","term":18446744073709551615,"ttl_ms":60000}`,
		`{"set":"prod","holder":"a","term":1e3,"ttl_ms":10000}`,
		`{"set":"p","holder":"a","term":1,"ttl_ms":10000,"extra":true}`,
		`{"set":"p\u0000","holder":"a","term":1,"ttl_ms":10000}`,
		`null`, `[]`, `{}`, ``, `{"set":`, `{"set":"a"}{"set":"b"}`,
	} {
		f.Add(false, seed)
		f.Add(true, seed)
	}
	f.Fuzz(func(t *testing.T, release bool, body string) {
		method := http.MethodPost
		if release {
			method = http.MethodDelete
		}
		req := httptest.NewRequest(method, pathLease, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, body)
		switch {
		case release && rec.Code != http.StatusNoContent && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge:
			t.Fatalf("release %q: unexpected status %d", body, rec.Code)
		case !release && rec.Code == http.StatusOK:
			var q leaseRequest
			var a leaseGranted
			if err := json.Unmarshal([]byte(body), &q); err != nil || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
				t.Fatalf("granted %q but cannot decode it again", body)
			}
			if !a.Granted || a.Holder != q.Holder || a.Term != q.Term || a.TTLMs != q.TTLMs || q.Term == 0 {
				t.Fatalf("grant %+v does not match request %q", a, body)
			}
		case !release && rec.Code == http.StatusConflict:
			var a leaseRefused
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Granted || a.Reason == "" {
				t.Fatalf("refusal %q for %q", rec.Body.String(), body)
			}
		}
	})
}

func FuzzHeartbeatHandler(f *testing.F) {
	h := fuzzServer(f)
	for _, seed := range []string{
		`{"cluster":"ecx1","server":"s1"}`,
		`{"cluster":"ecx1"}`,
		`{"cluster":"ecx1","server":"s1","x":1}`,
		`{"cluster":"a/b","server":"s"}`,
		`{"cluster":"..","server":"s"}`,
		`{"cluster":1,"server":"s"}`,
		`"x"`, ``, `{`,
	} {
		f.Add(seed, "ecx1")
	}
	f.Add(`{"cluster":"\u00fc","server":"s"}`, "\u00fc")
	f.Add(`{}`, "")
	f.Add(`{}`, "a/b")
	f.Fuzz(func(t *testing.T, body, cluster string) {
		req := httptest.NewRequest(http.MethodPost, pathHeartbeat, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, body)
		if rec.Code != http.StatusNoContent && rec.Code != http.StatusBadRequest &&
			rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("heartbeat %q: unexpected status %d", body, rec.Code)
		}
		req = httptest.NewRequest(http.MethodGet, pathClusters+"x", nil)
		req.URL.Path = pathClusters + cluster
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, cluster)
		if rec.Code == http.StatusOK {
			var a clusterAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Cluster != cluster || len(a.Servers) == 0 {
				t.Fatalf("cluster %q: answer %q", cluster, rec.Body.String())
			}
		}
	})
}
