package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// faultRec is one injected fault in the timeline, with what it may hold back (for the liveness
// checker): the masters it hits, the members it hits, the workloads it hits, or everything.
type faultRec struct {
	step     int
	kind     string
	target   string // the member of a member fault, the master of a master fault
	detail   string
	injected time.Time
	healed   time.Time // zero while active

	masters   []string // a master fault: everything waits while one of these leads, or no master does
	members   []string // a member fault: the workloads that run on, or move from or to, these members
	workloads []string // these workloads
	global    bool     // every workload (the witness, slow links, the leader)
	harmless  bool     // holds nothing back (client cuts, refused requests)
}

// timeline is the run's record of faults and phases, written to a file as it grows so a
// crashed run keeps it.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	lines  []string
	faults []*faultRec
	f      *os.File
}

func newTimeline(path string) (*timeline, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &timeline{start: time.Now(), f: f}, nil
}

func (tl *timeline) logf(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	now := time.Now()
	line := fmt.Sprintf("%s +%8.3fs %s", now.Format("15:04:05.000"), now.Sub(tl.start).Seconds(), fmt.Sprintf(format, args...))
	tl.lines = append(tl.lines, line)
	fmt.Fprintln(tl.f, line)
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.lines, "\n")
}

func (tl *timeline) close() { tl.f.Close() }

// fault is an active fault: what heals it and what it holds.
type fault struct {
	rec    *faultRec
	claims []string
	until  time.Time
	heal   func() error
	// deferred counts the heals that returned errHealLater: the fault stays active and is
	// healed again after the other due heals, up to maxDeferrals times.
	deferred int
}

// errHealLater is wrapped by a heal that cannot finish while other faults hold the set (a
// member cannot be added back while the masters have no quorum): its fault is healed again
// after the heals that are due, instead of failing.
var errHealLater = errors.New("cannot heal yet")

// maxDeferrals bounds how often one heal is put off (about one second each).
const maxDeferrals = 60

// injector draws faults from the seeded generator and applies them to the environment.
// Claims keep two faults off the same thing (a master cannot be killed while it is stopped)
// and keep out the one combination the design does not claim to survive: a member that the
// acting master cannot reach while the witness cannot hear it either (docs/design.md, "Split-brain protection"
// relies on the witness to tell a dead member from an unreachable one). -site-isolation lets
// that combination happen.
type injector struct {
	e      *env
	rng    *rand.Rand
	tl     *timeline
	claims map[string]bool
	active []*fault
	count  int
	fails  int // injections or heals that returned an error
	siteOK bool

	mu         sync.Mutex
	violations []string // found while injecting: accepted requests that must be refused
	removedAt  []window // when a member was removed (client answers "member does not exist" then)
}

// window is an interval of time; a zero end is still open.
type window struct{ from, to time.Time }

func (in *injector) violate(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	in.tl.logf("    !!! violation: %s", v)
	in.mu.Lock()
	in.violations = append(in.violations, v)
	in.mu.Unlock()
}

type faultKind struct {
	name   string
	weight int
	make   func(in *injector, step int) *fault // nil when not applicable now
}

// weightNow is the kind's weight in this run: the faults of one of several witnesses weigh
// nothing with a single witness, so that its schedules stay those of earlier runs.
func (k faultKind) weightNow() int {
	if nWitnesses() < 3 && (k.name == "witness-masters-cut" || k.name == "witness-member-cut") {
		return 0
	}
	return k.weight
}

var faultKinds = []faultKind{
	{"master-kill", 3, (*injector).masterKill},
	{"leader-pause", 3, (*injector).leaderPause},
	{"master-isolate", 3, (*injector).masterIsolate},
	{"master-oneway", 2, (*injector).masterOneWay},
	{"master-witness-cut", 2, (*injector).masterWitnessCut},
	{"master-members-cut", 2, (*injector).masterMembersCut},
	{"member-kill", 3, (*injector).memberKill},
	{"member-server-kill", 1, (*injector).memberServerKill},
	{"member-isolate", 2, (*injector).memberIsolate},
	{"member-witness-cut", 2, (*injector).memberWitnessCut},
	{"witness-kill", 2, (*injector).witnessKill},
	{"witness-masters-cut", 2, (*injector).witnessMastersCut}, // only with -witnesses 3 or more
	{"witness-member-cut", 2, (*injector).witnessMemberCut},   // only with -witnesses 3 or more
	{"slow-links", 2, (*injector).slowLinks},
	{"client-cut", 1, (*injector).clientCut},
	{"site-isolation", 3, (*injector).siteIsolation}, // not with -site-isolation=false
	{"member-kill-starting", 2, (*injector).memberKillStarting},
	{"member-remove", 1, (*injector).memberRemove},
	{"duplicate-register", 1, (*injector).duplicateRegister},
	{"ineligible-move", 2, (*injector).ineligibleMove},
	{"hook-fail", 1, (*injector).hookFail},
	{"leader-kill-hook", 1, (*injector).leaderKillHook},
	{"ecx-errors", 2, (*injector).ecxErrors},
}

// hold draws a duration in [lo, hi).
func (in *injector) hold(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(in.rng.Int64N(int64(hi-lo)))
}

func (in *injector) free(claims ...string) bool {
	for _, c := range claims {
		if in.claims[c] {
			return false
		}
	}
	return true
}

func (in *injector) pick(xs []string) string { return xs[in.rng.IntN(len(xs))] }

func masterNames() []string {
	var out []string
	for i := range nMasters {
		out = append(out, masterName(i))
	}
	return out
}

func memberNames() []string {
	var out []string
	for k := range nMembers {
		out = append(out, memberName(k))
	}
	return out
}

func (in *injector) masterByName(id string) *master {
	for _, m := range in.e.masters {
		if m.id == id {
			return m
		}
	}
	return nil
}

// target picks the leader half of the time (when one is known), else any master.
func (in *injector) target() string {
	if in.rng.IntN(2) == 0 {
		if l := in.e.leader(); l != nil {
			return l.id
		}
	}
	return in.pick(masterNames())
}

func (in *injector) newFault(step int, kind, target, detail string, hold time.Duration, claims []string, heal func() error) *fault {
	return &fault{rec: &faultRec{step: step, kind: kind, target: target, detail: detail}, claims: claims, until: time.Now().Add(hold), heal: heal}
}

func (in *injector) masterKill(step int) *fault {
	id := in.target()
	if !in.free("proc:" + id) {
		return nil
	}
	m := in.masterByName(id)
	for _, p := range m.proxies() {
		p.setUpstream("")
	}
	m.kill()
	in.e.pids.set(0, id)
	f := in.newFault(step, "master-kill", id, "kill -9 "+id, in.hold(time.Second, 5*time.Second), []string{"proc:" + id}, func() error {
		return in.e.startMaster(m)
	})
	f.rec.masters = []string{id}
	return f
}

func (in *injector) leaderPause(step int) *fault {
	l := in.e.leader()
	if l == nil || !in.free("proc:"+l.id) {
		return nil
	}
	if err := l.pause(true); err != nil {
		return nil
	}
	f := in.newFault(step, "leader-pause", l.id, "SIGSTOP leader "+l.id, in.hold(time.Second, 5*time.Second), []string{"proc:" + l.id}, func() error {
		return l.pause(false)
	})
	f.rec.masters = []string{l.id}
	return f
}

func (in *injector) masterIsolate(step int) *fault {
	id := in.target()
	var claims []string
	for _, o := range masterNames() {
		if o != id {
			claims = append(claims, pairClaim(id, o))
		}
	}
	if !in.free(claims...) {
		return nil
	}
	for _, o := range masterNames() {
		if o != id {
			in.e.net.cut(id, o, true)
		}
	}
	f := in.newFault(step, "master-isolate", id, id+" cut from the other masters (raft and grpc, both ways)", in.hold(time.Second, 5*time.Second), claims, func() error {
		for _, o := range masterNames() {
			if o != id {
				in.e.net.cut(id, o, false)
			}
		}
		return nil
	})
	f.rec.masters = []string{id}
	return f
}

// proxies are the proxies in front of a master; they refuse connections while it is down.
func (m *master) proxies() []*proxy { return []*proxy{m.raftP, m.peerP, m.clientP, m.guardP} }

func pairClaim(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "link:" + a + "|" + b
}

func (in *injector) masterOneWay(step int) *fault {
	from := in.target()
	to := in.pick(slices.DeleteFunc(masterNames(), func(s string) bool { return s == from }))
	if in.rng.IntN(2) == 0 {
		from, to = to, from
	}
	if !in.free(pairClaim(from, to)) {
		return nil
	}
	in.e.net.block(from, to, true)
	f := in.newFault(step, "master-oneway", from, fmt.Sprintf("one-way: bytes %s -> %s dropped, %s -> %s delivered", from, to, to, from),
		in.hold(time.Second, 5*time.Second), []string{pairClaim(from, to)}, func() error {
			in.e.net.block(from, to, false)
			return nil
		})
	f.rec.masters = []string{from, to}
	return f
}

func (in *injector) masterWitnessCut(step int) *fault {
	ids := []string{in.target()}
	if in.rng.IntN(4) == 0 {
		ids = masterNames()
	}
	var claims []string
	for _, id := range ids {
		for _, w := range witnessNames() {
			claims = append(claims, pairClaim(id, w))
		}
	}
	if !in.free(claims...) {
		return nil
	}
	for _, id := range ids {
		for _, w := range witnessNames() {
			in.e.net.cut(id, w, true)
		}
	}
	f := in.newFault(step, "master-witness-cut", strings.Join(ids, ","), strings.Join(ids, ",")+" cut from every witness",
		in.hold(time.Second, 6*time.Second), claims, func() error {
			for _, id := range ids {
				for _, w := range witnessNames() {
					in.e.net.cut(id, w, false)
				}
			}
			return nil
		})
	f.rec.masters, f.rec.global = ids, len(ids) == nMasters
	return f
}

func (in *injector) masterMembersCut(step int) *fault {
	id := in.target()
	members := memberNames()
	if in.rng.IntN(2) == 0 {
		members = []string{in.pick(members)}
	}
	var claims []string
	for _, mb := range members {
		claims = append(claims, pairClaim(id, mb), "reach:"+mb)
	}
	if !in.free(claims...) {
		return nil
	}
	if !in.siteOK {
		for _, mb := range members {
			claims = append(claims, "no-witness-cut:"+mb)
		}
	}
	for _, mb := range members {
		in.e.net.cut(id, mb, true)
	}
	f := in.newFault(step, "master-members-cut", id, fmt.Sprintf("%s cut from members %v", id, members), in.hold(time.Second, 6*time.Second), claims, func() error {
		for _, mb := range members {
			in.e.net.cut(id, mb, false)
		}
		return nil
	})
	f.rec.masters = []string{id}
	return f
}

func (in *injector) memberKill(step int) *fault {
	mb := in.pick(memberNames())
	if !in.free("member:" + mb) {
		return nil
	}
	if err := in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/down", nil, nil); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	for s := range 2 {
		in.e.serverUp(fmt.Sprintf("%s-s%d", mb, s+1), false)
	}
	return in.memberDown(step, "member-kill", mb, "power off every server of member "+mb, in.deathHold())
}

// memberDown records a member whose servers are all powered off; the heal powers them on.
func (in *injector) memberDown(step int, kind, mb, detail string, h time.Duration) *fault {
	f := in.newFault(step, kind, mb, detail, h, []string{"member:" + mb}, func() error {
		err := in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/up", nil, nil)
		for s := range 2 {
			in.e.serverUp(fmt.Sprintf("%s-s%d", mb, s+1), true)
		}
		return err
	})
	f.rec.members = []string{mb}
	return f
}

// deathHold is the hold of a member death: half are blips shorter than detection, the others
// outlast the recovery bound, so the failover check has something to measure.
func (in *injector) deathHold() time.Duration {
	if in.rng.IntN(2) == 0 {
		return in.hold(500*time.Millisecond, 3*time.Second)
	}
	return in.hold(recoveryBound()+time.Second, recoveryBound()+3*time.Second)
}

func (in *injector) memberServerKill(step int) *fault {
	mb := in.pick(memberNames())
	srv := fmt.Sprintf("%s-s%d", mb, 1+in.rng.IntN(2))
	if !in.free("member:" + mb) {
		return nil
	}
	path := "/sim/v1/clusters/" + mb + "/servers/" + srv
	if err := in.e.simCall("POST", path+"/down", nil, nil); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	in.e.serverUp(srv, false)
	f := in.newFault(step, "member-server-kill", mb, "power off server "+srv, in.hold(time.Second, 5*time.Second), []string{"member:" + mb}, func() error {
		err := in.e.simCall("POST", path+"/up", nil, nil)
		in.e.serverUp(srv, true)
		return err
	})
	f.rec.members = []string{mb}
	return f
}

func (in *injector) memberIsolate(step int) *fault {
	mb := in.pick(memberNames())
	claims := []string{"member:" + mb, "reach:" + mb}
	if !in.free(claims...) {
		return nil
	}
	if !in.siteOK {
		claims = append(claims, "no-witness-cut:"+mb)
	}
	if err := in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/isolate", nil, nil); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	// Longer than the fence: a partitioned member that the witness still hears must never fail over.
	f := in.newFault(step, "member-isolate", mb, "member "+mb+" isolated from the masters (REST never answers; the witness still hears it)",
		in.hold(time.Second, timings.fence+2*time.Second), claims, func() error {
			return in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/heal", nil, nil)
		})
	f.rec.members = []string{mb}
	return f
}

func (in *injector) memberWitnessCut(step int) *fault {
	mb := in.pick(memberNames())
	claims := witnessClaims(mb)
	if !in.siteOK {
		claims = append(claims, "reach:"+mb)
	}
	if !in.free(claims...) || !in.free("no-witness-cut:"+mb) {
		return nil
	}
	in.e.cutWitnesses(mb, true)
	f := in.newFault(step, "member-witness-cut", mb, "member "+mb+" cut from every witness", in.hold(time.Second, timings.fence+2*time.Second), claims, func() error {
		in.e.cutWitnesses(mb, false)
		return nil
	})
	f.rec.members = []string{mb}
	return f
}

// siteIsolation cuts a whole member from the masters and from the witness at once, while its
// servers still hear each other: the combination outside the design's claims (see injector).
func (in *injector) siteIsolation(step int) *fault {
	mb := in.pick(memberNames())
	claims := append([]string{"member:" + mb, "reach:" + mb}, witnessClaims(mb)...)
	if !in.siteOK || !in.free(claims...) {
		return nil
	}
	if err := in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/isolate", nil, nil); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	in.e.cutWitnesses(mb, true)
	f := in.newFault(step, "site-isolation", mb, "member "+mb+" cut from the masters and from every witness", in.hold(recoveryBound(), recoveryBound()+2*time.Second), claims, func() error {
		in.e.cutWitnesses(mb, false)
		return in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/heal", nil, nil)
	})
	f.rec.members = []string{mb}
	return f
}

func (in *injector) witnessKill(step int) *fault {
	j := 0
	if nWitnesses() > 1 { // no draw with one witness: its schedules stay those of earlier runs
		j = in.rng.IntN(nWitnesses())
	}
	wn := witnessName(j)
	if !in.free("proc:" + wn) {
		return nil
	}
	for _, ps := range in.e.witnessProxy {
		ps[j].setUpstream("")
	}
	in.e.wits[j].kill()
	f := in.newFault(step, "witness-kill", wn, "kill -9 "+in.e.wits[j].name, in.hold(time.Second, 5*time.Second), []string{"proc:" + wn}, func() error {
		return in.e.startWitness(j)
	})
	// One of several witnesses should hold nothing back, but two faults may take two of three.
	f.rec.global = true
	return f
}

// witnessClaims are the claims of cutting member mb from every witness.
func witnessClaims(mb string) []string {
	var claims []string
	for _, w := range witnessNames() {
		claims = append(claims, pairClaim(mb, w))
	}
	return claims
}

// cutWitnesses cuts (or heals) every link between a and the witnesses.
func (e *env) cutWitnesses(a string, on bool) {
	for _, w := range witnessNames() {
		e.net.cut(a, w, on)
	}
}

// witnessMastersCut (several witnesses only) cuts one witness from every master: the leader
// keeps its lease with the others, and the last-seen answers of that witness are missing.
func (in *injector) witnessMastersCut(step int) *fault {
	if nWitnesses() < 3 {
		return nil
	}
	wn := in.pick(witnessNames())
	var claims []string
	for _, id := range masterNames() {
		claims = append(claims, pairClaim(id, wn))
	}
	if !in.free(claims...) {
		return nil
	}
	for _, id := range masterNames() {
		in.e.net.cut(id, wn, true)
	}
	f := in.newFault(step, "witness-masters-cut", wn, "witness "+wn+" cut from every master", in.hold(time.Second, 8*time.Second), claims, func() error {
		for _, id := range masterNames() {
			in.e.net.cut(id, wn, false)
		}
		return nil
	})
	f.rec.global = true // with another witness fault, no majority grants the lease
	return f
}

// witnessMemberCut (several witnesses only) cuts one witness from one member's servers: the
// witnesses disagree about that member, which must never be declared down on the word of the
// minority, nor its guards stop anything. Only one witness at a time is cut from a member this
// way; cutting a member from every witness is member-witness-cut.
func (in *injector) witnessMemberCut(step int) *fault {
	if nWitnesses() < 3 {
		return nil
	}
	mb, wn := in.pick(memberNames()), in.pick(witnessNames())
	claims := []string{pairClaim(mb, wn), "partial-witness-cut:" + mb}
	if !in.free(claims...) {
		return nil
	}
	in.e.net.cut(mb, wn, true)
	f := in.newFault(step, "witness-member-cut", mb, "member "+mb+" cut from witness "+wn+" only", in.hold(time.Second, timings.fence+3*time.Second), claims, func() error {
		in.e.net.cut(mb, wn, false)
		return nil
	})
	f.rec.members = []string{mb}
	return f
}

func (in *injector) slowLinks(step int) *fault {
	var pairs [][2]string
	var claims []string
	class := in.rng.IntN(4)
	maxDelay := 200 * time.Millisecond
	switch class {
	case 0: // raft and forwarding between masters
		for i, a := range masterNames() {
			for _, b := range masterNames()[i+1:] {
				pairs = append(pairs, [2]string{a, b})
			}
		}
	case 1: // masters to members
		for _, a := range masterNames() {
			for _, b := range memberNames() {
				pairs = append(pairs, [2]string{a, b})
			}
		}
		for _, b := range memberNames() {
			claims = append(claims, "reach:"+b)
		}
		maxDelay = 400 * time.Millisecond
	case 2: // everybody to the witnesses
		for _, a := range append(masterNames(), memberNames()...) {
			for _, w := range witnessNames() {
				pairs = append(pairs, [2]string{a, w})
			}
		}
		maxDelay = 400 * time.Millisecond
	default: // clients to masters
		for _, b := range masterNames() {
			pairs = append(pairs, [2]string{"c", b})
		}
		maxDelay = 500 * time.Millisecond
	}
	for _, p := range pairs {
		claims = append(claims, pairClaim(p[0], p[1]))
	}
	if !in.free(claims...) {
		return nil
	}
	if class == 1 && !in.siteOK {
		for _, b := range memberNames() {
			claims = append(claims, "no-witness-cut:"+b)
		}
	}
	var desc []string
	for _, p := range pairs {
		d1, d2 := in.hold(10*time.Millisecond, maxDelay), in.hold(10*time.Millisecond, maxDelay)
		in.e.net.slow(p[0], p[1], d1)
		in.e.net.slow(p[1], p[0], d2)
		desc = append(desc, fmt.Sprintf("%s<->%s %v/%v", p[0], p[1], d1.Round(time.Millisecond), d2.Round(time.Millisecond)))
	}
	f := in.newFault(step, "slow-links", "", "latency "+strings.Join(desc, " "), in.hold(2*time.Second, 6*time.Second), claims, func() error {
		for _, p := range pairs {
			in.e.net.slow(p[0], p[1], 0)
			in.e.net.slow(p[1], p[0], 0)
		}
		return nil
	})
	f.rec.global, f.rec.harmless = class != 3, class == 3
	return f
}

func (in *injector) clientCut(step int) *fault {
	id := in.pick(masterNames())
	if !in.free(pairClaim("c", id)) {
		return nil
	}
	in.e.net.cut("c", id, true)
	f := in.newFault(step, "client-cut", id, "clients cut from "+id+"'s gRPC API", in.hold(time.Second, 4*time.Second), []string{pairClaim("c", id)}, func() error {
		in.e.net.cut("c", id, false)
		return nil
	})
	f.rec.harmless = true
	return f
}

// inject draws faults until one applies and activates it.
func (in *injector) inject(step int) {
	total := 0
	for _, k := range faultKinds {
		total += k.weightNow()
	}
	for range 20 {
		r := in.rng.IntN(total)
		var k faultKind
		for _, k = range faultKinds {
			if r < k.weightNow() {
				break
			}
			r -= k.weightNow()
		}
		f := k.make(in, step)
		if f == nil {
			continue
		}
		f.rec.injected = time.Now()
		for _, c := range f.claims {
			in.claims[c] = true
		}
		in.active = append(in.active, f)
		in.count++
		in.tl.mu.Lock()
		in.tl.faults = append(in.tl.faults, f.rec)
		in.tl.mu.Unlock()
		in.tl.logf("step %d inject %-18s %s (hold %v)", step, f.rec.kind, f.rec.detail, time.Until(f.until).Round(time.Millisecond))
		return
	}
	in.tl.logf("step %d: no applicable fault", step)
}

// healNext waits for the active fault that expires first and heals it.
func (in *injector) healNext(ctx context.Context) {
	if len(in.active) == 0 {
		return
	}
	slices.SortFunc(in.active, func(a, b *fault) int { return a.until.Compare(b.until) })
	f := in.active[0]
	in.active = in.active[1:]
	sleepCtx(ctx, time.Until(f.until))
	in.healFault(f)
}

func (in *injector) healFault(f *fault) {
	err := f.heal()
	if errors.Is(err, errHealLater) && f.deferred < maxDeferrals {
		// Heal the others first (a killed or cut-off master may be what it waits for).
		f.deferred++
		f.until = time.Now().Add(time.Second)
		in.active = append(in.active, f)
		if f.deferred == 1 {
			in.tl.logf("step %d heal   %-18s deferred: %v", f.rec.step, f.rec.kind, err)
		}
		return
	}
	if err != nil {
		in.fails++
		in.tl.logf("step %d heal   %-18s FAILED: %v", f.rec.step, f.rec.kind, err)
	} else {
		in.tl.logf("step %d heal   %-18s %s", f.rec.step, f.rec.kind, f.rec.target)
	}
	f.rec.healed = time.Now()
	for _, c := range f.claims {
		delete(in.claims, c)
	}
	if in.e != nil {
		in.e.revive(func(c string) bool { return in.claims[c] })
	}
}

// run injects steps faults. A fault is held while the next one is injected with probability
// 0.5 (at most four at once), so faults combine; when every fault is healed the next one
// follows after a short settle.
func (in *injector) run(ctx context.Context, steps int) {
	for step := 1; step <= steps && ctx.Err() == nil; step++ {
		in.e.revive(func(c string) bool { return in.claims[c] })
		in.inject(step)
		if len(in.active) < 4 && in.rng.Float64() < 0.5 {
			sleepCtx(ctx, in.hold(100*time.Millisecond, 600*time.Millisecond))
			continue
		}
		for len(in.active) > 0 {
			in.healNext(ctx)
		}
		sleepCtx(ctx, timings.settle+in.hold(0, 600*time.Millisecond))
	}
	for len(in.active) > 0 {
		in.healNext(ctx)
	}
}

// sleepCtx waits d or until ctx ends: the schedule's pacing, not a wait for convergence.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
