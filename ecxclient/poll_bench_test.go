package ecxclient

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// serveMembers serves handler on n listeners of 127.0.0.1, as n members' REST APIs, and counts
// the connections they accept.
func serveMembers(tb testing.TB, n int, handler http.Handler) (urls []string, accepted *atomic.Int64) {
	tb.Helper()
	accepted = new(atomic.Int64)
	srv := &http.Server{Handler: handler, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}}
	tb.Cleanup(func() { _ = srv.Close() })
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	return urls, accepted
}

// pollAnswers answers a member's poll as ecxsim does: 2 servers, 10 groups of 1 resource.
func pollAnswers() http.Handler {
	servers := `{"result":{"code":0,"message":""},"servers":[{"name":"m0123-1","status":"Online"},{"name":"m0123-2","status":"Online"}]}`
	groups := string(groupsBody(10, 1))
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/servers", constHandler(200, servers))
	mux.Handle("GET /api/v1/groups", constHandler(200, groups))
	return mux
}

// TestTransport_KeepsAConnectionPerMember polls more members than the 1,024 idle connections
// the pool's transport used to keep in all, through clients sharing one pool as the
// controller's do: each member must be polled over the one connection it was first polled on.
func TestTransport_KeepsAConnectionPerMember(t *testing.T) {
	t.Parallel()
	const members = 1100
	urls, accepted := serveMembers(t, members, pollAnswers())
	pool := NewTransportPool()
	t.Cleanup(pool.CloseIdleConnections)
	clients := make([]*Client, members)
	for i, u := range urls {
		c, err := New(MemberConfig{Name: fmt.Sprintf("m%04d", i), URLs: []string{u}, User: "admin"}, WithTransportPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	for range 3 {
		for _, c := range clients {
			if _, err := c.ListServers(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ListGroupStates(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := accepted.Load(); n != members {
		t.Errorf("%d members polled 3 times over %d connections, want one each", members, n)
	}
}

// BenchmarkPoll is one poll of one member as the controller makes it (GET servers, GET groups
// without resources) over loopback HTTP, and the same with ListGroups. The server's work is in
// the numbers too.
func BenchmarkPoll(b *testing.B) {
	urls, _ := serveMembers(b, 1, pollAnswers())
	c := newTestClient(b, urls)
	for _, bc := range []struct {
		name   string
		groups func(*Client) ([]Group, error)
	}{
		{"ListGroupStates", func(c *Client) ([]Group, error) { return c.ListGroupStates(b.Context()) }},
		{"ListGroups", func(c *Client) ([]Group, error) { return c.ListGroups(b.Context()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ListServers(b.Context()); err != nil {
					b.Fatal(err)
				}
				if gs, err := bc.groups(c); err != nil || len(gs) != 10 {
					b.Fatal(len(gs), err)
				}
			}
		})
	}
}
