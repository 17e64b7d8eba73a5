// Command ecxsim runs the ECX cluster simulator of package ecxsim: every simulated server serves the
// ECX RESTful API on its own address, and a control API injects faults. See docs/ecxsim.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cset-project/cset/ecxsim"
	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"
)

// DefaultControlAddr is the control API address of the binary unless the config or -control says
// otherwise (docs/design.md, "Processes and ports").
const DefaultControlAddr = "127.0.0.1:29100"

const usage = `Usage: ecxsim -config FILE [flags]

ecxsim simulates NEC EXPRESSCLUSTER X clusters. Every server of every cluster in FILE serves
the ECX RESTful API (/api/v1/...) with Basic auth on its own address; a control API
(/sim/v1/...) takes servers and clusters down and up, isolates clusters, adds latency and
errors, makes group starts fail, cuts the interconnect and the witness, and returns the state
and the audit log of group online intervals. See docs/ecxsim.md.

On start it prints one line per server ("server CLUSTER/SERVER URL") and the control URL
("control URL"), then runs until SIGINT or SIGTERM.

Flags:
`

// readyFile is the JSON written to -ready-file once every listener is open.
type readyFile struct {
	PID        int                          `json:"pid"`
	ControlURL string                       `json:"control_url"`
	Servers    map[string]map[string]string `json:"servers"` // cluster -> server -> REST URL
	// CAFiles names, per cluster that serves HTTPS, the file its CA certificate was written to
	// (the tls section's ca_out): what `csetctl member add --ca-file` and `csetd guard
	// -ecx-ca-file` need. Absent for a cluster that serves plain HTTP or writes no CA file.
	CAFiles map[string]string `json:"ca_files,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecxsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration `file` (required)")
	control := fs.String("control", "", "control API listen `address` (default: control_addr of the config, else "+DefaultControlAddr+")")
	audit := fs.String("audit", "", "append the audit log as JSON lines to `file` (default: audit_file of the config)")
	ready := fs.String("ready-file", "", "write the URLs as JSON to `file` once listening (written atomically)")
	logLevel := fs.String("log-level", "info", "log `level`: trace, debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "ecxsim", Level: hclog.LevelFromString(*logLevel), Output: stderr})
	if err := raiseFileLimit(); err != nil {
		logger.Warn("could not raise the open file limit", "error", err)
	}
	cfg, err := ecxsim.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "ecxsim: %v\n", err)
		return 1
	}
	switch {
	case *control != "":
		cfg.ControlAddr = *control
	case cfg.ControlAddr == ecxsim.DefaultListen && !setsControl(*configPath):
		cfg.ControlAddr = DefaultControlAddr
	}
	if *audit != "" {
		cfg.AuditFile = *audit
	}
	sim, err := ecxsim.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "ecxsim: %v\n", err)
		return 1
	}
	if err := sim.Start(); err != nil {
		fmt.Fprintf(stderr, "ecxsim: %v\n", err)
		return 1
	}
	rf := readyFile{PID: os.Getpid(), ControlURL: sim.ControlURL(), Servers: map[string]map[string]string{}}
	for _, c := range cfg.Clusters {
		tlsCfg := cfg.TLS
		if c.TLS != nil {
			tlsCfg = c.TLS
		}
		if tlsCfg != nil && tlsCfg.CAOut != "" {
			if rf.CAFiles == nil {
				rf.CAFiles = map[string]string{}
			}
			rf.CAFiles[c.Name] = tlsCfg.CAOut
		}
		rf.Servers[c.Name] = map[string]string{}
		for _, s := range c.Servers {
			url := sim.ServerURL(c.Name, s.Name)
			rf.Servers[c.Name][s.Name] = url
			fmt.Fprintf(stdout, "server %s/%s %s\n", c.Name, s.Name, url)
		}
	}
	fmt.Fprintf(stdout, "control %s\n", sim.ControlURL())
	if *ready != "" {
		if err := writeReady(*ready, rf); err != nil {
			fmt.Fprintf(stderr, "ecxsim: %v\n", err)
			_ = sim.Close()
			return 1
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	sig := <-sigs
	logger.Info("shutting down", "signal", sig.String())
	if err := sim.Close(); err != nil {
		fmt.Fprintf(stderr, "ecxsim: close: %v\n", err)
		return 1
	}
	return 0
}

// setsControl reports whether the config file sets control_addr itself, so that an explicit
// "127.0.0.1:0" there is kept rather than replaced by the binary's default.
func setsControl(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var probe struct {
		ControlAddr *string `yaml:"control_addr"`
	}
	return yaml.Unmarshal(data, &probe) == nil && probe.ControlAddr != nil
}

// writeReady writes the ready file through a temporary file and a rename, so a reader never sees
// half of it.
func writeReady(path string, rf readyFile) error {
	data, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ready file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ecxsim-ready-*")
	if err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}
