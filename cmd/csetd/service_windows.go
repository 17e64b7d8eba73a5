//go:build windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// scm drives the Windows Service Control Manager.
type scm struct{}

func platformServiceManager() serviceManager { return scm{} }

func (scm) Install(name, display, exe string, args []string) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		return fmt.Errorf("service %s exists: uninstall it first", name)
	}
	s, err := m.CreateService(name, exe, mgr.Config{DisplayName: display, StartType: mgr.StartAutomatic,
		Description: "cset control plane for NEC EXPRESSCLUSTER X (docs/deployment.md)"}, args...)
	if err != nil {
		return err
	}
	defer s.Close()
	// Restart after a failure: 2 s, 5 s, then every 30 s.
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 2 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second}, {Type: mgr.ServiceRestart, Delay: 30 * time.Second}}, 86400); err != nil {
		return err
	}
	if err := eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("event log source: %w", err)
	}
	return nil
}

// withService runs fn on the installed service name.
func withService(name string, fn func(*mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed", name)
	}
	defer s.Close()
	return fn(s)
}

func (scm) Uninstall(name string) error {
	err := withService(name, func(s *mgr.Service) error { return s.Delete() })
	if err == nil {
		_ = eventlog.Remove(name)
	}
	return err
}

func (scm) Start(name string) error {
	return withService(name, func(s *mgr.Service) error { return s.Start() })
}

func (scm) Stop(name string) error {
	return withService(name, func(s *mgr.Service) error {
		_, err := s.Control(svc.Stop)
		return err
	})
}

// handler adapts serveRequests to svc.Handler.
type handler struct {
	name   string
	args   []string
	stdout io.Writer
	stderr io.Writer
	elog   *eventlog.Log
}

func (h *handler) Execute(_ []string, changes <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	requests := make(chan serviceRequest)
	go func() {
		defer close(requests)
		for c := range changes {
			switch c.Cmd {
			case svc.Stop, svc.Shutdown:
				requests <- requestStop
			case svc.Interrogate:
				status <- c.CurrentStatus
			}
		}
	}()
	report := func(s serviceState) {
		switch s {
		case stateStartPending:
			status <- svc.Status{State: svc.StartPending}
		case stateRunning:
			status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
		case stateStopPending:
			status <- svc.Status{State: svc.StopPending}
		case stateStopped:
			status <- svc.Status{State: svc.Stopped}
		}
	}
	_ = h.elog.Info(1, fmt.Sprintf("%s starting: csetd %s", h.name, strings.Join(h.args, " ")))
	err := serveRequests(context.Background(), func(ctx context.Context) error {
		if code := run(ctx, h.args, h.stdout, h.stderr); code != 0 {
			return fmt.Errorf("csetd %s exited with status %d", h.args[0], code)
		}
		return nil
	}, requests, report, 30*time.Second)
	if err != nil {
		_ = h.elog.Error(1, fmt.Sprintf("%s stopped: %v", h.name, err))
		return false, 1
	}
	_ = h.elog.Info(1, h.name+" stopped")
	return false, 0
}

// runAsService runs csetd COMMAND under the service manager, its log in
// %ProgramData%\cset\NAME\csetd.log and its start, stop and failure in the event log.
func runAsService(_ context.Context, name string, args []string, stdout, stderr io.Writer) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return err
	}
	if !isService {
		return fmt.Errorf("csetd service run is what the service manager starts: use 'csetd service start -name %s'", name)
	}
	dir := defaultDataDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logFile, err := os.OpenFile(dir+`\csetd.log`, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	elog, err := eventlog.Open(name)
	if err != nil {
		return err
	}
	defer elog.Close()
	return svc.Run(name, &handler{name: name, args: withServiceDefaults(name, args), stdout: logFile, stderr: logFile, elog: elog})
}
