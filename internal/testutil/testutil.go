// Package testutil holds helpers for tests: a logger that writes to t.Log and condition waits
// with deadlines. Import it only from _test.go files.
package testutil

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Logger returns an hclog logger that writes to t.Log with a prefix, and stops writing once the
// test has finished (raft logs from background goroutines would otherwise panic).
func Logger(t testing.TB, prefix string) hclog.Logger {
	t.Helper()
	w := &tWriter{t: t, prefix: prefix}
	t.Cleanup(w.stop)
	return hclog.New(&hclog.LoggerOptions{Name: prefix, Level: hclog.Debug, Output: w, DisableTime: false})
}

type tWriter struct {
	mu      sync.Mutex
	t       testing.TB
	prefix  string
	stopped bool
}

func (w *tWriter) stop() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() }

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Discard is an io.Writer that drops everything.
var Discard io.Writer = io.Discard

// Eventually calls fn until it returns nil or timeout passes, then fails the test with fn's
// last error. It polls every 10ms growing to 100ms.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	if err := WaitFor(timeout, fn); err != nil {
		t.Fatalf("condition not met within %v: %v", timeout, err)
	}
}

// WaitFor is Eventually without a test: it returns fn's last error after timeout.
func WaitFor(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago. Prefer
// listening on :0 and reading the address back; use this only for a program that must be told
// its port before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct such addresses: all n ports are held at once while they are
// picked, so two calls in a row never hand out the same port (the kernel may reuse a port
// released a moment ago).
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}
