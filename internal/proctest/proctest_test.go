package proctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// helperEnv makes the test binary act as the helper program instead of running tests: the
// process tests need a program that does what they ask, and re-running the test binary needs no
// build, so they run under -short too.
const helperEnv = "PROCTEST_HELPER"

// readyBin is a real main package of this module, built through Binary.
var readyBin = NewBinary("./internal/proctest/testdata/ready")

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(Main(m))
}

// helperMain is the helper program. It prints what it is told, exits early when told to, and
// otherwise writes its ready file (pid, working directory, PROCTEST_VALUE) and runs until a
// signal: SIGTERM exits with -term-exit (or is ignored), SIGUSR1 exits 7, as a crash would.
func helperMain(args []string) int {
	fs := flag.NewFlagSet("helper", flag.ContinueOnError)
	ready := fs.String("ready-file", "", "ready file")
	lines := fs.Int("lines", 0, "numbered lines to print to stderr first")
	stdout := fs.String("stdout", "", "text to print to stdout")
	stderr := fs.String("stderr", "", "text to print to stderr")
	exit := fs.Int("exit", -1, "exit with this status before writing the ready file")
	termExit := fs.Int("term-exit", 0, "exit status on SIGTERM")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1)
	for i := 1; i <= *lines; i++ {
		fmt.Fprintf(os.Stderr, "line %d\n", i)
	}
	if *stdout != "" {
		fmt.Println(*stdout)
	}
	if *stderr != "" {
		fmt.Fprintln(os.Stderr, *stderr)
	}
	if *exit >= 0 {
		return *exit
	}
	wd, _ := os.Getwd()
	b, _ := json.Marshal(helperReady{PID: os.Getpid(), Dir: wd, Value: os.Getenv("PROCTEST_VALUE")})
	// Written under another name and renamed, so the test never reads half a file.
	if err := os.WriteFile(*ready+".tmp", b, 0o644); err != nil || os.Rename(*ready+".tmp", *ready) != nil {
		return 1
	}
	for sig := range sigs {
		switch {
		case sig == syscall.SIGUSR1:
			return 7
		case !*ignoreTerm:
			fmt.Fprintln(os.Stderr, "terminated")
			return *termExit
		}
	}
	return 0
}

type helperReady struct {
	PID   int    `json:"pid"`
	Dir   string `json:"dir"`
	Value string `json:"value"`
}

// startHelper starts the helper with args and waits until it is ready.
func startHelper(t *testing.T, o Options, args ...string) (*Process, helperReady) {
	t.Helper()
	o.Env = append(o.Env, helperEnv+"=1")
	p := New(t, os.Args[0], o)
	if err := p.Start(append([]string{"-ready-file", p.ReadyFile()}, args...)...); err != nil {
		t.Fatal(err)
	}
	var r helperReady
	if err := p.WaitReady(time.Minute, JSON(&r)); err != nil {
		t.Fatal(err)
	}
	return p, r
}

func TestProcess_StartReadyKill(t *testing.T) {
	dir := t.TempDir()
	p, r := startHelper(t, Options{Name: "h", Dir: dir, Env: []string{"PROCTEST_VALUE=v1"}})
	if r.PID != p.Pid() || r.PID == 0 {
		t.Errorf("ready file pid %d, Pid() %d", r.PID, p.Pid())
	}
	if r.Dir != dir || r.Value != "v1" {
		t.Errorf("the helper ran in %q with PROCTEST_VALUE=%q, want %q and v1", r.Dir, r.Value, dir)
	}
	if !p.Running() || p.Exited() || p.ExitState() != nil {
		t.Fatalf("after WaitReady: running %v, exited %v, state %v", p.Running(), p.Exited(), p.ExitState())
	}
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "start while running") {
		t.Errorf("second Start while running: %v", err)
	}
	p.Kill()
	if p.Running() || !p.Exited() || p.Pid() != 0 {
		t.Fatalf("after Kill: running %v, exited %v, pid %d", p.Running(), p.Exited(), p.Pid())
	}
	if st := p.ExitState(); st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exit state after Kill: %v", st)
	}
	p.Kill() // a second Kill finds nothing to do
}

func TestProcess_RestartAppendsToTheLog(t *testing.T) {
	p, _ := startHelper(t, Options{}, "-stderr", "first run")
	p.Kill()
	if err := p.Start("-ready-file", p.ReadyFile(), "-stderr", "second run"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	log := p.Tail(100)
	if strings.Count(log, "==== ") != 2 || !strings.Contains(log, "first run") || !strings.Contains(log, "second run") {
		t.Errorf("log after a restart:\n%s", log)
	}
	if p.Name() != filepath.Base(os.Args[0]) || filepath.Base(p.LogPath()) != p.Name()+".log" {
		t.Errorf("default name %q and log %q", p.Name(), p.LogPath())
	}
}

func TestProcess_WaitReadyRetriesItsCheck(t *testing.T) {
	p := New(t, os.Args[0], Options{Env: []string{helperEnv + "=1"}})
	if err := p.Start("-ready-file", p.ReadyFile()); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := p.WaitReady(time.Minute, func(raw []byte) error {
		calls++
		if calls < 3 {
			return errors.New("incomplete")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("WaitReady = %v after %d checks, want nil after 3", err, calls)
	}
	if err := p.WaitReady(10*time.Millisecond, func([]byte) error { return errors.New("never") }); err == nil || !strings.Contains(err.Error(), "not ready within 10ms: never") {
		t.Errorf("a check that never passes: %v", err)
	}
}

func TestProcess_ExitBeforeReadyFailsAtOnceWithTheLogTail(t *testing.T) {
	p := New(t, os.Args[0], Options{Name: "early", Env: []string{helperEnv + "=1"}, TailLines: 10})
	if err := p.Start("-ready-file", p.ReadyFile(), "-lines", "50", "-exit", "3"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := p.WaitReady(5*time.Minute, nil)
	if err == nil {
		t.Fatal("WaitReady succeeded for a process that exited")
	}
	if elapsed := time.Since(start); elapsed > time.Minute {
		t.Errorf("WaitReady took %v to notice the exit", elapsed)
	}
	msg := err.Error()
	if !strings.Contains(msg, "early exited before it was ready: exit status 3") || !strings.Contains(msg, "line 50") || strings.Contains(msg, "line 40\n") {
		t.Errorf("error does not hold the status and the last 10 lines:\n%s", msg)
	}
}

func TestProcess_StdoutAndStderrApart(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p, _ := startHelper(t, Options{Stdout: &stdout, Stderr: &stderr}, "-stdout", "to stdout", "-stderr", "to stderr")
	if err := p.Terminate(time.Minute); err != nil {
		t.Fatal(err)
	}
	// Reading the buffers is safe once the process has exited: exec copied everything first.
	if stdout.String() != "to stdout\n" || stderr.String() != "to stderr\nterminated\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	// The header line names the arguments, so the streams are looked for at line starts.
	if log := p.Tail(10); strings.Contains(log, "\nto std") || !strings.HasPrefix(log, "==== ") {
		t.Errorf("the log holds more than its header:\n%s", log)
	}
	// One stream set, the other goes to the log.
	stdout.Reset()
	p, _ = startHelper(t, Options{Stdout: &stdout}, "-stdout", "to stdout", "-stderr", "to stderr")
	p.Kill()
	if log := p.Tail(10); stdout.String() != "to stdout\n" || strings.Contains(log, "\nto stdout") || !strings.Contains(log, "\nto stderr") {
		t.Errorf("stdout %q, log:\n%s", stdout.String(), log)
	}
}

func TestProcess_Terminate(t *testing.T) {
	p, _ := startHelper(t, Options{})
	if err := p.Terminate(time.Minute); err != nil {
		t.Errorf("clean exit: %v", err)
	}
	p, _ = startHelper(t, Options{Name: "bad"}, "-term-exit", "2")
	if err := p.Terminate(time.Minute); err == nil || !strings.Contains(err.Error(), "bad: exit after SIGTERM: exit status 2") {
		t.Errorf("exit 2 after SIGTERM: %v", err)
	}
	p, _ = startHelper(t, Options{Name: "stubborn"}, "-ignore-term")
	if err := p.Terminate(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "stubborn: still running 100ms after SIGTERM") {
		t.Errorf("SIGTERM ignored: %v", err)
	}
	if !p.Exited() {
		t.Error("a process still running after SIGTERM was not killed")
	}
}

// procState reads the state letter of a process from /proc (T: stopped).
func procState(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) == 0 {
		return "", fmt.Errorf("stat %q", b)
	}
	return f[0], nil
}

func TestProcess_PauseResume(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the process state from /proc")
	}
	p, r := startHelper(t, Options{})
	stateIs := func(stopped bool) func() error {
		return func() error {
			s, err := procState(r.PID)
			if err != nil {
				return err
			}
			if (s == "T") != stopped {
				return fmt.Errorf("state %s, want stopped %v", s, stopped)
			}
			return nil
		}
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, stateIs(true))
	if !p.Paused() {
		t.Error("Paused() is false after Pause")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, stateIs(false))
	if p.Paused() {
		t.Error("Paused() is true after Resume")
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	p.Kill() // a paused process dies too
	if !p.Exited() || p.Paused() {
		t.Errorf("after Kill of a paused process: exited %v, paused %v", p.Exited(), p.Paused())
	}
	if err := p.Pause(); err == nil {
		t.Error("Pause of an exited process succeeded")
	}
}

func TestProcess_OnStartAndOnUnexpectedExit(t *testing.T) {
	var mu sync.Mutex
	var pids []int
	var crashes []int
	o := Options{
		OnStart: func(pid int) { mu.Lock(); pids = append(pids, pid); mu.Unlock() },
		OnUnexpectedExit: func(st *os.ProcessState) {
			mu.Lock()
			crashes = append(crashes, st.ExitCode())
			mu.Unlock()
		},
	}
	p, r := startHelper(t, o)
	if err := p.Signal(syscall.SIGUSR1); err != nil { // the helper exits 7 on its own
		t.Fatal(err)
	}
	if _, err := p.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	// OnUnexpectedExit runs before Done is closed, so its result is there once Wait returns.
	mu.Lock()
	got := fmt.Sprint(pids, crashes)
	mu.Unlock()
	if want := fmt.Sprint([]int{r.PID}, []int{7}); got != want {
		t.Errorf("pids and crash statuses %s, want %s", got, want)
	}
	// Neither an exit asked for nor one before the ready file is a crash.
	if err := p.Start("-ready-file", p.ReadyFile()); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if err := p.Start("-ready-file", p.ReadyFile(), "-exit", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pids) != 3 || len(crashes) != 1 {
		t.Errorf("after a kill and an early exit: pids %v, crashes %v", pids, crashes)
	}
}

// cleanupTB runs New's cleanup on demand and records what it logs; the rest is t's.
type cleanupTB struct {
	*testing.T
	failed   bool
	cleanups []func()
	logs     []string
}

func (c *cleanupTB) Cleanup(fn func()) { c.cleanups = append(c.cleanups, fn) }
func (c *cleanupTB) Failed() bool      { return c.failed }
func (c *cleanupTB) Logf(format string, args ...any) {
	c.logs = append(c.logs, fmt.Sprintf(format, args...))
}
func (c *cleanupTB) runCleanups() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

func TestNew_CleanupEndsTheProcessAndPrintsTheTailOnFailure(t *testing.T) {
	c := &cleanupTB{T: t, failed: true}
	p := New(c, os.Args[0], Options{Name: "k", Env: []string{helperEnv + "=1"}, LogTail: 2})
	if err := p.Start("-ready-file", p.ReadyFile(), "-lines", "5"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	c.runCleanups()
	if !p.Exited() || p.ExitState().Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("after the cleanup: exited %v, state %v", p.Exited(), p.ExitState())
	}
	if len(c.logs) != 1 || c.logs[0] != "---- tail of k log ----\nline 4\nline 5" {
		t.Errorf("cleanup logged %q", c.logs)
	}

	// With StopTimeout the cleanup asks with SIGTERM; a passing test prints no tail.
	c = &cleanupTB{T: t}
	p = New(c, os.Args[0], Options{Env: []string{helperEnv + "=1"}, LogTail: 2, StopTimeout: time.Minute})
	if err := p.Start("-ready-file", p.ReadyFile()); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	c.runCleanups()
	if st := p.ExitState(); st == nil || !st.Success() || !strings.Contains(p.Tail(1), "terminated") || len(c.logs) != 0 {
		t.Errorf("after a SIGTERM cleanup: state %v, log %q, cleanup logged %q", st, p.Tail(1), c.logs)
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if got := Tail(path, 3); !strings.HasPrefix(got, "(no log: ") {
		t.Errorf("missing file: %q", got)
	}
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 3); got != "b\nc\nd" {
		t.Errorf("last 3 lines %q", got)
	}
	if got := Tail(path, 10); got != "a\nb\nc\nd" {
		t.Errorf("last 10 of 4 lines %q", got)
	}
}

func TestBinary_BuildsOnceAndRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	bin := readyBin.Path(t)
	if again := readyBin.Path(t); again != bin || !readyBin.Built() {
		t.Fatalf("second Path %q, first %q, built %v", again, bin, readyBin.Built())
	}
	if filepath.Base(bin) != "ready" {
		t.Errorf("binary named %q, want the package's name", filepath.Base(bin))
	}
	p := New(t, bin, Options{})
	if err := p.Start("-ready-file", p.ReadyFile()); err != nil {
		t.Fatal(err)
	}
	var r struct {
		PID int `json:"pid"`
	}
	if err := p.WaitReady(time.Minute, JSON(&r)); err != nil {
		t.Fatal(err)
	}
	if r.PID != p.Pid() {
		t.Errorf("ready file pid %d, process %d", r.PID, p.Pid())
	}
	if err := p.Terminate(time.Minute); err != nil {
		t.Error(err)
	}

	bad := NewBinary("./internal/proctest/testdata/nosuch")
	if _, err := bad.Build(); err == nil || !strings.Contains(err.Error(), "go build ./internal/proctest/testdata/nosuch") || bad.Built() {
		t.Errorf("building a missing package: %v, built %v", err, bad.Built())
	}
}
