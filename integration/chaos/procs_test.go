package chaos

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// bins holds the binaries built by TestMain; empty under -short.
var bins struct{ csetd, ecxsim string }

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "cset-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins.csetd, bins.ecxsim = filepath.Join(dir, "csetd"), filepath.Join(dir, "ecxsim")
	for bin, pkg := range map[string]string{bins.csetd: "./cmd/csetd", bins.ecxsim: "./cmd/ecxsim"} {
		if err := goBuild(bin, pkg); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
	}
	return m.Run()
}

// goBuild builds pkg (relative to the module root) into out with the go command running this test.
func goBuild(out, pkg string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	cmd.Dir = "../.." // the module root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// proc is one child process with its log file; it can be killed, stopped, continued and
// started again with the same arguments builder.
type proc struct {
	name    string
	logPath string
	ready   string

	// onStart, when set, learns the pid as soon as the process exists (before it is ready:
	// a master dials its peers while it starts).
	onStart func(pid int)
	// onCrash, when set, is told when the process exits without being killed or stopped by
	// the suite: a crash is a finding.
	onCrash func(state *os.ProcessState, logTail string)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	paused   bool
	expected bool // the suite sent the signal that ends the current process
	// up: the current process became ready. An exit before that is run's error (the caller
	// may retry, for a port taken meanwhile), not a crash.
	up     bool
	waited bool // the current process exited and its crash check ran
}

// run starts bin with args, appending stdout and stderr to the log, and waits until the
// ready file exists and decodes into v (removed before the start).
func (p *proc) run(bin string, args []string, v any) error {
	p.mu.Lock()
	if p.cmd != nil && !p.exitedLocked() {
		p.mu.Unlock()
		return fmt.Errorf("%s: start while running", p.name)
	}
	p.mu.Unlock()
	_ = os.Remove(p.ready)
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== %s %s %s\n", time.Now().Format(time.RFC3339Nano), filepath.Base(bin), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.paused, p.expected, p.up, p.waited = cmd, done, false, false, false, false
	p.mu.Unlock()
	if p.onStart != nil {
		p.onStart(cmd.Process.Pid)
	}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		crashed := !p.expected && p.up && p.onCrash != nil
		p.waited = true
		p.mu.Unlock()
		if crashed {
			p.onCrash(cmd.ProcessState, tail(p.logPath, 60))
		}
		close(done)
	}()
	exited := func() error {
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, cmd.ProcessState, tail(p.logPath, 20))
		default:
			return nil
		}
	}
	err = testutil.WaitFor(30*time.Second, func() error {
		if err := exited(); err != nil {
			return err
		}
		b, err := os.ReadFile(p.ready)
		if err != nil {
			return fmt.Errorf("%s: no ready file yet", p.name)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: ready file %q: %w", p.name, b, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waited {
		// It exited between the ready file and now, and was not judged a crash.
		return fmt.Errorf("%s exited right after it was ready: %v\n%s", p.name, cmd.ProcessState, tail(p.logPath, 20))
	}
	p.up = true
	return nil
}

func (p *proc) exitedLocked() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// running reports whether the process runs (paused counts as running).
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.exitedLocked()
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exitedLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill sends SIGKILL (after SIGCONT, so a stopped process dies too) and waits for the exit.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.paused, p.expected = false, true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	<-done
}

// terminate sends SIGTERM and waits up to 15 s before killing.
func (p *proc) terminate() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// pause sends SIGSTOP or SIGCONT.
func (p *proc) pause(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exitedLocked() {
		return errors.New(p.name + " is not running")
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

func (p *proc) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// tail returns the last lines of a file.
func tail(path string, lines int) string {
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
