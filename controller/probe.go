package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/probe"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// Prober checks one address of a workload (probe.Prober satisfies it).
type Prober interface {
	Check(ctx context.Context, t probe.Target, addr string, timeout time.Duration) error
}

// probeTick is how often the continuous prober looks for probes that are due: a probe runs at
// most this late after its interval.
const probeTick = 100 * time.Millisecond

// probeRefresh is the shortest time between two reads of the state by the continuous prober.
const probeRefresh = time.Second

// gateRetry bounds the wait between two probes while an operation waits for its probe.
const gateRetry = time.Second

func probed(w *fsmv1.Workload) bool {
	k := w.GetProbe().GetKind()
	return k != "" && k != fsm.ProbeNone
}

func probeTarget(p *fsmv1.Probe) probe.Target {
	return probe.Target{Kind: p.Kind, Port: p.Port, Path: p.Path, StatusMin: p.StatusMin, StatusMax: p.StatusMax}
}

func millis(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// probeOnce probes every address of w on member; it fails on the first address that does not
// answer as the probe expects (a client may be given any of them).
func (c *Controller) probeOnce(ctx context.Context, w *fsmv1.Workload, member string) error {
	addrs := w.GetAddresses()[member].GetAddresses()
	if len(addrs) == 0 {
		return fmt.Errorf("workload %s has no address on %s to probe", w.Name, member)
	}
	t, timeout := probeTarget(w.Probe), millis(w.Probe.TimeoutMs)
	start := time.Now()
	var err error
	for _, a := range addrs {
		if err = c.deps.Prober.Check(ctx, t, a, timeout); err != nil {
			break
		}
	}
	c.deps.Observer.Probe(w.Name, member, time.Since(start), err)
	return err
}

// probeGate waits until w's probe passes healthy_after times in a row on member, where ECX has
// just reported it Online: only then does its operation end and DNS point at member. It gives
// up after the probe's grace with the last probe's error.
func (c *Controller) probeGate(ctx context.Context, w *fsmv1.Workload, member string) error {
	p := w.Probe
	grace := millis(p.GraceMs)
	gctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	wait := min(millis(p.IntervalMs), gateRetry)
	passes := uint32(0)
	var last error
	for {
		err := c.probeOnce(gctx, w, member)
		if err == nil {
			if passes++; passes >= p.HealthyAfter {
				return nil
			}
		} else {
			passes, last = 0, err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-gctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if last == nil {
				last = fmt.Errorf("it passed %d of the %d probes in a row it needs", passes, p.HealthyAfter)
			}
			return fmt.Errorf("no probe passed within the probe grace of %v: %w", grace, last)
		case <-t.C:
		}
	}
}

// probeTrack is the continuous prober's record of one placed workload.
type probeTrack struct {
	member    string
	key       string // the probe and addresses probed; a change starts the counts again
	next      time.Time
	inflight  bool
	oks       uint32
	fails     uint32
	committed string // the reachability the state holds for this placement
}

// prober probes every placed, Online workload that has a probe, every probe interval, at most
// ProbeWorkers at once, and commits each change of reachability (docs/probe.md).
type prober struct {
	c     *Controller
	slots chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	tracks map[string]*probeTrack
	due    []*fsmv1.Workload // scratch
}

// probeKey identifies what a track probes: the probe, the addresses and the placement.
func probeKey(w *fsmv1.Workload, member string) string {
	p := w.Probe
	var b strings.Builder
	b.WriteString(p.Kind)
	for _, n := range []uint64{uint64(p.Port), uint64(p.StatusMin), uint64(p.StatusMax), uint64(p.TimeoutMs), uint64(p.IntervalMs),
		uint64(p.HealthyAfter), uint64(p.UnhealthyAfter), uint64(w.Placement.GetSinceUnixNano())} {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(n, 10))
	}
	b.WriteString(p.Path)
	for _, a := range w.GetAddresses()[member].GetAddresses() {
		b.WriteByte(' ')
		b.WriteString(a)
	}
	return b.String()
}

// runProbes runs the continuous prober until ctx ends, then waits for the probes in flight.
func (c *Controller) runProbes(ctx context.Context) {
	pr := &prober{c: c, slots: make(chan struct{}, c.cfg.ProbeWorkers), tracks: map[string]*probeTrack{}}
	defer pr.wg.Wait()
	t := time.NewTicker(probeTick)
	defer t.Stop()
	var watch <-chan struct{}
	var d *fsm.Data
	var refreshed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch:
			watch = nil // re-read the state at a tick
		case now := <-t.C:
			// The state is copied at most once per probeRefresh however busy the log is: a
			// placement made meanwhile was just probed by its operation.
			if watch == nil && now.Sub(refreshed) >= probeRefresh {
				watch, refreshed = c.deps.State.Watch(), now
				d = c.deps.State.Data()
				pr.refresh(d, now)
			}
			pr.dispatch(ctx, d, time.Now())
		}
	}
}

// refresh brings the tracks in line with the state: one per workload that is placed and Online
// on a member that is up, has a probe and no operation in flight (an operation probes itself).
func (pr *prober) refresh(d *fsm.Data, now time.Time) {
	active := map[string]bool{}
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) {
			active[op.Workload] = true
		}
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	seen := make(map[string]bool, len(pr.tracks))
	for name, w := range d.Workloads {
		p := w.Placement
		if !probed(w) || p == nil || p.Status != fsm.StatusOnline || w.Desired != fsm.DesiredOnline || active[name] {
			continue
		}
		if h := d.Members[p.Member].GetHealth(); h != fsm.HealthUp && h != fsm.HealthDegraded {
			continue
		}
		seen[name] = true
		key := probeKey(w, p.Member)
		tr := pr.tracks[name]
		if tr == nil || tr.member != p.Member || tr.key != key {
			// A placement an operation just probed is probed again one interval later; one
			// without a result yet (adopted, or a probe added later) at once.
			next := now
			if p.Reachability != "" {
				next = now.Add(millis(w.Probe.IntervalMs))
			}
			inflight := tr != nil && tr.inflight
			tr = &probeTrack{member: p.Member, key: key, next: next, inflight: inflight}
			pr.tracks[name] = tr
		}
		tr.committed = p.Reachability
	}
	for name, tr := range pr.tracks {
		if !seen[name] && !tr.inflight {
			delete(pr.tracks, name)
		}
	}
}

// dispatch starts the probes that are due, each as soon as a worker is free.
func (pr *prober) dispatch(ctx context.Context, d *fsm.Data, now time.Time) {
	pr.mu.Lock()
	pr.due = pr.due[:0]
	for name, tr := range pr.tracks {
		if tr.inflight || now.Before(tr.next) {
			continue
		}
		w := d.Workloads[name]
		if w == nil || w.Placement.GetMember() != tr.member {
			continue
		}
		pr.due = append(pr.due, w)
	}
	due := pr.due
	pr.mu.Unlock()
	for _, w := range due {
		// Wait for a free worker: probes that are due run as soon as one is, not a tick later.
		select {
		case pr.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pr.mu.Lock()
		tr := pr.tracks[w.Name]
		tr.inflight = true
		// Every interval from the last due time, so the tick does not stretch the period.
		if tr.next = tr.next.Add(millis(w.Probe.IntervalMs)); tr.next.Before(now) {
			tr.next = now.Add(millis(w.Probe.IntervalMs))
		}
		member, key := tr.member, tr.key
		pr.mu.Unlock()
		pr.wg.Add(1)
		go func() {
			defer pr.wg.Done()
			err := pr.c.probeOnce(ctx, w, member)
			<-pr.slots
			if ctx.Err() == nil {
				pr.record(ctx, w, member, key, err)
			}
			pr.mu.Lock()
			if tr := pr.tracks[w.Name]; tr != nil {
				tr.inflight = false
			}
			pr.mu.Unlock()
		}()
	}
}

// record counts one result and commits a change of reachability once healthy_after passes or
// unhealthy_after failures in a row say so.
func (pr *prober) record(ctx context.Context, w *fsmv1.Workload, member, key string, err error) {
	pr.mu.Lock()
	tr := pr.tracks[w.Name]
	if tr == nil || tr.member != member || tr.key != key {
		pr.mu.Unlock()
		return // the placement changed while the probe ran
	}
	want := ""
	if err == nil {
		tr.oks, tr.fails = tr.oks+1, 0
		if tr.oks >= w.Probe.HealthyAfter && tr.committed != fsm.ReachabilityReachable {
			want = fsm.ReachabilityReachable
		}
	} else {
		tr.fails, tr.oks = tr.fails+1, 0
		if tr.fails >= w.Probe.UnhealthyAfter && tr.committed != fsm.ReachabilityUnreachable {
			want = fsm.ReachabilityUnreachable
		}
	}
	pr.mu.Unlock()
	if want == "" {
		return
	}
	cmd := &fsmv1.SetReachabilityCommand{Workload: w.Name, Member: member, Reachability: want, SinceUnixNano: pr.c.deps.Now().UnixNano()}
	if err != nil {
		cmd.Error = err.Error()
	}
	// An older master skips the entry (it only loses the probe result) instead of stopping.
	_, cerr := pr.c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", IgnoreIfUnknown: true, Command: &fsmv1.LogEntry_SetReachability{SetReachability: cmd}})
	switch {
	case cerr == nil:
		pr.mu.Lock()
		if tr := pr.tracks[w.Name]; tr != nil && tr.member == member {
			tr.committed = want
		}
		pr.mu.Unlock()
	case errors.Is(cerr, fsm.ErrFailedPrecondition) || ctx.Err() != nil:
		// The workload moved meanwhile, or leadership ended: nothing to record.
	default:
		pr.c.log.Warn("committing a probe result failed", "workload", w.Name, "member", member, "error", cerr)
	}
}
