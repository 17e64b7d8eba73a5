package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSCM records what csetd service asks of the service manager.
type fakeSCM struct {
	mu       sync.Mutex
	services map[string][]string // name -> command line
	calls    []string
}

func (f *fakeSCM) Install(name, display, exe string, args []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[name]; ok {
		return errors.New("exists")
	}
	f.services[name] = append([]string{exe}, args...)
	f.calls = append(f.calls, "install "+name+" "+display)
	return nil
}
func (f *fakeSCM) Uninstall(name string) error { return f.call("uninstall", name) }
func (f *fakeSCM) Start(name string) error     { return f.call("start", name) }
func (f *fakeSCM) Stop(name string) error      { return f.call("stop", name) }

func (f *fakeSCM) call(verb, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[name]; !ok {
		return errors.New("service " + name + " is not installed")
	}
	if verb == "uninstall" {
		delete(f.services, name)
	}
	f.calls = append(f.calls, verb+" "+name)
	return nil
}

func TestService_InstallStartStopUninstall(t *testing.T) {
	t.Parallel()
	m := &fakeSCM{services: map[string][]string{}}
	var out, errb strings.Builder
	run := func(args ...string) error { return runService(context.Background(), args, &out, &errb, m) }
	if err := run("install", "-name", "cset-agent", "--", "agent", "-config", `C:\ProgramData\cset\agent.yaml`); err != nil {
		t.Fatal(err)
	}
	cmd := m.services["cset-agent"]
	if want := []string{"service", "run", "-name", "cset-agent", "--", "agent", "-config", `C:\ProgramData\cset\agent.yaml`}; !slices.Equal(cmd[1:], want) {
		t.Errorf("installed command line %q, want %q", cmd[1:], want)
	}
	for _, verb := range []string{"start", "stop", "uninstall"} {
		if err := run(verb, "-name", "cset-agent"); err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
	}
	if want := []string{"install cset-agent cset cset-agent", "start cset-agent", "stop cset-agent", "uninstall cset-agent"}; !slices.Equal(m.calls, want) {
		t.Errorf("calls %q, want %q", m.calls, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "needs install, uninstall, start, stop or run"},
		{[]string{"install", "-name", "x", "--", "tls", "init"}, "agent, witness or guard"},
		{[]string{"install", "-name", "my service", "--", "agent"}, "without spaces or slashes"},
		{[]string{"start", "-name", "x", "extra"}, "takes no arguments"},
		{[]string{"start", "-name", "nothere"}, "is not installed"},
		{[]string{"pause", "-name", "x"}, "unknown verb"},
	} {
		if err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if err := runService(context.Background(), []string{"start", "-name", "x"}, &out, &errb, nil); err == nil || !strings.Contains(err.Error(), "systemd units") {
		t.Errorf("without a service manager: %v", err)
	}
}

func TestService_Defaults(t *testing.T) {
	t.Setenv("ProgramData", `/progdata`)
	got := withServiceDefaults("cset-agent", []string{"agent", "-node-id", "m1"})
	if want := filepath.Join("/progdata", "cset", "cset-agent", "data"); got[len(got)-1] != want {
		t.Errorf("agent without a data dir: %q, want -data-dir %s", got, want)
	}
	if got := withServiceDefaults("a", []string{"agent", "-data-dir=/d"}); len(got) != 2 {
		t.Errorf("an explicit -data-dir is kept alone: %q", got)
	}
	if got := withServiceDefaults("g", []string{"guard", "-cluster", "e"}); !slices.Contains(got, "-state-file") {
		t.Errorf("guard without a state file: %q", got)
	}
}

// The service loop reports its states, stops the command on a stop request and returns its
// error; a command that ends by itself stops the service.
func TestService_ServeRequests(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var states []serviceState
	report := func(s serviceState) { mu.Lock(); states = append(states, s); mu.Unlock() }
	requests := make(chan serviceRequest)
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- serveRequests(context.Background(), func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return nil
		}, requests, report, 5*time.Second)
	}()
	<-started
	requests <- requestInterrogate
	requests <- requestStop
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(states)
	mu.Unlock()
	if want := []serviceState{stateStartPending, stateRunning, stateRunning, stateStopPending, stateStopped}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}

	boom := errors.New("agent failed")
	err := serveRequests(context.Background(), func(context.Context) error { return boom }, make(chan serviceRequest), func(serviceState) {}, time.Second)
	if !errors.Is(err, boom) {
		t.Errorf("a command that fails: %v", err)
	}
	err = serveRequests(context.Background(), func(context.Context) error { select {} }, closedStop(), func(serviceState) {}, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("a command that ignores the stop: %v", err)
	}
}

func closedStop() chan serviceRequest {
	c := make(chan serviceRequest, 1)
	c <- requestStop
	return c
}
