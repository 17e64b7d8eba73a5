// Package testutil holds helpers for tests: loggers that write to t.Log and condition waits
// with deadlines. Import it only from _test.go files.
package testutil

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Logger returns an hclog logger at Debug level that writes to t.Log with a prefix, and stops
// writing once the test has finished (raft logs from background goroutines would otherwise
// panic).
func Logger(t testing.TB, prefix string) hclog.Logger {
	t.Helper()
	return LoggerAt(t, prefix, hclog.Debug)
}

// LoggerAt is Logger at another level: a package whose tests log every request keeps them
// readable at Info.
func LoggerAt(t testing.TB, prefix string, level hclog.Level) hclog.Logger {
	t.Helper()
	return hclog.New(&hclog.LoggerOptions{Name: prefix, Level: level, Output: Writer(t), DisableTime: false})
}

// Writer returns an io.Writer that sends each write to t.Log as one entry without its
// trailing newline, and drops writes once the test has finished, so that a goroutine or a
// child process that outlives the test cannot make t.Log panic. Writes made by cleanups
// registered after this call still reach the log: the writer stops in its own cleanup.
func Writer(t testing.TB) io.Writer {
	t.Helper()
	w := &tWriter{t: t}
	t.Cleanup(w.stop)
	return w
}

type tWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *tWriter) stop() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() }

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		return LogWrite(w.t, p)
	}
	return len(p), nil
}

// LogWrite sends p to t.Log as one entry without its trailing newline and reports it written.
// It is the Write of Writer, for a writer type that a test file names itself; such a writer
// does not stop at the end of the test, so prefer Writer.
func LogWrite(t testing.TB, p []byte) (int, error) {
	t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Discard is an io.Writer that drops everything.
var Discard io.Writer = io.Discard

// Poll is how a test waits for a condition: it calls the condition until it holds or Timeout
// passes. Tests wait on conditions with deadlines, never on fixed sleeps; a package whose
// conditions pass through short-lived states (a group starting for 100ms) sets a short fixed
// Interval so that polling does not miss them.
type Poll struct {
	// Timeout is how long the condition may take; it is called once more after it passed.
	Timeout time.Duration
	// Interval is the pause between two calls; zero starts at 10ms and doubles up to 100ms.
	Interval time.Duration
}

// Wait calls fn until it returns nil or p.Timeout passes, and then returns fn's last error.
func (p Poll) Wait(fn func() error) error {
	deadline := time.Now().Add(p.Timeout)
	var wait time.Duration
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		wait = p.next(wait)
		time.Sleep(wait) // the polling interval, bounded by the deadline
	}
}

// next returns the pause after one of prev (zero before the first pause).
func (p Poll) next(prev time.Duration) time.Duration {
	switch {
	case p.Interval > 0:
		return p.Interval
	case prev == 0:
		return 10 * time.Millisecond
	default:
		return min(prev*2, 100*time.Millisecond)
	}
}

// Eventually is Wait that fails the test with fn's last error, naming the condition what
// ("" for an unnamed condition).
func (p Poll) Eventually(t testing.TB, what string, fn func() error) {
	t.Helper()
	if err := p.Wait(fn); err != nil {
		if what == "" {
			t.Fatalf("condition not met within %v: %v", p.Timeout, err)
			return
		}
		t.Fatalf("%s: not met within %v: %v", what, p.Timeout, err)
	}
}

// errStillFalse is the last error of a boolean condition that never held.
var errStillFalse = errors.New("still false")

// True is Eventually for a condition that has no error to explain why it does not hold yet.
func (p Poll) True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	p.Eventually(t, what, func() error {
		if cond() {
			return nil
		}
		return errStillFalse
	})
}

// Eventually calls fn until it returns nil or timeout passes, then fails the test with fn's
// last error. It polls every 10ms growing to 100ms.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	Poll{Timeout: timeout}.Eventually(t, "", fn)
}

// WaitFor is Eventually without a test: it returns fn's last error after timeout.
func WaitFor(timeout time.Duration, fn func() error) error {
	return Poll{Timeout: timeout}.Wait(fn)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago. Prefer
// listening on :0 and reading the address back; use this only for a program that must be told
// its port before it starts, or that must get the same port back when it restarts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports are free for TCP and UDP. The
// ports lie below the kernel's ephemeral range (ip_local_port_range), where no outgoing
// connection and no listener on port 0 is given a port: a process told such a port can be
// killed and restarted on it, while a port from the ephemeral range may meanwhile be taken by
// any connection on the machine (or by a dial to it that connects to itself) and the restart
// fails with "address already in use". A port is never handed out twice in one test binary;
// two test binaries picking at once are kept apart by the bind check and by random choice.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	lo, hi := stablePortRange()
	for attempt := 0; len(out) < n; attempt++ {
		if attempt > 10000 {
			t.Fatalf("free port: no free port in %d-%d after %d attempts", lo, hi, attempt)
		}
		port := lo + rand.IntN(hi-lo+1)
		if !claimPort(port) {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			l.Close()
			continue
		}
		l.Close()
		u.Close()
		out = append(out, addr)
	}
	return out
}

var (
	portsMu      sync.Mutex
	portsClaimed = map[int]bool{}
)

// claimPort marks port as handed out in this process; false if it already was.
func claimPort(port int) bool {
	portsMu.Lock()
	defer portsMu.Unlock()
	if portsClaimed[port] {
		return false
	}
	portsClaimed[port] = true
	return true
}

// stablePortRange is the range FreeAddrs picks from: the 12,000 ports below the ephemeral
// range (32768-60999 by default on Linux), but not below 1024.
func stablePortRange() (lo, hi int) {
	ephemeral := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				ephemeral = v
			}
		}
	}
	hi = ephemeral - 1
	lo = max(hi-12000, 1024)
	if hi <= lo { // an unusual range starting low: use the ports above it instead
		return 61000, 64999
	}
	return lo, hi
}
