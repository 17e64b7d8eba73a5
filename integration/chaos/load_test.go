package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Operation kinds of the client load and of the model.
const (
	opRegister   = "register"   // create-only registration
	opUpdate     = "update"     // registration with update: creates or replaces
	opUnregister = "unregister" //
	opMove       = "move"       // planned move to a member
	opGet        = "get"        // consistent read
)

// Outcomes of an operation as the client saw it.
const (
	outOK       = "ok"
	outNotFound = "notfound"
	outExists   = "exists"
	outPrecond  = "precond"
	outUnknown  = "unknown" // no definite answer before the deadline: it may or may not have happened
	// outNoMember: refused because a member it names does not exist, which happens only while a
	// member-remove fault has removed one. It changes nothing and says nothing about the workload.
	outNoMember = "nomember"
)

// opRecord is one client operation: what was asked, through which masters, and what came back.
type opRecord struct {
	id      int
	client  int
	kind    string
	key     string
	version int    // the version written (register, update)
	target  string // the member of a move
	reqID   string
	via     []string // masters tried, in order
	call    time.Time
	ret     time.Time // zero when the outcome is unknown
	outcome string
	exists  bool // get: the workload exists
	got     int  // get: its version
	err     string
}

func (r *opRecord) String() string {
	ret := "        ?"
	if !r.ret.IsZero() {
		ret = r.ret.Format("15:04:05.000")
	}
	s := fmt.Sprintf("#%d c%d %s..%s %s(%s", r.id, r.client, r.call.Format("15:04:05.000"), ret, r.kind, r.key)
	switch r.kind {
	case opRegister, opUpdate:
		s += fmt.Sprintf(", v%d", r.version)
	case opMove:
		s += ", " + r.target
	}
	s += ") -> " + r.outcome
	if r.kind == opGet && r.outcome == outOK {
		if r.exists {
			s += fmt.Sprintf(" v%d", r.got)
		} else {
			s += " absent"
		}
	}
	s += fmt.Sprintf(" via %s id=%s", strings.Join(r.via, ","), r.reqID)
	if r.err != "" {
		s += " [" + r.err + "]"
	}
	return s
}

// history collects the records of every client. It is safe for concurrent use.
type history struct {
	mu      sync.Mutex
	ops     []*opRecord
	next    atomic.Int64
	version atomic.Int64
	odd     []string // definite errors the model has no meaning for (a bug in the suite or the server)
}

func newHistory() *history {
	h := &history{}
	h.version.Store(1) // every workload starts at version 1
	return h
}

func (h *history) add(r *opRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, r)
}

func (h *history) snapshot() []*opRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*opRecord(nil), h.ops...)
}

// loader runs the client load: each client picks an operation, a workload and a master at
// random, gives each attempt a deadline, and retries an ambiguous failure with the same
// request id on another master until its overall deadline.
type loader struct {
	e    *env
	h    *history
	seed uint64
}

func (l *loader) run(ctx context.Context, clients int) {
	var wg sync.WaitGroup
	// One more client reads, consistently, every 20 ms through a random master. Right after an
	// election a new leader has not yet committed an entry of its own term, and its commit
	// index may lag writes the old leader acknowledged; a read served in that window is stale.
	// Frequent reads make that window likely to be hit.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(l.seed, 999))
		for ctx.Err() == nil {
			l.read(rng, clients)
			sleepCtx(ctx, 20*time.Millisecond)
		}
	}()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(l.seed, uint64(c)+1000))
			for ctx.Err() == nil {
				l.one(rng, c)
				sleepCtx(ctx, time.Duration(50+rng.IntN(250))*time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// read is one consistent read with a short deadline and no retry.
func (l *loader) read(rng *rand.Rand, client int) {
	r := &opRecord{id: int(l.h.next.Add(1)), client: client, kind: opGet, key: workloadName(rng.IntN(nWorkloads))}
	r.reqID = fmt.Sprintf("chaos-%d-%d", l.seed, r.id)
	m := l.e.masters[rng.IntN(len(l.e.masters))]
	r.via = []string{m.id}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.call = time.Now()
	err := l.invoke(ctx, m, r)
	if err != nil {
		r.outcome, r.err = outUnknown, status.Convert(err).Message()
	} else {
		r.ret, r.outcome = time.Now(), outOK
	}
	l.h.add(r)
}

func (l *loader) one(rng *rand.Rand, client int) {
	r := &opRecord{id: int(l.h.next.Add(1)), client: client, key: workloadName(rng.IntN(nWorkloads))}
	r.reqID = fmt.Sprintf("chaos-%d-%d", l.seed, r.id)
	switch p := rng.IntN(100); {
	case p < 30:
		r.kind = opGet
	case p < 50:
		r.kind = opUpdate
	case p < 65:
		r.kind = opRegister
	case p < 70:
		r.kind = opUnregister
	default:
		r.kind = opMove
		r.target = memberName(rng.IntN(nMembers))
	}
	if r.kind == opRegister || r.kind == opUpdate {
		r.version = int(l.h.version.Add(1))
	}
	total, per := 8*time.Second, 3*time.Second
	if r.kind == opGet {
		total = per
	}
	r.call = time.Now()
	deadline := r.call.Add(total)
	for {
		m := l.e.masters[rng.IntN(len(l.e.masters))]
		r.via = append(r.via, m.id)
		left := time.Until(deadline)
		ctx, cancel := context.WithTimeout(context.Background(), min(per, left))
		ctx = metadata.AppendToOutgoingContext(ctx, "cset-request-id", r.reqID, "cset-actor", fmt.Sprintf("chaos-client-%d", client))
		err := l.invoke(ctx, m, r)
		cancel()
		out, definite := classify(err)
		if definite {
			r.ret, r.outcome = time.Now(), out
			if err != nil {
				r.err = status.Convert(err).Message()
			}
			if strings.HasPrefix(out, "bad:") {
				l.h.mu.Lock()
				l.h.odd = append(l.h.odd, fmt.Sprintf("%s: %v", r, err))
				l.h.mu.Unlock()
			}
			break
		}
		r.err = fmt.Sprint(status.Code(err), ": ", status.Convert(err).Message())
		if time.Until(deadline) < 300*time.Millisecond {
			r.outcome = outUnknown
			break
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond) // client back-off before the retry
	}
	l.h.add(r)
}

// invoke runs r once against m and fills the read result.
func (l *loader) invoke(ctx context.Context, m *master, r *opRecord) error {
	i := workloadIndex(r.key)
	switch r.kind {
	case opRegister:
		_, err := m.api.RegisterWorkload(ctx, registerRequest(i, r.version, false))
		return err
	case opUpdate:
		_, err := m.api.RegisterWorkload(ctx, registerRequest(i, r.version, true))
		return err
	case opUnregister:
		_, err := m.api.UnregisterWorkload(ctx, &apiv1.GetRequest{Name: r.key})
		return err
	case opMove:
		_, err := m.api.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: r.key, ToMember: r.target})
		return err
	case opGet:
		w, err := m.api.GetWorkload(ctx, &apiv1.GetRequest{Name: r.key, Read: &apiv1.ReadOptions{Consistent: true}})
		if err == nil {
			r.exists, r.got = true, int(w.GetHookTimeoutSeconds())
		}
		if status.Code(err) == codes.NotFound {
			r.exists = false
			return nil
		}
		return err
	}
	return errors.New("unknown operation " + r.kind)
}

// workloadIndex is the index of a workload name (see workloadName).
func workloadIndex(name string) int {
	var i int
	if isFixed(name) {
		fmt.Sscanf(name, "f%d", &i)
		return nWorkloads + i - 1
	}
	fmt.Sscanf(name, "w%d", &i)
	return i - 1
}

// classify maps an error to an outcome and whether it is definite. Unavailable, deadlines,
// Internal and transport errors are ambiguous: the change may have been applied.
func classify(err error) (string, bool) {
	if err == nil {
		return outOK, true
	}
	switch c := status.Code(err); c {
	case codes.NotFound:
		if msg := status.Convert(err).Message(); strings.Contains(msg, "member") && strings.Contains(msg, "does not exist") {
			return outNoMember, true
		}
		return outNotFound, true
	case codes.AlreadyExists:
		return outExists, true
	case codes.FailedPrecondition:
		return outPrecond, true
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented, codes.OutOfRange:
		return "bad:" + c.String(), true
	default:
		return "", false
	}
}
