package chaos

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/proctest"
)

// The binaries under test, built by TestMain unless -short.
var csetdBin, ecxsimBin = proctest.NewBinary("./cmd/csetd"), proctest.NewBinary("./cmd/ecxsim")

// bins holds the paths of the built binaries; empty under -short.
var bins struct{ csetd, ecxsim string }

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(withBins{m}, csetdBin, ecxsimBin))
}

// withBins sets bins between the build and the tests.
type withBins struct{ *testing.M }

func (w withBins) Run() int {
	if csetdBin.Built() && ecxsimBin.Built() {
		bins.csetd, _ = csetdBin.Build()
		bins.ecxsim, _ = ecxsimBin.Build()
	}
	return w.M.Run()
}

// proc is one child process of the suite with its log file; it can be killed, stopped,
// continued and started again with new arguments. env_test.go names its log and ready file and
// sets its hooks before the first start; the process itself is a proctest.Process made then.
// The suite ends it in env.stop rather than in a cleanup of proctest's own, so the order stays
// the suite's: the masters killed first, ecxsim last and with SIGTERM, which closes its audit
// intervals.
type proc struct {
	name    string
	logPath string
	ready   string

	// onStart, when set, learns the pid as soon as the process exists (before it is ready:
	// a master dials its peers while it starts).
	onStart func(pid int)
	// onCrash, when set, is told when the process exits without being killed or stopped by
	// the suite: a crash is a finding. An exit before the process was ready is run's error
	// (the caller may retry, for a port taken meanwhile), not a crash.
	onCrash func(state *os.ProcessState, logTail string)

	// mu guards p, and the fields of the types that embed proc (master.http, master.dns).
	mu sync.Mutex
	p  *proctest.Process
}

// process returns the proctest handle, made on the first start with bin.
func (p *proc) process(bin string) *proctest.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil {
		var h *proctest.Process
		o := proctest.Options{Name: p.name, LogPath: p.logPath, ReadyFile: p.ready, TailLines: 20, DieWithParent: true, OnStart: p.onStart}
		if crashed := p.onCrash; crashed != nil {
			o.OnUnexpectedExit = func(st *os.ProcessState) { crashed(st, h.Tail(60)) }
		}
		h = proctest.New(nil, bin, o)
		p.p = h
	}
	return p.p
}

// handle returns the proctest handle, nil before the first start.
func (p *proc) handle() *proctest.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.p
}

// run starts bin with args, appending stdout and stderr to the log, and waits until the
// ready file exists and decodes into v (removed before the start).
func (p *proc) run(bin string, args []string, v any) error {
	h := p.process(bin)
	if err := h.Start(args...); err != nil {
		return err
	}
	return h.WaitReady(30*time.Second, proctest.JSON(v))
}

// running reports whether the process runs (paused counts as running).
func (p *proc) running() bool {
	h := p.handle()
	return h != nil && h.Running()
}

func (p *proc) pid() int {
	if h := p.handle(); h != nil {
		return h.Pid()
	}
	return 0
}

// kill sends SIGKILL (after which a stopped process dies too) and waits for the exit.
func (p *proc) kill() {
	if h := p.handle(); h != nil {
		h.Kill()
	}
}

// terminate sends SIGTERM and waits up to 15 s before killing.
func (p *proc) terminate() {
	if h := p.handle(); h != nil {
		_ = h.Terminate(15 * time.Second)
	}
}

// pause sends SIGSTOP or SIGCONT.
func (p *proc) pause(on bool) error {
	h := p.handle()
	switch {
	case h == nil:
		return errors.New(p.name + " is not running")
	case on:
		return h.Pause()
	default:
		return h.Resume()
	}
}

func (p *proc) isPaused() bool {
	h := p.handle()
	return h != nil && h.Paused()
}

// tail returns the last lines of a file.
func tail(path string, lines int) string { return proctest.Tail(path, lines) }
