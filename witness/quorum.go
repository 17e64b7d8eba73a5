package witness

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Several witnesses (docs/witness.md, "Several witnesses"; docs/design.md, "Several
// witnesses"). With an odd number N of witnesses, every rule that reads "the witness" reads "a
// majority of the N witnesses": the leader acts only while a majority grant its lease, a member
// is declared down only when a majority have heard none of its servers for fence_after, and a
// guard counts a heartbeat as acknowledged only when a majority acknowledged it. Any two
// majorities of the same N share a witness, which is what each argument rests on.

// Majority returns the size of a majority of n witnesses: n/2+1.
func Majority(n int) int { return n/2 + 1 }

// ParseURLs splits a comma-separated list of witness URLs and checks it: at least one URL,
// each http(s)://host[:port][/path], no duplicates, and an odd count (so that two majorities
// always intersect and an even count buys no extra fault tolerance). Spaces around the commas
// are ignored.
func ParseURLs(list string) ([]string, error) {
	var urls []string
	var errs []error
	seen := map[string]bool{}
	for raw := range strings.SplitSeq(list, ",") {
		u := strings.TrimSpace(raw)
		if u == "" {
			errs = append(errs, fmt.Errorf("empty witness URL in %q: separate the witness URLs with single commas", list))
			continue
		}
		if p, perr := url.Parse(u); perr != nil || p.User != nil || p.RawQuery != "" || p.Fragment != "" || !validClientURL(u) {
			errs = append(errs, fmt.Errorf("witness URL %q must be http(s)://host[:port][/path] (no user, query or fragment)", u))
			continue
		}
		key := strings.TrimRight(u, "/")
		if seen[key] {
			errs = append(errs, fmt.Errorf("witness URL %q is listed twice: list each witness once", u))
			continue
		}
		seen[key] = true
		urls = append(urls, u)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(urls)%2 == 0 {
		return nil, fmt.Errorf("%d witness URLs given: give an odd number (1, 3 or 5): a majority of an even number tolerates no more failures than one witness fewer", len(urls))
	}
	return urls, nil
}

func validClientURL(u string) bool {
	_, err := NewClient(ClientConfig{URL: u})
	return err == nil
}

// Quorum calls N witnesses (N odd) as one: a heartbeat counts as acknowledged when a majority
// acknowledged it, and the last-seen table of a cluster is the one a majority vouch for. With
// one witness it behaves exactly as that witness's Client. It is safe for concurrent use.
type Quorum struct {
	clients []*Client
	urls    []string
}

// NewQuorum returns a Quorum over clients, whose base URLs label them in errors and status.
func NewQuorum(clients []*Client, urls []string) (*Quorum, error) {
	if len(clients) == 0 || len(clients)%2 == 0 {
		return nil, fmt.Errorf("witness: a quorum needs an odd number of witnesses, got %d", len(clients))
	}
	if len(urls) != len(clients) {
		return nil, errors.New("witness: NewQuorum needs one URL per client")
	}
	return &Quorum{clients: slices.Clone(clients), urls: slices.Clone(urls)}, nil
}

// Size is the number of witnesses.
func (q *Quorum) Size() int { return len(q.clients) }

// Clients returns the clients, in the configured order.
func (q *Quorum) Clients() []*Client { return slices.Clone(q.clients) }

// URLs returns the witnesses' URLs, in the configured order.
func (q *Quorum) URLs() []string { return slices.Clone(q.urls) }

// Heartbeat sends the heartbeat of server of cluster to every witness in parallel and returns
// nil as soon as a majority acknowledged it, or an error naming the witnesses that did not once
// a majority can no longer acknowledge. Heartbeats still in flight then go on in the background,
// bounded by ctx's deadline (or the client timeout), so a slower witness still records them.
func (q *Quorum) Heartbeat(ctx context.Context, cluster, server string) error {
	if len(q.clients) == 1 {
		return q.clients[0].Heartbeat(ctx, cluster, server)
	}
	bg := context.WithoutCancel(ctx)
	cancel := context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); ok {
		bg, cancel = context.WithDeadline(bg, d)
	}
	type answer struct {
		i   int
		err error
	}
	answers := make(chan answer, len(q.clients))
	var wg sync.WaitGroup
	for i, c := range q.clients {
		wg.Go(func() { answers <- answer{i, c.Heartbeat(bg, cluster, server)} })
	}
	go func() { wg.Wait(); cancel() }()
	need := Majority(len(q.clients))
	acked := 0
	var errs []error
	for range q.clients {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			return fmt.Errorf("witness: heartbeat acknowledged by %d of %d witnesses, %d needed: %w", acked, len(q.clients), need, errors.Join(append(errs, ctx.Err())...))
		}
		if a.err == nil {
			if acked++; acked >= need {
				return nil
			}
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %w", q.urls[a.i], a.err))
		if len(errs) > len(q.clients)-need {
			break
		}
	}
	return fmt.Errorf("witness: heartbeat acknowledged by %d of %d witnesses, %d needed: %w", acked, len(q.clients), need, errors.Join(errs...))
}

// WitnessSeen is one witness's answer in a combined ClusterSeen.
type WitnessSeen struct {
	URL string
	// LastHeard is the time since this witness heard any server of the cluster; 0 when it did
	// not answer or never heard the cluster (it cannot support declaring the member down).
	LastHeard time.Duration
	// Err is why it did not answer (ErrNeverSeen when it never heard the cluster); nil if it did.
	Err error
}

// Cluster asks every witness in parallel and combines their last-seen tables into the one a
// majority of ALL configured witnesses vouch for: the LastHeard of the result is the largest d
// such that a majority of witnesses each have heard none of the cluster's servers for d. A
// witness that does not answer, or has never heard the cluster, counts as having heard it just
// now: it cannot support declaring the member down. Each server's SinceHeartbeat is combined
// per server, for display (see combineSeen). It returns an error when fewer than a majority answered, and one
// wrapping ErrNeverSeen when fewer than a majority have heard the cluster at all (as one witness
// does when it never heard it), so that no majority can say "down" and the caller declares
// nothing. With one witness it is that witness's Client.Cluster.
func (q *Quorum) Cluster(ctx context.Context, cluster string) (ClusterSeen, error) {
	if len(q.clients) == 1 {
		return q.clients[0].Cluster(ctx, cluster)
	}
	seen := make([]ClusterSeen, len(q.clients))
	errs := make([]error, len(q.clients))
	var wg sync.WaitGroup
	for i, c := range q.clients {
		wg.Go(func() { seen[i], errs[i] = c.Cluster(ctx, cluster) })
	}
	wg.Wait()
	return combineSeen(cluster, q.urls, seen, errs)
}

// combineSeen is Cluster's rule over the witnesses' answers (seen[i], errs[i] from urls[i]).
func combineSeen(cluster string, urls []string, seen []ClusterSeen, errs []error) (ClusterSeen, error) {
	n, need := len(urls), Majority(len(urls))
	out := ClusterSeen{Cluster: cluster, Witnesses: make([]WitnessSeen, n), quorum: true}
	answered, heard := 0, 0
	var failed []error
	lastHeard := make([]time.Duration, n)
	servers := map[string][]time.Duration{}
	for i := range n {
		out.Witnesses[i] = WitnessSeen{URL: urls[i], Err: errs[i]}
		switch {
		case errs[i] == nil:
			answered++
			heard++
			lastHeard[i] = seen[i].LastHeard()
			out.Witnesses[i].LastHeard = lastHeard[i]
			for _, s := range seen[i].Servers {
				servers[s.Server] = append(servers[s.Server], s.SinceHeartbeat)
			}
		case errors.Is(errs[i], ErrNeverSeen):
			answered++
			failed = append(failed, fmt.Errorf("%s: never heard %s", urls[i], cluster))
		default:
			failed = append(failed, fmt.Errorf("%s: %w", urls[i], errs[i]))
		}
	}
	if answered < need {
		return out, fmt.Errorf("witness: only %d of %d witnesses answered for cluster %s, %d needed: %w", answered, n, cluster, need, errors.Join(failed...))
	}
	if heard < need {
		return out, fmt.Errorf("%w: %s by %d of %d witnesses (%d needed to declare it down)", ErrNeverSeen, cluster, n-heard, n, need)
	}
	out.Heard = nthLargest(lastHeard, need)
	// Each server's entry says for how long a majority have not heard it, for display only
	// (LastHeard above decides): a witness that answered but never heard the server counts as
	// never, one that did not answer as just now; a server a majority never heard is left out.
	const never = time.Duration(1<<63 - 1)
	for name, ds := range servers {
		for range answered - len(ds) {
			ds = append(ds, never)
		}
		ds = append(ds, make([]time.Duration, n-answered)...)
		if d := nthLargest(ds, need); d != never {
			out.Servers = append(out.Servers, ServerSeen{Server: name, SinceHeartbeat: d})
		}
	}
	slices.SortFunc(out.Servers, func(a, b ServerSeen) int { return strings.Compare(a.Server, b.Server) })
	return out, nil
}

// nthLargest returns the k-th largest of ds (k from 1), leaving ds unchanged.
func nthLargest(ds []time.Duration, k int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)-k]
}

// FenceLease is what a Fence needs from a witness lease: the term and end of the lease held
// and the clock that end is in. *Lease (one witness) and *QuorumLease (several) satisfy it.
type FenceLease interface {
	held() (term uint64, until time.Time)
	now() time.Time
}

func (l *Lease) now() time.Time { return l.clock.Now() }

// QuorumLease holds the lease of one master at several witnesses at once: one Lease per witness,
// all for the same term, each renewed on its own. It counts as held until the time up to which
// a majority of the witnesses hold it, the Majority(N)-th latest of their held-untils. Two
// masters never both hold a majority at the same moment: each witness grants at most one holder
// at a time and two majorities share a witness. Its methods are safe for concurrent use.
type QuorumLease struct {
	leases []*Lease
	urls   []string
	clock  Clock
	term   atomic.Uint64 // term of the active Run, 0 when none
}

// NewQuorumLease returns a QuorumLease over the witnesses of q, with one Lease per witness
// configured by cfg (its Logger gets each witness's URL).
func NewQuorumLease(q *Quorum, cfg LeaseConfig) (*QuorumLease, error) {
	if q == nil {
		return nil, errors.New("witness: NewQuorumLease needs a quorum")
	}
	ql := &QuorumLease{urls: q.URLs(), clock: cfg.Clock}
	if ql.clock == nil {
		ql.clock = RealClock{}
	}
	for i, c := range q.clients {
		lc := cfg
		if lc.Logger != nil && len(q.clients) > 1 {
			lc.Logger = lc.Logger.With("witness", q.urls[i])
		}
		l, err := NewLease(c, lc)
		if err != nil {
			return nil, err
		}
		ql.leases = append(ql.leases, l)
	}
	return ql, nil
}

// Run runs every witness's Lease.Run for term until ctx is done (see Lease.Run), and returns
// when all have stopped and released. It returns ErrLeaseRunning if a Run is active.
func (ql *QuorumLease) Run(ctx context.Context, term uint64) error {
	if term == 0 {
		return errors.New("witness: lease term must be positive")
	}
	if !ql.term.CompareAndSwap(0, term) {
		return ErrLeaseRunning
	}
	defer ql.term.Store(0)
	errs := make([]error, len(ql.leases))
	var wg sync.WaitGroup
	for i, l := range ql.leases {
		wg.Go(func() { errs[i] = l.Run(ctx, term) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (ql *QuorumLease) now() time.Time { return ql.clock.Now() }

// held returns the term of the active Run and until when a majority of witnesses hold the lease
// for it; (0, zero) when fewer than a majority hold it.
func (ql *QuorumLease) held() (uint64, time.Time) {
	term := ql.term.Load()
	if term == 0 {
		return 0, time.Time{}
	}
	untils := make([]time.Time, len(ql.leases))
	holding := 0
	for i, l := range ql.leases {
		if t, u := l.held(); t == term && !u.IsZero() {
			untils[i] = u
			holding++
		}
	}
	need := Majority(len(ql.leases))
	if holding < need {
		return 0, time.Time{}
	}
	slices.SortFunc(untils, func(a, b time.Time) int { return b.Compare(a) })
	return term, untils[need-1]
}

// HeldUntil is until when a majority of witnesses hold the lease, by its Clock; zero when they
// do not.
func (ql *QuorumLease) HeldUntil() time.Time {
	_, until := ql.held()
	return until
}

// Valid reports whether a majority of witnesses hold the lease, unexpired, for exactly term.
func (ql *QuorumLease) Valid(term uint64) bool {
	held, until := ql.held()
	return term != 0 && held == term && ql.clock.Now().Before(until)
}

// WitnessLeaseStatus is the lease status at one witness of a QuorumLease.
type WitnessLeaseStatus struct {
	URL string
	LeaseStatus
}

// QuorumLeaseStatus is a snapshot of a QuorumLease, for status displays.
type QuorumLeaseStatus struct {
	// HeldUntil is until when a majority of witnesses hold the lease; zero when they do not.
	HeldUntil time.Time
	// Majority is how many witnesses must grant the lease; Granting how many hold it now.
	Majority, Granting, Reachable int
	// Witnesses are the lease statuses at each witness, in the configured order.
	Witnesses []WitnessLeaseStatus
}

// String summarizes the majority result.
func (ql QuorumLeaseStatus) String() string {
	return fmt.Sprintf("%d of %d witnesses grant the lease (%d needed)", ql.Granting, len(ql.Witnesses), ql.Majority)
}

// Status returns a snapshot for status displays.
func (ql *QuorumLease) Status() QuorumLeaseStatus {
	st := QuorumLeaseStatus{Majority: Majority(len(ql.leases)), HeldUntil: ql.HeldUntil()}
	now := ql.clock.Now()
	for i, l := range ql.leases {
		ls := l.Status()
		if now.Before(ls.HeldUntil) {
			st.Granting++
		}
		if ls.WitnessReachable {
			st.Reachable++
		}
		st.Witnesses = append(st.Witnesses, WitnessLeaseStatus{URL: ql.urls[i], LeaseStatus: ls})
	}
	return st
}
