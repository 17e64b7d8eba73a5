package proctest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// Options says how a Process runs. The zero value runs the binary in the test's working
// directory with its environment, keeping its output in a log in a temporary directory.
type Options struct {
	// Name is the process in messages and log tails; the binary's base name by default.
	Name string
	// Dir is the working directory; the test's by default.
	Dir string
	// Env is added to the environment of the test (a later entry wins over an earlier one).
	Env []string
	// LogPath is the file that stdout and stderr are appended to, across restarts, each start
	// headed by a line with the time and the arguments. Default: Name.log in a temporary
	// directory.
	LogPath string
	// ReadyFile is where the program writes that it is ready; Start removes it first. Default:
	// ready.json in a temporary directory. The caller passes it to the program (-ready-file).
	ReadyFile string
	// Stdout and Stderr, when set, receive the stream instead of the log: a test that checks
	// what the program prints reads them after the process has exited. An *os.File is given to
	// the process as it is, so that no goroutine of the test copies the stream (a benchmark
	// that measures its own CPU sends a simulator's log to os.Stderr).
	Stdout, Stderr io.Writer
	// TailLines is how many lines of the log go into an error (exit before ready, failed
	// SIGTERM); 40 by default.
	TailLines int
	// DieWithParent makes the kernel kill the process when the test process dies (Linux), so a
	// test killed by its timeout leaves nothing running.
	DieWithParent bool
	// StopTimeout is how the cleanup of New ends the process: zero sends SIGKILL; otherwise
	// SIGTERM, and SIGKILL if it is still running after StopTimeout, for a program that
	// writes something on a clean shutdown.
	StopTimeout time.Duration
	// LogTail is how many lines of the log the cleanup of New prints when the test failed, or
	// always with LogTailAlways (a benchmark that reports from the log). Zero prints nothing.
	LogTail       int
	LogTailAlways bool
	// OnStart, when set, learns the pid as soon as the process exists, before it is ready.
	OnStart func(pid int)
	// OnUnexpectedExit, when set, is told when a process that became ready exits without
	// having been sent SIGKILL or SIGTERM by Kill or Terminate: a crash. It runs before Done
	// is closed.
	OnUnexpectedExit func(state *os.ProcessState)
}

// A Process is a program a test starts, possibly several times in a row with new arguments
// (a master restarted on its data directory). Its methods are safe for concurrent use.
type Process struct {
	bin string
	o   Options

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	paused bool
	// stopping: Kill or Terminate was called for the current process, so its exit is no crash.
	stopping bool
	// ready: WaitReady succeeded for the current process.
	ready bool
	// reaped: the current process has exited and its crash check ran; Done closes next.
	reaped bool
}

// New prepares bin (a path, usually from Binary.Path) to run with o; nothing runs until Start.
// The cleanup of t ends the process (see Options.StopTimeout) and prints its log tail (see
// Options.LogTail). t may be nil for a process whose owner ends it itself (a suite that
// creates its processes before it knows its test); then LogPath and ReadyFile must be set.
func New(t testing.TB, bin string, o Options) *Process {
	if t != nil {
		t.Helper()
	}
	if o.Name == "" {
		o.Name = filepath.Base(bin)
	}
	if o.TailLines == 0 {
		o.TailLines = 40
	}
	if o.LogPath == "" || o.ReadyFile == "" {
		if t == nil {
			panic("proctest.New without a test needs LogPath and ReadyFile")
		}
		dir := t.TempDir()
		if o.LogPath == "" {
			o.LogPath = filepath.Join(dir, o.Name+".log")
		}
		if o.ReadyFile == "" {
			o.ReadyFile = filepath.Join(dir, "ready.json")
		}
	}
	p := &Process{bin: bin, o: o}
	if t != nil {
		t.Cleanup(func() {
			if o.StopTimeout > 0 {
				_ = p.Terminate(o.StopTimeout)
			} else {
				p.Kill()
			}
			if o.LogTail > 0 && (t.Failed() || o.LogTailAlways) {
				t.Logf("---- tail of %s log ----\n%s", o.Name, p.Tail(o.LogTail))
			}
		})
	}
	return p
}

// Name is the process's name in messages.
func (p *Process) Name() string { return p.o.Name }

// LogPath is the file that holds the process's output.
func (p *Process) LogPath() string { return p.o.LogPath }

// ReadyFile is the path to pass to the program for its ready file.
func (p *Process) ReadyFile() string { return p.o.ReadyFile }

// Start removes the ready file and starts the program with args. It fails while the previous
// process still runs.
func (p *Process) Start(args ...string) error {
	p.mu.Lock()
	running := p.cmd != nil && !closed(p.done)
	p.mu.Unlock()
	if running {
		return fmt.Errorf("%s: start while running", p.o.Name)
	}
	_ = os.Remove(p.o.ReadyFile)
	logf, err := os.OpenFile(p.o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log file: %w", p.o.Name, err)
	}
	fmt.Fprintf(logf, "==== %s %s %s\n", time.Now().Format(time.RFC3339Nano), filepath.Base(p.bin), strings.Join(args, " "))
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.o.Dir
	if len(p.o.Env) > 0 {
		cmd.Env = append(os.Environ(), p.o.Env...)
	}
	cmd.Stdout, cmd.Stderr = orLog(p.o.Stdout, logf), orLog(p.o.Stderr, logf)
	if p.o.DieWithParent {
		dieWithParent(cmd)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", p.o.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.paused, p.stopping, p.ready, p.reaped = false, false, false, false
	p.mu.Unlock()
	if p.o.OnStart != nil {
		p.o.OnStart(cmd.Process.Pid)
	}
	go p.reap(cmd, logf, done)
	return nil
}

// orLog is w, or the log when w is not set.
func orLog(w io.Writer, logf *os.File) io.Writer {
	if w == nil {
		return logf
	}
	return w
}

// reap waits for the process, tells OnUnexpectedExit about a crash, and closes done.
func (p *Process) reap(cmd *exec.Cmd, logf *os.File, done chan struct{}) {
	_ = cmd.Wait()
	logf.Close()
	// p.cmd is still cmd: Start refuses to replace it until done is closed.
	p.mu.Lock()
	crashed := p.ready && !p.stopping && p.o.OnUnexpectedExit != nil
	p.reaped = true
	p.mu.Unlock()
	if crashed {
		p.o.OnUnexpectedExit(cmd.ProcessState)
	}
	close(done)
}

// WaitReady waits up to timeout for the ready file of the current process and passes its
// contents to ready (nil: any contents will do), until ready returns nil: a program may write
// the file in several steps. It fails at once when the process exits first.
func (p *Process) WaitReady(timeout time.Duration, ready func(raw []byte) error) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s: not started", p.o.Name)
	}
	var exited error
	err := testutil.Poll{Timeout: timeout}.Wait(func() error {
		if closed(done) {
			exited = fmt.Errorf("%s exited before it was ready: %v\n%s", p.o.Name, cmd.ProcessState, p.Tail(p.o.TailLines))
			return nil // ends the wait: the file will not come any more
		}
		raw, err := os.ReadFile(p.o.ReadyFile)
		if err != nil {
			return fmt.Errorf("%s: no ready file yet: %w", p.o.Name, err)
		}
		if ready == nil {
			return nil
		}
		return ready(raw)
	})
	if exited != nil {
		return exited
	}
	if err != nil {
		return fmt.Errorf("%s: not ready within %v: %w", p.o.Name, timeout, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != cmd || p.reaped {
		// It exited between reading the file and now, too early to count as a crash.
		return fmt.Errorf("%s exited right after it was ready: %v\n%s", p.o.Name, cmd.ProcessState, p.Tail(p.o.TailLines))
	}
	p.ready = true
	return nil
}

// JSON returns a ready check of WaitReady that decodes the file into v.
func JSON(v any) func(raw []byte) error {
	return func(raw []byte) error {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("ready file %q: %w", raw, err)
		}
		return nil
	}
}

// current returns the current command and its done channel (nil before the first Start).
func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Kill sends SIGKILL (and SIGCONT, so that a paused process dies at once) and waits until the
// process is gone. It does nothing when nothing runs.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.paused, p.stopping = false, true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	<-done
}

// Terminate sends SIGTERM (after SIGCONT, so a paused process can act on it) and waits up to
// timeout for the process to exit. It returns an error, with the tail of the log, when the
// signal cannot be sent, when the process is still running after timeout (it is killed then),
// or when it exits with a status other than 0. It does nothing when nothing was started.
func (p *Process) Terminate(timeout time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.paused, p.stopping = false, true
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s: SIGTERM: %w", p.o.Name, err)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s: still running %v after SIGTERM\n%s", p.o.Name, timeout, p.Tail(p.o.TailLines))
	}
	if st := cmd.ProcessState; !st.Success() {
		return fmt.Errorf("%s: exit after SIGTERM: %v\n%s", p.o.Name, st, p.Tail(p.o.TailLines))
	}
	return nil
}

// Pause sends SIGSTOP: the process keeps its sockets but answers nothing, like a machine that
// hangs.
func (p *Process) Pause() error { return p.pause(true) }

// Resume sends SIGCONT to a paused process.
func (p *Process) Resume() error { return p.pause(false) }

func (p *Process) pause(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.done) {
		return errors.New(p.o.Name + " is not running")
	}
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	p.paused = on
	return nil
}

// Signal sends sig to the running process. Unlike Kill and Terminate it does not mark the exit
// that may follow as asked for: OnUnexpectedExit hears of it.
func (p *Process) Signal(sig os.Signal) error {
	cmd, done := p.current()
	if cmd == nil || closed(done) {
		return errors.New(p.o.Name + " is not running")
	}
	return cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the current process to exit and returns its state.
func (p *Process) Wait(timeout time.Duration) (*os.ProcessState, error) {
	cmd, done := p.current()
	if cmd == nil {
		return nil, fmt.Errorf("%s: not started", p.o.Name)
	}
	select {
	case <-done:
		return cmd.ProcessState, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: still running after %v\n%s", p.o.Name, timeout, p.Tail(p.o.TailLines))
	}
}

// Running reports whether a started process has not exited yet (a paused one runs).
func (p *Process) Running() bool {
	cmd, done := p.current()
	return cmd != nil && !closed(done)
}

// Exited reports whether the last started process has exited; false before the first Start.
func (p *Process) Exited() bool {
	_, done := p.current()
	return done != nil && closed(done)
}

// Done is closed when the current process has exited; nil before the first Start.
func (p *Process) Done() <-chan struct{} {
	_, done := p.current()
	return done
}

// ExitState is the state of the last process once it has exited, nil before.
func (p *Process) ExitState() *os.ProcessState {
	cmd, done := p.current()
	if cmd == nil || !closed(done) {
		return nil
	}
	return cmd.ProcessState
}

// Paused reports whether Pause was the last signal sent to the running process.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Pid is the pid of the running process, 0 when none runs.
func (p *Process) Pid() int {
	cmd, done := p.current()
	if cmd == nil || closed(done) {
		return 0
	}
	return cmd.Process.Pid
}

// Tail returns the last lines of the process's log.
func (p *Process) Tail(lines int) string { return Tail(p.o.LogPath, lines) }

// Tail returns the last lines of a file, or why there are none.
func Tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func closed(done chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}
