package chaos

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The porcupine model of the workload registry, partitioned by workload name. A workload is
// absent or present with a version. Writes with an unknown outcome are given an infinite
// return time and are modelled as if they succeeded: porcupine may then place them anywhere
// after their call, including after every other operation, which is the same as never (this
// is how Jepsen and the etcd robustness tests treat indeterminate writes).

type wlState struct {
	exists  bool
	version int
}

type wlInput struct {
	kind    string
	key     string
	version int
}

type wlOutput struct {
	outcome string
	exists  bool
	version int
}

func stepRegistry(st, in, out any) (bool, any) {
	s, i, o := st.(wlState), in.(wlInput), out.(wlOutput)
	unknown := o.outcome == outUnknown
	if strings.HasPrefix(o.outcome, "bad:") || o.outcome == outNoMember {
		return true, s // refused without effect; reported separately
	}
	switch i.kind {
	case opRegister:
		switch {
		case !s.exists && (unknown || o.outcome == outOK):
			return true, wlState{true, i.version}
		case s.exists && (unknown || o.outcome == outExists):
			return true, s
		}
		return false, s
	case opUpdate:
		switch {
		case unknown || o.outcome == outOK:
			return true, wlState{true, i.version}
		case o.outcome == outPrecond:
			return s.exists, s
		}
		return false, s
	case opUnregister:
		switch {
		case unknown:
			return true, wlState{}
		case o.outcome == outOK, o.outcome == outPrecond:
			if o.outcome == outOK {
				return s.exists, wlState{}
			}
			return s.exists, s
		case o.outcome == outNotFound:
			return !s.exists, s
		}
		return false, s
	case opMove:
		switch {
		case unknown:
			return true, s
		case o.outcome == outOK, o.outcome == outPrecond:
			return s.exists, s
		case o.outcome == outNotFound:
			return !s.exists, s
		}
		return false, s
	case opGet:
		if o.exists != s.exists {
			return false, s
		}
		return !s.exists || o.version == s.version, s
	}
	return false, s
}

var registryModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(wlInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		slices.Sort(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return wlState{exists: true, version: 1} },
	Step: stepRegistry,
	DescribeOperation: func(in, out any) string {
		i, o := in.(wlInput), out.(wlOutput)
		s := i.kind + "(" + i.key
		if i.kind == opRegister || i.kind == opUpdate {
			s += fmt.Sprintf(", v%d", i.version)
		}
		s += ") -> " + o.outcome
		if i.kind == opGet {
			if o.exists {
				s += fmt.Sprintf(" v%d", o.version)
			} else {
				s += " absent"
			}
		}
		return s
	},
	DescribeState: func(st any) string {
		s := st.(wlState)
		if !s.exists {
			return "absent"
		}
		return fmt.Sprintf("v%d", s.version)
	},
}

// porcupineOps converts records to porcupine operations: failed reads are left out (they
// constrain nothing) and unknown writes never return.
func porcupineOps(recs []*opRecord) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, r := range recs {
		if r.kind == opGet && r.outcome != outOK {
			continue
		}
		ret := int64(math.MaxInt64)
		if r.outcome != outUnknown {
			ret = r.ret.UnixNano()
		}
		ops = append(ops, porcupine.Operation{
			ClientId: r.client, Call: r.call.UnixNano(), Return: ret,
			Input:    wlInput{kind: r.kind, key: r.key, version: r.version},
			Output:   wlOutput{outcome: r.outcome, exists: r.exists, version: r.got},
			Metadata: fmt.Sprintf("#%d via %s", r.id, strings.Join(r.via, ",")),
		})
	}
	return ops
}

// linearizability is the result of checking a history.
type linearizability struct {
	result porcupine.CheckResult
	info   porcupine.LinearizationInfo
	bad    []string // workloads whose history is not linearizable
}

// checkLinearizable checks the whole history, then each workload alone to name the offenders.
func checkLinearizable(recs []*opRecord, timeout time.Duration) linearizability {
	ops := porcupineOps(recs)
	res, info := porcupine.CheckOperationsVerbose(registryModel, ops, timeout)
	out := linearizability{result: res, info: info}
	if res != porcupine.Illegal {
		return out
	}
	for _, part := range registryModel.Partition(ops) {
		if porcupine.CheckOperationsTimeout(registryModel, part, timeout) == porcupine.Illegal {
			out.bad = append(out.bad, part[0].Input.(wlInput).key)
		}
	}
	return out
}
