package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
)

type witnessFlags struct {
	listen, dataDir, tlsCert, tlsKey, readyFile, logLevel string
	leaseTokenFile, heartbeatTokenFile, oldTokenFile      string
	restartHold                                           time.Duration
	maxTermJump                                           uint64
	limits                                                witness.HTTPLimits
}

const witnessUsage = `Usage: csetd witness -data-dir DIR -lease-token-file F -heartbeat-token-file F [flags]
       csetd witness reset-lease -witness URL -token-file F -set NAME [flags]

Runs the witness: the arbiter of master leases and member liveness (docs/witness.md).

It takes two bearer tokens. The masters present the lease token (their -witness-token-file):
it may take, release and reset leases. The ECX servers and member guards present the heartbeat
token: it may only send heartbeats. Both may read GET /v1/clusters/{cluster}. Without either
token file the witness is open to anybody who reaches it.

'csetd witness reset-lease' is the recovery when the set's lease state holds a term no master
reaches (run 'csetd witness reset-lease -h').

Flags:
`

func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reset-lease" {
		return runResetLease(ctx, args[1:], stdout, stderr)
	}
	var f witnessFlags
	fs := flag.NewFlagSet("csetd witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "0.0.0.0:7190", "HTTP(S) listen address")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for the persisted lease and last-seen state (required)")
	fs.StringVar(&f.leaseTokenFile, "lease-token-file", "", "file holding the masters' bearer token: leases (the masters' -witness-token-file)")
	fs.StringVar(&f.heartbeatTokenFile, "heartbeat-token-file", "", "file holding the ECX servers' bearer token: heartbeats only (the guards' -witness-token-file); must differ from the lease token")
	fs.StringVar(&f.oldTokenFile, "token-file", "", "removed: give -lease-token-file and -heartbeat-token-file")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file")
	fs.StringVar(&f.readyFile, "ready-file", "", "write {\"addr\": ...} to this file once serving")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.DurationVar(&f.restartHold, "restart-hold", 0, "after a start grant no new lease for at least this long (default 0: the longest lease TTL this witness ever granted, so a fresh witness holds nothing)")
	fs.Uint64Var(&f.maxTermJump, "max-term-jump", witness.DefaultMaxTermJump, "refuse a lease for a term more than this above the highest term granted for the set (term_jump); Raft terms grow by one per election")
	fs.IntVar(&f.limits.MaxConns, "max-conns", witness.DefaultHTTPMaxConns, "most connections open at once; at the limit the one idle longest is closed (keep it well below the file descriptor limit)")
	fs.DurationVar(&f.limits.ReadTimeout, "read-timeout", witness.DefaultHTTPReadTimeout, "longest time to read a request, body included (headers: at most 5s)")
	fs.DurationVar(&f.limits.WriteTimeout, "write-timeout", witness.DefaultHTTPWriteTimeout, "longest time from the end of a request's headers to the end of its answer")
	fs.DurationVar(&f.limits.IdleTimeout, "idle-timeout", witness.DefaultHTTPIdleTimeout, "close a keep-alive connection idle for this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), witnessUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if err := f.check(fs.NArg()); err != nil {
		return usageError{err}
	}
	leaseToken, err := readTokenFile(f.leaseTokenFile)
	if err != nil {
		return usageError{fmt.Errorf("-lease-token-file: %w", err)}
	}
	hbToken, err := readTokenFile(f.heartbeatTokenFile)
	if err != nil {
		return usageError{fmt.Errorf("-heartbeat-token-file: %w", err)}
	}
	if leaseToken != "" && leaseToken == hbToken {
		return usageError{errors.New("-lease-token-file and -heartbeat-token-file hold the same token: every ECX server holds the heartbeat token, so it must not be able to take leases; make two tokens")}
	}
	var tlsCfg *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return usageError{fmt.Errorf("-tls-cert/-tls-key: %w", err)}
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "witness", Level: hclog.LevelFromString(f.logLevel), Output: stderr})
	srv, err := witness.NewServer(witness.ServerConfig{DataDir: f.dataDir, LeaseToken: leaseToken, HeartbeatToken: hbToken,
		RestartHold: f.restartHold, MaxTermJump: f.maxTermJump, Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	hs, served, err := srv.NewHTTPServer(lis, f.limits, tlsCfg)
	if err != nil {
		lis.Close()
		return err
	}
	errCh := make(chan error, 1)
	go func() { errCh <- hs.Serve(served) }()
	if leaseToken == "" {
		logger.Warn("no -lease-token-file and -heartbeat-token-file: the witness accepts unauthenticated calls, and anybody who reaches it can take the lease")
	}
	logger.Info("witness serving", "addr", lis.Addr().String(), "data_dir", f.dataDir, "tls", tlsCfg != nil,
		"max_conns", f.limits.MaxConns, "max_term_jump", f.maxTermJump)
	if f.readyFile != "" {
		if err := os.WriteFile(f.readyFile, []byte(fmt.Sprintf("{\"addr\": %q}\n", lis.Addr().String())), 0o644); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errCh:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}

// check reports every flag problem at once.
func (f witnessFlags) check(nargs int) error {
	var errs []error
	if nargs > 0 {
		errs = append(errs, errors.New("csetd witness takes flags only (or the subcommand reset-lease first)"))
	}
	if f.oldTokenFile != "" {
		errs = append(errs, errors.New("-token-file was split in two so that the ECX servers' token cannot take leases: give the masters' token with -lease-token-file and the ECX servers' token with -heartbeat-token-file (docs/witness.md)"))
	}
	if f.dataDir == "" {
		errs = append(errs, errors.New("-data-dir is required: the witness persists its lease state there"))
	}
	if (f.leaseTokenFile == "") != (f.heartbeatTokenFile == "") {
		errs = append(errs, errors.New("-lease-token-file and -heartbeat-token-file go together: with one alone, the other's calls would be open to anybody"))
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	if f.maxTermJump == 0 {
		errs = append(errs, errors.New("-max-term-jump must be at least 1"))
	}
	l := f.limits
	if l.MaxConns < 1 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 {
		errs = append(errs, errors.New("-max-conns must be at least 1 and -read-timeout, -write-timeout, -idle-timeout positive"))
	}
	return errors.Join(errs...)
}

const resetLeaseUsage = `Usage: csetd witness reset-lease -witness URL -token-file F -set NAME [flags]

Makes the witness forget the lease state of a cluster set (its highest term and holder), so the
next master to ask gets the lease at its own Raft term. Use it when the masters' lease requests
are refused with stale_term or term_jump although they are the set's masters: the witness holds
a term no master reaches (taken by a stolen lease token, or the master group was rebuilt and its
Raft terms started again from 1). See docs/witness.md, "Resetting a set's lease".

The witness refuses while the set's lease is live (exit 1, with the holder, term and time left):
a reset never ends a lease anybody holds. If the holder keeps renewing and is not one of your
masters, replace both witness tokens first (restart the witness with new token files), wait for
the lease to expire, then reset.

Exit status: 0 reset, 1 refused or failed, 2 bad flags.

Flags:
`

func runResetLease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("csetd witness reset-lease", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("witness", "", "witness URL, http(s)://host:7190 (required)")
	tokenFile := fs.String("token-file", "", "file holding the witness lease token, the masters' -witness-token-file (required when the witness has tokens)")
	caFile := fs.String("ca-file", "", "PEM CA bundle for an https witness (default: the system pool)")
	set := fs.String("set", "", "the cluster-set name (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of the call")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), resetLeaseUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: reset-lease takes flags only", fs.Args()))
	}
	if *url == "" {
		errs = append(errs, errors.New("-witness is required"))
	}
	if *set == "" {
		errs = append(errs, errors.New("-set is required"))
	}
	if *timeout <= 0 {
		errs = append(errs, errors.New("-timeout must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	token, err := readTokenFile(*tokenFile)
	if err != nil {
		return usageError{fmt.Errorf("-token-file: %w", err)}
	}
	c, err := witness.NewClient(witness.ClientConfig{URL: *url, Token: token, CAFile: *caFile, Timeout: *timeout})
	if err != nil {
		return usageError{err}
	}
	res, err := c.ResetLease(ctx, *set)
	switch {
	case errors.Is(err, witness.ErrUnauthorized), errors.Is(err, witness.ErrForbidden):
		return fmt.Errorf("%w (reset-lease needs the lease token, the masters' -witness-token-file)", err)
	case errors.Is(err, witness.ErrUnknownSet):
		return fmt.Errorf("the witness has no lease state for set %q: nothing to reset (check -set against 'csetctl status')", *set)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "lease state of set %q reset (it was holder %q, term %d): the next master to ask gets the lease at its own term\n", *set, res.Holder, res.Term)
	return nil
}

// readTokenFile reads a bearer token; an empty path means no token.
func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}
