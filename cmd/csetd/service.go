package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const serviceUsage = `Usage:
  csetd service install -name NAME [-display TEXT] -- COMMAND [FLAGS]   register csetd COMMAND as a Windows service
  csetd service uninstall -name NAME
  csetd service start -name NAME
  csetd service stop -name NAME
  csetd service run -name NAME -- COMMAND [FLAGS]      what the service manager starts

COMMAND is agent, witness or guard with their flags, e.g.
  csetd service install -name cset-agent -- agent -config C:\ProgramData\cset\agent.yaml
The service runs "csetd service run -name NAME -- COMMAND FLAGS" as LocalSystem, starts at boot,
restarts after a failure, logs to the Windows event log (source NAME) and keeps its data under
%ProgramData%\cset unless the flags say otherwise. On Linux use the systemd units
(docs/deployment.md).
`

// serviceManager is what csetd service needs from the platform's service manager (the Windows
// Service Control Manager; a fake in tests).
type serviceManager interface {
	Install(name, display, exe string, args []string) error
	Uninstall(name string) error
	Start(name string) error
	Stop(name string) error
}

// serviceRequest is what the service manager asks of a running service.
type serviceRequest int

const (
	requestStop serviceRequest = iota + 1
	requestInterrogate
)

// serviceState is what a running service reports.
type serviceState int

const (
	stateStartPending serviceState = iota + 1
	stateRunning
	stateStopPending
	stateStopped
)

// serviceCommands are the csetd commands that can run as a service.
var serviceCommands = map[string]bool{"agent": true, "witness": true, "guard": true}

func runService(ctx context.Context, args []string, stdout, stderr io.Writer, m serviceManager) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return usageError{errors.New("csetd service needs install, uninstall, start, stop or run")}
	}
	verb := args[0]
	fs := flag.NewFlagSet("csetd service "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serviceUsage) }
	name := fs.String("name", "", "the service's name, e.g. cset-agent (required)")
	display := fs.String("display", "", "the service's display name (default: cset NAME)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" || strings.ContainsAny(*name, ` \/"`) {
		return usageError{fmt.Errorf("-name %q: give the service a name without spaces or slashes, e.g. -name cset-agent", *name)}
	}
	rest := fs.Args()
	needsCommand := verb == "install" || verb == "run"
	if needsCommand && (len(rest) == 0 || !serviceCommands[rest[0]]) {
		return usageError{fmt.Errorf("csetd service %s needs the command to run after --: agent, witness or guard with its flags", verb)}
	}
	if !needsCommand && len(rest) > 0 {
		return usageError{fmt.Errorf("csetd service %s takes no arguments after -name (got %q)", verb, rest)}
	}
	if m == nil {
		return errors.New("csetd service is for Windows: on Linux run the systemd units cset-agent, cset-witness and cset-guard (docs/deployment.md)")
	}
	switch verb {
	case "install":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if *display == "" {
			*display = "cset " + *name
		}
		if err := m.Install(*name, *display, exe, append([]string{"service", "run", "-name", *name, "--"}, rest...)); err != nil {
			return fmt.Errorf("installing service %s: %w", *name, err)
		}
		fmt.Fprintf(stdout, "service %s installed: %s service run -name %s -- %s (start it with 'csetd service start -name %s')\n", *name, exe, *name, strings.Join(rest, " "), *name)
	case "uninstall":
		if err := m.Uninstall(*name); err != nil {
			return fmt.Errorf("removing service %s: %w", *name, err)
		}
		fmt.Fprintf(stdout, "service %s removed\n", *name)
	case "start":
		if err := m.Start(*name); err != nil {
			return fmt.Errorf("starting service %s: %w", *name, err)
		}
		fmt.Fprintf(stdout, "service %s started\n", *name)
	case "stop":
		if err := m.Stop(*name); err != nil {
			return fmt.Errorf("stopping service %s: %w", *name, err)
		}
		fmt.Fprintf(stdout, "service %s stopped\n", *name)
	case "run":
		return runAsService(ctx, *name, rest, stdout, stderr)
	default:
		fmt.Fprint(stderr, serviceUsage)
		return usageError{fmt.Errorf("csetd service: unknown verb %q", verb)}
	}
	return nil
}

// serveRequests runs work until it returns or the service manager asks to stop: it reports
// running once work has started, stop-pending on a stop request (cancelling work's context),
// and stopped when work has returned (within stopWait after a stop request, else it gives
// up waiting). It returns work's error.
func serveRequests(ctx context.Context, work func(context.Context) error, requests <-chan serviceRequest, report func(serviceState), stopWait time.Duration) error {
	report(stateStartPending)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(ctx) }()
	report(stateRunning)
	for {
		select {
		case err := <-done:
			report(stateStopped)
			return err
		case r, ok := <-requests:
			if !ok {
				requests = nil
				continue
			}
			switch r {
			case requestStop:
				report(stateStopPending)
				cancel()
				select {
				case err := <-done:
					report(stateStopped)
					return err
				case <-time.After(stopWait):
					report(stateStopped)
					return fmt.Errorf("the service did not stop within %v", stopWait)
				}
			case requestInterrogate:
				report(stateRunning)
			}
		}
	}
}

// withServiceDefaults adds, to the command a service runs, the data directory (agent,
// witness) or the state file (guard) under defaultDataDir(name) when its flags name none, so
// that a service keeps its state under %ProgramData%\cset\NAME.
func withServiceDefaults(name string, args []string) []string {
	has := func(flagName string) bool {
		for _, a := range args[1:] {
			a = strings.TrimLeft(a, "-")
			if a == flagName || strings.HasPrefix(a, flagName+"=") {
				return true
			}
		}
		return false
	}
	out := append([]string(nil), args...)
	switch args[0] {
	case "agent", "witness":
		if !has("data-dir") && !has("config") {
			out = append(out, "-data-dir", filepath.Join(defaultDataDir(name), "data"))
		}
	case "guard":
		if !has("state-file") {
			out = append(out, "-state-file", filepath.Join(defaultDataDir(name), "guard-state.json"))
		}
	}
	return out
}

// defaultDataDir is where a service keeps its data when the flags name no directory:
// %ProgramData%\cset\NAME on Windows.
func defaultDataDir(name string) string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "cset", name)
}
