package witness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// trio is three witnesses in a synctest bubble; link returns, for one master or server, its own
// link to each witness, so a test can cut one initiator from one witness only.
type trio struct {
	t    *testing.T
	beds [3]*bed
}

func newTrio(t *testing.T) *trio {
	t.Helper()
	tr := &trio{t: t}
	for i := range tr.beds {
		tr.beds[i] = newBed(t, ServerConfig{})
	}
	return tr
}

// links returns a Quorum over fresh links to the three witnesses, and the links.
func (tr *trio) links() (*Quorum, [3]*memTransport) {
	tr.t.Helper()
	var links [3]*memTransport
	clients := make([]*Client, 3)
	urls := []string{"http://w1", "http://w2", "http://w3"}
	for i, b := range tr.beds {
		links[i] = &memTransport{}
		links[i].set(b.srv.Handler())
		clients[i] = memClient(tr.t, links[i], "")
	}
	q, err := NewQuorum(clients, urls)
	if err != nil {
		tr.t.Fatalf("NewQuorum: %v", err)
	}
	return q, links
}

func newQuorumLease(t *testing.T, q *Quorum, holder string, ttl time.Duration) *QuorumLease {
	t.Helper()
	l, err := NewQuorumLease(q, LeaseConfig{Set: "prod", Holder: holder, TTL: ttl, Logger: testLogger(t, holder)})
	if err != nil {
		t.Fatalf("NewQuorumLease: %v", err)
	}
	return l
}

// runQuorumLease starts l.Run and returns a stop function that cancels and waits.
func runQuorumLease(t *testing.T, l *QuorumLease, term uint64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, term) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestParseURLs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{"http://w1:7190", 1, ""},
		{"http://w1:7190, https://w2:7190,http://w3:7190/", 3, ""},
		{"http://w1,http://w2", 0, "give an odd number"},
		{"http://w1,,http://w2", 0, "empty witness URL"},
		{"http://w1,http://w1/,http://w2", 0, "listed twice"},
		{"w1:7190", 0, "must be http(s)://"},
		{"", 0, "empty witness URL"},
	} {
		got, err := ParseURLs(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || len(got) != tc.want):
			t.Errorf("ParseURLs(%q) = %v, %v; want %d URLs", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseURLs(%q) error = %v; want one saying %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestNewQuorum_NeedsAnOddNumber(t *testing.T) {
	c, err := NewClient(ClientConfig{URL: "http://w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewQuorum([]*Client{c, c}, []string{"a", "b"}); err == nil {
		t.Fatal("NewQuorum accepted two witnesses")
	}
	if _, err := NewQuorum(nil, nil); err == nil {
		t.Fatal("NewQuorum accepted no witness")
	}
}

// One witness down: the other two still grant the lease, so the leader holds the fence; two
// down: it does not.
func TestQuorumLease_OneWitnessDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		q, links := tr.links()
		links[2].down.Store(true)
		ttl := 9 * time.Second
		l := newQuorumLease(t, q, "a", ttl)
		start := time.Now()
		stop := runQuorumLease(t, l, 5)
		defer stop()
		synctest.Wait()
		if !l.Valid(5) {
			t.Fatalf("the lease is not held with two of three witnesses granting: %v", l.Status())
		}
		if got, want := l.HeldUntil(), start.Add(ttl-ttl/10); !got.Equal(want) {
			t.Fatalf("HeldUntil = %s, want %s", got, want)
		}
		fence := NewFence(&fakeLeader{leader: true, term: 5}, l, nil)
		if err := fence.Check(context.Background()); err != nil {
			t.Fatalf("fence with two of three witnesses: %v", err)
		}
		st := l.Status()
		if st.Granting != 2 || st.Majority != 2 || st.Reachable != 2 || st.Witnesses[2].LastError == nil {
			t.Fatalf("status = %+v, want 2 granting, 2 reachable, witness 3's error", st)
		}
		// A second witness goes: the lease ends at the held-until of the last renewal at most.
		links[1].down.Store(true)
		time.Sleep(ttl)
		synctest.Wait()
		if l.Valid(5) {
			t.Fatalf("the lease is held with one of three witnesses granting")
		}
		if err := fence.Check(context.Background()); !errors.Is(err, ErrLeaseExpired) {
			t.Fatalf("fence with one of three witnesses = %v, want ErrLeaseExpired", err)
		}
		// It comes back: renewed at the next attempt.
		links[1].down.Store(false)
		time.Sleep(ttl / 3)
		synctest.Wait()
		if !l.Valid(5) {
			t.Fatalf("the lease is not held again after a second witness came back")
		}
	})
}

// A witness behind a link slower than the renewal period never grants in time; the other two
// keep the lease held without a gap.
func TestQuorumLease_OneWitnessSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		q, links := tr.links()
		ttl := 3 * time.Second
		links[0].setDelay(ttl)
		l := newQuorumLease(t, q, "a", ttl)
		stop := runQuorumLease(t, l, 7)
		defer stop()
		synctest.Wait()
		for i := range 300 { // 30 s in 100 ms steps
			if !l.Valid(7) {
				t.Fatalf("lease not held after %v with one slow witness: %v", time.Duration(i)*100*time.Millisecond, l.Status())
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// Two masters contend while the witnesses disagree: the deposed master (term 3) reaches only
// witnesses 1 and 2, the new one (term 4) only witnesses 2 and 3, and witness 1 keeps granting
// the deposed master for as long as it renews there. At no sampled instant do both hold a
// majority, and the new master ends up holding it.
func TestQuorumLease_TwoLeadersAcrossDisagreeingWitnesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		qOld, linksOld := tr.links()
		qNew, linksNew := tr.links()
		linksOld[2].down.Store(true)
		linksNew[0].down.Store(true)
		ttl := 3 * time.Second
		old, cur := newQuorumLease(t, qOld, "old", ttl), newQuorumLease(t, qNew, "new", ttl)
		stopOld := runQuorumLease(t, old, 3)
		synctest.Wait()
		if !old.Valid(3) {
			t.Fatalf("the first master does not hold the lease: %v", old.Status())
		}
		stopNew := runQuorumLease(t, cur, 4)
		var firstNew time.Time
		overlaps := 0
		for range 20_000 { // 20 s in 1 ms steps
			o, n := old.Valid(3), cur.Valid(4)
			if o && n {
				overlaps++
			}
			if n && firstNew.IsZero() {
				firstNew = time.Now()
			}
			time.Sleep(time.Millisecond)
		}
		if overlaps > 0 {
			t.Fatalf("both masters held a majority at %d sampled instants", overlaps)
		}
		if firstNew.IsZero() {
			t.Fatalf("the new master never held a majority: %v", cur.Status())
		}
		if old.Valid(3) {
			t.Fatalf("the deposed master still holds a majority: %v", old.Status())
		}
		// Witness 1 still grants the deposed master (nobody else asks it): a minority.
		if st := old.Status(); st.Granting != 1 || st.Witnesses[0].HeldUntil.IsZero() {
			t.Fatalf("deposed master's status = %+v, want witness 1 alone granting", st)
		}
		stopNew()
		stopOld()
	})
}

func TestQuorumHeartbeat_MajorityAcknowledges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		q, links := tr.links()
		ctx := context.Background()
		if err := q.Heartbeat(ctx, "east", "s1"); err != nil {
			t.Fatalf("heartbeat with three witnesses: %v", err)
		}
		links[0].down.Store(true)
		if err := q.Heartbeat(ctx, "east", "s1"); err != nil {
			t.Fatalf("heartbeat with two of three witnesses: %v", err)
		}
		links[1].down.Store(true)
		err := q.Heartbeat(ctx, "east", "s1")
		if err == nil || !strings.Contains(err.Error(), "of 3 witnesses, 2 needed") {
			t.Fatalf("heartbeat with one of three witnesses = %v, want not acknowledged", err)
		}
	})
}

// A slow witness does not hold the heartbeat back, and still records it afterwards.
func TestQuorumHeartbeat_SlowWitnessStillRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		q, links := tr.links()
		links[2].setDelay(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Heartbeat(ctx, "east", "s1"); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if took := time.Since(start); took != 0 {
			t.Fatalf("heartbeat waited %v for the slow witness", took)
		}
		cancel()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, err := tr.beds[2].c.Cluster(context.Background(), "east"); err != nil {
			t.Fatalf("the slow witness did not record the heartbeat: %v", err)
		}
	})
}

// A member is declared down only when a majority of all witnesses have heard none of its servers
// for fence_after: a minority that lost its heartbeats changes nothing.
func TestQuorumCluster_MajorityOfAllWitnesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTrio(t)
		q, links := tr.links()
		ctx := context.Background()
		if err := q.Heartbeat(ctx, "east", "s1"); err != nil {
			t.Fatal(err)
		}
		// Witness 1 is cut from the member's heartbeats: it alone stops hearing it.
		_, member := tr.links()
		member[0].down.Store(true)
		mq, _ := NewQuorum(func() []*Client {
			cs := make([]*Client, 3)
			for i := range cs {
				cs[i] = memClient(t, member[i], "")
			}
			return cs
		}(), []string{"http://w1", "http://w2", "http://w3"})
		for range 20 {
			time.Sleep(time.Second)
			if err := mq.Heartbeat(ctx, "east", "s1"); err != nil {
				t.Fatal(err)
			}
		}
		seen, err := q.Cluster(ctx, "east")
		if err != nil {
			t.Fatal(err)
		}
		if seen.LastHeard() != 0 || seen.Witnesses[0].LastHeard != 20*time.Second {
			t.Fatalf("one witness silent: LastHeard = %v (witnesses %+v), want 0", seen.LastHeard(), seen.Witnesses)
		}
		// Then the member goes silent for all: after 15 s a majority has not heard it for 15 s.
		time.Sleep(15 * time.Second)
		if seen, err = q.Cluster(ctx, "east"); err != nil || seen.LastHeard() != 15*time.Second {
			t.Fatalf("all silent: LastHeard = %v, %v; want 15s", seen.LastHeard(), err)
		}
		// A witness that does not answer counts as having heard it now.
		links[1].down.Store(true)
		if seen, err = q.Cluster(ctx, "east"); err != nil || seen.LastHeard() != 15*time.Second {
			t.Fatalf("witness 2 unreachable: LastHeard = %v, %v; want 15s (witnesses 1 and 3)", seen.LastHeard(), err)
		}
		links[2].down.Store(true)
		if _, err = q.Cluster(ctx, "east"); err == nil || errors.Is(err, ErrNeverSeen) {
			t.Fatalf("two witnesses unreachable: err = %v, want an error that is not never-seen", err)
		}
	})
}

func TestCombineSeen(t *testing.T) {
	s := func(pairs ...any) ClusterSeen {
		cs := ClusterSeen{Cluster: "east"}
		for i := 0; i < len(pairs); i += 2 {
			cs.Servers = append(cs.Servers, ServerSeen{Server: pairs[i].(string), SinceHeartbeat: pairs[i+1].(time.Duration)})
		}
		return cs
	}
	urls := []string{"w1", "w2", "w3"}
	down := errors.New("connection refused")
	never := ErrNeverSeen
	for _, tc := range []struct {
		name      string
		seen      []ClusterSeen
		errs      []error
		want      time.Duration
		wantErr   bool
		wantNever bool
	}{
		{"all agree", []ClusterSeen{s("a", 20*time.Second), s("a", 21*time.Second), s("a", 22*time.Second)}, []error{nil, nil, nil}, 21 * time.Second, false, false},
		{"one silent witness", []ClusterSeen{s("a", 30*time.Second), s("a", time.Second), s("a", time.Duration(0))}, []error{nil, nil, nil}, time.Second, false, false},
		// Each witness heard a different server recently: no majority has heard none of them.
		{"servers heard by different witnesses", []ClusterSeen{s("a", 100*time.Second, "b", time.Duration(0)), s("a", time.Duration(0), "b", 100*time.Second), s("a", 100*time.Second, "b", 100*time.Second)}, []error{nil, nil, nil}, 0, false, false},
		{"one unreachable counts as heard now", []ClusterSeen{s("a", 30*time.Second), {}, s("a", 20*time.Second)}, []error{nil, down, nil}, 20 * time.Second, false, false},
		{"two unreachable", []ClusterSeen{s("a", 30*time.Second), {}, {}}, []error{nil, down, down}, 0, true, false},
		{"one never seen", []ClusterSeen{s("a", 30*time.Second), {}, s("a", 40*time.Second)}, []error{nil, never, nil}, 30 * time.Second, false, false},
		{"never seen by a majority", []ClusterSeen{s("a", 30*time.Second), {}, {}}, []error{nil, never, never}, 0, true, true},
		{"never seen and unreachable", []ClusterSeen{s("a", 30*time.Second), {}, {}}, []error{nil, never, down}, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := combineSeen("east", urls, tc.seen, tc.errs)
			if (err != nil) != tc.wantErr || errors.Is(err, ErrNeverSeen) != tc.wantNever {
				t.Fatalf("err = %v; want error %v, never-seen %v", err, tc.wantErr, tc.wantNever)
			}
			if err == nil && got.LastHeard() != tc.want {
				t.Fatalf("LastHeard = %v, want %v", got.LastHeard(), tc.want)
			}
		})
	}
}

// The combined silence says "fence_after passed" exactly when a majority of all configured
// witnesses each report at least fence_after of silence, whatever the others answer.
func TestCombineSeen_MajorityProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const fence = 15 * time.Second
	for range 5000 {
		n := []int{1, 3, 5}[rng.IntN(3)]
		urls := make([]string, n)
		seen := make([]ClusterSeen, n)
		errs := make([]error, n)
		silent, answered, heard := 0, 0, 0
		for i := range n {
			urls[i] = fmt.Sprintf("w%d", i)
			switch rng.IntN(6) {
			case 0:
				errs[i] = errors.New("unreachable")
				continue
			case 1:
				errs[i] = fmt.Errorf("%w: east", ErrNeverSeen)
				answered++
				continue
			}
			answered++
			heard++
			least := time.Duration(1 << 62)
			for _, s := range []string{"a", "b"} {
				if rng.IntN(4) == 0 {
					continue // this witness never heard s
				}
				d := time.Duration(rng.IntN(30)) * time.Second
				seen[i].Servers = append(seen[i].Servers, ServerSeen{Server: s, SinceHeartbeat: d})
				least = min(least, d)
			}
			if len(seen[i].Servers) > 0 && least >= fence {
				silent++
			}
		}
		got, err := combineSeen("east", urls, seen, errs)
		need := Majority(n)
		switch {
		case n == 1:
			continue // a single witness is passed through by Quorum.Cluster, not combined
		case answered < need || heard < need:
			if err == nil {
				t.Fatalf("n=%d answered=%d heard=%d: no error, LastHeard %v", n, answered, heard, got.LastHeard())
			}
		case err != nil:
			t.Fatalf("n=%d answered=%d heard=%d: %v", n, answered, heard, err)
		case (got.LastHeard() >= fence) != (silent >= need):
			t.Fatalf("n=%d: LastHeard %v, %d witnesses silent for fence_after (majority %d): %+v", n, got.LastHeard(), silent, need, got.Witnesses)
		}
	}
}
