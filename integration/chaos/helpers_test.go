package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Tests of the suite's own machinery; they need no binaries and run under -short too.

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return lis.Addr().String()
}

// roundTrip writes a line and waits up to wait for it to come back.
func roundTrip(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func dialProxy(t *testing.T, p *proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestNetem_CutHealDelay(t *testing.T) {
	t.Parallel()
	n := newNetem()
	p, err := newProxy(n, "echo", "b", "a", nil, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	c, r := dialProxy(t, p)
	if got, err := roundTrip(c, r, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	n.slow("a", "b", 150*time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(c, r, "two", 5*time.Second); err != nil || got != "two" {
		t.Fatalf("slow link: %q, %v", got, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("slow link answered in %v, want at least 150ms", d)
	}
	n.slow("a", "b", 0)

	n.cut("a", "b", true)
	if _, err := roundTrip(c, r, "three", 300*time.Millisecond); err == nil {
		t.Fatal("a cut link delivered a line")
	}
	c2, r2 := dialProxy(t, p)
	if _, err := roundTrip(c2, r2, "four", 300*time.Millisecond); err == nil {
		t.Fatal("a connection opened during the cut delivered a line")
	}
	n.cut("a", "b", false)
	// Both connections lost bytes: healing resets them, as a timed-out TCP connection.
	for _, cr := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c, r}, {c2, r2}} {
		if _, err := roundTrip(cr.c, cr.r, "five", 5*time.Second); err == nil {
			t.Fatal("a connection that lost bytes survived the heal")
		}
	}
	c3, r3 := dialProxy(t, p)
	if got, err := roundTrip(c3, r3, "six", 5*time.Second); err != nil || got != "six" {
		t.Fatalf("after the heal: %q, %v", got, err)
	}
}

func TestNetem_OneWay(t *testing.T) {
	t.Parallel()
	n := newNetem()
	up := echoServer(t)
	p, err := newProxy(n, "echo", "b", "a", nil, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	c, r := dialProxy(t, p)
	n.block("b", "a", true) // answers are lost, requests arrive
	if _, err := roundTrip(c, r, "x", 300*time.Millisecond); err == nil {
		t.Fatal("an answer crossed a blocked direction")
	}
	if got := n.describe(); got != "b-x->a" {
		t.Fatalf("describe = %q", got)
	}
	n.healAll()
	if n.describe() != "" {
		t.Fatalf("rules left after healAll: %s", n.describe())
	}
}

func TestPIDTable_IdentifiesTheOwnerOfAConnection(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	pids := newPIDTable()
	pids.set(os.Getpid(), "self")
	n := newNetem()
	got := make(chan string, 1)
	p, err := newProxy(n, "id", "b", "", func(a net.Addr) (string, string) { s, why := pids.identify(a); got <- s + why; return s, why }, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "self" {
		t.Fatalf("identify = %q, want self", s)
	}
	pids.set(0, "self")
	if len(pids.snapshot()) != 0 {
		t.Fatalf("set(0) left %v", pids.snapshot())
	}
}

// op builds a porcupine operation for the model tests; ret < 0 means unknown.
func op(call, ret int64, kind, key string, version int, outcome string, exists bool, got int) porcupine.Operation {
	if ret < 0 {
		ret = 1 << 62
	}
	return porcupine.Operation{Call: call, Return: ret, Input: wlInput{kind, key, version}, Output: wlOutput{outcome, exists, got}}
}

func TestRegistryModel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"acknowledged unregister then absent", []porcupine.Operation{
			op(0, 10, opUnregister, "w01", 0, outOK, false, 0), op(20, 30, opGet, "w01", 0, outOK, false, 0)}, porcupine.Ok},
		{"lost acknowledged update", []porcupine.Operation{
			op(0, 10, opUpdate, "w01", 7, outOK, false, 0), op(20, 30, opGet, "w01", 0, outOK, true, 1)}, porcupine.Illegal},
		{"unknown update may have happened", []porcupine.Operation{
			op(0, -1, opUpdate, "w01", 7, outUnknown, false, 0), op(20, 30, opGet, "w01", 0, outOK, true, 7)}, porcupine.Ok},
		{"unknown update may not have happened", []porcupine.Operation{
			op(0, -1, opUpdate, "w01", 7, outUnknown, false, 0), op(20, 30, opGet, "w01", 0, outOK, true, 1)}, porcupine.Ok},
		{"unknown update cannot flip back", []porcupine.Operation{
			op(0, -1, opUpdate, "w01", 7, outUnknown, false, 0), op(20, 30, opGet, "w01", 0, outOK, true, 7),
			op(40, 50, opGet, "w01", 0, outOK, true, 1)}, porcupine.Illegal},
		{"register of a present workload must fail", []porcupine.Operation{
			op(0, 10, opRegister, "w01", 5, outOK, false, 0)}, porcupine.Illegal},
		{"register after unregister", []porcupine.Operation{
			op(0, 10, opUnregister, "w01", 0, outOK, false, 0), op(20, 30, opRegister, "w01", 5, outOK, false, 0),
			op(40, 50, opGet, "w01", 0, outOK, true, 5)}, porcupine.Ok},
		{"stale read after an acknowledged write", []porcupine.Operation{
			op(0, 10, opUnregister, "w02", 0, outOK, false, 0), op(20, 30, opMove, "w02", 0, outOK, false, 0)}, porcupine.Illegal},
		{"concurrent reads see either side", []porcupine.Operation{
			op(0, 100, opUpdate, "w01", 9, outOK, false, 0), op(10, 20, opGet, "w01", 0, outOK, true, 1),
			op(30, 40, opGet, "w01", 0, outOK, true, 9)}, porcupine.Ok},
		{"double unregister acknowledged", []porcupine.Operation{
			op(0, 10, opUnregister, "w01", 0, outOK, false, 0), op(20, 30, opUnregister, "w01", 0, outOK, false, 0)}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registryModel, tc.ops, 10*time.Second); got != tc.want {
				t.Fatalf("check = %s, want %s", got, tc.want)
			}
		})
	}
}

func at(s int) time.Time { return time.Unix(1_000_000+int64(s), 0) }

func until(s int) *time.Time { u := at(s); return &u }

func TestDoubleOnline(t *testing.T) {
	t.Parallel()
	recs := []auditRecord{
		{Cluster: "e1", Group: "w01", Server: "e1-s1", OnlineFrom: at(0), OnlineUntil: until(10)},
		{Cluster: "e2", Group: "w01", Server: "e2-s1", OnlineFrom: at(10)}, // half-open: touching is fine
		{Cluster: "e1", Group: "w02", Server: "e1-s1", OnlineFrom: at(0), OnlineUntil: until(10)},
		{Cluster: "e1", Group: "w02", Server: "e1-s2", OnlineFrom: at(5), OnlineUntil: until(12)}, // same member: not this check's concern
		{Cluster: "e3", Group: "w02", Server: "e3-s1", OnlineFrom: at(11)},
	}
	got := doubleOnline(recs)
	if len(got) != 1 || !strings.Contains(got[0], "w02") || !strings.Contains(got[0], "e3/e3-s1") {
		t.Fatalf("doubleOnline = %q, want the one w02 overlap of e1-s2 and e3-s1", got)
	}
}

func TestCheckRecovery(t *testing.T) {
	t.Parallel()
	b := int(recoveryBound() / time.Second)
	death := &faultRec{step: 1, kind: "member-kill", target: "e1", injected: at(100), healed: at(100 + b + 20)}
	other := &faultRec{step: 2, kind: "witness-kill", target: "w", injected: at(95), healed: at(105)}
	regs := map[string][]regEvent{"w01": {{at(0), true}}, "w02": {{at(0), true}}, "w03": {{at(0), true}, {at(102), false}}}
	audit := []auditRecord{
		{Cluster: "e1", Group: "w01", OnlineFrom: at(50), OnlineUntil: until(100)},
		{Cluster: "e2", Group: "w01", OnlineFrom: at(105 + b - 1)}, // in time: quiet from 105
		{Cluster: "e1", Group: "w02", OnlineFrom: at(50), OnlineUntil: until(100)},
		{Cluster: "e3", Group: "w02", OnlineFrom: at(105 + b + 2)},                 // late
		{Cluster: "e1", Group: "w03", OnlineFrom: at(50), OnlineUntil: until(100)}, // unregistered meanwhile
	}
	v, st := checkRecovery([]*faultRec{death, other}, audit, regs, at(1000))
	if len(v) != 1 || !strings.Contains(v[0], "w02") {
		t.Fatalf("violations = %q, want one for w02", v)
	}
	if diff := cmp.Diff(recoveryStats{deaths: 1, checked: 2, passed: 1, skipped: 1}, st, cmp.AllowUnexported(recoveryStats{}), cmpopts.IgnoreFields(recoveryStats{}, "details", "latencies")); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
	// The member came back before a quiet window of the bound's length: nothing to judge.
	death.healed = at(110)
	if v, st := checkRecovery([]*faultRec{death, other}, audit, regs, at(1000)); len(v) != 0 || st.checked != 0 {
		t.Fatalf("short death: violations %q, stats %+v", v, st)
	}
}

// TestNetem_ResetIsPassedOnAsAReset: a client that resets its connection (SO_LINGER 0) resets
// the proxy's upstream connection too; one that closes it (FIN) half-closes it. A master resets
// the connection of an ECX call it gives up on so that the request is never carried out late;
// a proxy that turned the reset into a FIN would have ecxsim deliver it at a heal.
func TestNetem_ResetIsPassedOnAsAReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reset bool
	}{{"reset", true}, {"close", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			got := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err
					return
				}
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err = io.ReadAll(c) // nil at EOF, the reset otherwise
				got <- err
			}()
			p, err := newProxy(newNetem(), "up", "b", "a", nil, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.close)
			c, err := net.Dial("tcp", p.addr())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, "POST /start\n"); err != nil {
				t.Fatal(err)
			}
			if tc.reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
			err = <-got
			if reset := errors.Is(err, syscall.ECONNRESET); reset != tc.reset {
				t.Fatalf("upstream read ended with %v: want a reset %v", err, tc.reset)
			}
		})
	}
}
