package testutil

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// fakeTB records what a helper reports instead of ending the test, so a failing wait can be
// checked. Only the methods the helpers call are implemented.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	logs     []string
	fatals   []string
	errors   []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprint(args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// finish runs the cleanups as the testing package does: last registered first.
func (f *fakeTB) finish() {
	for _, fn := range slices.Backward(f.cleanups) {
		fn()
	}
}

func TestPoll_WaitReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := Poll{Timeout: 10 * time.Second, Interval: time.Millisecond}.Wait(func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Wait = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestPoll_WaitReturnsTheLastErrorAfterTheTimeout(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Poll{Timeout: 30 * time.Millisecond, Interval: time.Millisecond}.Wait(func() error {
		calls++
		return fmt.Errorf("call %d", calls)
	})
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("Wait gave up after %v, before its timeout", elapsed)
	}
	if err == nil || err.Error() != fmt.Sprintf("call %d", calls) || calls < 2 {
		t.Fatalf("Wait = %v after %d calls, want the last call's error", err, calls)
	}
}

func TestPoll_Pauses(t *testing.T) {
	var got []time.Duration
	var d time.Duration
	for range 6 {
		d = Poll{}.next(d)
		got = append(got, d)
	}
	ms := time.Millisecond
	if want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}; !slices.Equal(got, want) {
		t.Errorf("default pauses %v, want %v", got, want)
	}
	p := Poll{Interval: 5 * ms}
	if d := p.next(p.next(0)); d != 5*ms {
		t.Errorf("fixed interval: second pause %v, want 5ms", d)
	}
}

func TestPoll_EventuallyNamesTheCondition(t *testing.T) {
	f := &fakeTB{}
	Poll{Timeout: time.Millisecond, Interval: time.Millisecond}.Eventually(f, "g1 on s1", func() error { return errors.New("g1 is Offline") })
	if len(f.fatals) != 1 || f.fatals[0] != "g1 on s1: not met within 1ms: g1 is Offline" {
		t.Errorf("failures %q", f.fatals)
	}
	f = &fakeTB{}
	Eventually(f, time.Millisecond, func() error { return errors.New("no leader") })
	if len(f.fatals) != 1 || f.fatals[0] != "condition not met within 1ms: no leader" {
		t.Errorf("unnamed condition: failures %q", f.fatals)
	}
	f = &fakeTB{}
	Poll{Timeout: time.Millisecond}.Eventually(f, "met", func() error { return nil })
	if len(f.fatals) != 0 {
		t.Errorf("a condition that holds failed: %q", f.fatals)
	}
}

func TestPoll_True(t *testing.T) {
	f := &fakeTB{}
	Poll{Timeout: time.Millisecond, Interval: time.Millisecond}.True(f, "web pushed", func() bool { return false })
	if len(f.fatals) != 1 || f.fatals[0] != "web pushed: not met within 1ms: still false" {
		t.Errorf("failures %q", f.fatals)
	}
	f, n := &fakeTB{}, 0
	Poll{Timeout: 10 * time.Second, Interval: time.Millisecond}.True(f, "third call", func() bool { n++; return n == 3 })
	if len(f.fatals) != 0 || n != 3 {
		t.Errorf("after %d calls: failures %q", n, f.fatals)
	}
}

func TestWriter_LogsLinesUntilTheTestEnds(t *testing.T) {
	f := &fakeTB{}
	w := Writer(f)
	// A cleanup registered after the writer (a server closed at the end of the test) still
	// logs; the writer stops in its own cleanup, which runs after it.
	f.Cleanup(func() { fmt.Fprintln(w, "closing") })
	fmt.Fprintf(w, "first line\n")
	fmt.Fprintf(w, "no newline")
	f.finish()
	if n, err := fmt.Fprintln(w, "after the test"); n != len("after the test\n") || err != nil {
		t.Errorf("write after the test: %d, %v", n, err)
	}
	if want := []string{"first line", "no newline", "closing"}; !slices.Equal(f.logs, want) {
		t.Errorf("logged %q, want %q", f.logs, want)
	}
}

func TestLoggerAt_FiltersByLevel(t *testing.T) {
	f := &fakeTB{}
	l := LoggerAt(f, "sim", hclog.Info)
	l.Debug("hidden")
	l.Info("shown", "k", "v")
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], "[INFO]  sim: shown: k=v") {
		t.Errorf("logged %q", f.logs)
	}
}

// TestGolden: an update writes the file, the same text then passes, and other text fails with a
// line diff naming the line.
func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	Golden(t, path, "a\nb\n", true)
	Golden(t, path, "a\nb\n", false)
	ft := &fakeTB{TB: t}
	Golden(ft, path, "a\nchanged\n", false)
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "changed") {
		t.Fatalf("a different text: errors %q, want one diff naming the changed line", ft.errors)
	}
}

func TestFreeAddrs_DistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	lo, hi := stablePortRange()
	seen := map[string]bool{}
	for range 20 {
		for _, a := range FreeAddrs(t, 5) {
			if seen[a] {
				t.Fatalf("%s handed out twice", a)
			}
			seen[a] = true
			_, p, err := net.SplitHostPort(a)
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(p)
			if port < lo || port > hi {
				t.Fatalf("%s outside %d-%d", a, lo, hi)
			}
			l, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatalf("listen on a free address: %v", err)
			}
			u, err := net.ListenPacket("udp", a)
			if err != nil {
				t.Fatalf("udp on a free address: %v", err)
			}
			l.Close()
			u.Close()
		}
	}
}
