package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/guard"
	"github.com/cset-project/cset/pki"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/credentials"
)

const guardUsage = `Usage: csetd guard -cluster MEMBER -server SERVER -masters ADDR,... -state-file FILE [flags]

Runs the member guard on one ECX server (docs/guard.md). It heartbeats the witness (with several
witnesses, each of them: a majority must acknowledge) and the masters for its server; when
neither has acknowledged a heartbeat for -timeout (the masters'
controller.guard_timeout), it stops every cset-managed group running on this server through the
local ECX REST API and keeps them stopped until either answers again. Run one on every server of
every member: without guards, a site that loses its WAN but not its LAN keeps running workloads
that the masters start elsewhere.

With -once it runs one round (heartbeats, then the rule) and exits: 0 when a heartbeat was
acknowledged within -timeout, 1 when it is keeping the cset groups stopped, 2 on bad flags. That
is the form for an ECX custom monitor resource (genw).

Flags:
`

type guardFlags struct {
	cluster, server                             string
	ecxURL, ecxUser, ecxPasswordFile, ecxCAFile string
	ecxInsecure                                 bool
	witnessURL, witnessTokenFile, witnessCAFile string
	masters, tokenFile, tlsCA, tlsCert, tlsKey  string
	timeout, interval, callTimeout, stopTimeout time.Duration
	stateFile, logLevel                         string
	once                                        bool
}

func parseGuardFlags(args []string, stderr io.Writer) (guardFlags, error) {
	var f guardFlags
	fs := flag.NewFlagSet("csetd guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.cluster, "cluster", "", "the member (ECX cluster) name, as the masters know it (required)")
	fs.StringVar(&f.server, "server", "", "this ECX server's name, as ECX and the member declaration name it (required)")
	fs.StringVar(&f.ecxURL, "ecx-url", "http://127.0.0.1:29009", "this server's ECX REST API")
	fs.StringVar(&f.ecxUser, "ecx-user", "", "ECX REST user (required)")
	fs.StringVar(&f.ecxPasswordFile, "ecx-password-file", "", "file holding the ECX REST password (required)")
	fs.StringVar(&f.ecxCAFile, "ecx-ca-file", "", "PEM CA bundle for an https -ecx-url")
	fs.BoolVar(&f.ecxInsecure, "ecx-insecure-skip-verify", false, "do not verify the ECX REST certificate (self-signed; prefer -ecx-ca-file)")
	fs.StringVar(&f.witnessURL, "witness", "", "witness URL (http(s)://host:7190), or an odd number of them separated by commas, the same as the masters'; with several, a heartbeat counts as acknowledged when a majority acknowledged it")
	fs.StringVar(&f.witnessTokenFile, "witness-token-file", "", "file holding the witness heartbeat token (the witness's -heartbeat-token-file, not the masters' lease token)")
	fs.StringVar(&f.witnessCAFile, "witness-ca-file", "", "PEM CA bundle for an https witness")
	fs.StringVar(&f.masters, "masters", "", "comma-separated gRPC addresses of the masters (tried in turn)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a master API token with role guard (masters run with -auth)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA that signed the masters' certificates; enables TLS towards the masters")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM client certificate, for masters run with -tls-verify-clients")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.DurationVar(&f.timeout, "timeout", guard.DefaultTimeout, "guard timeout: must equal the masters' controller.guard_timeout")
	fs.DurationVar(&f.interval, "interval", 0, "heartbeat interval (default: -timeout/5)")
	fs.DurationVar(&f.callTimeout, "call-timeout", 0, "bound of each heartbeat and each local ECX call (default: the interval)")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", guard.DefaultStopTimeout, "how long ECX may take to stop a group: the masters' controller.guard_stop_timeout; a slower stop is logged as an error")
	fs.StringVar(&f.stateFile, "state-file", "", "file keeping the cset groups and the last acknowledged heartbeat across restarts, written 0600 (required)")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.BoolVar(&f.once, "once", false, "run one round and exit (0: acknowledged, 1: keeping the cset groups stopped); for an ECX custom monitor")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), guardUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return f, err
		}
		return f, usageError{err}
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Errorf("unexpected arguments %q: csetd guard takes flags only", fs.Args())}
	}
	var errs []error
	for _, r := range []struct{ name, v string }{
		{"-cluster", f.cluster}, {"-server", f.server}, {"-ecx-user", f.ecxUser},
		{"-ecx-password-file", f.ecxPasswordFile}, {"-state-file", f.stateFile},
	} {
		if r.v == "" {
			errs = append(errs, fmt.Errorf("%s is required", r.name))
		}
	}
	if f.masters == "" && f.witnessURL == "" {
		errs = append(errs, errors.New("give -masters and -witness: the guard stops the cset groups when neither answers"))
	} else if f.masters == "" {
		errs = append(errs, errors.New("-masters is required: the guard learns the cset groups from the masters"))
	}
	if f.witnessURL != "" {
		if _, err := witness.ParseURLs(f.witnessURL); err != nil {
			errs = append(errs, fmt.Errorf("-witness: %w", err))
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	if err := errors.Join(errs...); err != nil {
		return f, usageError{err}
	}
	return f, nil
}

// guardDeps builds the guard's collaborators from the flags.
func guardDeps(f guardFlags, logger hclog.Logger) (guard.Deps, func(), error) {
	deps := guard.Deps{Logger: logger}
	password, err := readTokenFile(f.ecxPasswordFile)
	if err != nil {
		return deps, nil, fmt.Errorf("-ecx-password-file: %w", err)
	}
	ecx, err := ecxclient.New(ecxclient.MemberConfig{
		Name: f.cluster, URLs: []string{f.ecxURL}, User: f.ecxUser, Password: password,
		CAFile: f.ecxCAFile, InsecureSkipVerify: f.ecxInsecure, Timeout: f.callTimeout,
	})
	if err != nil {
		return deps, nil, fmt.Errorf("local ECX REST API: %w", err)
	}
	deps.Local = ecxLocal{c: ecx, server: f.server}
	if f.witnessURL != "" {
		token, err := readTokenFile(f.witnessTokenFile)
		if err != nil {
			return deps, nil, fmt.Errorf("-witness-token-file: %w", err)
		}
		urls, err := witness.ParseURLs(f.witnessURL)
		if err != nil {
			return deps, nil, fmt.Errorf("-witness: %w", err)
		}
		clients := make([]*witness.Client, 0, len(urls))
		for _, u := range urls {
			w, err := witness.NewClient(witness.ClientConfig{URL: u, Token: token, CAFile: f.witnessCAFile, Timeout: f.callTimeout})
			if err != nil {
				return deps, nil, err
			}
			clients = append(clients, w)
		}
		// With several witnesses a heartbeat counts as acknowledged when a majority did.
		q, err := witness.NewQuorum(clients, urls)
		if err != nil {
			return deps, nil, err
		}
		deps.Witness = q
	}
	token, err := readTokenFile(f.tokenFile)
	if err != nil {
		return deps, nil, fmt.Errorf("-token-file: %w", err)
	}
	var creds credentials.TransportCredentials
	if f.tlsCA != "" || f.tlsCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if f.tlsCA != "" {
			if cfg, err = pki.ClientConfig(f.tlsCA); err != nil {
				return deps, nil, fmt.Errorf("-tls-ca: %w", err)
			}
		}
		if f.tlsCert != "" {
			c, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
			if err != nil {
				return deps, nil, fmt.Errorf("loading -tls-cert/-tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		creds = credentials.NewTLS(cfg)
	}
	m, err := guard.NewMastersClient(guard.MastersConfig{Addrs: splitList(f.masters), Token: token, Creds: creds})
	if err != nil {
		return deps, nil, err
	}
	deps.Masters = m
	return deps, func() { m.Close() }, nil
}

func runGuard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseGuardFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.interval == 0 && f.timeout > 0 {
		f.interval = f.timeout / 5
	}
	if f.callTimeout == 0 {
		f.callTimeout = f.interval
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "guard", Level: hclog.LevelFromString(f.logLevel), Output: stderr})
	deps, closeDeps, err := guardDeps(f, logger)
	if err != nil {
		return usageError{err}
	}
	defer closeDeps()
	g, err := guard.New(guard.Config{
		Cluster: f.cluster, Server: f.server, Timeout: f.timeout, Interval: f.interval,
		CallTimeout: f.callTimeout, StopTimeout: f.stopTimeout, StateFile: f.stateFile,
	}, deps)
	if err != nil {
		return usageError{err}
	}
	if f.once {
		return guardOnce(ctx, g, stdout)
	}
	return g.Run(ctx)
}

// errEnforcing is -once's exit status 1: the guard keeps the cset groups of its server stopped.
var errEnforcing = errors.New("no heartbeat acknowledged by the witness nor the masters within the guard timeout: the cset groups of this server are kept stopped")

// guardOnce runs one round: heartbeats, the member rule, the state file.
func guardOnce(ctx context.Context, g *guard.Guard, stdout io.Writer) error {
	beatErr := g.Beat(ctx)
	stopped, err := g.Enforce(ctx)
	if ferr := g.Flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return err
	}
	st := g.Status()
	if st.Enforcing || g.Expired(time.Now()) {
		if len(stopped) > 0 {
			fmt.Fprintf(stdout, "stopped: %s\n", strings.Join(stopped, " "))
		}
		return fmt.Errorf("%w (%v)", errEnforcing, beatErr)
	}
	fmt.Fprintf(stdout, "ok: last acknowledged heartbeat sent at %s; cset groups: %s\n", st.LastAck.Format(time.RFC3339Nano), strings.Join(st.Managed, " "))
	return nil
}

// ecxLocal adapts ecxclient to guard.Local for this server.
type ecxLocal struct {
	c      *ecxclient.Client
	server string
}

func (l ecxLocal) Groups(ctx context.Context) ([]guard.Group, error) {
	groups, err := l.c.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]guard.Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, guard.Group{Name: g.Name, Status: g.RawStatus, Current: g.Current})
	}
	return out, nil
}

func (l ecxLocal) StopGroup(ctx context.Context, group string) error {
	return l.c.StopGroup(ctx, group, l.server)
}
