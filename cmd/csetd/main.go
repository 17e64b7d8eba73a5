// Command csetd runs a cset master (`csetd agent`), the witness (`csetd witness`) or the member
// guard of an ECX server (`csetd guard`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `csetd runs the cset control plane for NEC EXPRESSCLUSTER X cluster sets.

Usage:
  csetd agent [flags]     run a master (Raft member, gRPC API, DNS, metrics; the leader drives ECX)
  csetd agent -dev        run one master on 127.0.0.1 with simulated ECX members (try this first)
  csetd witness [flags]   run the witness that arbitrates master leases and member liveness
  csetd guard [flags]     run the member guard on an ECX server (stops its cset groups when cut off)
  csetd tls init [flags]  create a CA and certificates for the masters and API clients
  csetd service ...       install, start, stop or remove csetd as a Windows service
  csetd version           print the version

Run 'csetd agent -h', 'csetd witness -h' or 'csetd guard -h' for the flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "agent":
		err = runAgent(ctx, args[1:], stdout, stderr)
	case "witness":
		err = runWitness(ctx, args[1:], stdout, stderr)
	case "guard":
		err = runGuard(ctx, args[1:], stdout, stderr)
	case "tls":
		err = runTLS(ctx, args[1:], stdout, stderr)
	case "service":
		err = runService(ctx, args[1:], stdout, stderr, platformServiceManager())
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "csetd %s\n", version)
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "csetd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "csetd: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "csetd: %s\n", strings.TrimSpace(err.Error()))
	return 1
}

// usageError marks bad flags or configuration: exit code 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }
