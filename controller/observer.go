package controller

import "time"

// Observer receives the controller's measurements: the server turns them into metrics
// (docs/metrics.md). Its methods must be cheap and safe for concurrent use; Deps.Observer nil
// ignores them (NopObserver).
type Observer interface {
	// Poll is one poll of a member's servers and groups: how long it took, and its error.
	Poll(member string, took time.Duration, err error)
	// Probe is one reachability probe of a workload on a member (all its addresses).
	Probe(workload, member string, took time.Duration, err error)
	// OperationStarted is an operation the controller started by itself, by reason.
	OperationStarted(reason string)
	// Phase is one pass of an operation through a phase's action (it may run several times:
	// an action that waits is resumed in a later round).
	Phase(phase string, took time.Duration)
	// OperationFinished is an operation ending, done (ok) or failed, with its age.
	OperationFinished(reason string, ok bool, took time.Duration)
	// Failover is a failover done: from its member being declared down to the workload placed
	// Online elsewhere.
	Failover(took time.Duration)
	// Hook is one handover hook run.
	Hook(took time.Duration, failed bool)
	// Brake is the failover brake engaging (true) or releasing.
	Brake(on bool)
}

// NopObserver ignores every measurement.
type NopObserver struct{}

func (NopObserver) Poll(string, time.Duration, error)             {}
func (NopObserver) Probe(string, string, time.Duration, error)    {}
func (NopObserver) OperationStarted(string)                       {}
func (NopObserver) Phase(string, time.Duration)                   {}
func (NopObserver) OperationFinished(string, bool, time.Duration) {}
func (NopObserver) Failover(time.Duration)                        {}
func (NopObserver) Hook(time.Duration, bool)                      {}
func (NopObserver) Brake(bool)                                    {}
